/* WAL checkpoints on a thread of their own: the loop's commits only append to the WAL, and a
 * thread with its own connection copies it back into the database (with the two fsyncs that
 * takes) once it holds CHECKPOINT_FRAMES frames. Commits stay as durable as before: a commit
 * is in the WAL when it returns, a checkpoint only moves committed pages. */
#include <pthread.h>
#include <stdlib.h>

#include "log.h"
#include "store-internal.h"

/* SQLite's own default for its automatic checkpoints (4 MiB of 4 KiB pages). */
#define CHECKPOINT_FRAMES 1000
/* The WAL starts again from its beginning only after a checkpoint that caught up with every
 * commit, which the thread's may not while commits keep coming: at this length the loop
 * finishes the checkpoint itself (the frames the thread copied already are not copied again). */
#define CHECKPOINT_LOOP_FRAMES (8 * CHECKPOINT_FRAMES)

struct StoreCheckpointer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool due;
    bool stop;
    sqlite3 *db;
};

static void *checkpoint_thread(void *userdata)
{
    StoreCheckpointer *c = userdata;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->due && !c->stop)
            pthread_cond_wait(&c->wake, &c->lock);
        if (c->stop)
            break;
        c->due = false;
        pthread_mutex_unlock(&c->lock);
        /* Passive: never waits for the loop's transaction; what it cannot copy now, the next
         * round does. */
        (void)sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* SQLite's WAL hook, on the loop after each commit: frames is the WAL's length. */
static int on_wal_commit(void *userdata, sqlite3 *db, const char *name, int frames)
{
    StoreCheckpointer *c = userdata;

    if (frames < CHECKPOINT_FRAMES)
        return SQLITE_OK;
    if (frames >= CHECKPOINT_LOOP_FRAMES) {
        /* Busy while the thread's checkpoint runs: the next commit tries again. */
        int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_warning("Failed to checkpoint the state database's write-ahead log (%d pages): "
                        "%s",
                        frames, sqlite3_errmsg(db));
        return SQLITE_OK;
    }
    pthread_mutex_lock(&c->lock);
    if (!c->due) {
        c->due = true;
        pthread_cond_signal(&c->wake);
    }
    pthread_mutex_unlock(&c->lock);
    return SQLITE_OK;
}

int store_checkpointer_start(sqlite3 *db, const char *path, StoreCheckpointer **ret)
{
    StoreCheckpointer *c = calloc(1, sizeof(*c));
    int rc;

    if (!c)
        return -ENOMEM;
    rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    /* A first read opens the connection's WAL: a checkpoint of a connection that has read
     * nothing finds none. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        (void)sqlite3_close(c->db);
        free(c);
        return -EIO;
    }
    (void)pthread_mutex_init(&c->lock, NULL);
    (void)pthread_cond_init(&c->wake, NULL);
    rc = pthread_create(&c->thread, NULL, checkpoint_thread, c);
    if (rc != 0) {
        (void)sqlite3_close(c->db);
        free(c);
        return -rc;
    }
    /* Replaces SQLite's automatic checkpoints on the loop's connection. */
    (void)sqlite3_wal_hook(db, on_wal_commit, c);
    *ret = c;
    return 0;
}

StoreCheckpointer *store_checkpointer_stop(sqlite3 *db, StoreCheckpointer *c)
{
    if (!c)
        return NULL;
    (void)sqlite3_wal_hook(db, NULL, NULL);
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    (void)pthread_join(c->thread, NULL);
    (void)sqlite3_close(c->db);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->wake);
    free(c);
    return NULL;
}
