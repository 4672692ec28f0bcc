/* The HTTP listeners against hostile clients: deadlines for requests still arriving and for idle
 * kept-alive connections, room for newcomers when a listener is full, and a per-address limit on
 * connections from beyond loopback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "http-internal.h"
#include "log.h"
#include "time-util.h"

/* A connection past its deadline is told to time out (libmicrohttpd closes it quietly once it has
 * been silent for a second); one still there after this long is shut down. */
#define HTTP_CLOSE_GRACE_US (2 * USEC_PER_SEC)

/* One connection, from libmicrohttpd's "started" notification to its "closed" one. */
struct HttpConnection {
    HttpDaemon *daemon;
    struct MHD_Connection *conn;
    char client[INET6_ADDRSTRLEN]; /* its address, for messages and the per-address count */
    bool counted;                  /* counted against max-connections-per-address */
    HttpWaitList *list;            /* NULL while hvd answers, streams or holds the request */
    HttpConnection *prev, *next;
    uint64_t deadline;
};

bool http_address_is_local(const struct sockaddr *sa)
{
    if (!sa)
        return true; /* unix sockets have no peer address */
    switch (sa->sa_family) {
    case AF_INET:
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    case AF_INET6: {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    default:
        return true;
    }
}

/* A client beyond loopback is counted under its address text. */
void http_address_text(const struct sockaddr *sa, char out[INET6_ADDRSTRLEN])
{
    const void *a = NULL;
    int family = AF_INET;

    if (sa && sa->sa_family == AF_INET)
        a = &((const struct sockaddr_in *)sa)->sin_addr;
    else if (sa && sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6))
            a = &a6->s6_addr[12];
        else {
            a = a6;
            family = AF_INET6;
        }
    }
    if (!a || !inet_ntop(family, a, out, INET6_ADDRSTRLEN))
        (void)snprintf(out, INET6_ADDRSTRLEN, "the unix socket");
}

/* Connections counted per address: the count is the map's value. */
static unsigned peer_count(Http *h, const char *key)
{
    return (unsigned)(uintptr_t)hashmap_get(h->peers, key);
}

static int peer_add(Http *h, const char *key)
{
    return hashmap_put(h->peers, key, (void *)(uintptr_t)(peer_count(h, key) + 1));
}

static void peer_remove(Http *h, const char *key)
{
    unsigned n = peer_count(h, key);

    if (n <= 1)
        (void)hashmap_remove(h->peers, key);
    else
        (void)hashmap_put(h->peers, key, (void *)(uintptr_t)(n - 1));
}

static void list_remove(HttpConnection *c)
{
    HttpWaitList *l = c->list;

    if (!l)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    c->list = NULL;
}

/* Every list's timeout is the same for all its members: appending keeps it in deadline order. */
static void list_append(HttpWaitList *l, HttpConnection *c, uint64_t now)
{
    list_remove(c);
    c->deadline = now + l->timeout_us;
    c->list = l;
    c->prev = l->tail;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
}

static void rearm_deadline(HttpDaemon *d)
{
    HttpWaitList *lists[] = {&d->receiving, &d->idle, &d->closing};
    uint64_t next = UINT64_MAX;

    for (size_t i = 0; i < ELEMENTSOF(lists); i++)
        if (lists[i]->head && lists[i]->head->deadline < next)
            next = lists[i]->head->deadline;
    if (next == UINT64_MAX) {
        (void)sd_event_source_set_enabled(d->deadline, SD_EVENT_OFF);
        return;
    }
    (void)sd_event_source_set_time(d->deadline, next);
    (void)sd_event_source_set_enabled(d->deadline, SD_EVENT_ONESHOT);
}

/* Ends c now: the client sees the connection close and libmicrohttpd, seeing it too, frees it. */
static void connection_shut(HttpConnection *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);

    list_remove(c);
    if (info)
        (void)shutdown(info->connect_fd, SHUT_RDWR);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
    HttpDaemon *d = userdata;
    Http *h = d->http;
    uint64_t now = now_usec(CLOCK_MONOTONIC);
    HttpConnection *c;
    bool acted = false;

    while ((c = d->receiving.head) && c->deadline <= now) {
        http_log_limited(h, LOG_NOTICE,
                         "HTTP: closing a connection from %s that sent no complete request "
                         "within request-timeout (%u s).",
                         c->client, (unsigned)(d->receiving.timeout_us / USEC_PER_SEC));
        (void)MHD_set_connection_option(c->conn, MHD_CONNECTION_OPTION_TIMEOUT, 1u);
        list_append(&d->closing, c, now);
        acted = true;
    }
    while ((c = d->idle.head) && c->deadline <= now) {
        (void)MHD_set_connection_option(c->conn, MHD_CONNECTION_OPTION_TIMEOUT, 1u);
        list_append(&d->closing, c, now);
        acted = true;
    }
    while ((c = d->closing.head) && c->deadline <= now) {
        connection_shut(c);
        acted = true;
    }
    rearm_deadline(d);
    if (acted)
        http_kick(h);
    return 0;
}

