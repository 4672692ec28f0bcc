/* A string-keyed hash map (open addressing) for in-memory indexes. Keys are copied; values are
 * borrowed pointers the caller owns. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Hashmap Hashmap;

/* Returns a new empty map, or NULL on allocation failure. */
Hashmap *hashmap_new(void);

/* Frees the map and its key copies (not the values). Accepts NULL; returns NULL. */
Hashmap *hashmap_free(Hashmap *h);

/* Sets key to value, replacing any previous value. Returns 0 or -ENOMEM. */
int hashmap_put(Hashmap *h, const char *key, void *value);

/* The value for key, or NULL when absent. */
void *hashmap_get(const Hashmap *h, const char *key);

/* Removes key; returns its value, or NULL when absent. */
void *hashmap_remove(Hashmap *h, const char *key);

/* Removes every entry. */
void hashmap_clear(Hashmap *h);

size_t hashmap_size(const Hashmap *h);

/* Iterates: start with *i = 0; each call yields the next entry and returns true, or returns
 * false at the end. The map must not change during an iteration. ret_key/ret_value may be
 * NULL. */
bool hashmap_iterate(const Hashmap *h, size_t *i, const char **ret_key, void **ret_value);

#define HASHMAP_FOREACH_VALUE(h, value)                   \
    for (size_t _hi_ = 0, _once_ = 1; _once_; _once_ = 0) \
        for (void *value; hashmap_iterate((h), &_hi_, NULL, &value);)

/* 64-bit FNV-1a of a NUL-terminated string. */
uint64_t string_hash(const char *s);
