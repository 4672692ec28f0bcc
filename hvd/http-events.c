/* GET /api/v1/events: Server-Sent Events. Lifecycle events come from the event log, so each
 * carries the log's id and a client resumes with Last-Event-ID; stats (every few seconds while
 * anyone listens) and console output are live only and carry no id. */
#include <inttypes.h>
#include <string.h>

#include "base64.h"
#include "event-log.h"
#include "http-internal.h"
#include "log.h"
#include "parse-util.h"
#include "time-util.h"

#define SUBSCRIBER_BUFFER_MAX (1024u * 1024u)
#define REPLAY_MAX            10000u
#define KEEPALIVE_US          (15 * USEC_PER_SEC)
#define STATS_INTERVAL_US     (2 * USEC_PER_SEC)

struct HttpSubscriber {
    Http *http;
    struct MHD_Connection *conn;
    char domain[DOMAIN_NAME_MAX + 1]; /* "" for every domain */
    char *buf;
    size_t len, allocated;
    bool suspended;
    bool closed;
    HttpSubscriber *next;
};

static bool wants(const HttpSubscriber *s, const char *domain)
{
    return !s->domain[0] || (domain && streq(s->domain, domain));
}

static void subscriber_append(HttpSubscriber *s, const char *text, size_t len)
{
    if (s->closed)
        return;
    if (s->len + len > SUBSCRIBER_BUFFER_MAX) {
        /* Too slow to keep up: end its stream; it can resume with Last-Event-ID. */
        s->closed = true;
    } else {
        if (s->len + len > s->allocated) {
            size_t n = MAX(s->allocated * 2, s->len + len + 4096);
            char *p = realloc(s->buf, n);
            if (!p) {
                s->closed = true;
                goto wake;
            }
            s->buf = p;
            s->allocated = n;
        }
        memcpy(s->buf + s->len, text, len);
        s->len += len;
    }
wake:
    if (s->suspended) {
        s->suspended = false;
        http_resume(s->http, s->conn);
    }
}

/* Formats one SSE message into a new string: "id: ...\nevent: ...\ndata: ...\n\n". */
static char *sse_format(int64_t id, const char *event, json_t *data)
{
    _cleanup_free_ char *json = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *msg = NULL;

    if (!json)
        return NULL;
    if (id > 0) {
        if (asprintf(&msg, "id: %" PRId64 "\nevent: %s\ndata: %s\n\n", id, event, json) < 0)
            return NULL;
    } else if (asprintf(&msg, "event: %s\ndata: %s\n\n", event, json) < 0)
        return NULL;
    return msg;
}

typedef struct Replay {
    Http *http;
    HttpSubscriber *only; /* NULL: every subscriber */
} Replay;

static int on_stored_event(const StoredEvent *ev, void *userdata)
{
    Replay *rp = userdata;
    json_t *data = event_json_new(ev);
    _cleanup_free_ char *msg = data ? sse_format(ev->id, "lifecycle", data) : NULL;

    json_decref(data);
    if (!rp->only)
        rp->http->sse_last_id = ev->id;
    if (!msg)
        return 0;
    for (HttpSubscriber *s = rp->only ? rp->only : rp->http->subscribers; s;
         s = rp->only ? NULL : s->next)
        if (wants(s, ev->domain))
            subscriber_append(s, msg, strlen(msg));
    return 0;
}

/* Sends every logged event not broadcast yet to every subscriber. */
static void pump(Http *h)
{
    Replay rp = {.http = h};

    if (h->n_subscribers == 0)
        return;
    (void)manager_events_since(h->manager, h->sse_last_id, REPLAY_MAX, on_stored_event, &rp);
}

static void on_domain_logged(void *userdata, Domain *d)
{
    pump(userdata);
}

static void on_domain_changed(void *userdata, Domain *d, const DomainChange *change)
{
    pump(userdata);
}

static void on_domain_migration(void *userdata, Domain *d, const json_t *progress)
{
    pump(userdata); /* the progress was logged as an event */
}

static void on_domain_console(void *userdata, Domain *d, ConsoleDevice device, const char *data,
                              size_t len)
{
    Http *h = userdata;
    _cleanup_free_ char *msg = NULL, *text = NULL, *bytes = NULL;
    json_t *ev;

    if (h->n_subscribers == 0)
        return;
    /* The bytes as the guest wrote them, for clients that want them all (hvctl --url). */
    if (base64_encode(data, len, &bytes) < 0)
        return;
    /* Guests print what they like: keep ASCII text, newlines and tabs; mark anything else. */
    text = malloc(len + 1);
    if (!text)
        return;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        text[i] = (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r' || c == '\t' ? (char)c : '?';
    }
    text[len] = 0;
    ev = json_pack("{s:s, s:s, s:s, s:s}", "domain", d->config.name, "device",
                   console_device_to_string(device), "data", text, "data_base64", bytes);
    msg = ev ? sse_format(0, "console", ev) : NULL;
    json_decref(ev);
    if (!msg)
        return;
    for (HttpSubscriber *s = h->subscribers; s; s = s->next)
        if (wants(s, d->config.name))
            subscriber_append(s, msg, strlen(msg));
}

/* Whether a subscriber wants d's statistics: the others' are not even asked for. */
static bool stats_wanted(void *userdata, Domain *d)
{
    Http *h = userdata;

    for (HttpSubscriber *s = h->subscribers; s; s = s->next)
        if (wants(s, d->config.name))
            return true;
    return false;
}

