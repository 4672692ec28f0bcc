/* Unit tests: the store's WAL is checkpointed into the database while the store is open
 * (store-checkpoint.c, off the committing thread), and what was committed reads back. */
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "test.h"

static char dir[] = "/tmp/hvd-test-store-checkpoint-XXXXXX";
static char path[256], wal_path[300];

static long long file_size(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

static int count_events(void)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = -1;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM events", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

int main(void)
{
    Store *s = NULL;
    Error e = ERROR_NULL;
    char detail[3000];
    long long before, after = 0;
    struct timespec pause = {.tv_nsec = 10 * 1000 * 1000}, gap = {.tv_nsec = 500 * 1000};

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/hvd.db", dir);
    snprintf(wal_path, sizeof(wal_path), "%s-wal", path);
    CHECK(store_open(path, STORE_SYNC_NORMAL, &s, &e) == 0);
    before = file_size(path);

    /* ~3 KiB per event, four pages or more per commit, 2000 commits a second at most (hvd's
     * loop commits a batch at a time): ~100 MiB of WAL had it never started again from its
     * beginning; the loop finishes a checkpoint at 8000 pages (~32 MiB). */
    memset(detail, 'x', sizeof(detail));
    memcpy(detail, "{\"pad\":\"", 8);
    memcpy(detail + sizeof(detail) - 3, "\"}", 3);
    for (unsigned i = 0; i < 6000; i++) {
        CHECK(store_begin(s) == 0);
        CHECK(store_event_append(s, i, "alpha", "state-changed", detail, NULL) == 0);
        CHECK(store_commit(s) == 0);
        nanosleep(&gap, NULL);
    }

    /* The checkpoints copied pages into the database file while the store stayed open, and
     * the WAL was reused rather than growing by every commit. */
    for (unsigned i = 0; i < 500 && (after = file_size(path)) <= before + 4 * 1024 * 1024; i++) {
        CHECK(store_begin(s) == 0);
        CHECK(store_event_append(s, 0, "alpha", "state-changed", "{}", NULL) == 0);
        CHECK(store_commit(s) == 0);
        nanosleep(&pause, NULL);
    }
    CHECK(after > before + 4 * 1024 * 1024);
    CHECK(file_size(wal_path) < 48 * 1024 * 1024);
    CHECK(count_events() >= 6000);
    s = store_free(s);

    /* Closed: everything is in the database. */
    CHECK(count_events() >= 6000);

    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return test_summary("test-store-checkpoint");
}
