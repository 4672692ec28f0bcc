/* hvctl over hvd's HTTP API (--url), with libcurl: the same operations and JSON as over D-Bus,
 * and the event stream for "events" and "stop". */
#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/wait.h>

#include "api-names.h"
#include "base64.h"
#include "client.h"
#include "domain-config.h"
#include "macro.h"
#include "time-util.h"
#include "tls-options.h"

#define DEFAULT_TOKEN_FILE "/var/lib/hvd/http-token"
#define REQUEST_TIMEOUT_MS ((long)HVD_CALL_TIMEOUT_S * 1000L)

volatile sig_atomic_t client_interrupted;

typedef struct HttpClient {
    CURL *curl;
    char *base;      /* "http://host:port" (or "http://localhost" over a unix socket) */
    char *unix_path; /* set for unix:PATH URLs */
    char token[128]; /* empty when none could be read */
    char *token_source;
    long timeout_ms; /* of the next request; 0: REQUEST_TIMEOUT_MS */
    char curl_error[CURL_ERROR_SIZE];
} HttpClient;

typedef struct Buffer {
    char *data;
    size_t len;
} Buffer;

static HttpClient *hc(Client *c)
{
    return c->data;
}

static size_t collect(char *ptr, size_t size, size_t n, void *userdata)
{
    Buffer *b = userdata;
    char *p = realloc(b->data, b->len + size * n + 1);

    if (!p)
        return 0;
    memcpy(p + b->len, ptr, size * n);
    b->data = p;
    b->len += size * n;
    b->data[b->len] = 0;
    return size * n;
}

/* Turns an HTTP error answer into e: the problem's "kind" when given, else the status. */
static int error_from_answer(long status, const Buffer *b, Error *e)
{
    json_t *problem = b->data ? json_loads(b->data, 0, NULL) : NULL;
    const char *detail = json_string_value(json_object_get(problem, "detail"));
    const char *kind_name = json_string_value(json_object_get(problem, "kind"));
    ErrorKind kind =
        kind_name ? error_kind_from_string(kind_name) : error_kind_from_http_status(status);
    int r;

    if (kind < 0)
        kind = error_kind_from_http_status(status);
    if (status == 404 && !kind_name)
        kind = ERROR_FAILED; /* a route, not a domain, is missing */
    r = error_setf(e, kind, "%s (HTTP %ld)", detail ? detail : "request failed", status);
    json_decref(problem);
    return r;
}

/* Sends one request; body (may be NULL) is sent as JSON. On success *ret (may be NULL) gets
 * the parsed JSON answer (or NULL for an empty answer). */
/* Sends one request; body (may be NULL) is sent as JSON. On success *raw (may be NULL) gets
 * the answer's bytes, a NUL-terminated new buffer the caller frees. HTTP errors become e. */
static int perform(Client *c, const char *method, const char *path, json_t *body, Buffer *raw,
                   Error *e)
{
    HttpClient *h = hc(c);
    _cleanup_free_ char *url = NULL, *payload = NULL, *auth = NULL;
    struct curl_slist *headers = NULL;
    Buffer answer = {};
    long status = 0;
    CURLcode cc;
    int r = 0;

    if (asprintf(&url, "%s%s", h->base, path) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    curl_easy_reset(h->curl);
    tls_options_apply(h->curl, h->curl_error);
    (void)curl_easy_setopt(h->curl, CURLOPT_URL, url);
    if (h->unix_path)
        (void)curl_easy_setopt(h->curl, CURLOPT_UNIX_SOCKET_PATH, h->unix_path);
    (void)curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
    (void)curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, collect);
    (void)curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &answer);
    (void)curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, h->timeout_ms ?: REQUEST_TIMEOUT_MS);
    (void)curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    if (h->token[0]) {
        if (asprintf(&auth, "Authorization: Bearer %s", h->token) < 0)
            return error_set_errno(e, -ENOMEM, "Out of memory");
        headers = curl_slist_append(headers, auth);
    }
    if (body) {
        payload = json_dumps(body, JSON_COMPACT);
        headers = curl_slist_append(headers, "Content-Type: application/json");
        (void)curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, payload);
    } else if (!streq(method, "GET"))
        (void)curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, 0L);
    (void)curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, headers);

    cc = curl_easy_perform(h->curl);
    curl_slist_free_all(headers);
    if (cc != CURLE_OK) {
        char why[CURL_ERROR_SIZE + 128];

        free(answer.data);
        tls_transfer_error(cc, h->curl_error, h->base, why, sizeof(why));
        return error_set_errno(e, -ECONNREFUSED, "cannot reach hvd at %s: %s", h->base, why);
    }
    (void)curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 400) {
        r = error_from_answer(status, &answer, e);
        if (status == 401 && !h->token[0])
            (void)snprintf(e->message + strlen(e->message), sizeof(e->message) - strlen(e->message),
                           "; no token was found in %s (use --token-file)", h->token_source);
        free(answer.data);
        return r;
    }
    if (raw)
        *raw = answer.data ? answer : (Buffer){.data = strdup(""), .len = 0};
    else
        free(answer.data);
    return raw && !raw->data ? error_set_errno(e, -ENOMEM, "Out of memory") : 0;
}

