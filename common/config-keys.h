/* Typed configuration keys over a struct (one table per owner: hvd's own sections, each
 * driver's section), and the raw lines of a section kept for the owner that parses it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

typedef enum ConfigType {
    CONFIG_STRING, /* any non-empty text */
    CONFIG_PATH,   /* an absolute path */
    CONFIG_UINT,
    CONFIG_UINT64,
    CONFIG_DOUBLE,
    CONFIG_CPUSET,
    CONFIG_BOOL,
    CONFIG_ENUM, /* one of names[], stored as an int */
} ConfigType;

/* What hvd --check-config prints in place of a secret's value. */
#define CONFIG_SECRET_MASK "(secret, not shown)"

typedef struct ConfigKey {
    const char *section; /* NULL: the table's only section */
    const char *key;
    ConfigType type;
    size_t offset; /* of the field in the owner's struct */
    double min, max;
    const char *const *names; /* CONFIG_ENUM */
    size_t n_names;
    /* Further checks of a value (a URI, a listen list); sets e with the reason. */
    int (*check)(const char *value, Error *e);
    /* A secret (a token, a password): printed masked, never in clear. */
    bool secret;
} ConfigKey;

/* One "key = value" line of a section, with where it came from ("FILE:LINE" or an option). */
typedef struct ConfigLine {
    char *key;
    char *value;
    char *origin;
} ConfigLine;

/* A section as read, for its owner (a driver) to parse. */
typedef struct ConfigSection {
    char *name;
    char *origin; /* where the section first appeared */
    ConfigLine *lines;
    size_t n_lines;
} ConfigSection;

/* Sets key of section in the struct at base from its text value. Returns 0, or a negative
 * errno with e saying what is allowed ("unknown key 'x' in section [y]" for a key not in
 * keys). */
int config_keys_set(const ConfigKey *keys, size_t n, void *base, const char *section,
                    const char *key, const char *value, Error *e);

/* Applies every line of s; an error is "ORIGIN: reason". */
int config_keys_set_section(const ConfigKey *keys, size_t n, void *base, const ConfigSection *s,
                            Error *e);

/* Replaces the string fields of the struct at base by copies of themselves (after a struct
 * copy). On failure the fields that could not be copied are NULL. */
int config_keys_dup_strings(const ConfigKey *keys, size_t n, void *base);

/* Frees the string fields of the struct at base and sets them to NULL. */
void config_keys_free_strings(const ConfigKey *keys, size_t n, void *base);

/* Sets a string field (copying value); NULL clears it. */
int config_string_set(char **field, const char *value);

/* Prints "key = value" for every key of section (NULL: all) whose value is set; a secret's
 * value is printed as CONFIG_SECRET_MASK. */
void config_keys_print(const ConfigKey *keys, size_t n, const void *base, const char *section,
                       FILE *f);

/* Appends a line to s (copies everything). */
int config_section_add(ConfigSection *s, const char *key, const char *value, const char *origin);

/* The last value of key in s, or NULL. s may be NULL. */
const char *config_section_get(const ConfigSection *s, const char *key);

/* Deep copy of n sections into *ret. */
int config_sections_dup(const ConfigSection *s, size_t n, ConfigSection **ret);

/* Frees n sections and the array. Accepts NULL. */
void config_sections_free(ConfigSection *s, size_t n);
