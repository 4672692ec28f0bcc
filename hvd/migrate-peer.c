/* A TCP connection to another hvd opened without waiting (handed to a TLS relay once connected,
 * for an https:// peer), and one HTTP/1.1 request over it. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "migrate-peer.h"
#include "time-util.h"
#include "tls-relay.h"

#define ANSWER_MAX 65536
/* The TLS handshake's own limit (a request's timeout covers it too). */
#define HANDSHAKE_TIMEOUT_MS 10000u

struct PeerCall {
    int fd;
    sd_event_source *io;
    sd_event_source *timer;
    char *request; /* NULL: a plain connection */
    size_t request_len, sent;
    char *answer;
    size_t answer_len;
    PeerConnected connected;
    PeerAnswered answered;
    void *userdata;
    char where[96];
    bool tls;
    char *tls_ca, *tls_cert, *tls_key;
    char server_name[64];
    TlsRelay *relay; /* the TLS session behind fd, once connected */
};

int peer_address_parse(const char *url, PeerAddress *ret, Error *e)
{
    const char *p, *colon, *end;
    struct in6_addr a6;
    struct in_addr a4;
    size_t n;

    *ret = (PeerAddress){};
    if (!url || (!strneq(url, "http://", 7) && !strneq(url, "https://", 8)))
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "bad target URL '%.128s': it must be http://ADDRESS:PORT or "
                          "https://ADDRESS:PORT, the target hvd's HTTP API",
                          strempty(url));
    ret->tls = strneq(url, "https://", 8);
    p = url + (ret->tls ? 8 : 7);
    if (*p == '[') {
        end = strchr(p, ']');
        if (!end || end[1] != ':')
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "bad target URL '%.128s': an IPv6 "
                              "address goes in brackets, followed by :PORT",
                              url);
        n = (size_t)(end - p - 1);
        p++;
        colon = end + 1;
    } else {
        colon = strchr(p, ':');
        if (!colon)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "bad target URL '%.128s': it has no :PORT",
                              url);
        n = (size_t)(colon - p);
    }
    if (n == 0 || n >= sizeof(ret->host))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "bad target URL '%.128s': no address", url);
    memcpy(ret->host, p, n);
    if (streq(ret->host, "localhost"))
        strcpy(ret->host, "127.0.0.1");
    if (inet_pton(AF_INET, ret->host, &a4) != 1 && inet_pton(AF_INET6, ret->host, &a6) != 1)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "bad target URL '%.128s': '%s' is not an IP address (hvd does not "
                          "look names up)",
                          url, ret->host);
    p = colon + 1;
    n = strspn(p, "0123456789");
    if (n == 0 || n >= sizeof(ret->port) || (p[n] && !streq(p + n, "/")) || atoi(p) < 1 ||
        atoi(p) > 65535)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "bad target URL '%.128s': the port must be 1..65535, with nothing "
                          "after it",
                          url);
    memcpy(ret->port, p, n);
    return 0;
}

static void call_free(PeerCall *call)
{
    (void)sd_event_source_disable_unref(call->io);
    (void)sd_event_source_disable_unref(call->timer);
    safe_close(call->fd);
    free(call->request);
    free(call->answer);
    free(call->tls_ca);
    free(call->tls_cert);
    free(call->tls_key);
    (void)tls_relay_unref(call->relay);
    free(call);
}

void peer_call_cancel(PeerCall *call)
{
    if (call)
        call_free(call);
}

static void call_fail(PeerCall *call, const Error *e)
{
    const char *tls_failure = call->relay ? tls_relay_error(call->relay) : NULL;
    Error relay_e = ERROR_NULL;

    /* What the TLS session met explains the connection's end better than the end itself. */
    if (tls_failure) {
        (void)error_setf(&relay_e, ERROR_FAILED, "%s", tls_failure);
        e = &relay_e;
    }
    if (call->connected)
        call->connected(call, -EBADF, e, call->userdata);
    else
        call->answered(call, 0, NULL, e, call->userdata);
    call_free(call);
}