/* Makes room on a full listener: ends the connection closest to its end anyway, else the one
 * that has waited longest for its request, else the longest idle one. Connections being
 * answered, streaming or held for an operation are never chosen. */
static void make_room(HttpDaemon *d)
{
    HttpConnection *c = d->closing.head ?: d->receiving.head ?: d->idle.head;

    if (!c)
        return;
    if (c->list == &d->receiving)
        http_log_limited(d->http, LOG_WARNING,
                         "HTTP: %s is full (%u connections); closing the oldest connection still "
                         "sending its request, from %s.",
                         d->url, d->http->max_connections, c->client);
    connection_shut(c);
}

enum MHD_Result http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    HttpDaemon *d = cls;
    Http *h = d->http;
    char key[INET6_ADDRSTRLEN];

    if (http_address_is_local(addr))
        return MHD_YES;
    http_address_text(addr, key);
    if (peer_count(h, key) < h->max_per_address)
        return MHD_YES;
    http_log_limited(h, LOG_WARNING,
                     "HTTP: refused a connection from %s, which already has %u "
                     "(max-connections-per-address).",
                     key, h->max_per_address);
    return MHD_NO;
}

static void connection_started(HttpDaemon *d, struct MHD_Connection *conn, void **socket_context)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    HttpConnection *c = calloc(1, sizeof(*c));

    d->n_connections++;
    if (d->n_connections > d->http->max_connections)
        make_room(d);
    if (!c) {
        /* Not tracked: libmicrohttpd's idle timeout still ends it. */
        *socket_context = NULL;
        return;
    }
    c->daemon = d;
    c->conn = conn;
    http_address_text(info ? info->client_addr : NULL, c->client);
    c->counted = !http_address_is_local(info ? info->client_addr : NULL) &&
                 peer_add(d->http, c->client) >= 0;
    list_append(&d->receiving, c, now_usec(CLOCK_MONOTONIC));
    rearm_deadline(d);
    *socket_context = c;
}

static void connection_closed(HttpDaemon *d, HttpConnection *c)
{
    d->n_connections--;
    if (!c)
        return;
    list_remove(c);
    if (c->counted)
        peer_remove(d->http, c->client);
    free(c);
    rearm_deadline(d);
}

void http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe)
{
    HttpDaemon *d = cls;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        connection_started(d, conn, socket_context);
    else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
        connection_closed(d, *socket_context);
}

/* conn's record, or NULL when it has none or is past its deadline: such a connection stays on
 * its way out whatever it sends now. */
static HttpConnection *tracked(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    HttpConnection *c = info ? info->socket_context : NULL;

    return c && c->list != &c->daemon->closing ? c : NULL;
}

void http_guard_headers_received(struct MHD_Connection *conn)
{
    HttpConnection *c = tracked(conn);

    if (!c)
        return;
    list_append(&c->daemon->receiving, c, now_usec(CLOCK_MONOTONIC));
    rearm_deadline(c->daemon);
}

void http_guard_request_received(struct MHD_Connection *conn)
{
    HttpConnection *c = tracked(conn);

    if (!c)
        return;
    list_remove(c);
    rearm_deadline(c->daemon);
}

void http_guard_request_done(struct MHD_Connection *conn)
{
    HttpConnection *c = tracked(conn);

    if (!c)
        return;
    list_append(&c->daemon->idle, c, now_usec(CLOCK_MONOTONIC));
    rearm_deadline(c->daemon);
}

int http_guard_init(HttpDaemon *d, const HvdConfig *config)
{
    int r;

    d->receiving.timeout_us = (uint64_t)config->http_request_timeout_s * USEC_PER_SEC;
    d->idle.timeout_us = (uint64_t)config->http_idle_timeout_s * USEC_PER_SEC;
    d->closing.timeout_us = HTTP_CLOSE_GRACE_US;
    r = sd_event_add_time(d->http->event, &d->deadline, CLOCK_MONOTONIC, 0, 50 * USEC_PER_MSEC,
                          on_deadline, d);
    if (r < 0)
        return r;
    return sd_event_source_set_enabled(d->deadline, SD_EVENT_OFF);
}

void http_guard_done(HttpDaemon *d)
{
    d->deadline = sd_event_source_disable_unref(d->deadline);
}
