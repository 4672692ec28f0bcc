/* Enum <-> string tables: one table per enum, the same words on every surface. */
#pragma once

#include <errno.h>
#include <string.h>

#include "macro.h"

/* Looks up s in table[0..n), returning the index or -EINVAL. NULL entries are skipped. */
int string_table_lookup(const char *const *table, size_t n, const char *s);

/* Declares name##_to_string / name##_from_string for enum type. */
#define DECLARE_STRING_TABLE(name, type)  \
    const char *name##_to_string(type i); \
    type name##_from_string(const char *s)

/* Defines the functions declared by DECLARE_STRING_TABLE over a static array name##_table. */
#define DEFINE_STRING_TABLE(name, type, max)                              \
    const char *name##_to_string(type i)                                  \
    {                                                                     \
        if ((int)i < 0 || (size_t)i >= ELEMENTSOF(name##_table))          \
            return NULL;                                                  \
        return name##_table[i];                                           \
    }                                                                     \
    type name##_from_string(const char *s)                                \
    {                                                                     \
        return (type)string_table_lookup(name##_table, (size_t)(max), s); \
    }
