/* SQLite store: schema migrations, prepared statements, and the rows hvd keeps. */
#include <sqlite3.h>
#include <string.h>

#include "log.h"
#include "schema-migrations.h"
#include "store-internal.h"
#include "store.h"

typedef enum StatementId {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_ROLLBACK_TO,
    STMT_DOMAIN_INSERT,
    STMT_DOMAIN_UPDATE_CONFIG,
    STMT_DOMAIN_SET_STATE,
    STMT_DOMAIN_DELETE,
    STMT_DOMAINS_LOAD,
    STMT_ALLOCATION_SET,
    STMT_ALLOCATION_CLEAR,
    STMT_EVENT_APPEND,
    STMT_EVENTS_PRUNE,
    STMT_EVENTS_LAST,
    STMT_EVENTS_SINCE,
    STMT_EVENTS_QUERY_OLDEST,
    STMT_EVENTS_QUERY_NEWEST,
    STMT_NETWORK_INSERT,
    STMT_NETWORK_DELETE,
    STMT_NETWORKS_LOAD,
    STMT_LEASE_INSERT,
    STMT_LEASE_DELETE,
    STMT_LEASES_LOAD,
    STMT_IMAGE_INSERT,
    STMT_IMAGE_DELETE,
    STMT_IMAGES_DELETE_DOMAIN,
    STMT_IMAGES_LOAD,
    _STMT_MAX,
} StatementId;

static const char *const statement_sql[_STMT_MAX] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT change",
    [STMT_RELEASE] = "RELEASE change",
    [STMT_ROLLBACK_TO] = "ROLLBACK TO change",
    [STMT_DOMAIN_INSERT] =
        "INSERT INTO domains (name, uuid, driver, mode, vcpus, memory_mib, kernel, disk, cmdline, "
        "cpuset, autostart, on_crash, state, reason, created_us, state_changed_us, network, "
        "initrd, cpu_weight, cpu_cap, memory_limit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
        "?10, ?11, ?12, ?13, ?14, ?15, ?15, ?16, ?17, ?18, ?19, ?20)",
    [STMT_DOMAIN_UPDATE_CONFIG] =
        "UPDATE domains SET mode = ?2, vcpus = ?3, memory_mib = ?4, kernel = ?5, disk = ?6, "
        "cmdline = ?7, cpuset = ?8, autostart = ?9, on_crash = ?10, network = ?11, "
        "initrd = ?12, cpu_weight = ?13, cpu_cap = ?14, memory_limit = ?15 WHERE id = ?1",
    [STMT_DOMAIN_SET_STATE] = "UPDATE domains SET state = ?2, reason = ?3, pid = ?4, "
                              "pid_start_time = ?5, started_us = ?6, state_changed_us = ?7 "
                              "WHERE id = ?1",
    [STMT_DOMAIN_DELETE] = "DELETE FROM domains WHERE id = ?1",
    [STMT_DOMAINS_LOAD] =
        "SELECT id, name, uuid, driver, mode, vcpus, memory_mib, kernel, disk, cmdline, cpuset, "
        "autostart, on_crash, state, reason, pid, pid_start_time, started_us, created_us, "
        "state_changed_us, network, initrd, cpu_weight, cpu_cap, memory_limit FROM domains "
        "ORDER BY name",
    [STMT_ALLOCATION_SET] = "INSERT OR REPLACE INTO allocations (domain_id, vcpus, memory_mib, "
                            "cpuset) VALUES (?1, ?2, ?3, ?4)",
    [STMT_ALLOCATION_CLEAR] = "DELETE FROM allocations WHERE domain_id = ?1",
    [STMT_EVENT_APPEND] =
        "INSERT INTO events (time_us, domain, event, detail) VALUES (?1, ?2, ?3, ?4)",
    [STMT_EVENTS_PRUNE] = "DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?1",
    [STMT_EVENTS_LAST] = "SELECT IFNULL(MAX(id), 0) FROM events",
    [STMT_EVENTS_SINCE] = "SELECT id, time_us, domain, event, detail FROM events WHERE id > ?1 "
                          "ORDER BY id LIMIT ?2",
    [STMT_EVENTS_QUERY_OLDEST] =
        "SELECT id, time_us, domain, event, detail FROM events WHERE id > ?1 "
        "AND time_us >= ?2 AND (?3 IS NULL OR domain = ?3) AND (?4 IS "
        "NULL OR event = ?4) ORDER BY id LIMIT ?5",
    [STMT_EVENTS_QUERY_NEWEST] =
        "SELECT id, time_us, domain, event, detail FROM events WHERE id > ?1 "
        "AND time_us >= ?2 AND (?3 IS NULL OR domain = ?3) AND (?4 IS "
        "NULL OR event = ?4) ORDER BY id DESC LIMIT ?5",
    [STMT_NETWORK_INSERT] = "INSERT INTO networks (name, bridge, subnet, prefix, nat, dhcp, "
                            "created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [STMT_NETWORK_DELETE] = "DELETE FROM networks WHERE id = ?1",
    [STMT_NETWORKS_LOAD] = "SELECT id, name, bridge, subnet, prefix, nat, dhcp, created_us FROM "
                           "networks ORDER BY name",
    [STMT_LEASE_INSERT] =
        "INSERT INTO leases (network_id, domain_id, mac, ipv4) VALUES (?1, ?2, ?3, ?4)",
    [STMT_LEASE_DELETE] = "DELETE FROM leases WHERE network_id = ?1 AND domain_id = ?2",
    [STMT_LEASES_LOAD] = "SELECT network_id, domain_id, mac, ipv4 FROM leases ORDER BY ipv4",
    [STMT_IMAGE_INSERT] = "INSERT INTO images (domain_uuid, kind, name, created_us, size_bytes, "
                          "contents, disk, path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [STMT_IMAGE_DELETE] = "DELETE FROM images WHERE id = ?1",
    [STMT_IMAGES_DELETE_DOMAIN] = "DELETE FROM images WHERE domain_uuid = ?1",
    [STMT_IMAGES_LOAD] = "SELECT id, domain_uuid, kind, name, created_us, size_bytes, contents, "
                         "disk, path FROM images WHERE ?1 IS NULL OR domain_uuid = ?1 "
                         "ORDER BY created_us, id",
};

