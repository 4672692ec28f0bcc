/* Live migration, the source's side: a running domain goes migrating while the target hvd
 * admits it (over its HTTP API, with its token), the data connection is opened and handed to
 * the driver, and ends shutoff/migrated once the target runs it, or running again on any
 * failure or a cancel. The caller hears of a success once the target hvd also says the domain
 * runs there, so what it asks the target next finds it running. Nothing here waits on the
 * loop: every step is a callback. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "manager-internal.h"
#include "manager-migrate.h"
#include "migrate-peer.h"
#include "time-util.h"

typedef struct MigrationOut MigrationOut;

#define ADMIT_TIMEOUT_MS   10000u
#define CONNECT_TIMEOUT_MS 10000u
/* How long the target hvd has to record the domain running once its driver runs it (it hears
 * of that from its own backend a moment after the stream ends), and how often it is asked. */
#define CONFIRM_WAIT_US  (3 * USEC_PER_SEC)
#define CONFIRM_RETRY_US (20 * 1000)
#define CONFIRM_ASK_MS   1000u

struct MigrationOut {
    Manager *m;
    Domain *d;
    char *url;
    char *token;
    PeerAddress peer;
    DriverMigrateParams params;
    DomainReason from_reason; /* the running reason a failure returns to */
    PeerCall *call;           /* the admission request or the data connection in flight */
    bool sending;             /* the driver has the stream */
    bool confirming;          /* moved: waiting for the target hvd to say it runs there */
    uint64_t confirm_deadline_us;
    sd_event_source *confirm_retry;
    char ticket[MIGRATE_TICKET_LENGTH + 2];
    char *caller;
    json_t *backend; /* what the target's driver answered (kvm: its libvirt URI), or NULL */
    ManagerDone done;
    void *userdata;
};

/* This host's certificate files towards https:// targets ([migrate]). */
static TlsFiles peer_tls_files(const Manager *m)
{
    return (TlsFiles){.ca = m->config->migrate_tls_ca,
                      .cert = m->config->migrate_tls_cert,
                      .key = m->config->migrate_tls_key};
}

static void migration_free(MigrationOut *op)
{
    if (!op)
        return;
    peer_call_cancel(op->call);
    sd_event_source_disable_unref(op->confirm_retry);
    free(op->url);
    if (op->token)
        explicit_bzero(op->token, strlen(op->token));
    free(op->token);
    free(op->caller);
    json_decref(op->backend);
    free(op);
}

void manager_domain_migration_free(Domain *d)
{
    MigrationOut *op = d->migration;
    Error e = ERROR_NULL;

    if (!op)
        return;
    d->migration = NULL;
    (void)error_setf(&e, ERROR_FAILED, "hvd is stopping");
    /* A domain that moved has moved, whether or not the target said so yet. */
    if (op->done)
        op->done(op->userdata, NULL, op->confirming ? NULL : &e);
    migration_free(op);
}

/* The caller hears of the move (its reply goes out once the transition is committed). */
static void confirm_end(MigrationOut *op)
{
    Domain *d = op->d;

    d->migration = NULL;
    manager_after_commit_done(op->m, d, op->done, op->userdata, NULL);
    migration_free(op);
}

static void confirm_ask(MigrationOut *op);

static int on_confirm_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
    MigrationOut *op = userdata;

    op->confirm_retry = sd_event_source_disable_unref(op->confirm_retry);
    confirm_ask(op);
    return 0;
}

static void on_confirm_answer(PeerCall *call, unsigned status, json_t *body, const Error *e,
                              void *userdata)
{
    MigrationOut *op = userdata;
    const char *state = json_string_value(json_object_get(body, "state"));
    uint64_t now = 0;

    op->call = NULL;
    (void)sd_event_now(op->m->event, CLOCK_MONOTONIC, &now);
    if (!e && status == 200 && state && streq(state, "running"))
        return confirm_end(op);
    if (now < op->confirm_deadline_us && (e || status == 200) &&
        sd_event_add_time_relative(op->m->event, &op->confirm_retry, CLOCK_MONOTONIC,
                                   CONFIRM_RETRY_US, 0, on_confirm_retry, op) >= 0)
        return;
    log_warning("Domain %s: moved to %s, but the target hvd does not say it runs there (%s).",
                op->d->config.name, op->url,
                e       ? e->message
                : state ? state
                        : "no state in its answer");
    confirm_end(op);
}

