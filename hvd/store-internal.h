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

typedef struct StoreCheckpointer StoreCheckpointer;

/* Starts checkpointing db's WAL on a thread with its own connection to path, in place of
 * SQLite's automatic checkpoints on db (store-checkpoint.c). Returns 0, or a negative errno with
 * db left to checkpoint itself. */
int store_checkpointer_start(sqlite3 *db, const char *path, StoreCheckpointer **ret);
/* Stops and frees c (NULL accepted), returning db to no checkpoints of its own (closing db
 * checkpoints it). Returns NULL. */
StoreCheckpointer *store_checkpointer_stop(sqlite3 *db, StoreCheckpointer *c);
