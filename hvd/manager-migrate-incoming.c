/* Live migration, the target's side: a domain admitted through this host's own checks is
 * defined (with a marker file under STATE_DIR/incoming/ until it runs), a one-time port waits
 * for the source's data connection, which must open with the admission's ticket, and the
 * domain starts starting/migrated receiving the guest over it, running/migrated once the guest
 * runs here. Whatever fails (no connection in time, a wrong ticket, the source's VMM giving up)
 * removes the domain it defined. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "manager-internal.h"
#include "manager-migrate.h"
#include "time-util.h"
#include "tls-relay.h"

/* How long the source has to open its data connection after an admission, and to send its
 * ticket on it; and how long the guest may take to arrive (pre-copy and stop-and-copy). */
typedef struct IncomingMigration IncomingMigration;

#define CONNECT_WAIT_US   (15 * USEC_PER_SEC)
#define RECEIVE_TIMEOUT_S 600u
/* How long a TLS data connection has for its handshake (within CONNECT_WAIT_US). */
#define HANDSHAKE_TIMEOUT_MS 10000u

struct IncomingMigration {
    Manager *m;
    char name[DOMAIN_NAME_MAX + 1];
    char uuid[DOMAIN_UUID_STRING_MAX];
    bool created; /* the admission defined the domain (and removes it when this fails) */
    char ticket[MIGRATE_TICKET_LENGTH + 1];
    int listen_fd;
    int conn_fd;
    sd_event_source *listen_io;
    sd_event_source *conn_io;
    sd_event_source *timer;
    char got[MIGRATE_TICKET_LENGTH + 1];
    size_t got_len;
    IncomingMigration *next;
};

/* What the start's completion needs once the admission's listener is gone. */
typedef struct IncomingStart {
    Manager *m;
    char name[DOMAIN_NAME_MAX + 1];
    char uuid[DOMAIN_UUID_STRING_MAX];
    bool created;
    sd_event_source *defer;
} IncomingStart;

static char *marker_path(Manager *m, const char *uuid)
{
    char *p = NULL;

    return asprintf(&p, "%s/incoming/%s", m->config->state_dir, uuid) < 0 ? NULL : p;
}

/* Writes the marker of uuid (its content: the domain's name, and "kept" on a second line when
 * the domain was defined here before), durable before the domain is. */
static int marker_write(Manager *m, const char *uuid, const char *name, bool kept, Error *e)
{
    _cleanup_free_ char *dir = NULL, *path = marker_path(m, uuid);
    _cleanup_close_ int fd = -EBADF, dfd = -EBADF;

    if (!path || asprintf(&dir, "%s/incoming", m->config->state_dir) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return error_set_errno(e, -errno, "Failed to create %s: %m", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write(fd, name, strlen(name)) != (ssize_t)strlen(name) ||
        (kept && write(fd, "\nkept", 5) != 5) || fsync(fd) < 0)
        return error_set_errno(e, -errno, "Failed to write %s: %m", path);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0)
        return error_set_errno(e, -errno, "Failed to sync %s: %m", dir);
    return 0;
}

static void marker_remove(Manager *m, const char *uuid)
{
    _cleanup_free_ char *path = marker_path(m, uuid);

    if (path && unlink(path) < 0 && errno != ENOENT)
        log_warning_errno(errno, "Failed to remove %s: %m", path);
}

/* Removes the shut-off domain a failed migration here defined, then its marker. */
static void remove_admitted(Manager *m, const char *domain_name, const char *uuid, bool created,
                            const char *why)
{
    Domain *d = manager_find(m, domain_name);
    char name[DOMAIN_NAME_MAX + 1];
    Error e = ERROR_NULL;

    (void)snprintf(name, sizeof(name), "%s", domain_name); /* the deletion frees d's */

    if (created && d && streq(d->config.uuid, uuid) && d->state == STATE_SHUTOFF) {
        if (manager_domain_delete(m, d, &e) < 0) {
            log_warning("Domain %s: removing the domain of a failed migration: %s", name,
                        e.message);
            return; /* the marker stays: the next start-up tries again */
        }
        log_notice("Domain %s: the incoming migration failed (%s); removed it.", name, why);
    }
    marker_remove(m, uuid);
}

