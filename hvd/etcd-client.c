/* etcd's v3 JSON gateway over libcurl's multi interface, driven by sd-event: curl tells which
 * sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to wake it (CURLMOPT_TIMERFUNCTION); every
 * transfer has a deadline, and its end is turned into a JSON reply or an Error. */
#include <curl/curl.h>
#include <string.h>
#include <time.h>

#include "etcd-client.h"
#include "log.h"

#define ETCD_MAX_ENDPOINTS      16
#define ETCD_MAX_REPLY          (64u << 20)
#define ETCD_CONNECT_TIMEOUT_MS 1000u

struct EtcdClient {
    sd_event *event;
    CURLM *multi;
    sd_event_source *timer;
    char *endpoints[ETCD_MAX_ENDPOINTS];
    size_t n_endpoints;
    size_t current;
    unsigned timeout_ms;
    char *tls_ca, *tls_cert, *tls_key;
    EtcdCall *calls;
};

struct EtcdCall {
    EtcdClient *client;
    EtcdCall *prev, *next;
    CURL *easy;
    struct curl_slist *headers;
    char *path;
    char *body;
    char *reply;
    size_t reply_len;
    size_t endpoint;
    size_t attempts;
    bool too_large;
    char url[512];
    char error[CURL_ERROR_SIZE];
    EtcdDone done;
    EtcdWatchEvent on_event; /* a watch: each line of the reply is a message */
    void *userdata;
};

typedef struct SocketWatch {
    sd_event_source *source;
} SocketWatch;

static void call_unlink(EtcdCall *call)
{
    EtcdClient *c = call->client;

    if (call->prev)
        call->prev->next = call->next;
    else if (c->calls == call)
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
}

static void call_free(EtcdCall *call)
{
    if (!call)
        return;
    call_unlink(call);
    if (call->easy) {
        (void)curl_multi_remove_handle(call->client->multi, call->easy);
        curl_easy_cleanup(call->easy);
    }
    curl_slist_free_all(call->headers);
    free(call->path);
    free(call->body);
    free(call->reply);
    free(call);
}

void etcd_call_cancel(EtcdCall *call)
{
    call_free(call);
}

const char *etcd_client_endpoint(const EtcdClient *c)
{
    return c->endpoints[c->current];
}

/* Hands each complete line of a watch stream to its callback. */
static void watch_lines(EtcdCall *call)
{
    char *nl;

    while ((nl = memchr(call->reply, '\n', call->reply_len))) {
        size_t len = (size_t)(nl - call->reply);
        json_t *msg = json_loadb(call->reply, len, 0, NULL);

        memmove(call->reply, nl + 1, call->reply_len - len - 1);
        call->reply_len -= len + 1;
        call->reply[call->reply_len] = 0;
        if (msg && call->on_event)
            call->on_event(call->userdata, msg);
        json_decref(msg);
    }
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    EtcdCall *call = userdata;
    size_t n = size * nmemb;
    char *p;

    if (call->reply_len + n > ETCD_MAX_REPLY) {
        call->too_large = true;
        return 0;
    }
    p = realloc(call->reply, call->reply_len + n + 1);
    if (!p)
        return 0;
    call->reply = p;
    memcpy(p + call->reply_len, data, n);
    call->reply_len += n;
    p[call->reply_len] = 0;
    if (call->on_event)
        watch_lines(call);
    return n;
}

