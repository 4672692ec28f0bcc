/* Unit tests: the SQLite store on a real file — migrations, transactions, persistence across
 * reopen, refusal of a newer schema, the event log. */
#include <sqlite3.h>
#include <unistd.h>

#include "store.h"
#include "test.h"

static char dir[] = "/tmp/hvd-test-store-XXXXXX";
static char path[256];

static int count_rows(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = -1;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static const char *query_text(const char *sql, char *buf, size_t n)
{
    sqlite3 *db;
    sqlite3_stmt *st;

    buf[0] = 0;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return buf;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf;
}

typedef struct Collected {
    int64_t ids[32];
    unsigned n;
} Collected;

static int on_collect(const StoredEvent *ev, void *userdata)
{
    Collected *c = userdata;

    if (c->n < ELEMENTSOF(c->ids))
        c->ids[c->n] = ev->id;
    c->n++;
    return 0;
}

static DomainConfig make_config(const char *name)
{
    DomainConfig c;
    json_t *j = json_pack("{s:s, s:i, s:i, s:s}", "name", name, "vcpus", 2, "memory_mib", 128,
                          "cpuset", "0");
    Error e = ERROR_NULL;

    (void)domain_config_from_json(j, &c, &e);
    json_decref(j);
    return c;
}

typedef struct Loaded {
    unsigned n;
    char last_name[80];
    DomainState state;
    DomainReason reason;
    int pid;
    unsigned vcpus;
} Loaded;

static int on_domain(StoredDomain *d, void *userdata)
{
    Loaded *l = userdata;

    l->n++;
    snprintf(l->last_name, sizeof(l->last_name), "%s", d->config.name);
    l->state = d->state;
    l->reason = d->reason;
    l->pid = d->runtime.pid;
    l->vcpus = d->config.vcpus;
    return 0;
}

static int on_image(const StoredImage *img, void *userdata)
{
    Collected *c = userdata;

    if (c->n < ELEMENTSOF(c->ids))
        c->ids[c->n] = img->id;
    c->n++;
    return 0;
}

static int on_event(const StoredEvent *ev, void *userdata)
{
    unsigned *n = userdata;
    (*n)++;
    return 0;
}

int main(void)
{
    Store *s = NULL;
    Error e = ERROR_NULL;
    DomainConfig a = make_config("alpha"), b = make_config("beta"), dup = make_config("alpha");
    int64_t id_a, id_b, last;
    DomainRuntime rt = {.pid = 4242, .pid_start_time = 99, .started_us = 5};
    Loaded l = {};
    unsigned n_events = 0;
    char buf[64];

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/hvd.db", dir);

    CHECK(store_open(path, STORE_SYNC_NORMAL, &s, &e) == 0);
    CHECK(store_schema_version(s) == store_schema_latest());
    CHECK_STREQ(query_text("PRAGMA journal_mode", buf, sizeof(buf)), "wal");

    CHECK(store_begin(s) == 0);
    CHECK(store_domain_insert(s, &a, STATE_SHUTOFF, REASON_DEFINED, 1, &id_a) == 0);
    CHECK(store_domain_insert(s, &b, STATE_SHUTOFF, REASON_DEFINED, 2, &id_b) == 0);
    CHECK(store_event_append(s, 1, "alpha", "created", NULL, NULL) == 0);
    CHECK(store_commit(s) == 0);
    CHECK(store_domain_insert(s, &dup, STATE_SHUTOFF, REASON_DEFINED, 3, NULL) == -EEXIST);

    /* A state change and its allocation commit together... */
    CHECK(store_begin(s) == 0);
    CHECK(store_domain_set_state(s, id_a, STATE_RUNNING, REASON_BOOTED, &rt, 10) == 0);
    CHECK(store_allocation_set(s, id_a, a.vcpus, a.memory_mib, a.cpuset) == 0);
    CHECK(store_commit(s) == 0);
    CHECK(count_rows("SELECT COUNT(*) FROM allocations") == 1);

    /* ...and a rolled-back one leaves nothing behind. */
    CHECK(store_begin(s) == 0);
    CHECK(store_domain_set_state(s, id_b, STATE_RUNNING, REASON_BOOTED, &rt, 11) == 0);
    CHECK(store_allocation_set(s, id_b, b.vcpus, b.memory_mib, NULL) == 0);
    store_rollback(s);
    CHECK(count_rows("SELECT COUNT(*) FROM allocations") == 1);
    CHECK(count_rows("SELECT COUNT(*) FROM domains WHERE state = 'running'") == 1);

    /* Foreign keys: deleting a domain takes its allocation. */
    CHECK(store_domain_delete(s, id_b) == 0);
    CHECK(count_rows("SELECT COUNT(*) FROM domains") == 1);

    for (int i = 0; i < 20; i++)
        CHECK(store_event_append(s, 100 + i, "alpha", "state-changed", "{}", NULL) == 0);
    CHECK(store_events_last_id(s, &last) == 0);
    CHECK(last == 21);
    CHECK(store_events_since(s, 15, 100, on_event, &n_events) == 0);
    CHECK(n_events == 6);
    {
        Collected c = {};
        StoreEventFilter f = {.domain = "alpha", .event = "created", .limit = 10};

        CHECK(store_events_query(s, &f, on_collect, &c) == 0);
        CHECK(c.n == 1 && c.ids[0] == 1);
        c = (Collected){};
        f = (StoreEventFilter){.limit = 3, .newest = true};
        CHECK(store_events_query(s, &f, on_collect, &c) == 0);
        CHECK(c.n == 3 && c.ids[0] == 21 && c.ids[1] == 20 && c.ids[2] == 19);
        c = (Collected){};
        f = (StoreEventFilter){.since_us = 115, .event = "state-changed", .limit = 100};
        CHECK(store_events_query(s, &f, on_collect, &c) == 0);
        CHECK(c.n == 5 && c.ids[0] == 17 && c.ids[4] == 21);
        c = (Collected){};
        f = (StoreEventFilter){.after_id = 19, .domain = "alpha", .limit = 100};
        CHECK(store_events_query(s, &f, on_collect, &c) == 0);
        CHECK(c.n == 2 && c.ids[0] == 20);
        c = (Collected){};
        f = (StoreEventFilter){.domain = "beta", .limit = 100, .newest = true};
        CHECK(store_events_query(s, &f, on_collect, &c) == 0);
        CHECK(c.n == 0);
    }
    /* Images: one of a kind and name per domain, listed oldest first, per domain or all. */
    {
        StoredImage img = {.domain_uuid = a.uuid,
                           .kind = "snapshot",
                           .name = "one",
                           .created_us = 7,
                           .size_bytes = 4096,
                           .contents = "memory+vcpu+devices",
                           .path = "/x/one.img"};
        Collected c = {};
        int64_t id_one, id_two;

        CHECK(store_image_insert(s, &img, &id_one) == 0);
        CHECK(store_image_insert(s, &img, NULL) == -EEXIST);
        img.name = "two", img.path = "/x/two.img", img.created_us = 8, img.disk = "/d.img";
        CHECK(store_image_insert(s, &img, &id_two) == 0);
        img.domain_uuid = "other", img.path = "/y/two.img";
        CHECK(store_image_insert(s, &img, NULL) == 0);
        CHECK(store_images_load(s, a.uuid, on_image, &c) == 0);
        CHECK(c.n == 2 && c.ids[0] == id_one && c.ids[1] == id_two);
        c = (Collected){};
        CHECK(store_images_load(s, NULL, on_image, &c) == 0);
        CHECK(c.n == 3);
        CHECK(store_image_delete(s, id_one) == 0);
        CHECK(store_images_delete_domain(s, "other") == 0);
        c = (Collected){};
        CHECK(store_images_load(s, NULL, on_image, &c) == 0);
        CHECK(c.n == 1 && c.ids[0] == id_two);
    }
    CHECK(store_events_prune(s, 5) == 0);
    CHECK(count_rows("SELECT COUNT(*) FROM events") == 5);
    s = store_free(s);

    /* Everything is still there after reopening. */
    CHECK(store_open(path, STORE_SYNC_FULL, &s, &e) == 0);
    CHECK(store_domains_load(s, on_domain, &l) == 0);
    CHECK(l.n == 1);
    CHECK_STREQ(l.last_name, "alpha");
    CHECK(l.state == STATE_RUNNING && l.reason == REASON_BOOTED);
    CHECK(l.pid == 4242 && l.vcpus == 2);
    s = store_free(s);

    /* A database from a newer hvd is refused with a clear message. */
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %u", store_schema_latest() + 1);
    count_rows(pragma);
    e = ERROR_NULL;
    CHECK(store_open(path, STORE_SYNC_NORMAL, &s, &e) < 0);
    CHECK(s == NULL);
    CHECK_CONTAINS(e.message, "newer than this hvd supports");

    /* A file that is not a database is refused, not overwritten. */
    snprintf(path, sizeof(path), "%s/garbage.db", dir);
    FILE *f = fopen(path, "w");
    fputs("this is not an SQLite database, not at all, it is just some text\n", f);
    fclose(f);
    e = ERROR_NULL;
    CHECK(store_open(path, STORE_SYNC_NORMAL, &s, &e) < 0);
    CHECK(e.message[0] != 0);

    domain_config_done(&a);
    domain_config_done(&b);
    domain_config_done(&dup);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return test_summary("test-store");
}
