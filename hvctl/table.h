/* Aligned text tables for people. */
#pragma once

#include <stdio.h>

typedef struct Table Table;

/* A table with n columns titled by headers (copied). NULL on allocation failure. */
Table *table_new(size_t n, const char *const *headers);
Table *table_free(Table *t);

/* Adds one cell; rows fill left to right. NULL prints as "-". Returns 0 or -ENOMEM. */
int table_add(Table *t, const char *cell);
int table_addf(Table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the header and rows with columns padded to their widest cell. */
void table_print(const Table *t, FILE *f);