/* Parses "HTTP/1.1 NNN ...\r\n...\r\n\r\nbody" once the peer closed the connection. */
static void answer_finish(PeerCall *call)
{
    Error e = ERROR_NULL;
    unsigned status = 0;
    const char *body;
    json_t *json;

    if (call->answer_len == 0 && call->relay && tls_relay_error(call->relay)) {
        call_fail(call, &e);
        return;
    }
    if (call->answer_len == 0) {
        (void)error_setf(&e, ERROR_FAILED, "%s closed the connection without an answer%s",
                         call->where,
                         call->tls ? "" : " (if it serves HTTPS, use an https:// URL)");
        call_fail(call, &e);
        return;
    }
    if (sscanf(call->answer, "HTTP/1.%*c %u", &status) != 1 ||
        !(body = strstr(call->answer, "\r\n\r\n"))) {
        (void)error_setf(&e, ERROR_FAILED, "%s did not answer as an hvd would", call->where);
        call_fail(call, &e);
        return;
    }
    body += 4;
    json = json_loads(body, 0, NULL);
    call->answered(call, status, json, NULL, call->userdata);
    json_decref(json);
    call_free(call);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* Hands the connected TCP socket to a TLS relay and goes on over the relay's plain end. */
static int call_start_tls(PeerCall *call, sd_event *event, Error *e)
{
    TlsFiles files = {.ca = call->tls_ca, .cert = call->tls_cert, .key = call->tls_key};
    int plain, flags, r;

    call->io = sd_event_source_disable_unref(call->io);
    r = tls_relay_start(TAKE_FD(call->fd), &files, call->server_name, call->where,
                        HANDSHAKE_TIMEOUT_MS, &plain, &call->relay, e);
    if (r < 0)
        return r;
    call->fd = plain;
    if (!call->request)
        return 0;
    flags = fcntl(plain, F_GETFL);
    if (flags < 0 || fcntl(plain, F_SETFL, flags | O_NONBLOCK) < 0)
        return error_set_errno(e, -errno, "Failed to set up the TLS relay: %m");
    r = sd_event_add_io(event, &call->io, plain, EPOLLOUT, on_io, call);
    if (r < 0)
        return error_set_errno(e, r, "Failed to watch the connection: %m");
    return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    PeerCall *call = userdata;
    Error e = ERROR_NULL;
    int err = 0;
    socklen_t len = sizeof(err);

    if (call->sent == 0 && call->answer_len == 0 &&
        (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)) {
        (void)error_set_errno(&e, -(err ?: errno), "cannot connect to %s: %m", call->where);
        call_fail(call, &e);
        return 0;
    }
    if (call->tls && !call->relay) {
        if (call_start_tls(call, sd_event_source_get_event(s), &e) < 0) {
            call_fail(call, &e);
            return 0;
        }
        if (call->request)
            return 0; /* on_io again, for the relay's plain end */
        fd = call->fd;
    }
    if (!call->request) {
        int flags = fcntl(fd, F_GETFL);
        call->io = sd_event_source_disable_unref(call->io);
        call->timer = sd_event_source_disable_unref(call->timer);
        if (flags >= 0)
            (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        call->connected(call, TAKE_FD(call->fd), NULL, call->userdata);
        call_free(call);
        return 0;
    }
    while (call->sent < call->request_len) {
        ssize_t n =
            send(fd, call->request + call->sent, call->request_len - call->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0) {
            (void)error_set_errno(&e, -errno, "sending to %s failed: %m", call->where);
            call_fail(call, &e);
            return 0;
        }
        call->sent += (size_t)n;
        if (call->sent == call->request_len)
            (void)sd_event_source_set_io_events(s, EPOLLIN);
    }
    for (;;) {
        ssize_t n;

        if (call->answer_len == ANSWER_MAX) {
            (void)error_setf(&e, ERROR_FAILED, "%s answered too much", call->where);
            call_fail(call, &e);
            return 0;
        }
        n = recv(fd, call->answer + call->answer_len, ANSWER_MAX - call->answer_len, 0);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0) {
            (void)error_set_errno(&e, -errno, "reading from %s failed: %m", call->where);
            call_fail(call, &e);
            return 0;
        }
        if (n == 0) {
            call->answer[call->answer_len] = 0;
            answer_finish(call);
            return 0;
        }
        call->answer_len += (size_t)n;
    }
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    PeerCall *call = userdata;
    Error e = ERROR_NULL;

    (void)error_set_errno(&e, -ETIMEDOUT, "%s did not answer in time", call->where);
    call_fail(call, &e);
    return 0;
}

static int call_start(sd_event *event, const PeerAddress *a, const TlsFiles *tls, const char *port,
                      unsigned timeout_ms, PeerCall *call, PeerCall **ret, Error *e)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV},
                    *ai = NULL;
    int r;

    call->fd = -EBADF;
    (void)snprintf(call->where, sizeof(call->where), "the target hvd at %s port %s", a->host, port);
    if (a->tls) {
        if (!tls || !tls->ca) {
            call_free(call);
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "an https:// target needs [migrate] tls-ca, the CA that signed "
                              "its certificate");
        }
        call->tls = true;
        (void)snprintf(call->server_name, sizeof(call->server_name), "%s", a->host);
        if (!(call->tls_ca = strdup(tls->ca)) ||
            (tls->cert && !(call->tls_cert = strdup(tls->cert))) ||
            (tls->key && !(call->tls_key = strdup(tls->key)))) {
            call_free(call);
            return error_set_errno(e, -ENOMEM, "Out of memory");
        }
    }
    r = getaddrinfo(a->host, port, &hints, &ai);
    if (r != 0) {
        call_free(call);
        return error_setf(e, ERROR_INVALID_ARGUMENT, "bad target address %s port %s: %s", a->host,
                          port, gai_strerror(r));
    }
    call->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (call->fd < 0 ||
        (connect(call->fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)) {
        r = -errno;
        freeaddrinfo(ai);
        (void)error_set_errno(e, r, "cannot connect to %s: %m", call->where);
        call_free(call);
        return r;
    }
    freeaddrinfo(ai);
    r = sd_event_add_io(event, &call->io, call->fd, EPOLLOUT, on_io, call);
    if (r >= 0)
        r = sd_event_add_time_relative(event, &call->timer, CLOCK_MONOTONIC,
                                       (uint64_t)timeout_ms * USEC_PER_MSEC, 0, on_timeout, call);
    if (r < 0) {
        call_free(call);
        return error_set_errno(e, r, "Failed to watch the connection: %m");
    }
    if (ret)
        *ret = call;
    return 0;
}