static IncomingMigration *incoming_free(IncomingMigration *in)
{
    if (!in)
        return NULL;
    for (IncomingMigration **p = &in->m->incoming_migrations; *p; p = &(*p)->next)
        if (*p == in) {
            *p = in->next;
            break;
        }
    (void)sd_event_source_disable_unref(in->listen_io);
    (void)sd_event_source_disable_unref(in->conn_io);
    (void)sd_event_source_disable_unref(in->timer);
    safe_close(in->listen_fd);
    safe_close(in->conn_fd);
    explicit_bzero(in->ticket, sizeof(in->ticket));
    free(in);
    return NULL;
}

/* The admission came to nothing: its domain goes. */
static void incoming_abandon(IncomingMigration *in, const char *why)
{
    remove_admitted(in->m, in->name, in->uuid, in->created, why);
    incoming_free(in);
}

static int on_remove_later(sd_event_source *s, void *userdata)
{
    IncomingStart *st = userdata;

    remove_admitted(st->m, st->name, st->uuid, st->created, "the guest did not arrive");
    (void)sd_event_source_disable_unref(st->defer);
    free(st);
    return 0;
}

static void on_started(void *userdata, Domain *d, const Error *e)
{
    IncomingStart *st = userdata;

    if (!e) {
        log_info("Domain %s: migrated here; it runs.", st->name);
        marker_remove(st->m, st->uuid);
        free(st);
        return;
    }
    log_warning("Domain %s: the incoming migration failed: %s", st->name, e->message);
    /* Not from inside the start's completion, which still refers to the domain. */
    if (!d || sd_event_add_defer(st->m->event, &st->defer, on_remove_later, st) < 0) {
        if (d)
            log_warning("Domain %s: it stays until the next start-up removes it.", st->name);
        free(st);
    }
}

/* The ticket arrived: the domain starts, receiving the rest of the stream. */
static void incoming_start(IncomingMigration *in)
{
    Manager *m = in->m;
    Domain *d = manager_find(m, in->name);
    IncomingStart *st;
    Error e = ERROR_NULL;
    int flags, r;

    if (!d || !streq(d->config.uuid, in->uuid)) {
        incoming_abandon(in, "the admitted domain went away");
        return;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        incoming_abandon(in, "out of memory");
        return;
    }
    *st = (IncomingStart){.m = m, .created = in->created};
    memcpy(st->name, in->name, sizeof(st->name));
    memcpy(st->uuid, in->uuid, sizeof(st->uuid));
    flags = fcntl(in->conn_fd, F_GETFL);
    if (flags >= 0)
        (void)fcntl(in->conn_fd, F_SETFL, flags & ~O_NONBLOCK);
    r = manager_domain_start_incoming(m, d, in->conn_fd, RECEIVE_TIMEOUT_S, on_started, st, &e);
    if (r < 0) {
        free(st);
        incoming_abandon(in, e.message);
        return;
    }
    /* The VMM holds the stream now: dropping this copy lets the source see its end. */
    incoming_free(in);
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    IncomingMigration *in = userdata;
    /* Exactly the ticket and its newline: what follows is the VMM's. */
    ssize_t n = read(fd, in->got + in->got_len, MIGRATE_TICKET_LENGTH + 1 - in->got_len);

    if (n < 0 && errno == EAGAIN)
        return 0;
    if (n <= 0) {
        incoming_abandon(in, "the source closed its data connection");
        return 0;
    }
    in->got_len += (size_t)n;
    if (in->got_len < MIGRATE_TICKET_LENGTH + 1)
        return 0;
    if (in->got[MIGRATE_TICKET_LENGTH] != '\n' ||
        memcmp(in->got, in->ticket, MIGRATE_TICKET_LENGTH) != 0) {
        log_warning("Domain %s: a data connection came with a wrong ticket; dropping the "
                    "admission.",
                    in->name);
        incoming_abandon(in, "a wrong ticket");
        return 0;
    }
    in->conn_io = sd_event_source_disable_unref(in->conn_io);
    incoming_start(in);
    return 0;
}

/* With [http] TLS, the data connection is TLS as the API is (the same certificate, and the
 * same client CA when one is required): c becomes the plain end of its relay (non-blocking),
 * which the VMM gets as it would the TCP connection itself. */
static int data_connection_tls(Manager *m, int c, Error *e)
{
    TlsFiles files = {.ca = m->config->http_tls_client_ca,
                      .cert = m->config->http_tls_cert,
                      .key = m->config->http_tls_key};
    int plain, flags, r;

    if (!files.cert)
        return c;
    r = tls_relay_start(c, &files, NULL, "the source hvd of a migration", HANDSHAKE_TIMEOUT_MS,
                        &plain, NULL, e);
    if (r < 0)
        return r;
    flags = fcntl(plain, F_GETFL);
    if (flags < 0 || fcntl(plain, F_SETFL, flags | O_NONBLOCK) < 0) {
        r = error_set_errno(e, -errno, "Failed to set up the TLS relay: %m");
        safe_close(plain);
        return r;
    }
    return plain;
}