static int call_setup(EtcdCall *call)
{
    EtcdClient *c = call->client;

    if (call->easy) {
        (void)curl_multi_remove_handle(c->multi, call->easy);
        curl_easy_cleanup(call->easy);
    }
    call->reply_len = 0;
    call->error[0] = 0;
    call->endpoint = c->current;
    (void)snprintf(call->url, sizeof(call->url), "%s%s", c->endpoints[call->endpoint], call->path);
    call->easy = curl_easy_init();
    if (!call->easy)
        return -ENOMEM;
    (void)curl_easy_setopt(call->easy, CURLOPT_URL, call->url);
    (void)curl_easy_setopt(call->easy, CURLOPT_POSTFIELDS, call->body);
    (void)curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, call->headers);
    (void)curl_easy_setopt(call->easy, CURLOPT_WRITEFUNCTION, on_write);
    (void)curl_easy_setopt(call->easy, CURLOPT_WRITEDATA, call);
    (void)curl_easy_setopt(call->easy, CURLOPT_PRIVATE, call);
    (void)curl_easy_setopt(call->easy, CURLOPT_ERRORBUFFER, call->error);
    (void)curl_easy_setopt(call->easy, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(call->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    (void)curl_easy_setopt(call->easy, CURLOPT_CONNECTTIMEOUT_MS,
                           (long)MIN(c->timeout_ms, ETCD_CONNECT_TIMEOUT_MS));
    (void)curl_easy_setopt(call->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    if (!call->on_event)
        (void)curl_easy_setopt(call->easy, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    if (c->tls_ca)
        (void)curl_easy_setopt(call->easy, CURLOPT_CAINFO, c->tls_ca);
    if (c->tls_cert)
        (void)curl_easy_setopt(call->easy, CURLOPT_SSLCERT, c->tls_cert);
    if (c->tls_key)
        (void)curl_easy_setopt(call->easy, CURLOPT_SSLKEY, c->tls_key);
    if (curl_multi_add_handle(c->multi, call->easy) != CURLM_OK)
        return -ENOMEM;
    return 0;
}

/* The sentence for a transfer that failed (res) or that etcd answered with an error. */
static void describe_failure(EtcdCall *call, CURLcode res, long status, Error *e)
{
    EtcdClient *c = call->client;
    json_t *reply;

    if (res == CURLE_OPERATION_TIMEDOUT) {
        (void)error_setf(e, ERROR_FAILED,
                         "etcd at %s did not answer within %u ms (is the etcd cluster down or "
                         "without quorum?)",
                         c->endpoints[call->endpoint], c->timeout_ms);
        return;
    }
    if (res != CURLE_OK) {
        (void)error_setf(e, ERROR_FAILED, "etcd is unreachable at %s: %s",
                         c->endpoints[call->endpoint],
                         call->error[0] ? call->error : curl_easy_strerror(res));
        return;
    }
    reply = json_loadb(strempty(call->reply), call->reply_len, 0, NULL);
    const char *msg = json_string_value(json_object_get(reply, "message"))
                          ?: json_string_value(json_object_get(reply, "error"));
    (void)error_setf(e, ERROR_FAILED, "etcd at %s refused the request (HTTP %ld): %s",
                     c->endpoints[call->endpoint], status, msg ?: "no reason given");
    json_decref(reply);
}

static void call_finish(EtcdCall *call, CURLcode res)
{
    EtcdClient *c = call->client;
    long status = 0;
    Error e = ERROR_NULL;
    json_t *reply = NULL;

    (void)curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
    /* A refused or failed connection tries the next endpoint, while there is one left. */
    if ((res == CURLE_COULDNT_CONNECT || res == CURLE_OPERATION_TIMEDOUT ||
         res == CURLE_RECV_ERROR || res == CURLE_SEND_ERROR || res == CURLE_GOT_NOTHING) &&
        call->endpoint == c->current)
        c->current = (c->current + 1) % c->n_endpoints;
    if (res == CURLE_COULDNT_CONNECT && !call->on_event && ++call->attempts < c->n_endpoints &&
        call_setup(call) >= 0)
        return;
    if (res == CURLE_OK && status == 200 && !call->on_event) {
        reply = json_loadb(strempty(call->reply), call->reply_len, 0, NULL);
        if (!reply)
            (void)error_setf(&e, ERROR_FAILED, "etcd at %s answered with something not JSON",
                             c->endpoints[call->endpoint]);
    } else if (call->too_large)
        (void)error_setf(&e, ERROR_FAILED, "etcd's answer is larger than %u MiB",
                         ETCD_MAX_REPLY >> 20);
    else if (res == CURLE_OK && status == 200)
        (void)error_setf(&e, ERROR_FAILED, "the watch stream from %s ended",
                         c->endpoints[call->endpoint]);
    else
        describe_failure(call, res, status, &e);

    EtcdDone done = call->done;
    void *userdata = call->userdata;
    call_free(call);
    done(userdata, reply, reply ? NULL : &e);
    json_decref(reply);
}

static void check_finished(EtcdClient *c)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(c->multi, &left))) {
        EtcdCall *call = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        (void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        if (call)
            call_finish(call, msg->data.result);
    }
}

static int on_socket_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    EtcdClient *c = userdata;
    int flags = 0, running;

    if (revents & EPOLLIN)
        flags |= CURL_CSELECT_IN;
    if (revents & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (revents & (EPOLLERR | EPOLLHUP))
        flags |= CURL_CSELECT_ERR;
    (void)curl_multi_socket_action(c->multi, fd, flags, &running);
    check_finished(c);
    return 0;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    EtcdClient *c = userp;
    SocketWatch *w = socketp;
    uint32_t events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);

    if (what == CURL_POLL_REMOVE) {
        if (w) {
            (void)sd_event_source_disable_unref(w->source);
            free(w);
            (void)curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (!w)
            return -1;
        if (sd_event_add_io(c->event, &w->source, fd, events, on_socket_event, c) < 0) {
            free(w);
            return -1;
        }
        (void)curl_multi_assign(c->multi, fd, w);
        return 0;
    }
    (void)sd_event_source_set_io_events(w->source, events);
    return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    EtcdClient *c = userdata;
    int running;

    (void)curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_finished(c);
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    EtcdClient *c = userp;
    uint64_t now;

    if (timeout_ms < 0)
        return sd_event_source_set_enabled(c->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
    (void)sd_event_now(c->event, CLOCK_MONOTONIC, &now);
    if (sd_event_source_set_time(c->timer, now + (uint64_t)timeout_ms * 1000) < 0 ||
        sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT) < 0)
        return -1;
    return 0;
}

static int parse_endpoints(EtcdClient *c, const char *endpoints, Error *e)
{
    _cleanup_free_ char *copy = strdup(endpoints);
    char *save = NULL;

    if (!copy)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t len;

        while (*tok == ' ')
            tok++;
        len = strlen(tok);
        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '/'))
            tok[--len] = 0;
        if (!strneq(tok, "http://", 7) && !strneq(tok, "https://", 8))
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "etcd endpoint '%s' must start with http:// or https://", tok);
        if (len > 256 || strchr(strstr(tok, "//") + 2, '/') || strchr(tok, '?'))
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "etcd endpoint '%s' must be http[s]://HOST:PORT", tok);
        if (c->n_endpoints == ETCD_MAX_ENDPOINTS)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "at most %d etcd endpoints",
                              ETCD_MAX_ENDPOINTS);
        c->endpoints[c->n_endpoints] = strdup(tok);
        if (!c->endpoints[c->n_endpoints])
            return error_set_errno(e, -ENOMEM, "Out of memory");
        c->n_endpoints++;
    }
    if (c->n_endpoints == 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "etcd names no endpoint");
    return 0;
}