/* Sends d's statistics to the subscribers that want them; formatted once. */
static void stats_event(void *userdata, Domain *d, json_t *stats)
{
    Http *h = userdata;
    json_t *ev;
    _cleanup_free_ char *msg = NULL;

    if (!stats)
        return;
    ev = json_pack("{s:s, s:I, s:O}", "domain", d->config.name, "time_us",
                   (json_int_t)now_usec(CLOCK_REALTIME), "stats", stats);
    msg = ev ? sse_format(0, "stats", ev) : NULL;
    json_decref(ev);
    if (!msg)
        return;
    for (HttpSubscriber *s = h->subscribers; s; s = s->next)
        if (wants(s, d->config.name))
            subscriber_append(s, msg, strlen(msg));
}

static int on_stats_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
    Http *h = userdata;

    (void)sd_event_source_set_time_relative(src, STATS_INTERVAL_US);
    (void)sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
    if (h->n_subscribers == 0)
        return 0;
    manager_stats_foreach_wanted(h->manager, DRIVER_PEEK_PASSIVE, stats_wanted, stats_event, h);
    return 0;
}

static int on_keepalive(sd_event_source *src, uint64_t usec, void *userdata)
{
    Http *h = userdata;
    static const char ping[] = ": keepalive\n\n";

    (void)sd_event_source_set_time_relative(src, KEEPALIVE_US);
    (void)sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
    for (HttpSubscriber *s = h->subscribers; s; s = s->next)
        subscriber_append(s, ping, sizeof(ping) - 1);
    return 0;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    HttpSubscriber *s = cls;
    size_t n;

    if (s->len == 0) {
        if (s->closed)
            return MHD_CONTENT_READER_END_OF_STREAM;
        /* Nothing to send: sleep until subscriber_append() wakes the connection. */
        s->suspended = true;
        MHD_suspend_connection(s->conn);
        return 0;
    }
    n = MIN(max, s->len);
    memcpy(buf, s->buf, n);
    memmove(s->buf, s->buf + n, s->len - n);
    s->len -= n;
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    HttpSubscriber *s = cls;
    Http *h = s->http;

    for (HttpSubscriber **p = &h->subscribers; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            h->n_subscribers--;
            break;
        }
    free(s->buf);
    free(s);
}

enum MHD_Result http_events_serve(HttpRequest *r)
{
    Http *h = r->http;
    const char *domain = http_query(r, "domain");
    const char *last = http_header(r, "Last-Event-ID") ?: http_query(r, "last_event_id");
    struct MHD_Response *resp;
    HttpSubscriber *s;
    uint64_t resume_from = 0;
    enum MHD_Result ret;

    if (domain && !domain_name_is_valid(domain))
        return http_reply_problem(r, MHD_HTTP_BAD_REQUEST, "'domain' is not a valid name");
    if (last && parse_uint64(last, 0, INT64_MAX, &resume_from) < 0)
        return http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                  "Last-Event-ID must be an event id (a number), got '%.32s'",
                                  last);

    s = calloc(1, sizeof(*s));
    if (!s)
        return MHD_NO;
    *s = (HttpSubscriber){.http = h, .conn = r->conn};
    if (domain)
        (void)snprintf(s->domain, sizeof(s->domain), "%s", domain);

    if (h->n_subscribers == 0)
        h->sse_last_id = manager_events_last_id(h->manager);
    s->next = h->subscribers;
    h->subscribers = s;
    h->n_subscribers++;

    subscriber_append(s, "retry: 2000\n\n", 13);
    if (last) {
        /* Replay what the client missed, up to what the others have been sent. */
        Replay rp = {.http = h, .only = s};
        (void)manager_events_since(h->manager, (int64_t)resume_from, REPLAY_MAX, on_stored_event,
                                   &rp);
    }

    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, s, sse_free);
    if (!resp) {
        sse_free(s);
        return MHD_NO;
    }
    (void)MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    (void)MHD_add_response_header(resp, "Cache-Control", "no-store");
    (void)MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static const ManagerListener http_listener = {
    .domain_new = on_domain_logged,
    .domain_removed = on_domain_logged,
    .domain_changed = on_domain_changed,
    .domain_updated = on_domain_logged,
    .domain_console = on_domain_console,
    .domain_migration = on_domain_migration,
};

int http_events_init(Http *h)
{
    ManagerListener l = http_listener;
    int r;

    l.userdata = h;
    r = manager_add_listener(h->manager, &l);
    if (r >= 0)
        r = sd_event_add_time_relative(h->event, &h->keepalive, CLOCK_MONOTONIC, KEEPALIVE_US, 0,
                                       on_keepalive, h);
    if (r >= 0)
        r = sd_event_add_time_relative(h->event, &h->stats_timer, CLOCK_MONOTONIC,
                                       STATS_INTERVAL_US, 0, on_stats_timer, h);
    return r;
}

void http_events_done(Http *h)
{
    manager_remove_listener(h->manager, h);
    h->keepalive = sd_event_source_disable_unref(h->keepalive);
    h->stats_timer = sd_event_source_disable_unref(h->stats_timer);
    for (HttpSubscriber *s = h->subscribers; s; s = s->next) {
        s->closed = true;
        if (s->suspended) {
            s->suspended = false;
            MHD_resume_connection(s->conn);
        }
    }
}