struct Store {
    sqlite3 *db;
    sqlite3_stmt *stmt[_STMT_MAX];
    StoreCheckpointer *checkpointer; /* NULL: SQLite checkpoints on the loop */
    unsigned schema_version;
    /* SQLite's message, taken when a step failed: a rollback after it would erase it. */
    char last_error[256];
};

static int errno_from_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return -EBADMSG;
    default:
        return -EIO;
    }
}

const char *store_last_error(Store *s)
{
    if (!s || !s->db)
        return "no database";
    return s->last_error[0] ? s->last_error : sqlite3_errmsg(s->db);
}

/* Keeps SQLite's message of a failed step (rc) before anything else can replace it. */
static int step_failed(Store *s, int rc)
{
    (void)snprintf(s->last_error, sizeof(s->last_error), "%s", sqlite3_errmsg(s->db));
    return errno_from_sqlite(rc);
}

unsigned store_schema_version(Store *s)
{
    return s->schema_version;
}

unsigned store_schema_latest(void)
{
    return schema_migrations_latest;
}

/* Steps a prepared statement to completion (no rows expected) and resets it. */
static int step_done(Store *s, StatementId id)
{
    sqlite3_stmt *st = s->stmt[id];
    int rc = sqlite3_step(st);
    int r = rc == SQLITE_DONE ? 0 : step_failed(s, rc);

    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
    return r;
}

