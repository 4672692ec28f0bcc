/* Open-addressing hash map with linear probing and tombstones; grows at 70% load. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

#define TOMBSTONE ((char *)1)

typedef struct Slot {
    char *key; /* NULL: empty; TOMBSTONE: deleted */
    void *value;
} Slot;

struct Hashmap {
    Slot *slots;
    size_t n_slots; /* power of two */
    size_t n_used;  /* live entries */
    size_t n_dirty; /* live entries + tombstones */
};

uint64_t string_hash(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

Hashmap *hashmap_new(void)
{
    Hashmap *h = calloc(1, sizeof(*h));

    if (!h)
        return NULL;
    h->n_slots = 16;
    h->slots = calloc(h->n_slots, sizeof(Slot));
    if (!h->slots) {
        free(h);
        return NULL;
    }
    return h;
}

void hashmap_clear(Hashmap *h)
{
    for (size_t i = 0; i < h->n_slots; i++) {
        if (h->slots[i].key && h->slots[i].key != TOMBSTONE)
            free(h->slots[i].key);
        h->slots[i] = (Slot){};
    }
    h->n_used = h->n_dirty = 0;
}

Hashmap *hashmap_free(Hashmap *h)
{
    if (!h)
        return NULL;
    hashmap_clear(h);
    free(h->slots);
    free(h);
    return NULL;
}

size_t hashmap_size(const Hashmap *h)
{
    return h->n_used;
}

/* The slot holding key, or NULL. */
static Slot *find(const Hashmap *h, const char *key)
{
    size_t mask = h->n_slots - 1;

    for (size_t i = string_hash(key) & mask;; i = (i + 1) & mask) {
        Slot *s = &h->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMBSTONE && strcmp(s->key, key) == 0)
            return s;
    }
}

static int resize(Hashmap *h, size_t n_slots)
{
    Slot *old = h->slots;
    size_t n_old = h->n_slots;

    h->slots = calloc(n_slots, sizeof(Slot));
    if (!h->slots) {
        h->slots = old;
        return -ENOMEM;
    }
    h->n_slots = n_slots;
    h->n_used = h->n_dirty = 0;
    for (size_t i = 0; i < n_old; i++)
        if (old[i].key && old[i].key != TOMBSTONE) {
            size_t mask = n_slots - 1, j = string_hash(old[i].key) & mask;
            while (h->slots[j].key)
                j = (j + 1) & mask;
            h->slots[j] = old[i];
            h->n_used++;
            h->n_dirty++;
        }
    free(old);
    return 0;
}

int hashmap_put(Hashmap *h, const char *key, void *value)
{
    Slot *s = find(h, key);
    size_t mask, i;
    char *copy;

    if (s) {
        s->value = value;
        return 0;
    }
    if ((h->n_dirty + 1) * 10 > h->n_slots * 7) {
        size_t n = h->n_used * 2 >= h->n_slots ? h->n_slots * 2 : h->n_slots;
        if (resize(h, n) < 0)
            return -ENOMEM;
    }
    copy = strdup(key);
    if (!copy)
        return -ENOMEM;
    mask = h->n_slots - 1;
    for (i = string_hash(key) & mask; h->slots[i].key && h->slots[i].key != TOMBSTONE;
         i = (i + 1) & mask)
        ;
    if (!h->slots[i].key)
        h->n_dirty++;
    h->slots[i] = (Slot){.key = copy, .value = value};
    h->n_used++;
    return 0;
}

void *hashmap_get(const Hashmap *h, const char *key)
{
    Slot *s = find(h, key);

    return s ? s->value : NULL;
}

bool hashmap_iterate(const Hashmap *h, size_t *i, const char **ret_key, void **ret_value)
{
    for (; *i < h->n_slots; (*i)++) {
        const Slot *s = &h->slots[*i];
        if (!s->key || s->key == TOMBSTONE)
            continue;
        if (ret_key)
            *ret_key = s->key;
        if (ret_value)
            *ret_value = s->value;
        (*i)++;
        return true;
    }
    return false;
}

void *hashmap_remove(Hashmap *h, const char *key)
{
    Slot *s = find(h, key);
    void *value;

    if (!s)
        return NULL;
    value = s->value;
    free(s->key);
    s->key = TOMBSTONE;
    s->value = NULL;
    h->n_used--;
    return value;
}
