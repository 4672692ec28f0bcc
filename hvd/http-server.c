/* libmicrohttpd on hvd's event loop: every daemon runs in external-polling epoll mode, its
 * epoll fd watched by sd-event, so handlers run on the loop thread and call the manager
 * directly, with no locks (the manager is single-threaded by design). Operations that take a
 * while suspend their connection until the manager reports completion. */
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "http-internal.h"
#include "http-listen.h"
#include "http-tls.h"
#include "log.h"
#include "time-util.h"

/* Connections libmicrohttpd accepts above max-connections: a listener accepts up to ten at a
 * time, each of which makes room by closing another (http-guard.c) before the next round. */
#define HTTP_CONNECTION_HEADROOM 16u

static const char *const status_titles[][2] = {
    {"400", "Bad Request"},         {"401", "Unauthorized"},
    {"403", "Forbidden"},           {"404", "Not Found"},
    {"405", "Method Not Allowed"},  {"409", "Conflict"},
    {"413", "Content Too Large"},   {"415", "Unsupported Media Type"},
    {"426", "Upgrade Required"},    {"500", "Internal Server Error"},
    {"503", "Service Unavailable"},
};

static const char *status_title(unsigned status)
{
    char code[8];

    (void)snprintf(code, sizeof(code), "%u", status);
    for (size_t i = 0; i < ELEMENTSOF(status_titles); i++)
        if (streq(status_titles[i][0], code))
            return status_titles[i][1];
    return "Error";
}

static void add_common_headers(struct MHD_Response *resp)
{
    (void)MHD_add_response_header(resp, "Cache-Control", "no-store");
    (void)MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

static struct MHD_Response *response_text(const char *text, size_t len, const char *type)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);

    if (resp) {
        (void)MHD_add_response_header(resp, "Content-Type", type);
        add_common_headers(resp);
    }
    return resp;
}

/* A response that owns text (malloc'ed; freed here on failure). */
static struct MHD_Response *response_owned_text(char *text, size_t len, const char *type)
{
    struct MHD_Response *resp;

    if (!text)
        return NULL;
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return NULL;
    }
    (void)MHD_add_response_header(resp, "Content-Type", type);
    add_common_headers(resp);
    return resp;
}

static struct MHD_Response *response_json(json_t *body, const char *type)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

    json_decref(body);
    return response_owned_text(text, text ? strlen(text) : 0, type);
}

/* A problem document; kind, when known, names the error as on D-Bus (NoSuchDomain, ...). */
static json_t *problem_body(unsigned status, const char *detail, const Error *kind)
{
    json_t *p = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title",
                          status_title(status), "status", (int)status, "detail", detail);

    if (p && kind)
        (void)json_object_set_new(p, "kind", json_string(error_kind_to_string(kind->kind)));
    return p;
}

static enum MHD_Result queue(HttpRequest *r, unsigned status, struct MHD_Response *resp)
{
    enum MHD_Result ret;

    if (!resp)
        return MHD_NO;
    ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result http_reply_json(HttpRequest *r, unsigned status, json_t *body)
{
    return queue(r, status, response_json(body, "application/json"));
}

enum MHD_Result http_reply_json_header(HttpRequest *r, unsigned status, json_t *body,
                                       const char *header, const char *value)
{
    struct MHD_Response *resp = response_json(body, "application/json");

    if (resp)
        (void)MHD_add_response_header(resp, header, value);
    return queue(r, status, resp);
}

enum MHD_Result http_reply_text(HttpRequest *r, unsigned status, const char *content_type,
                                const char *text, size_t len)
{
    return queue(r, status, response_text(text, len, content_type));
}

enum MHD_Result http_reply_owned_text(HttpRequest *r, unsigned status, const char *content_type,
                                      char *text, size_t len)
{
    return queue(r, status, response_owned_text(text, len, content_type));
}

static enum MHD_Result reply_problem_va(HttpRequest *r, unsigned status, const char *header,
                                        const char *value, const char *fmt, va_list ap)
{
    struct MHD_Response *resp;
    char detail[1024];

    (void)vsnprintf(detail, sizeof(detail), fmt, ap);
    resp = response_json(problem_body(status, detail, NULL), "application/problem+json");
    if (resp && header)
        (void)MHD_add_response_header(resp, header, value);
    return queue(r, status, resp);
}

enum MHD_Result http_reply_problem(HttpRequest *r, unsigned status, const char *fmt, ...)
{
    enum MHD_Result ret;
    va_list ap;