static int on_listen_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    IncomingMigration *in = userdata;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    Error e = ERROR_NULL;

    if (c < 0)
        return 0;
    /* One connection per admission: the port closes behind it. */
    in->listen_io = sd_event_source_disable_unref(in->listen_io);
    in->listen_fd = safe_close(in->listen_fd);
    c = data_connection_tls(in->m, c, &e);
    if (c < 0) {
        incoming_abandon(in, e.message);
        return 0;
    }
    in->conn_fd = c;
    if (sd_event_add_io(in->m->event, &in->conn_io, c, EPOLLIN, on_conn_io, in) < 0)
        incoming_abandon(in, "cannot watch the data connection");
    return 0;
}

static int on_wait_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    IncomingMigration *in = userdata;

    incoming_abandon(in, "no data connection came in time");
    return 0;
}

/* A listening socket on local's address, any port: its port in *ret_port. */
static int listen_on(const struct sockaddr_storage *local, int *ret_port, Error *e)
{
    struct sockaddr_storage sa = *local;
    socklen_t len = sizeof(sa);
    _cleanup_close_ int fd = -EBADF;

    if (sa.ss_family == AF_INET)
        ((struct sockaddr_in *)&sa)->sin_port = 0;
    else if (sa.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&sa)->sin6_port = 0;
    else {
        struct sockaddr_in *in = (struct sockaddr_in *)&sa;
        *in =
            (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    }
    fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 ||
        bind(fd, (struct sockaddr *)&sa,
             sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) <
            0 ||
        listen(fd, 1) < 0 || getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        return error_set_errno(e, -errno, "Failed to open a port for the migration: %m");
    *ret_port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                               : ((struct sockaddr_in *)&sa)->sin_port);
    return TAKE_FD(fd);
}

/* The definition as this host will record it: a new object without what the source host
 * alone knows. */
static json_t *settings_from(const json_t *definition, Error *e)
{
    json_t *settings, *v;
    const char *key;
    void *tmp;

    if (!json_is_object(definition)) {
        (void)error_setf(e, ERROR_INVALID_ARGUMENT,
                         "'domain' must be an object: the migrating domain's definition");
        return NULL;
    }
    settings = json_deep_copy(definition);
    if (!settings) {
        (void)error_set_errno(e, -ENOMEM, "Out of memory");
        return NULL;
    }
    json_object_foreach_safe(settings, tmp, key, v) if (json_is_null(v) || streq(key, "cpuset") ||
                                                        streq(key, "autostart"))(void)
        json_object_del(settings, key);
    return settings;
}

