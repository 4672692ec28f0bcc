/* Table layout: collect cells, then pad each column to its widest cell. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "table.h"

struct Table {
    size_t n_columns;
    char **cells;
    size_t n_cells;
    size_t n_allocated;
};

Table *table_new(size_t n, const char *const *headers)
{
    Table *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->n_columns = n;
    for (size_t i = 0; i < n; i++)
        if (table_add(t, headers[i]) < 0)
            return table_free(t);
    return t;
}

Table *table_free(Table *t)
{
    if (!t)
        return NULL;
    for (size_t i = 0; i < t->n_cells; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
    return NULL;
}

int table_add(Table *t, const char *cell)
{
    char *copy = strdup(cell ? cell : "-");

    if (!copy)
        return -ENOMEM;
    if (t->n_cells == t->n_allocated) {
        size_t n = t->n_allocated ? t->n_allocated * 2 : 32;
        char **p = reallocarray(t->cells, n, sizeof(*p));
        if (!p) {
            free(copy);
            return -ENOMEM;
        }
        t->cells = p;
        t->n_allocated = n;
    }
    t->cells[t->n_cells++] = copy;
    return 0;
}

int table_addf(Table *t, const char *fmt, ...)
{
    _cleanup_free_ char *s = NULL;
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        return -ENOMEM;
    return table_add(t, s);
}

void table_print(const Table *t, FILE *f)
{
    size_t widths[32] = {};
    size_t n = MIN(t->n_columns, ELEMENTSOF(widths));

    for (size_t i = 0; i < t->n_cells; i++) {
        size_t c = i % t->n_columns, len = strlen(t->cells[i]);
        if (c < n && len > widths[c])
            widths[c] = len;
    }
    for (size_t i = 0; i < t->n_cells; i++) {
        size_t c = i % t->n_columns;
        bool last = c == t->n_columns - 1;
        if (last)
            fprintf(f, "%s\n", t->cells[i]);
        else
            fprintf(f, "%-*s  ", (int)(c < n ? widths[c] : 0), t->cells[i]);
    }
}
