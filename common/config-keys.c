/* Typed configuration keys: parsing a value into its field with a clear error, copying,
 * freeing and printing the fields, and the raw lines of sections kept for their owners. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config-keys.h"
#include "cpuset.h"
#include "macro.h"
#include "parse-util.h"

static bool is_string(ConfigType t)
{
    return t == CONFIG_STRING || t == CONFIG_PATH;
}

static bool key_in_section(const ConfigKey *k, const char *section)
{
    return !k->section || !section || streq(k->section, section);
}

int config_string_set(char **field, const char *value)
{
    char *copy = NULL;

    if (value && !(copy = strdup(value)))
        return -ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

static int set_enum(const ConfigKey *k, const char *value, int *field, Error *e)
{
    char allowed[256] = "";
    size_t used = 0;

    for (size_t i = 0; i < k->n_names; i++)
        if (k->names[i] && streq(k->names[i], value)) {
            *field = (int)i;
            return 0;
        }
    for (size_t i = 0; i < k->n_names && used < sizeof(allowed); i++) {
        int w = snprintf(allowed + used, sizeof(allowed) - used, "%s'%s'",
                         i == 0                ? ""
                         : i + 1 == k->n_names ? " or "
                                               : ", ",
                         k->names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return error_setf(e, ERROR_INVALID_ARGUMENT, "%s must be %s, got '%s'", k->key, allowed, value);
}

static int set_value(const ConfigKey *k, void *field, const char *value, Error *e)
{
    switch (k->type) {
    case CONFIG_STRING:
    case CONFIG_PATH:
        if (*value == 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "%s must not be empty", k->key);
        if (k->type == CONFIG_PATH && value[0] != '/')
            return error_setf(e, ERROR_INVALID_ARGUMENT, "%s must be an absolute path, got '%s'",
                              k->key, value);
        if (k->check) {
            int r = k->check(value, e);
            if (r < 0)
                return r;
        }
        if (config_string_set(field, value) < 0)
            return error_set_errno(e, -ENOMEM, "Out of memory");
        return 0;
    case CONFIG_UINT:
        if (parse_uint(value, (unsigned)k->min, (unsigned)k->max, field) < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "%s must be an integer in %.0f..%.0f, got '%s'", k->key, k->min,
                              k->max, value);
        return 0;
    case CONFIG_UINT64:
        if (parse_uint64(value, (uint64_t)k->min, (uint64_t)k->max, field) < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "%s must be an integer in %.0f..%.0f, got '%s'", k->key, k->min,
                              k->max, value);
        return 0;
    case CONFIG_DOUBLE:
        if (parse_double(value, k->min, k->max, field) < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "%s must be a number in %g..%g, got '%s'",
                              k->key, k->min, k->max, value);
        return 0;
    case CONFIG_CPUSET:
        if (cpuset_parse(value, field) < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "%s must be a CPU list such as '0' or '0-1,4', got '%s'", k->key,
                              value);
        return 0;
    case CONFIG_BOOL: {
        int b = parse_boolean(value);
        if (b < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "%s must be yes or no, got '%s'", k->key,
                              value);
        *(bool *)field = b;
        return 0;
    }
    case CONFIG_ENUM:
        return set_enum(k, value, field, e);
    }
    return error_setf(e, ERROR_FAILED, "internal error: bad key type");
}

int config_keys_set(const ConfigKey *keys, size_t n, void *base, const char *section,
                    const char *key, const char *value, Error *e)
{
    for (size_t i = 0; i < n; i++)
        if (key_in_section(&keys[i], section) && streq(keys[i].key, key))
            return set_value(&keys[i], (char *)base + keys[i].offset, value, e);
    return error_setf(e, ERROR_INVALID_ARGUMENT, "unknown key '%s' in section [%s]", key,
                      strna(section));
}

int config_keys_set_section(const ConfigKey *keys, size_t n, void *base, const ConfigSection *s,
                            Error *e)
{
    for (size_t i = 0; i < s->n_lines; i++) {
        Error line_error = ERROR_NULL;
        int r = config_keys_set(keys, n, base, s->name, s->lines[i].key, s->lines[i].value,
                                &line_error);
        if (r < 0)
            return error_setf(e, line_error.kind, "%s: %s", s->lines[i].origin, line_error.message);
    }
    return 0;
}

int config_keys_dup_strings(const ConfigKey *keys, size_t n, void *base)
{
    int r = 0;

    for (size_t i = 0; i < n; i++) {
        char **field = (char **)((char *)base + keys[i].offset);
        if (is_string(keys[i].type) && *field && !(*field = strdup(*field)))
            r = -ENOMEM;
    }
    return r;
}

void config_keys_free_strings(const ConfigKey *keys, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++)
        if (is_string(keys[i].type)) {
            char **field = (char **)((char *)base + keys[i].offset);
            free(*field);
            *field = NULL;
        }
}

/* Prints "key = value" with the password of every "scheme://user:password@" in value masked
 * (a URI list, as etcd's endpoints, may hold several). */