int manager_migration_admit(Manager *m, const json_t *definition,
                            const struct sockaddr_storage *local, json_t **ret, Error *e)
{
    json_t *settings = settings_from(definition, e);
    uint8_t raw[MIGRATE_TICKET_LENGTH / 2];
    IncomingMigration *in;
    DomainConfig c;
    Domain *d;
    Driver *drv;
    Network *n;
    int port = 0, r;

    if (!settings)
        return -EINVAL;
    r = domain_config_from_json(settings, &c, e);
    if (r < 0) {
        json_decref(settings);
        return r;
    }
    drv = m->drivers[c.driver];
    d = manager_find(m, c.name);
    if (!drv || !drv->ops->start_incoming)
        r = error_setf(e, ERROR_INVALID_ARGUMENT,
                       "this host cannot receive a migration of a %s domain",
                       driver_kind_to_string(c.driver));
    else if (d && !streq(d->config.uuid, c.uuid))
        r = error_setf(e, ERROR_DOMAIN_EXISTS,
                       "the name '%s' is taken here by another domain (UUID %s)", c.name,
                       d->config.uuid);
    else if (d && d->state != STATE_SHUTOFF)
        r = error_setf(e, ERROR_INVALID_STATE, "domain '%s' is %s here already", c.name,
                       domain_state_to_string(d->state));
    else if (!d && manager_find_uuid(m, c.uuid))
        r = error_setf(e, ERROR_DOMAIN_EXISTS, "UUID %s is used here by domain '%s'", c.uuid,
                       manager_find_uuid(m, c.uuid)->config.name);
    else if (c.network && manager_network_get(m, c.network, &n, e) < 0)
        r = -ENOENT;
    else
        r = alloc_check(&m->alloc, c.vcpus, c.memory_mib, NULL, e);
    for (in = m->incoming_migrations; r >= 0 && in; in = in->next)
        if (streq(in->name, c.name) || streq(in->uuid, c.uuid))
            r = error_setf(e, ERROR_INVALID_STATE, "a migration of '%s' is coming in already",
                           c.name);
    if (r < 0) {
        domain_config_done(&c);
        json_decref(settings);
        return r;
    }

    in = calloc(1, sizeof(*in));
    if (!in) {
        domain_config_done(&c);
        json_decref(settings);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    in->m = m;
    in->listen_fd = in->conn_fd = -EBADF;
    (void)snprintf(in->name, sizeof(in->name), "%s", c.name);
    (void)snprintf(in->uuid, sizeof(in->uuid), "%s", c.uuid);
    domain_config_done(&c);
    in->next = m->incoming_migrations;
    m->incoming_migrations = in;

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        json_decref(settings);
        incoming_free(in);
        return error_set_errno(e, -errno, "Failed to make a ticket: %m");
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        (void)snprintf(in->ticket + 2 * i, 3, "%02x", raw[i]);
    explicit_bzero(raw, sizeof(raw));

    in->listen_fd = listen_on(local, &port, e);
    r = in->listen_fd;
    /* The marker first: a crash between it and the definition leaves a marker alone, which the
     * next start-up removes, never a definition nobody knows came half-way. */
    if (r >= 0)
        r = marker_write(m, in->uuid, in->name, d != NULL, e);
    if (r >= 0 && !d) {
        r = manager_domain_create(m, settings, &d, e);
        in->created = r >= 0;
    }
    json_decref(settings);
    if (r >= 0)
        r = sd_event_add_io(m->event, &in->listen_io, in->listen_fd, EPOLLIN, on_listen_io, in);
    if (r >= 0)
        r = sd_event_add_time_relative(m->event, &in->timer, CLOCK_MONOTONIC, CONNECT_WAIT_US, 0,
                                       on_wait_timeout, in);
    if (r >= 0 && !(*ret = json_pack("{s:s, s:i, s:s}", "name", in->name, "port", port, "ticket",
                                     in->ticket)))
        r = error_set_errno(e, -ENOMEM, "Out of memory");
    if (r >= 0 && drv->ops->migrate_target) {
        json_t *backend = drv->ops->migrate_target(drv, &d->config);

        if (backend && json_object_set_new(*ret, "backend", backend) < 0)
            r = error_set_errno(e, -ENOMEM, "Out of memory");
    }
    if (r < 0) {
        if (!error_is_set(e))
            (void)error_set_errno(e, r, "Failed to wait for the migration: %m");
        incoming_abandon(in, e->message);
        return r;
    }
    log_info("Domain %s: admitted a migration; waiting for its stream on port %d.", in->name, port);
    return 0;
}

void manager_migrations_free(Manager *m)
{
    while (m->incoming_migrations)
        incoming_free(m->incoming_migrations);
}

void manager_migrations_reconcile(Manager *m)
{
    _cleanup_free_ char *dir = NULL;
    DIR *dp;
    struct dirent *de;

    if (asprintf(&dir, "%s/incoming", m->config->state_dir) < 0)
        return;
    dp = opendir(dir);
    if (!dp)
        return;
    while ((de = readdir(dp))) {
        char name[DOMAIN_NAME_MAX + 8] = "", *nl;
        bool kept;
        _cleanup_close_ int fd = -EBADF;
        Domain *d;
        ssize_t n;

        if (de->d_name[0] == '.')
            continue;
        fd = openat(dirfd(dp), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        n = fd >= 0 ? read(fd, name, sizeof(name) - 1) : -1;
        name[n > 0 ? n : 0] = 0;
        nl = strchr(name, '\n');
        kept = nl && streq(nl, "\nkept");
        if (nl)
            *nl = 0;
        d = manager_find_uuid(m, de->d_name);
        if (d && domain_state_is_active(d->state)) {
            /* The guest came (or is coming) in while hvd was away: it is this host's now. */
            log_info("Domain %s: its incoming migration ended while hvd was stopped; it runs.",
                     d->config.name);
            marker_remove(m, de->d_name);
        } else
            remove_admitted(m, d ? d->config.name : name, de->d_name, d && !kept,
                            "hvd stopped before the guest arrived");
    }
    closedir(dp);
}
