/* What the store's other files (store-*.c) share with store.c: the connection and how SQLite's
 * failures become errno values with their message kept. Not for use outside the store. */
#pragma once

#include <sqlite3.h>

#include "store.h"

/* The store's SQLite connection. */
sqlite3 *store_sqlite(Store *s);

/* Keeps SQLite's message of a failed call (rc) for store_last_error() and returns rc as a
 * negative errno (0 for SQLITE_OK, SQLITE_ROW and SQLITE_DONE). */
int store_failed(Store *s, int rc);