/* perform() with the answer parsed as JSON into *ret (may be NULL; NULL for an empty answer). */
static int request(Client *c, const char *method, const char *path, json_t *body, json_t **ret,
                   Error *e)
{
    Buffer answer = {};
    int r;

    r = perform(c, method, path, body, ret ? &answer : NULL, e);
    if (r < 0 || !ret)
        return r;
    *ret = answer.len ? json_loads(answer.data, 0, NULL) : NULL;
    free(answer.data);
    return 0;
}

static char *url_escape(Client *c, const char *s)
{
    char *esc = curl_easy_escape(hc(c)->curl, s, 0);
    char *copy = esc ? strdup(esc) : NULL;

    curl_free(esc);
    return copy;
}

static int http_list(Client *c, json_t **ret, Error *e)
{
    static const char *const summary[] = {"name",   "driver", "mode",      "state",
                                          "reason", "vcpus",  "memory_mib"};
    json_t *all = NULL, *list, *d;
    size_t i;
    int r;

    r = request(c, "GET", "/api/v1/domains", NULL, &all, e);
    if (r < 0)
        return r;
    list = json_array();
    json_array_foreach (all, i, d) {
        json_t *o = json_object();
        for (size_t k = 0; k < ELEMENTSOF(summary); k++)
            (void)json_object_set(o, summary[k], json_object_get(d, summary[k]));
        (void)json_array_append_new(list, o);
    }
    json_decref(all);
    *ret = list;
    return 0;
}