static void print_without_passwords(FILE *f, const char *key, const char *value)
{
    const char *p = value;

    fprintf(f, "%s = ", key);
    for (;;) {
        const char *scheme = strstr(p, "://"), *user, *at, *colon;
        size_t authority;

        if (!scheme)
            break;
        user = scheme + 3;
        authority = strcspn(user, "/?#,");
        at = memchr(user, '@', authority);
        colon = at ? memchr(user, ':', (size_t)(at - user)) : NULL;
        if (!colon) {
            fwrite(p, 1, (size_t)(user - p) + authority, f);
            p = user + authority;
            continue;
        }
        fwrite(p, 1, (size_t)(colon + 1 - p), f);
        fputs("****", f);
        p = at;
    }
    fprintf(f, "%s\n", p);
}

void config_keys_print(const ConfigKey *keys, size_t n, const void *base, const char *section,
                       FILE *f)
{
    for (size_t i = 0; i < n; i++) {
        const ConfigKey *k = &keys[i];
        const void *field = (const char *)base + k->offset;
        char cpus[256];

        if (section && k->section && !streq(k->section, section))
            continue;
        switch (k->type) {
        case CONFIG_STRING:
        case CONFIG_PATH:
            if (*(char *const *)field && k->secret)
                fprintf(f, "%s = %s\n", k->key, CONFIG_SECRET_MASK);
            else if (*(char *const *)field)
                print_without_passwords(f, k->key, *(char *const *)field);
            break;
        case CONFIG_UINT:
            fprintf(f, "%s = %u\n", k->key, *(const unsigned *)field);
            break;
        case CONFIG_UINT64:
            fprintf(f, "%s = %" PRIu64 "\n", k->key, *(const uint64_t *)field);
            break;
        case CONFIG_DOUBLE:
            fprintf(f, "%s = %g\n", k->key, *(const double *)field);
            break;
        case CONFIG_CPUSET:
            (void)cpuset_format(field, cpus, sizeof(cpus));
            fprintf(f, "%s = %s\n", k->key, cpus);
            break;
        case CONFIG_BOOL:
            fprintf(f, "%s = %s\n", k->key, *(const bool *)field ? "yes" : "no");
            break;
        case CONFIG_ENUM: {
            int v = *(const int *)field;
            if (v >= 0 && (size_t)v < k->n_names)
                fprintf(f, "%s = %s\n", k->key, k->names[v]);
            break;
        }
        }
    }
}

int config_section_add(ConfigSection *s, const char *key, const char *value, const char *origin)
{
    ConfigLine *lines = reallocarray(s->lines, s->n_lines + 1, sizeof(*lines));
    ConfigLine *l;

    if (!lines)
        return -ENOMEM;
    s->lines = lines;
    l = &s->lines[s->n_lines];
    *l = (ConfigLine){.key = strdup(key), .value = strdup(value), .origin = strdup(origin)};
    if (!l->key || !l->value || !l->origin) {
        free(l->key);
        free(l->value);
        free(l->origin);
        return -ENOMEM;
    }
    s->n_lines++;
    return 0;
}

const char *config_section_get(const ConfigSection *s, const char *key)
{
    const char *found = NULL;

    for (size_t i = 0; s && i < s->n_lines; i++)
        if (streq(s->lines[i].key, key))
            found = s->lines[i].value;
    return found;
}

int config_sections_dup(const ConfigSection *s, size_t n, ConfigSection **ret)
{
    ConfigSection *copy = n ? calloc(n, sizeof(*copy)) : NULL;

    if (n && !copy)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        copy[i].name = strdup(s[i].name);
        copy[i].origin = strdup(s[i].origin);
        if (!copy[i].name || !copy[i].origin) {
            config_sections_free(copy, n);
            return -ENOMEM;
        }
        for (size_t j = 0; j < s[i].n_lines; j++)
            if (config_section_add(&copy[i], s[i].lines[j].key, s[i].lines[j].value,
                                   s[i].lines[j].origin) < 0) {
                config_sections_free(copy, n);
                return -ENOMEM;
            }
    }
    *ret = copy;
    return 0;
}

void config_sections_free(ConfigSection *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        for (size_t j = 0; j < s[i].n_lines; j++) {
            free(s[i].lines[j].key);
            free(s[i].lines[j].value);
            free(s[i].lines[j].origin);
        }
        free(s[i].lines);
        free(s[i].name);
        free(s[i].origin);
    }
    free(s);
}