/* Asks the target hvd for the domain's state. */
static void confirm_ask(MigrationOut *op)
{
    _cleanup_free_ char *path = NULL;
    Error e = ERROR_NULL;
    TlsFiles tls = peer_tls_files(op->m);

    if (asprintf(&path, "/api/v1/domains/%s", op->d->config.name) < 0 ||
        peer_request(op->m->event, &op->peer, &tls, "GET", path, op->token, NULL, CONFIRM_ASK_MS,
                     on_confirm_answer, op, &op->call, &e) < 0) {
        log_warning("Domain %s: moved to %s; cannot ask the target whether it runs: %s",
                    op->d->config.name, op->url, e.message[0] ? e.message : "out of memory");
        confirm_end(op);
    }
}

/* Ends op: d goes shutoff/migrated (ok) or running again, then the caller hears. */
static void migration_end(MigrationOut *op, const Error *e, const json_t *result)
{
    Manager *m = op->m;
    Domain *d = op->d;
    _cleanup_free_ char *outer = op->caller ? strdup(m->caller) : NULL;
    char detail[768];
    Error failed = ERROR_NULL;

    d->migration = NULL;
    if (op->caller)
        manager_set_caller(m, op->caller);
    if (!e) {
        json_t *downtime = result ? json_object_get(result, "downtime_ms") : NULL;
        char figures[64] = "";

        if (json_is_number(downtime))
            (void)snprintf(figures, sizeof(figures), " (downtime %.1f ms)",
                           json_number_value(downtime));
        (void)snprintf(detail, sizeof(detail), "migrated to %s%s", op->url, figures);
        if (d->state == STATE_MIGRATING)
            (void)manager_transition(m, d, STATE_SHUTOFF, REASON_MIGRATED, NULL, detail, true,
                                     NULL);
        log_info("Domain %s %s.", d->config.name, detail);
        if (op->done) {
            uint64_t now = 0;

            (void)sd_event_now(m->event, CLOCK_MONOTONIC, &now);
            op->confirming = true;
            op->confirm_deadline_us = now + CONFIRM_WAIT_US;
            d->migration = op;
            if (op->caller)
                manager_set_caller(m, outer);
            confirm_ask(op);
            return;
        }
    } else {
        (void)snprintf(detail, sizeof(detail), "the migration to %s failed: %s", op->url,
                       e->message);
        (void)error_setf(&failed, e->kind, "%s", detail);
        if (d->state == STATE_MIGRATING)
            (void)manager_transition(m, d, STATE_RUNNING, op->from_reason, NULL, detail, true,
                                     NULL);
        log_warning("Domain %s: %s", d->config.name, detail);
    }
    if (op->done)
        manager_after_commit_done(m, d, op->done, op->userdata, e ? &failed : NULL);
    if (op->caller)
        manager_set_caller(m, outer);
    migration_free(op);
}

static void on_data_connected(PeerCall *call, int fd, const Error *e, void *userdata)
{
    MigrationOut *op = userdata;
    _cleanup_close_ int stream = fd;
    Error failed = ERROR_NULL;
    size_t len = strlen(op->ticket);
    ssize_t n;
    int r;

    op->call = NULL;
    if (e) {
        migration_end(op, e, NULL);
        return;
    }
    /* The ticket tells the target which admission this stream is for; the VMM's own stream
     * follows it. A few dozen bytes always fit a new connection's send buffer. */
    n = send(stream, op->ticket, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n != (ssize_t)len) {
        (void)error_set_errno(&failed, n < 0 ? -errno : -EIO,
                              "the target did not take the ticket: %m");
        migration_end(op, &failed, NULL);
        return;
    }
    r = driver_migrate_send(manager_driver(op->m, op->d), &op->d->config, &op->d->runtime, stream,
                            &op->params, 0, &failed);
    if (r < 0) {
        migration_end(op, &failed, NULL);
        return;
    }
    /* The driver holds its own copy: the target sees the stream end when the VMM lets go. */
    op->sending = true;
}