int etcd_endpoints_check(const char *endpoints, Error *e)
{
    EtcdClient c = {};
    int r = parse_endpoints(&c, endpoints, e);

    for (size_t i = 0; i < c.n_endpoints; i++)
        free(c.endpoints[i]);
    return r;
}

int etcd_client_new(sd_event *event, const char *endpoints, unsigned timeout_ms, const EtcdTls *tls,
                    EtcdClient **ret, Error *e)
{
    EtcdClient *c = calloc(1, sizeof(*c));
    int r;

    if (!c)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    c->event = sd_event_ref(event);
    c->timeout_ms = timeout_ms;
    if (tls && ((tls->ca && !(c->tls_ca = strdup(tls->ca))) ||
                (tls->cert && !(c->tls_cert = strdup(tls->cert))) ||
                (tls->key && !(c->tls_key = strdup(tls->key))))) {
        etcd_client_free(c);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    r = parse_endpoints(c, endpoints, e);
    if (r < 0) {
        etcd_client_free(c);
        return r;
    }
    (void)curl_global_init(CURL_GLOBAL_DEFAULT);
    c->multi = curl_multi_init();
    if (!c->multi ||
        sd_event_add_time(event, &c->timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_timer, c) < 0) {
        etcd_client_free(c);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    (void)sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
    (void)curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    (void)curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    (void)curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    (void)curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    *ret = c;
    return 0;
}

EtcdClient *etcd_client_free(EtcdClient *c)
{
    if (!c)
        return NULL;
    while (c->calls)
        call_free(c->calls);
    if (c->multi)
        (void)curl_multi_cleanup(c->multi);
    (void)sd_event_source_disable_unref(c->timer);
    for (size_t i = 0; i < c->n_endpoints; i++)
        free(c->endpoints[i]);
    free(c->tls_ca);
    free(c->tls_cert);
    free(c->tls_key);
    sd_event_unref(c->event);
    free(c);
    return NULL;
}

static int call_start(EtcdClient *c, const char *path, json_t *body, EtcdDone done,
                      EtcdWatchEvent on_event, void *userdata, EtcdCall **ret_call)
{
    EtcdCall *call = calloc(1, sizeof(*call));

    if (!call) {
        json_decref(body);
        return -ENOMEM;
    }
    call->client = c;
    call->done = done;
    call->on_event = on_event;
    call->userdata = userdata;
    call->path = strdup(path);
    call->body = body ? json_dumps(body, JSON_COMPACT) : strdup("{}");
    json_decref(body);
    call->headers = curl_slist_append(NULL, "Content-Type: application/json");
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    if (!call->path || !call->body || !call->headers || call_setup(call) < 0) {
        call_free(call);
        return -ENOMEM;
    }
    if (ret_call)
        *ret_call = call;
    return 0;
}

int etcd_call(EtcdClient *c, const char *path, json_t *body, EtcdDone done, void *userdata,
              EtcdCall **ret_call)
{
    return call_start(c, path, body, done, NULL, userdata, ret_call);
}

int etcd_watch(EtcdClient *c, json_t *body, EtcdWatchEvent on_event, EtcdDone on_end,
               void *userdata, EtcdCall **ret_call)
{
    return call_start(c, "/v3/watch", body, on_end, on_event, userdata, ret_call);
}