int peer_connect(sd_event *event, const PeerAddress *a, const TlsFiles *tls, const char *port,
                 unsigned timeout_ms, PeerConnected done, void *userdata, PeerCall **ret, Error *e)
{
    PeerCall *call = calloc(1, sizeof(*call));

    if (!call)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    call->connected = done;
    call->userdata = userdata;
    return call_start(event, a, tls, port, timeout_ms, call, ret, e);
}

int peer_request(sd_event *event, const PeerAddress *a, const TlsFiles *tls, const char *method,
                 const char *path, const char *token, json_t *body, unsigned timeout_ms,
                 PeerAnswered done, void *userdata, PeerCall **ret, Error *e)
{
    _cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : strdup("");
    PeerCall *call = calloc(1, sizeof(*call));
    int n;

    if (!call || !text || !(call->answer = malloc(ANSWER_MAX + 1))) {
        free(call ? call->answer : NULL);
        free(call);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    n = asprintf(&call->request,
                 "%s %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n%s%s%s"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 method, path, a->host, a->port, token && token[0] ? "Authorization: Bearer " : "",
                 token && token[0] ? token : "", token && token[0] ? "\r\n" : "", strlen(text),
                 text);
    if (n < 0) {
        call->request = NULL;
        free(call->answer);
        free(call);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    call->request_len = (size_t)n;
    call->answered = done;
    call->userdata = userdata;
    return call_start(event, a, tls, a->port, timeout_ms, call, ret, e);
}