static int http_info(Client *c, const char *name, json_t **ret, Error *e)
{
    _cleanup_free_ char *n = url_escape(c, name), *path = NULL;

    if (!n || asprintf(&path, "/api/v1/domains/%s", n) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    return request(c, "GET", path, NULL, ret, e);
}

static int http_create(Client *c, json_t *settings, Error *e)
{
    return request(c, "POST", "/api/v1/domains", settings, NULL, e);
}

static int http_update(Client *c, const char *name, json_t *settings, Error *e)
{
    _cleanup_free_ char *n = url_escape(c, name), *path = NULL;

    if (!n || asprintf(&path, "/api/v1/domains/%s", n) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    return request(c, "PATCH", path, settings, NULL, e);
}

static int http_delete(Client *c, const char *name, Error *e)
{
    _cleanup_free_ char *n = url_escape(c, name), *path = NULL;

    if (!n || asprintf(&path, "/api/v1/domains/%s", n) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    return request(c, "DELETE", path, NULL, NULL, e);
}

static int http_action(Client *c, const char *name, const char *action, unsigned timeout_s,
                       bool force, Error *e)
{
    _cleanup_free_ char *n = url_escape(c, name), *path = NULL;
    json_t *body = NULL;
    int r;

    if (!n || asprintf(&path, "/api/v1/domains/%s/actions/%s", n, action) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if (streq(action, "shutdown") && timeout_s)
        body = json_pack("{s:i}", "timeout_s", (int)timeout_s);
    if (streq(action, "reboot"))
        body = json_pack("{s:i, s:b}", "timeout_s", (int)timeout_s, (int)force);
    r = request(c, "POST", path, body, NULL, e);
    json_decref(body);
    return r;
}

static int http_host(Client *c, json_t **ret, Error *e)
{
    return request(c, "GET", "/api/v1/host", NULL, ret, e);
}

/* Appends "&key=value" (escaped) to *path when value is set. */
static int add_query(Client *c, char **path, const char *key, const char *value)
{
    _cleanup_free_ char *v = NULL;
    char *p;

    if (!value)
        return 0;
    v = url_escape(c, value);
    if (!v || asprintf(&p, "%s&%s=%s", *path, key, v) < 0)
        return -ENOMEM;
    free(*path);
    *path = p;
    return 0;
}

static int http_events_log(Client *c, const char *since, const char *domain, const char *kind,
                           unsigned limit, json_t **ret, bool *ret_more, Error *e)
{
    _cleanup_free_ char *path = NULL;
    json_t *answer = NULL, *events;
    int r;

    if (asprintf(&path, "/api/v1/events/log?limit=%u", limit) < 0 ||
        add_query(c, &path, "since", since) < 0 || add_query(c, &path, "domain", domain) < 0 ||
        add_query(c, &path, "kind", kind) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    r = request(c, "GET", path, NULL, &answer, e);
    if (r < 0)
        return r;
    events = json_object_get(answer, "events");
    if (!json_is_array(events)) {
        json_decref(answer);
        return error_set_errno(e, -EBADMSG, "Bad answer from hvd: no events");
    }
    *ret = json_incref(events);
    *ret_more = json_is_true(json_object_get(answer, "more"));
    json_decref(answer);
    return 0;
}

typedef struct Stream {
    ClientEventHandler handler;
    void *userdata;
    Buffer line;
    char event[32];
    char *data;
    bool started;
    bool stop;
    bool want_console; /* also hand over console output ({"event": "console", ...}) */
} Stream;

/* Hands one complete SSE message to the handler, as the D-Bus client does. */
static void stream_dispatch(Stream *s)
{
    json_t *msg, *ev;

    if (!s->data)
        return;
    if (s->want_console && streq(s->event, "console")) {
        msg = json_loads(s->data, 0, NULL);
        ev = msg ? json_pack("{s:s, s:O, s:O, s:O?}", "event", "console", "domain",
                             json_object_get(msg, "domain"), "data_base64",
                             json_object_get(msg, "data_base64"), "device",
                             json_object_get(msg, "device"))
                 : NULL;
        if (ev && s->handler(ev, s->userdata))
            s->stop = true;
        json_decref(ev);
        json_decref(msg);
        return;
    }
    if (!streq(s->event, "lifecycle"))
        return;
    msg = json_loads(s->data, 0, NULL);
    if (!msg)
        return;
    ev = json_pack("{s:O, s:O, s:O}", "event", json_object_get(msg, "event"), "domain",
                   json_object_get(msg, "domain"), "time_us", json_object_get(msg, "time_us"));
    if (ev && json_object_get(msg, "state")) {
        (void)json_object_set(ev, "state", json_object_get(msg, "state"));
        (void)json_object_set(ev, "reason", json_object_get(msg, "reason"));
    }
    if (ev && s->handler(ev, s->userdata))
        s->stop = true;
    json_decref(ev);
    json_decref(msg);
}

static void stream_line(Stream *s, const char *line)
{
    if (line[0] == 0) {
        stream_dispatch(s);
        s->event[0] = 0;
        s->data = mfree(s->data);
    } else if (strneq(line, "event: ", 7))
        (void)snprintf(s->event, sizeof(s->event), "%s", line + 7);
    else if (strneq(line, "data: ", 6)) {
        free(s->data);
        s->data = strdup(line + 6);
    }
}

static size_t stream_write(char *ptr, size_t size, size_t n, void *userdata)
{
    Stream *s = userdata;
    size_t total = size * n;

    if (!s->started) {
        /* Subscribed: the caller may look at the current state now. */
        s->started = true;
        if (s->handler(NULL, s->userdata))
            s->stop = true;
    }
    for (size_t i = 0; i < total && !s->stop; i++) {
        if (ptr[i] != '\n') {
            if (!collect(&ptr[i], 1, 1, &s->line))
                return 0;
            continue;
        }
        stream_line(s, s->line.len ? s->line.data : "");
        s->line.len = 0;
    }
    return s->stop ? 0 : total;
}

static int stream_progress(void *userdata, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    Stream *s = userdata;

    return s->stop || client_interrupted;
}

/* Follows the event stream at path (relative to the API base). */
static int follow_stream(Client *c, const char *path, bool want_console, ClientEventHandler handler,
                         void *userdata, uint64_t timeout_us, Error *e)
{
    HttpClient *h = hc(c);
    _cleanup_free_ char *url = NULL, *auth = NULL;
    struct curl_slist *headers = NULL;
    Stream s = {.handler = handler, .userdata = userdata, .want_console = want_console};
    long status = 0;
    char curl_error[CURL_ERROR_SIZE], why[CURL_ERROR_SIZE + 128];
    CURLcode cc;
    CURL *curl;

    /* A handle of its own: the handler may make requests while the stream is open. */
    curl = curl_easy_init();
    if (!curl || asprintf(&url, "%s%s", h->base, path) < 0) {
        curl_easy_cleanup(curl);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    tls_options_apply(curl, curl_error);
    (void)curl_easy_setopt(curl, CURLOPT_URL, url);
    if (h->unix_path)
        (void)curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, h->unix_path);
    (void)curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, stream_write);
    (void)curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
    (void)curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    (void)curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, stream_progress);
    (void)curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &s);
    (void)curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (h->token[0]) {
        if (asprintf(&auth, "Authorization: Bearer %s", h->token) < 0) {
            curl_easy_cleanup(curl);
            return error_set_errno(e, -ENOMEM, "Out of memory");
        }
        headers = curl_slist_append(headers, auth);
        (void)curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    }
    if (timeout_us)
        (void)curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(timeout_us / 1000));
    cc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    free(s.line.data);
    free(s.data);
    (void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (s.stop || client_interrupted || cc == CURLE_OPERATION_TIMEDOUT ||
        cc == CURLE_ABORTED_BY_CALLBACK)
        return 0;
    if (status >= 400)
        return error_setf(e, error_kind_from_http_status(status),
                          "the event stream was refused (HTTP %ld)", status);
    if (cc != CURLE_OK) {
        tls_transfer_error(cc, curl_error, h->base, why, sizeof(why));
        return error_set_errno(e, -ECONNREFUSED, "cannot reach hvd at %s: %s", h->base, why);
    }
    return 0;
}

static int http_follow(Client *c, ClientEventHandler handler, void *userdata, uint64_t timeout_us,
                       Error *e)
{
    return follow_stream(c, "/api/v1/events", false, handler, userdata, timeout_us, e);
}

static int http_console_tail(Client *c, const char *name, const char *device, size_t max_bytes,
                             char **ret, size_t *ret_len, Error *e)
{
    _cleanup_free_ char *n = url_escape(c, name), *path = NULL;
    Buffer answer = {};
    int r;

    if (!n ||
        asprintf(&path, "/api/v1/domains/%s/console?bytes=%zu&device=%s", n, max_bytes, device) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    r = perform(c, "GET", path, NULL, &answer, e);
    if (r < 0)
        return r;
    *ret = answer.data;
    *ret_len = answer.len;
    return 0;
}

typedef struct ConsoleOut {
    int out_fd;
    const char *device; /* the console followed: its events only */
} ConsoleOut;

/* In the output process: console text to the terminal; the end of the domain ends it. */
static int console_event(json_t *ev, void *userdata)
{
    ConsoleOut *o = userdata;
    const char *kind = ev ? json_string_value(json_object_get(ev, "event")) : NULL;
    const char *state = ev ? json_string_value(json_object_get(ev, "state")) : NULL;

    if (!kind)
        return 0;
    if (streq(kind, "console")) {
        /* The exact bytes (data is the same output made printable). */
        const char *text = json_string_value(json_object_get(ev, "data_base64"));
        const char *device = json_string_value(json_object_get(ev, "device"));
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        if (!streq(device ?: "ttyS0", o->device))
            return 0;
        if (text && base64_decode(text, &data, &len) >= 0 && write(o->out_fd, data, len) < 0)
            return 1;
        return 0;
    }
    return state && (streq(state, "shutoff") || streq(state, "crashed"));
}

/* Over HTTP the console is the event stream (output) plus POSTs (input): a child process
 * follows the stream while this one sends what is typed. */
static int http_console_attach(Client *c, const char *name, const char *device, int in_fd,
                               int out_fd, char escape, void (*connected)(void *userdata),
                               void *userdata, Error *e)
{
    _cleanup_free_ char *n = url_escape(c, name), *path = NULL, *input_path = NULL;
    int done_pipe[2], status = 0, r = 0;
    json_t *info = NULL;
    pid_t pid;

    /* The domain must exist and run, as over D-Bus. */
    r = http_info(c, name, &info, e);
    if (r < 0)
        return r;
    if (streq(strempty(json_string_value(json_object_get(info, "state"))), "shutoff")) {
        json_decref(info);
        return error_setf(e, ERROR_INVALID_STATE, "domain '%s' is shutoff; it has no console",
                          name);
    }
    json_decref(info);
    if (!n || asprintf(&path, "/api/v1/events?domain=%s", n) < 0 ||
        asprintf(&input_path, "/api/v1/domains/%s/console?device=%s", n, device) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    /* Typing nothing opens the console in hvd (a virtio console is followed once asked for), so
     * its output is on the event stream from now on; it also checks the device exists. */
    {
        json_t *body = json_pack("{s:s}", "data", "");
        r = body ? request(c, "POST", input_path, body, NULL, e) : -ENOMEM;
        json_decref(body);
        if (r < 0)
            return r == -ENOMEM ? error_set_errno(e, r, "Out of memory") : r;
    }
    if (pipe2(done_pipe, O_CLOEXEC) < 0)
        return error_set_errno(e, -errno, "pipe: %m");
    pid = fork();
    if (pid < 0)
        return error_set_errno(e, -errno, "fork: %m");
    if (pid == 0) {
        ConsoleOut o = {.out_fd = out_fd, .device = device};
        Error ignored = ERROR_NULL;
        (void)close(done_pipe[0]);
        (void)follow_stream(c, path, true, console_event, &o, 0, &ignored);
        _exit(0);
    }
    (void)close(done_pipe[1]);
    connected(userdata);

    for (;;) {
        struct pollfd p[2] = {{.fd = done_pipe[0], .events = POLLIN},
                              {.fd = in_fd, .events = POLLIN}};
        char buf[1024];
        ssize_t k;

        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[0].revents) {
            r = 1; /* the stream ended: the domain stopped */
            break;
        }
        if (!p[1].revents)
            continue;
        k = read(in_fd, buf, sizeof(buf) - 1);
        if (k <= 0) {
            /* Input ended: let the answer to the last input arrive before leaving. */
            struct pollfd w = {.fd = done_pipe[0], .events = POLLIN};
            if (poll(&w, 1, 500) > 0)
                r = 1;
            break;
        }
        {
            char *esc = memchr(buf, escape, (size_t)k);
            size_t len = esc ? (size_t)(esc - buf) : (size_t)k;
            json_t *body = json_object();
            (void)json_object_set_new(body, "data", json_stringn(buf, len));
            if (len > 0 && request(c, "POST", input_path, body, NULL, e) < 0) {
                json_decref(body);
                r = -EIO;
                break;
            }
            json_decref(body);
            if (esc)
                break;
        }
    }
    (void)close(done_pipe[0]);
    (void)kill(pid, SIGTERM);
    (void)waitpid(pid, &status, 0);
    return r;
}

static void http_free(Client *c)
{
    HttpClient *h = hc(c);

    curl_easy_cleanup(h->curl);
    free(h->base);
    free(h->unix_path);
    free(h->token_source);
    free(h);
    free(c);
}

static int http_network_list(Client *c, json_t **ret, Error *e)
{
    return request(c, "GET", "/api/v1/networks", NULL, ret, e);
}

static int http_network_info(Client *c, const char *name, json_t **ret, Error *e)
{
    _cleanup_free_ char *n = url_escape(c, name), *path = NULL;

    if (!n || asprintf(&path, "/api/v1/networks/%s", n) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    return request(c, "GET", path, NULL, ret, e);
}

static int http_network_create(Client *c, json_t *settings, Error *e)
{
    return request(c, "POST", "/api/v1/networks", settings, NULL, e);
}

static int http_network_delete(Client *c, const char *name, Error *e)
{
    _cleanup_free_ char *n = url_escape(c, name), *path = NULL;

    if (!n || asprintf(&path, "/api/v1/networks/%s", n) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    return request(c, "DELETE", path, NULL, NULL, e);
}

/* Saved state over /api/v1/domains/NAME/actions/save, .../snapshots and .../clone. */
static int http_saved_state(Client *c, const char *name, const char *op, json_t *args, json_t **ret,
                            Error *e)
{
    _cleanup_free_ char *n = url_escape(c, name), *path = NULL, *snap = NULL;
    const char *snapshot = json_string_value(json_object_get(args, "snapshot"));
    json_t *answer = NULL, *body = NULL;
    const char *method = "POST";
    int r;

    if (!n || (snapshot && !(snap = url_escape(c, snapshot))))
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if (streq(op, "save"))
        r = asprintf(&path, "/api/v1/domains/%s/actions/save", n);
    else if (streq(op, "start-fresh")) {
        r = asprintf(&path, "/api/v1/domains/%s/actions/start", n);
        body = json_pack("{s:b}", "fresh", 1);
    } else if (streq(op, "snapshot-create")) {
        r = asprintf(&path, "/api/v1/domains/%s/snapshots", n);
        body = json_pack("{s:s?}", "name", snapshot);
    } else if (streq(op, "snapshot-list")) {
        r = asprintf(&path, "/api/v1/domains/%s/snapshots", n);
        method = "GET";
    } else if (streq(op, "snapshot-revert"))
        r = asprintf(&path, "/api/v1/domains/%s/snapshots/%s/revert", n, strempty(snap));
    else if (streq(op, "snapshot-delete")) {
        r = asprintf(&path, "/api/v1/domains/%s/snapshots/%s", n, strempty(snap));
        method = "DELETE";
    } else if (streq(op, "clone")) {
        r = asprintf(&path, "/api/v1/domains/%s/clone", n);
        body = json_deep_copy(args);
    } else if (streq(op, "migrate")) {
        json_t *v;
        const char *key;
        void *tmp;
        r = asprintf(&path, "/api/v1/domains/%s/actions/migrate", n);
        body = json_deep_copy(args);
        /* It answers when it ends: its pre-copy limit (default 60 s) and then some. */
        hc(c)->timeout_ms = ((long)(json_integer_value(json_object_get(args, "timeout_s")) ?: 60) +
                             (long)HVD_CALL_TIMEOUT_S) *
                            1000L;
        json_object_foreach_safe(body, tmp, key, v) /* 0 and "": the target's defaults */
            if ((json_is_integer(v) && json_integer_value(v) == 0) ||
                (json_is_string(v) && !json_string_length(v)))(void) json_object_del(body, key);
    } else if (streq(op, "migrate-cancel"))
        r = asprintf(&path, "/api/v1/domains/%s/actions/migrate-cancel", n);
    else
        return error_setf(e, ERROR_INVALID_ARGUMENT, "unknown operation '%s'", op);
    if (r < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    r = request(c, method, path, body, &answer, e);
    hc(c)->timeout_ms = 0;
    json_decref(body);
    if (r >= 0 && ret) {
        json_t *v = json_object_get(answer, streq(op, "clone") ? "clones" : "snapshots");
        *ret = json_incref(v ?: answer);
    }
    json_decref(answer);
    return r;
}

static int http_cluster_hosts(Client *c, json_t **ret, Error *e)
{
    return request(c, "GET", "/api/v1/cluster/hosts", NULL, ret, e);
}

static int http_cluster_domains(Client *c, json_t **ret, Error *e)
{
    return request(c, "GET", "/api/v1/cluster/domains", NULL, ret, e);
}

static int http_cluster_create(Client *c, json_t *settings, json_t **ret, Error *e)
{
    return request(c, "POST", "/api/v1/cluster/domains", settings, ret, e);
}

static int http_cluster_delete(Client *c, const char *name, Error *e)
{
    _cleanup_free_ char *n = url_escape(c, name), *path = NULL;

    if (!n || asprintf(&path, "/api/v1/cluster/domains/%s", n) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    return request(c, "DELETE", path, NULL, NULL, e);
}

static int http_cluster_drain(Client *c, const char *host, bool drain, json_t **ret, Error *e)
{
    _cleanup_free_ char *n = url_escape(c, host), *path = NULL;

    if (!n || asprintf(&path, "/api/v1/cluster/hosts/%s/drain", n) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    return request(c, drain ? "POST" : "DELETE", path, NULL, ret, e);
}

static int http_cluster_move(Client *c, const char *name, const char *host, json_t **ret, Error *e)
{
    _cleanup_free_ char *n = url_escape(c, name), *path = NULL;
    json_t *body = json_pack("{s:s}", "host", host);
    int r;

    if (!n || !body || asprintf(&path, "/api/v1/cluster/domains/%s/move", n) < 0) {
        json_decref(body);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    r = request(c, "POST", path, body, ret, e);
    json_decref(body);
    return r;
}

static const ClientOps http_client_ops = {
    .free = http_free,
    .list = http_list,
    .info = http_info,
    .create = http_create,
    .update = http_update,
    .delete = http_delete,
    .action = http_action,
    .host = http_host,
    .events_log = http_events_log,
    .console_tail = http_console_tail,
    .console_attach = http_console_attach,
    .follow = http_follow,
    .network_list = http_network_list,
    .network_info = http_network_info,
    .network_create = http_network_create,
    .network_delete = http_network_delete,
    .saved_state = http_saved_state,
    .cluster_hosts = http_cluster_hosts,
    .cluster_domains = http_cluster_domains,
    .cluster_create = http_cluster_create,
    .cluster_delete = http_cluster_delete,
    .cluster_drain = http_cluster_drain,
    .cluster_move = http_cluster_move,
};

/* Reads the token from path; a missing or unreadable file leaves it empty (reads on loopback
 * need none; a mutation then gets a clear 401). An explicit file must be readable. */
static int load_token(HttpClient *h, const char *path, bool required, Error *e)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");

    h->token_source = strdup(path);
    if (!f) {
        if (required)
            return error_set_errno(e, -errno, "cannot read the token file %s: %m", path);
        return 0;
    }
    if (!fgets(h->token, sizeof(h->token), f))
        h->token[0] = 0;
    h->token[strcspn(h->token, "\r\n")] = 0;
    return 0;
}

int client_http_new(const char *url, const char *token_file, Client **ret, Error *e)
{
    const char *env_token = getenv("HVD_TOKEN_FILE");
    HttpClient *h;
    Client *c;
    int r;

    if (!strneq(url, "http://", 7) && !strneq(url, "https://", 8) && !strneq(url, "unix:/", 6))
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "--url must start with http://, https:// or unix:/, got '%s'", url);
    r = tls_options_check(e);
    if (r < 0)
        return r;
    h = calloc(1, sizeof(*h));
    c = calloc(1, sizeof(*c));
    if (!h || !c) {
        free(h);
        free(c);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    c->ops = &http_client_ops;
    c->data = h;
    h->curl = curl_easy_init();
    if (strneq(url, "unix:", 5)) {
        h->unix_path = strdup(url + 5);
        h->base = strdup("http://localhost");
    } else {
        h->base = strdup(url);
        if (h->base && h->base[0] && h->base[strlen(h->base) - 1] == '/')
            h->base[strlen(h->base) - 1] = 0;
    }
    if (!h->curl || !h->base) {
        client_free(c);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    if (token_file)
        r = load_token(h, token_file, true, e);
    else
        r = load_token(h, env_token ? env_token : DEFAULT_TOKEN_FILE, false, e);
    if (r < 0) {
        client_free(c);
        return r;
    }
    *ret = c;
    return 0;
}