static void on_admitted(PeerCall *call, unsigned status, json_t *body, const Error *e,
                        void *userdata)
{
    MigrationOut *op = userdata;
    const char *ticket = json_string_value(json_object_get(body, "ticket"));
    json_t *port = json_object_get(body, "port");
    Error failed = ERROR_NULL;
    char port_text[8];
    TlsFiles tls;
    int r;

    op->call = NULL;
    if (e) {
        migration_end(op, e, NULL);
        return;
    }
    if (status != 201) {
        const char *why = json_string_value(json_object_get(body, "detail"));
        const char *kind = json_string_value(json_object_get(body, "kind"));
        ErrorKind k = kind ? error_kind_from_string(kind) : error_kind_from_http_status(status);

        /* What the target lacks is a conflict with its state, not a name missing here. */
        if (k == ERROR_NO_SUCH_DOMAIN || k == ERROR_NO_SUCH_NETWORK || k == ERROR_NO_SUCH_SNAPSHOT)
            k = ERROR_INVALID_STATE;

        (void)error_setf(&failed, k >= 0 ? k : ERROR_FAILED, "the target refused it: %s",
                         why ?: "no reason given");
        migration_end(op, &failed, NULL);
        return;
    }
    if (!ticket || strlen(ticket) != MIGRATE_TICKET_LENGTH || !json_is_integer(port) ||
        json_integer_value(port) < 1 || json_integer_value(port) > 65535) {
        (void)error_setf(&failed, ERROR_FAILED, "the target's admission answer is malformed");
        migration_end(op, &failed, NULL);
        return;
    }
    if (json_is_object(json_object_get(body, "backend")))
        op->params.target = op->backend = json_incref(json_object_get(body, "backend"));
    (void)snprintf(op->ticket, sizeof(op->ticket), "%s\n", ticket);
    (void)snprintf(port_text, sizeof(port_text), "%d", (int)json_integer_value(port));
    tls = peer_tls_files(op->m);
    r = peer_connect(op->m->event, &op->peer, &tls, port_text, CONNECT_TIMEOUT_MS,
                     on_data_connected, op, &op->call, &failed);
    if (r < 0)
        migration_end(op, &failed, NULL);
}

/* What the target needs to admit d: its definition, without what belongs to this host. */
static json_t *admission_body(const Domain *d)
{
    json_t *def = json_object(), *body;

    if (!def || domain_config_to_json(&d->config, def) < 0) {
        json_decref(def);
        return NULL;
    }
    (void)json_object_del(def, "cpuset"); /* this host's CPUs */
    body = json_pack("{s:o}", "domain", def);
    return body;
}