    va_start(ap, fmt);
    ret = reply_problem_va(r, status, NULL, NULL, fmt, ap);
    va_end(ap);
    return ret;
}

enum MHD_Result http_reply_problem_header(HttpRequest *r, unsigned status, const char *header,
                                          const char *value, const char *fmt, ...)
{
    enum MHD_Result ret;
    va_list ap;

    va_start(ap, fmt);
    ret = reply_problem_va(r, status, header, value, fmt, ap);
    va_end(ap);
    return ret;
}

enum MHD_Result http_reply_error(HttpRequest *r, const Error *e)
{
    unsigned status = error_kind_to_http_status(e->kind);

    return queue(r, status,
                 response_json(problem_body(status, e->message, e), "application/problem+json"));
}

enum MHD_Result http_reply_not_allowed(HttpRequest *r, const char *allow)
{
    struct MHD_Response *resp;
    char detail[256];

    (void)snprintf(detail, sizeof(detail), "%s is not allowed on %s; allowed: %s", r->method,
                   r->url, allow);
    resp = response_json(problem_body(MHD_HTTP_METHOD_NOT_ALLOWED, detail, NULL),
                         "application/problem+json");
    if (resp)
        (void)MHD_add_response_header(resp, "Allow", allow);
    return queue(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
}

const char *http_query(HttpRequest *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(HttpRequest *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

void http_wait(HttpRequest *r)
{
    r->waiting = true;
    r->next_waiting = r->http->waiting;
    r->http->waiting = r;
    MHD_suspend_connection(r->conn);
}

static void unlink_waiting(HttpRequest *r)
{
    for (HttpRequest **p = &r->http->waiting; *p; p = &(*p)->next_waiting)
        if (*p == r) {
            *p = r->next_waiting;
            break;
        }
}

static void request_free(HttpRequest *r)
{
    if (r->vnc)
        http_vnc_abandon(r->vnc);
    if (r->response)
        MHD_destroy_response(r->response);
    free(r->url);
    free(r->method);
    free(r->body);
    free(r);
}

/* Hands a response to a held request and wakes its connection; a request whose connection is
 * gone is freed instead. */
static void complete(HttpRequest *r, unsigned status, struct MHD_Response *resp)
{
    if (!r->waiting && !r->orphaned) {
        /* Completed before it was held: the handler answers with it (http_reply_completed). */
        r->status = status;
        r->response = resp;
        return;
    }
    r->waiting = false;
    if (r->orphaned) {
        if (resp)
            MHD_destroy_response(resp);
        request_free(r);
        return;
    }
    unlink_waiting(r);
    r->status = status;
    r->response = resp;
    http_resume(r->http, r->conn);
}

enum MHD_Result http_reply_completed(HttpRequest *r)
{
    struct MHD_Response *resp = TAKE_PTR(r->response);

    return resp ? queue(r, r->status, resp) : MHD_NO;
}

void http_complete_json(HttpRequest *r, unsigned status, json_t *body)
{
    complete(r, status, response_json(body, "application/json"));
}

void http_complete_error(HttpRequest *r, const Error *e)
{
    unsigned status = error_kind_to_http_status(e->kind);

    complete(r, status,
             response_json(problem_body(status, e->message, e), "application/problem+json"));
}

static bool peer_is_local(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    return http_address_is_local(info ? info->client_addr : NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    Http *h = cls;
    HttpRequest *r = *con_cls;

    if (!r) {
        const char *length;

        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        *r = (HttpRequest){.http = h,
                           .conn = conn,
                           .url = strdup(url),
                           .method = strdup(method),
                           .local = peer_is_local(conn)};
        *con_cls = r;
        if (!r->url || !r->method)
            return MHD_NO;
        length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (length && strtoull(length, NULL, 10) > h->max_body)
            r->too_large = true;
        http_guard_headers_received(conn);
        return MHD_YES;
    }

    if (r->response) {
        /* Woken after an operation completed: send what it produced. */
        struct MHD_Response *resp = r->response;
        r->response = NULL;
        return queue(r, r->status, resp);
    }

    if (*upload_size) {
        if (!r->too_large && r->body_len + *upload_size <= h->max_body) {
            char *p = realloc(r->body, r->body_len + *upload_size + 1);
            if (!p)
                return MHD_NO;
            memcpy(p + r->body_len, upload_data, *upload_size);
            r->body = p;
            r->body_len += *upload_size;
            r->body[r->body_len] = 0;
        } else
            r->too_large = true;
        *upload_size = 0;
        return MHD_YES;
    }

    http_guard_request_received(conn);
    if (h->client_cert_required) {
        char why[384];

        if (!http_tls_client_trusted(conn, why, sizeof(why)))
            return http_reply_problem(r, MHD_HTTP_FORBIDDEN,
                                      "a client certificate signed by the CA of [http] "
                                      "tls-client-ca is required: %s",
                                      why);
    }
    if (r->too_large)
        return http_reply_problem(r, MHD_HTTP_CONTENT_TOO_LARGE,
                                  "the request body is larger than the limit of %zu bytes",
                                  h->max_body);
    return http_route(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    HttpRequest *r = *con_cls;

    http_guard_request_done(conn);
    if (!r)
        return;
    *con_cls = NULL;
    if (r->waiting) {
        /* The operation still holds r: it frees it when it completes. */
        r->orphaned = true;
        unlink_waiting(r);
        return;
    }
    request_free(r);
}

static void rearm_timer(HttpDaemon *d)
{
    MHD_UNSIGNED_LONG_LONG ms;

    if (MHD_get_timeout(d->mhd, &ms) == MHD_YES) {
        (void)sd_event_source_set_time_relative(d->timer, ms * USEC_PER_MSEC);
        (void)sd_event_source_set_enabled(d->timer, SD_EVENT_ONESHOT);
    } else
        (void)sd_event_source_set_enabled(d->timer, SD_EVENT_OFF);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    HttpDaemon *d = userdata;

    (void)MHD_run(d->mhd);
    rearm_timer(d);
    return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    HttpDaemon *d = userdata;

    (void)MHD_run(d->mhd);
    rearm_timer(d);
    return 0;
}

static int on_kick(sd_event_source *s, void *userdata)
{
    Http *h = userdata;

    for (size_t i = 0; i < h->n_daemons; i++)
        if (h->daemons[i].mhd) {
            (void)MHD_run(h->daemons[i].mhd);
            rearm_timer(&h->daemons[i]);
        }
    return 0;
}

void http_kick(Http *h)
{
    if (!h->kick && sd_event_add_defer(h->event, &h->kick, on_kick, h) < 0)
        return;
    (void)sd_event_source_set_enabled(h->kick, SD_EVENT_ONESHOT);
}

void http_resume(Http *h, struct MHD_Connection *conn)
{
    MHD_resume_connection(conn);
    http_kick(h);
}

static char *read_file(const char *path, Error *e)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    char *buf;
    size_t n;

    if (!f) {
        (void)error_set_errno(e, -errno, "Failed to read %s: %m", path);
        return NULL;
    }
    buf = calloc(1, 1024 * 1024);
    if (!buf)
        return NULL;
    n = fread(buf, 1, 1024 * 1024 - 1, f);
    buf[n] = 0;
    return buf;
}

static int daemon_start(Http *h, HttpDaemon *d, int fd, const HvdConfig *config, Error *e)
{
    _cleanup_free_ char *cert = NULL, *key = NULL, *trust = NULL;
    unsigned flags =
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    int r;

    if (config->http_tls_cert || config->http_tls_key) {
        if (!config->http_tls_cert || !config->http_tls_key)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "[http] tls-cert and tls-key must be set together");
        cert = read_file(config->http_tls_cert, e);
        key = cert ? read_file(config->http_tls_key, e) : NULL;
        if (!cert || !key)
            return -EIO;
        flags |= MHD_USE_TLS;
        if (config->http_tls_client_ca) {
            trust = read_file(config->http_tls_client_ca, e);
            if (!trust)
                return -EIO;
            h->client_cert_required = true;
        }
    }

    d->http = h;
    r = http_guard_init(d, config);
    if (r < 0)
        return error_set_errno(e, r, "Failed to set up the HTTP connection timeouts: %m");
    /* libmicrohttpd's own timeout is for silence: a client that neither sends nor reads for
     * idle-timeout (suspended connections, waiting for an operation or an event, do not count).
     * Its connection limit leaves room above max-connections, which http-guard.c enforces by
     * closing the connections that have waited longest for their clients. */
    d->mhd = MHD_start_daemon(
        flags, 0, http_guard_accept, d, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, http_log_mhd, h,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify, d, MHD_OPTION_CONNECTION_TIMEOUT,
        config->http_idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        config->http_max_connections + HTTP_CONNECTION_HEADROOM, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(128 * 1024), cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
        MHD_OPTION_HTTPS_MEM_KEY, key, trust ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, trust,
        MHD_OPTION_END);
    if (!d->mhd)
        return error_setf(e, ERROR_FAILED, "libmicrohttpd could not serve on fd %d%s", fd,
                          cert ? " (check the TLS certificate and key)" : "");
    info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    r = sd_event_add_io(h->event, &d->io, info->epoll_fd, EPOLLIN, on_io, d);
    /* Accuracy 1 µs, not sd-event's default 250 ms: MHD asks to run again at once (timeout 0)
     * while a response still has data for a socket that stays writable, and its edge-triggered
     * epoll set will not wake us for that; a coalesced timer would send one buffer per 250 ms. */
    if (r >= 0)
        r = sd_event_add_time_relative(h->event, &d->timer, CLOCK_MONOTONIC, 0, 1, on_timer, d);
    if (r < 0)
        return error_set_errno(e, r, "Failed to watch the HTTP server: %m");
    (void)http_listen_url(fd, cert ? "https" : "http", d->url, sizeof(d->url));
    rearm_timer(d);
    return 0;
}

/* Writes the URLs hvd serves on to RUNTIME_DIR/http-url, one per line, for tools and tests. */
static void write_url_file(Http *h, const char *runtime_dir)
{
    _cleanup_free_ char *path = NULL, *tmp = NULL;
    FILE *f;

    if (asprintf(&path, "%s/http-url", runtime_dir) < 0 ||
        asprintf(&tmp, "%s/.http-url.tmp", runtime_dir) < 0)
        return;
    f = fopen(tmp, "we");
    if (!f)
        return;
    for (size_t i = 0; i < h->n_daemons; i++)
        fprintf(f, "%s\n", h->daemons[i].url);
    if (fclose(f) == 0)
        (void)rename(tmp, path);
}

int http_new(Manager *m, const HvdConfig *config, Http **ret, Error *e)
{
    _cleanup_(http_listen_free_array) HttpListen *list = NULL;
    int n_passed = sd_listen_fds(true);
    size_t n_list = 0;
    Http *h;
    int r;

    if (n_passed <= 0) {
        r = http_listen_parse(config->http_listen, &list, &n_list, e);
        if (r < 0)
            return r;
        if (n_list == 0) {
            *ret = NULL;
            return 0;
        }
    }

    h = calloc(1, sizeof(*h));
    if (!h)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    h->manager = m;
    h->event = sd_event_ref(m->event);
    h->max_body = (size_t)config->http_max_body_kib * 1024;
    h->max_connections = config->http_max_connections;
    h->max_per_address = config->http_max_connections_per_address;
    h->peers = hashmap_new();
    h->web_dir = strdup(config->http_web_dir);
    h->n_daemons = n_passed > 0 ? (size_t)n_passed : n_list;
    h->daemons = calloc(h->n_daemons, sizeof(HttpDaemon));
    if (!h->peers || !h->web_dir || !h->daemons) {
        http_free(h);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    r = http_token_load(h, config->state_dir, e);
    if (r < 0) {
        http_free(h);
        return r;
    }

    for (size_t i = 0; i < h->n_daemons; i++) {
        int fd = n_passed > 0 ? SD_LISTEN_FDS_START + (int)i : http_listen_open(&list[i]);
        if (fd < 0) {
            r = error_set_errno(e, fd, "Failed to listen on %s: %m", list[i].text);
            http_free(h);
            return r;
        }
        r = daemon_start(h, &h->daemons[i], fd, config, e);
        if (r < 0) {
            if (n_passed <= 0)
                (void)close(fd);
            http_free(h);
            return r;
        }
        log_info("HTTP API on %s%s.", h->daemons[i].url,
                 n_passed > 0 ? " (socket passed by systemd)" : "");
    }
    r = http_events_init(h);
    if (r < 0) {
        http_free(h);
        return error_set_errno(e, r, "Failed to set up the event stream: %m");
    }
    write_url_file(h, config->runtime_dir);
    *ret = h;
    return 0;
}

Http *http_free(Http *h)
{
    if (!h)
        return NULL;
    /* Nothing may stay suspended when a daemon stops: answer what still waits. */
    while (h->waiting) {
        HttpRequest *r = h->waiting;
        Error e = ERROR_NULL;
        (void)error_setf(&e, ERROR_DRIVER_UNAVAILABLE, "hvd is stopping");
        /* The request stays owned by the operation (orphaned once its connection ends). */
        r->waiting = true;
        h->waiting = r->next_waiting;
        r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        r->response =
            response_json(problem_body(r->status, e.message, &e), "application/problem+json");
        http_resume(h, r->conn);
    }
    http_events_done(h);
    http_vnc_done(h);
    for (size_t i = 0; i < h->n_daemons; i++) {
        HttpDaemon *d = &h->daemons[i];
        if (d->mhd) {
            (void)MHD_run(d->mhd);
            MHD_stop_daemon(d->mhd);
        }
        http_guard_done(d);
        (void)sd_event_source_disable_unref(d->io);
        (void)sd_event_source_disable_unref(d->timer);
    }
    http_log_done(h);
    (void)sd_event_source_disable_unref(h->kick);
    hashmap_free(h->peers);
    free(h->daemons);
    free(h->web_dir);
    sd_event_unref(h->event);
    free(h);
    return NULL;
}