static int exec_sql(Store *s, const char *sql)
{
    return errno_from_sqlite(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

static int read_user_version(Store *s, unsigned *ret)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return errno_from_sqlite(rc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ret = (unsigned)sqlite3_column_int(st, 0);
    (void)sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : errno_from_sqlite(rc);
}

static int apply_migrations(Store *s, Error *e)
{
    unsigned version = 0;
    int r;

    r = read_user_version(s, &version);
    if (r < 0)
        return error_set_errno(e, r, "Failed to read the schema version: %s", store_last_error(s));
    if (version > schema_migrations_latest)
        return error_setf(e, ERROR_FAILED,
                          "the database has schema version %u, newer than this hvd supports "
                          "(%u); refusing to open it (upgrade hvd or restore a backup)",
                          version, schema_migrations_latest);

    for (unsigned i = 0; i < schema_migrations_count; i++) {
        const SchemaMigration *m = &schema_migrations[i];
        char pragma[64];

        if (m->version <= version)
            continue;
        r = exec_sql(s, "BEGIN IMMEDIATE");
        if (r >= 0)
            r = exec_sql(s, m->sql);
        if (r >= 0) {
            (void)snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %u", m->version);
            r = exec_sql(s, pragma);
        }
        if (r >= 0)
            r = exec_sql(s, "COMMIT");
        if (r < 0) {
            (void)error_set_errno(e, r, "Failed to apply schema migration %s: %s", m->name,
                                  store_last_error(s));
            (void)exec_sql(s, "ROLLBACK");
            return r;
        }
        version = m->version;
    }
    s->schema_version = version;
    return 0;
}

int store_open(const char *path, StoreSync sync, Store **ret, Error *e)
{
    Store *s;
    int r, rc;

    s = calloc(1, sizeof(*s));
    if (!s)
        return error_set_errno(e, -ENOMEM, "Out of memory");

    rc = sqlite3_open_v2(path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                             SQLITE_OPEN_EXRESCODE,
                         NULL);
    if (rc != SQLITE_OK) {
        r = error_set_errno(e, errno_from_sqlite(rc), "Failed to open database %s: %s", path,
                            store_last_error(s));
        goto fail;
    }
    (void)sqlite3_busy_timeout(s->db, 1000);

    r = exec_sql(s, "PRAGMA journal_mode = WAL");
    if (r >= 0)
        r = exec_sql(s, "PRAGMA foreign_keys = ON");
    if (r >= 0)
        r = exec_sql(s, sync == STORE_SYNC_FULL ? "PRAGMA synchronous = FULL"
                                                : "PRAGMA synchronous = NORMAL");
    if (r < 0) {
        (void)error_set_errno(e, r, "Failed to set up database %s: %s", path, store_last_error(s));
        goto fail;
    }

    r = apply_migrations(s, e);
    if (r < 0)
        goto fail;

    for (size_t i = 0; i < _STMT_MAX; i++) {
        rc = sqlite3_prepare_v3(s->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                                NULL);
        if (rc != SQLITE_OK) {
            r = error_set_errno(e, errno_from_sqlite(rc), "Failed to prepare statement: %s",
                                store_last_error(s));
            goto fail;
        }
    }
    r = store_checkpointer_start(s->db, path, &s->checkpointer);
    if (r < 0)
        log_warning_errno(r,
                          "Failed to start checkpointing %s on a thread, checkpointing on the "
                          "loop: %m",
                          path);
    *ret = s;
    return 0;

fail:
    store_free(s);
    return r;
}

Store *store_free(Store *s)
{
    if (!s)
        return NULL;
    s->checkpointer = store_checkpointer_stop(s->db, s->checkpointer);
    for (size_t i = 0; i < _STMT_MAX; i++)
        (void)sqlite3_finalize(s->stmt[i]);
    (void)sqlite3_close(s->db);
    free(s);
    return NULL;
}

int store_begin(Store *s)
{
    s->last_error[0] = 0;
    return step_done(s, STMT_BEGIN);
}

int store_commit(Store *s)
{
    return step_done(s, STMT_COMMIT);
}

bool store_in_transaction(Store *s)
{
    return !sqlite3_get_autocommit(s->db);
}

int store_savepoint(Store *s)
{
    s->last_error[0] = 0;
    return step_done(s, STMT_SAVEPOINT);
}

int store_release(Store *s)
{
    return step_done(s, STMT_RELEASE);
}

void store_rollback_to(Store *s)
{
    if (step_done(s, STMT_ROLLBACK_TO) >= 0)
        (void)step_done(s, STMT_RELEASE);
}

void store_rollback(Store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)step_done(s, STMT_ROLLBACK);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        (void)sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        (void)sqlite3_bind_null(st, i);
}

int store_domain_insert(Store *s, const DomainConfig *c, DomainState state, DomainReason reason,
                        uint64_t now_us, int64_t *ret_id)
{
    sqlite3_stmt *st = s->stmt[STMT_DOMAIN_INSERT];
    int r;

    (void)sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, c->uuid, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 3, driver_kind_to_string(c->driver), -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 4, domain_mode_to_string(c->mode), -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 5, c->vcpus);
    (void)sqlite3_bind_int64(st, 6, (sqlite3_int64)c->memory_mib);
    bind_text_or_null(st, 7, c->kernel);
    bind_text_or_null(st, 8, c->disk);
    bind_text_or_null(st, 9, c->cmdline);
    bind_text_or_null(st, 10, c->cpuset);
    (void)sqlite3_bind_int(st, 11, c->autostart);
    (void)sqlite3_bind_text(st, 12, on_crash_to_string(c->on_crash), -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 13, domain_state_to_string(state), -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 14, domain_reason_to_string(reason), -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 15, (sqlite3_int64)now_us);
    bind_text_or_null(st, 16, c->network);
    bind_text_or_null(st, 17, c->initrd);
    (void)sqlite3_bind_int64(st, 18, c->cpu_weight);
    (void)sqlite3_bind_int64(st, 19, c->cpu_cap);
    (void)sqlite3_bind_int64(st, 20, (sqlite3_int64)c->memory_limit);
    r = step_done(s, STMT_DOMAIN_INSERT);
    if (r < 0)
        return r;
    if (ret_id)
        *ret_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_domain_update_config(Store *s, int64_t id, const DomainConfig *c)
{
    sqlite3_stmt *st = s->stmt[STMT_DOMAIN_UPDATE_CONFIG];

    (void)sqlite3_bind_int64(st, 1, id);
    (void)sqlite3_bind_text(st, 2, domain_mode_to_string(c->mode), -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 3, c->vcpus);
    (void)sqlite3_bind_int64(st, 4, (sqlite3_int64)c->memory_mib);
    bind_text_or_null(st, 5, c->kernel);
    bind_text_or_null(st, 6, c->disk);
    bind_text_or_null(st, 7, c->cmdline);
    bind_text_or_null(st, 8, c->cpuset);
    (void)sqlite3_bind_int(st, 9, c->autostart);
    (void)sqlite3_bind_text(st, 10, on_crash_to_string(c->on_crash), -1, SQLITE_STATIC);
    bind_text_or_null(st, 11, c->network);
    bind_text_or_null(st, 12, c->initrd);
    (void)sqlite3_bind_int64(st, 13, c->cpu_weight);
    (void)sqlite3_bind_int64(st, 14, c->cpu_cap);
    (void)sqlite3_bind_int64(st, 15, (sqlite3_int64)c->memory_limit);
    return step_done(s, STMT_DOMAIN_UPDATE_CONFIG);
}

int store_domain_set_state(Store *s, int64_t id, DomainState state, DomainReason reason,
                           const DomainRuntime *rt, uint64_t now_us)
{
    sqlite3_stmt *st = s->stmt[STMT_DOMAIN_SET_STATE];

    (void)sqlite3_bind_int64(st, 1, id);
    (void)sqlite3_bind_text(st, 2, domain_state_to_string(state), -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 3, domain_reason_to_string(reason), -1, SQLITE_STATIC);
    if (rt->pid > 0) {
        (void)sqlite3_bind_int64(st, 4, rt->pid);
        (void)sqlite3_bind_int64(st, 5, (sqlite3_int64)rt->pid_start_time);
    } else {
        (void)sqlite3_bind_null(st, 4);
        (void)sqlite3_bind_null(st, 5);
    }
    if (rt->started_us)
        (void)sqlite3_bind_int64(st, 6, (sqlite3_int64)rt->started_us);
    else
        (void)sqlite3_bind_null(st, 6);
    (void)sqlite3_bind_int64(st, 7, (sqlite3_int64)now_us);
    return step_done(s, STMT_DOMAIN_SET_STATE);
}

int store_domain_delete(Store *s, int64_t id)
{
    (void)sqlite3_bind_int64(s->stmt[STMT_DOMAIN_DELETE], 1, id);
    return step_done(s, STMT_DOMAIN_DELETE);
}

int store_allocation_set(Store *s, int64_t id, unsigned vcpus, uint64_t memory_mib,
                         const char *cpuset)
{
    sqlite3_stmt *st = s->stmt[STMT_ALLOCATION_SET];

    (void)sqlite3_bind_int64(st, 1, id);
    (void)sqlite3_bind_int64(st, 2, vcpus);
    (void)sqlite3_bind_int64(st, 3, (sqlite3_int64)memory_mib);
    bind_text_or_null(st, 4, cpuset);
    return step_done(s, STMT_ALLOCATION_SET);
}

int store_allocation_clear(Store *s, int64_t id)
{
    (void)sqlite3_bind_int64(s->stmt[STMT_ALLOCATION_CLEAR], 1, id);
    return step_done(s, STMT_ALLOCATION_CLEAR);
}

int store_event_append(Store *s, uint64_t now_us, const char *domain, const char *event,
                       const char *detail, int64_t *ret_id)
{
    sqlite3_stmt *st = s->stmt[STMT_EVENT_APPEND];
    int r;

    (void)sqlite3_bind_int64(st, 1, (sqlite3_int64)now_us);
    bind_text_or_null(st, 2, domain);
    (void)sqlite3_bind_text(st, 3, event, -1, SQLITE_STATIC);
    bind_text_or_null(st, 4, detail);
    r = step_done(s, STMT_EVENT_APPEND);
    if (r < 0)
        return r;
    if (ret_id)
        *ret_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_events_prune(Store *s, unsigned keep)
{
    (void)sqlite3_bind_int64(s->stmt[STMT_EVENTS_PRUNE], 1, keep);
    return step_done(s, STMT_EVENTS_PRUNE);
}

int store_events_last_id(Store *s, int64_t *ret)
{
    sqlite3_stmt *st = s->stmt[STMT_EVENTS_LAST];
    int rc = sqlite3_step(st);
    int r = rc == SQLITE_ROW ? 0 : step_failed(s, rc);

    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int64(st, 0);
    (void)sqlite3_reset(st);
    return r;
}

/* Steps st (bound already) and calls cb for each event row, then resets st. */
static int read_events(Store *s, sqlite3_stmt *st, int (*cb)(const StoredEvent *ev, void *userdata),
                       void *userdata)
{
    int rc, r = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        StoredEvent ev = {
            .id = sqlite3_column_int64(st, 0),
            .time_us = (uint64_t)sqlite3_column_int64(st, 1),
            .domain = (const char *)sqlite3_column_text(st, 2),
            .event = (const char *)sqlite3_column_text(st, 3),
            .detail = (const char *)sqlite3_column_text(st, 4),
        };
        r = cb(&ev, userdata);
        if (r != 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = step_failed(s, rc);
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
    return r;
}

int store_events_since(Store *s, int64_t after_id, unsigned limit,
                       int (*cb)(const StoredEvent *ev, void *userdata), void *userdata)
{
    sqlite3_stmt *st = s->stmt[STMT_EVENTS_SINCE];

    (void)sqlite3_bind_int64(st, 1, after_id);
    (void)sqlite3_bind_int64(st, 2, limit);
    return read_events(s, st, cb, userdata);
}

int store_events_query(Store *s, const StoreEventFilter *f,
                       int (*cb)(const StoredEvent *ev, void *userdata), void *userdata)
{
    sqlite3_stmt *st = s->stmt[f->newest ? STMT_EVENTS_QUERY_NEWEST : STMT_EVENTS_QUERY_OLDEST];

    (void)sqlite3_bind_int64(st, 1, f->after_id);
    (void)sqlite3_bind_int64(st, 2, (sqlite3_int64)MIN(f->since_us, (uint64_t)INT64_MAX));
    bind_text_or_null(st, 3, f->domain);
    bind_text_or_null(st, 4, f->event);
    (void)sqlite3_bind_int64(st, 5, f->limit);
    return read_events(s, st, cb, userdata);
}

static const char *column_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Reads one domains row into d; strings are borrowed from the statement (valid until the next
 * step). Rows that violate the model are reported as -EBADMSG. */
static int read_domain_row(sqlite3_stmt *st, StoredDomain *d)
{
    const char *name = column_text(st, 1), *uuid = column_text(st, 2);

    domain_config_init(&d->config);
    d->id = sqlite3_column_int64(st, 0);
    if (!name || strlen(name) > DOMAIN_NAME_MAX || !uuid ||
        domain_uuid_canonicalize(uuid, d->config.uuid) < 0)
        return -EBADMSG;
    strcpy(d->config.name, name);
    d->config.driver = driver_kind_from_string(column_text(st, 3));
    d->config.mode = domain_mode_from_string(column_text(st, 4));
    d->config.vcpus = (unsigned)sqlite3_column_int64(st, 5);
    d->config.memory_mib = (uint64_t)sqlite3_column_int64(st, 6);
    d->config.kernel = (char *)column_text(st, 7);
    d->config.disk = (char *)column_text(st, 8);
    d->config.cmdline = (char *)column_text(st, 9);
    d->config.cpuset = (char *)column_text(st, 10);
    d->config.autostart = sqlite3_column_int(st, 11) != 0;
    d->config.on_crash = on_crash_from_string(column_text(st, 12));
    d->state = domain_state_from_string(column_text(st, 13));
    d->reason = domain_reason_from_string(column_text(st, 14));
    d->runtime.pid = (int)sqlite3_column_int64(st, 15);
    d->runtime.pid_start_time = (uint64_t)sqlite3_column_int64(st, 16);
    d->runtime.started_us = (uint64_t)sqlite3_column_int64(st, 17);
    d->created_us = (uint64_t)sqlite3_column_int64(st, 18);
    d->state_changed_us = (uint64_t)sqlite3_column_int64(st, 19);
    d->config.network = (char *)column_text(st, 20);
    d->config.initrd = (char *)column_text(st, 21);
    d->config.cpu_weight = (unsigned)sqlite3_column_int64(st, 22);
    d->config.cpu_cap = (unsigned)sqlite3_column_int64(st, 23);
    d->config.memory_limit = (uint64_t)sqlite3_column_int64(st, 24);
    if (d->config.driver < 0 || d->config.mode < 0 || d->config.on_crash < 0 || d->state < 0 ||
        d->reason < 0)
        return -EBADMSG;
    return 0;
}

int store_domains_load(Store *s, int (*cb)(StoredDomain *d, void *userdata), void *userdata)
{
    sqlite3_stmt *st = s->stmt[STMT_DOMAINS_LOAD];
    int rc, r = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        StoredDomain d;

        r = read_domain_row(st, &d);
        if (r < 0)
            break;
        r = cb(&d, userdata);
        if (r < 0)
            break;
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = step_failed(s, rc);
    (void)sqlite3_reset(st);
    return r;
}

int store_network_insert(Store *s, const StoredNetwork *n, int64_t *ret_id)
{
    sqlite3_stmt *st = s->stmt[STMT_NETWORK_INSERT];
    int r;

    (void)sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, n->bridge, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 3, n->subnet, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int(st, 4, (int)n->prefix);
    (void)sqlite3_bind_int(st, 5, n->nat);
    (void)sqlite3_bind_int(st, 6, n->dhcp);
    (void)sqlite3_bind_int64(st, 7, (sqlite3_int64)n->created_us);
    r = step_done(s, STMT_NETWORK_INSERT);
    if (r >= 0 && ret_id)
        *ret_id = sqlite3_last_insert_rowid(s->db);
    return r;
}

int store_network_delete(Store *s, int64_t id)
{
    (void)sqlite3_bind_int64(s->stmt[STMT_NETWORK_DELETE], 1, id);
    return step_done(s, STMT_NETWORK_DELETE);
}

int store_networks_load(Store *s, int (*cb)(const StoredNetwork *n, void *userdata), void *userdata)
{
    sqlite3_stmt *st = s->stmt[STMT_NETWORKS_LOAD];
    int rc, r = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        StoredNetwork n = {
            .id = sqlite3_column_int64(st, 0),
            .name = column_text(st, 1),
            .bridge = column_text(st, 2),
            .subnet = column_text(st, 3),
            .prefix = (unsigned)sqlite3_column_int(st, 4),
            .nat = sqlite3_column_int(st, 5) != 0,
            .dhcp = sqlite3_column_int(st, 6) != 0,
            .created_us = (uint64_t)sqlite3_column_int64(st, 7),
        };
        if (!n.name || !n.bridge || !n.subnet) {
            r = -EBADMSG;
            break;
        }
        r = cb(&n, userdata);
        if (r < 0)
            break;
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = step_failed(s, rc);
    (void)sqlite3_reset(st);
    return r;
}

int store_lease_insert(Store *s, const StoredLease *l)
{
    sqlite3_stmt *st = s->stmt[STMT_LEASE_INSERT];

    (void)sqlite3_bind_int64(st, 1, l->network_id);
    (void)sqlite3_bind_int64(st, 2, l->domain_id);
    (void)sqlite3_bind_text(st, 3, l->mac, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 4, l->ipv4, -1, SQLITE_STATIC);
    return step_done(s, STMT_LEASE_INSERT);
}

int store_lease_delete(Store *s, int64_t network_id, int64_t domain_id)
{
    sqlite3_stmt *st = s->stmt[STMT_LEASE_DELETE];

    (void)sqlite3_bind_int64(st, 1, network_id);
    (void)sqlite3_bind_int64(st, 2, domain_id);
    return step_done(s, STMT_LEASE_DELETE);
}

int store_leases_load(Store *s, int (*cb)(const StoredLease *l, void *userdata), void *userdata)
{
    sqlite3_stmt *st = s->stmt[STMT_LEASES_LOAD];
    int rc, r = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        StoredLease l = {
            .network_id = sqlite3_column_int64(st, 0),
            .domain_id = sqlite3_column_int64(st, 1),
            .mac = column_text(st, 2),
            .ipv4 = column_text(st, 3),
        };
        if (!l.mac || !l.ipv4) {
            r = -EBADMSG;
            break;
        }
        r = cb(&l, userdata);
        if (r < 0)
            break;
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = step_failed(s, rc);
    (void)sqlite3_reset(st);
    return r;
}

int store_image_insert(Store *s, const StoredImage *img, int64_t *ret_id)
{
    sqlite3_stmt *st = s->stmt[STMT_IMAGE_INSERT];
    int r;

    (void)sqlite3_bind_text(st, 1, img->domain_uuid, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, img->kind, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 3, img->name, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 4, (sqlite3_int64)img->created_us);
    (void)sqlite3_bind_int64(st, 5, (sqlite3_int64)img->size_bytes);
    (void)sqlite3_bind_text(st, 6, img->contents, -1, SQLITE_STATIC);
    bind_text_or_null(st, 7, img->disk);
    (void)sqlite3_bind_text(st, 8, img->path, -1, SQLITE_STATIC);
    r = step_done(s, STMT_IMAGE_INSERT);
    if (r >= 0 && ret_id)
        *ret_id = sqlite3_last_insert_rowid(s->db);
    return r;
}

int store_image_delete(Store *s, int64_t id)
{
    (void)sqlite3_bind_int64(s->stmt[STMT_IMAGE_DELETE], 1, id);
    return step_done(s, STMT_IMAGE_DELETE);
}

int store_images_delete_domain(Store *s, const char *domain_uuid)
{
    (void)sqlite3_bind_text(s->stmt[STMT_IMAGES_DELETE_DOMAIN], 1, domain_uuid, -1, SQLITE_STATIC);
    return step_done(s, STMT_IMAGES_DELETE_DOMAIN);
}

int store_images_load(Store *s, const char *domain_uuid,
                      int (*cb)(const StoredImage *img, void *userdata), void *userdata)
{
    sqlite3_stmt *st = s->stmt[STMT_IMAGES_LOAD];
    int rc, r = 0;

    if (domain_uuid)
        (void)sqlite3_bind_text(st, 1, domain_uuid, -1, SQLITE_STATIC);
    else
        (void)sqlite3_bind_null(st, 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        StoredImage img = {
            .id = sqlite3_column_int64(st, 0),
            .domain_uuid = column_text(st, 1),
            .kind = column_text(st, 2),
            .name = column_text(st, 3),
            .created_us = (uint64_t)sqlite3_column_int64(st, 4),
            .size_bytes = (uint64_t)sqlite3_column_int64(st, 5),
            .contents = column_text(st, 6),
            .disk = column_text(st, 7),
            .path = column_text(st, 8),
        };
        if (!img.domain_uuid || !img.kind || !img.name || !img.contents || !img.path) {
            r = -EBADMSG;
            break;
        }
        r = cb(&img, userdata);
        if (r < 0)
            break;
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = step_failed(s, rc);
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
    return r;
}

sqlite3 *store_sqlite(Store *s)
{
    return s->db;
}

int store_failed(Store *s, int rc)
{
    if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE)
        return 0;
    return step_failed(s, rc);
}