int manager_domain_migrate(Manager *m, Domain *d, const ManagerMigrateRequest *req,
                           ManagerDone done, void *userdata, Error *e)
{
    Driver *drv = manager_driver(m, d);
    _cleanup_free_ char *message = NULL;
    json_t *body;
    MigrationOut *op;
    TlsFiles tls;
    int r;

    if (d->migration)
        return error_setf(e, ERROR_INVALID_STATE, "domain '%s' is being migrated already",
                          d->config.name);
    if (d->state != STATE_RUNNING)
        return error_setf(e, ERROR_INVALID_STATE,
                          "domain '%s' is %s; only a running domain can be migrated",
                          d->config.name, domain_state_to_string(d->state));
    if (!drv || !drv->ops->migrate_send)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "the %s driver does not support live migration",
                          driver_kind_to_string(d->config.driver));
    if (!drv->available)
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the %s driver is unavailable: %s",
                          drv->ops->name, strna(drv->unavailable_reason));
    if (req->downtime_ms > MANAGER_MIGRATE_DOWNTIME_MAX_MS)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "the downtime must be 1..%u ms",
                          MANAGER_MIGRATE_DOWNTIME_MAX_MS);
    if (req->timeout_s > MANAGER_MIGRATE_TIMEOUT_MAX_S)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "the timeout must be 1..%u s",
                          MANAGER_MIGRATE_TIMEOUT_MAX_S);
    if (req->bandwidth_mib_s > MANAGER_MIGRATE_BANDWIDTH_MAX)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "the bandwidth must be 1..%u MiB/s",
                          MANAGER_MIGRATE_BANDWIDTH_MAX);
    if (req->token && strlen(req->token) > 256)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "the token is too long");
    op = calloc(1, sizeof(*op));
    if (!op)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    *op = (MigrationOut){.m = m,
                         .d = d,
                         .params = {.downtime_ms = req->downtime_ms,
                                    .timeout_s = req->timeout_s,
                                    .bandwidth_mib_s = req->bandwidth_mib_s},
                         .from_reason = d->reason,
                         .done = done,
                         .userdata = userdata};
    r = peer_address_parse(req->url, &op->peer, e);
    if (r < 0) {
        migration_free(op);
        return r;
    }
    if (!(op->url = strdup(req->url)) || !(op->token = strdup(strempty(req->token))) ||
        (m->caller[0] && !(op->caller = strdup(m->caller))) ||
        asprintf(&message, "migrating to %s", req->url) < 0 || !(body = admission_body(d))) {
        migration_free(op);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    tls = peer_tls_files(m);
    r = peer_request(m->event, &op->peer, &tls, "POST", "/api/v1/migrations", op->token, body,
                     ADMIT_TIMEOUT_MS, on_admitted, op, &op->call, e);
    json_decref(body);
    if (r < 0) {
        migration_free(op);
        return r;
    }
    /* Recorded before anything moves, so a restart of hvd knows what was under way. */
    r = manager_transition(m, d, STATE_MIGRATING, REASON_MIGRATED, NULL, message, false, e);
    if (r < 0) {
        migration_free(op);
        return r;
    }
    d->migration = op;
    log_info("Domain %s: migrating to %s.", d->config.name, req->url);
    return done ? 1 : 0;
}

int manager_domain_migrate_cancel(Manager *m, Domain *d, Error *e)
{
    MigrationOut *op = d->migration;
    Error failed = ERROR_NULL;

    if (!op || op->confirming)
        return error_setf(e, ERROR_INVALID_STATE, "no migration of '%s' is under way",
                          d->config.name);
    if (op->sending) {
        int r = driver_migrate_cancel(manager_driver(m, d), &d->config, &d->runtime, 0, e);
        return r < 0 ? r : 0;
    }
    /* Not handed to the driver yet: end it here (the target drops what it admitted when no
     * stream comes). */
    (void)error_setf(&failed, ERROR_FAILED, "cancelled");
    migration_end(op, &failed, NULL);
    return 0;
}

void manager_migration_progress(Manager *m, Domain *d, const json_t *progress)
{
    json_t *detail = json_deep_copy(progress);
    int r;

    if (!detail)
        return;
    (void)json_object_del(detail, "event");
    if (d->migration)
        (void)json_object_set_new(detail, "to", json_string(d->migration->url));
    r = manager_change_begin(m);
    if (r >= 0)
        r = manager_log_event(m, d->config.name, "migration-progress", detail, NULL);
    manager_change_end(m, r);
    for (size_t i = 0; i < m->n_listeners; i++)
        if (m->listeners[i].domain_migration)
            m->listeners[i].domain_migration(m->listeners[i].userdata, d, detail);
    json_decref(detail);
}

void manager_migration_sent(Manager *m, Domain *d, const Error *e, const json_t *result)
{
    MigrationOut *op = d->migration;

    if (!op || !op->sending || op->confirming)
        return;
    migration_end(op, e, result);
}
