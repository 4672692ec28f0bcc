/* GET /api/v1/domains/{name}/vnc: the domain's graphical console over a WebSocket (RFC 6455,
 * subprotocol "binary", as noVNC speaks it). hvd connects to the domain's VNC socket through
 * its driver and relays bytes both ways on its loop: RFB from the display in binary frames to
 * the client, the payload of the client's frames to the display. Each direction has one bounded
 * buffer; a side whose buffer toward the other is full is not read until it drains, so a slow
 * peer slows the other instead of growing memory. */
#include <string.h>
#include <sys/socket.h>

#include "http-internal.h"
#include "websocket.h"
#include "log.h"
#include "manager.h"
#include "time-util.h"

#define VNC_BUFFER         (64u * 1024)         /* each direction */
#define VNC_READ_CHUNK     (16u * 1024)         /* display bytes per frame to the client */
#define VNC_MAX_PAYLOAD    (32u * 1024)         /* a client frame's payload at most */
#define VNC_CLOSING_MAX_US (5 * USEC_PER_SEC)   /* for the client to take the close frame */
#define VNC_RETRY_US       (10 * USEC_PER_MSEC) /* a display whose backlog was full, again */
#define VNC_RETRIES        200                  /* 2 s */
#define WS_CLOSE_TRY_AGAIN 1013
/* Room in to_client that only a close frame may take, so that one always fits after whole
 * frames (a frame half sent must be finished before it). */
#define VNC_CLOSE_RESERVE (2 + WS_MAX_CONTROL)

struct HttpVncBridge {
    Http *http;
    char name[DOMAIN_NAME_MAX + 1];
    int display_fd; /* -EBADF while the display's backlog is full (retry_timer tries again) */
    int client_fd;  /* libmicrohttpd's: given back through the upgrade handle, never closed here */
    struct MHD_UpgradeResponseHandle *urh; /* NULL until the upgrade happened */
    HttpRequest *request;                  /* until then: the request, which links back */
    sd_event_source *client_io, *display_io;
    sd_event_source *closing_timer; /* ends a session whose client does not take its close */
    sd_event_source *retry_timer;
    unsigned retries;
    uint8_t from_client[VNC_MAX_PAYLOAD + WS_MAX_HEADER]; /* frames not parsed yet */
    size_t from_client_len;
    uint8_t to_display[VNC_BUFFER];
    size_t to_display_len;
    uint8_t to_client[VNC_BUFFER]; /* frames, of which to_client_off bytes are sent */
    size_t to_client_len, to_client_off;
    bool closing; /* a close frame is queued: nothing more is read */
    HttpVncBridge *prev, *next;
};

static void bridge_free(HttpVncBridge *b)
{
    Http *h = b->http;

    if (b->prev)
        b->prev->next = b->next;
    else
        h->vnc_bridges = b->next;
    if (b->next)
        b->next->prev = b->prev;
    if (b->request)
        b->request->vnc = NULL;
    (void)sd_event_source_disable_unref(b->client_io);
    (void)sd_event_source_disable_unref(b->display_io);
    (void)sd_event_source_disable_unref(b->closing_timer);
    (void)sd_event_source_disable_unref(b->retry_timer);
    if (b->display_fd >= 0)
        (void)close(b->display_fd);
    if (b->urh) {
        (void)MHD_upgrade_action(b->urh, MHD_UPGRADE_ACTION_CLOSE);
        http_kick(h);
    }
    free(b);
}

static void bridge_end(HttpVncBridge *b, const char *why)
{
    log_debug("HTTP: VNC session of %s ended: %s", b->name, why);
    bridge_free(b);
}

/* The room left in to_client for frames other than a close. */
static size_t to_client_room(const HttpVncBridge *b)
{
    return sizeof(b->to_client) - VNC_CLOSE_RESERVE - (b->to_client_len - b->to_client_off);
}

/* Queues a frame for the client; false when it does not fit now. */
static bool queue_frame(HttpVncBridge *b, WsOpcode opcode, const void *payload, size_t len)
{
    uint8_t header[WS_SERVER_HEADER_MAX];
    size_t n = ws_frame_header(opcode, len, header);
    size_t limit = sizeof(b->to_client) - (opcode == WS_OP_CLOSE ? 0 : VNC_CLOSE_RESERVE);

    if (b->to_client_off > 0 && b->to_client_len + n + len > limit) {
        memmove(b->to_client, b->to_client + b->to_client_off, b->to_client_len - b->to_client_off);
        b->to_client_len -= b->to_client_off;
        b->to_client_off = 0;
    }
    if (b->to_client_len + n + len > limit)
        return false;
    memcpy(b->to_client + b->to_client_len, header, n);
    memcpy(b->to_client + b->to_client_len + n, payload, len);
    b->to_client_len += n + len;
    return true;
}

static int on_closing_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    bridge_end(userdata, "the client did not take the close frame");
    return 0;
}

/* Queues a close frame with code and reason (the first one only); nothing is read from either
 * side after it, and the session ends once the client took it, or after VNC_CLOSING_MAX_US. */
static void queue_close(HttpVncBridge *b, unsigned code, const char *reason)
{
    uint8_t payload[WS_MAX_CONTROL];
    size_t n = strnlen(reason, sizeof(payload) - 2);

    if (b->closing)
        return;
    if (b->urh)
        (void)sd_event_add_time_relative(b->http->event, &b->closing_timer, CLOCK_MONOTONIC,
                                         VNC_CLOSING_MAX_US, 0, on_closing_timeout, b);
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    memcpy(payload + 2, reason, n);
    b->closing = true;
    (void)queue_frame(b, WS_OP_CLOSE, payload, n + 2); /* fits: VNC_CLOSE_RESERVE */
}

/* Handles the whole frames from the client whose payload fits where it goes. */
static void parse_client(HttpVncBridge *b)
{
    size_t used = 0;

    while (!b->closing) {
        WsFrame f;
        int r = ws_frame_parse(b->from_client + used, b->from_client_len - used, VNC_MAX_PAYLOAD,
                               true, &f);
        if (r == 0)
            break;
        if (r < 0) {
            queue_close(b, (unsigned)-r,
                        r == -WS_CLOSE_TOO_BIG ? "frame too large" : "malformed frame");
            break;
        }
        if (f.opcode == WS_OP_BINARY || f.opcode == WS_OP_CONTINUATION) {
            if (b->to_display_len + f.length > sizeof(b->to_display))
                break; /* parsed again once the display took what waits */
            ws_frame_unmask(&f);
            memcpy(b->to_display + b->to_display_len, f.payload, f.length);
            b->to_display_len += f.length;
        } else if (f.opcode == WS_OP_PING) {
            uint8_t payload[WS_MAX_CONTROL];
            memcpy(payload, f.payload, f.length);
            ws_frame_unmask(&(WsFrame){.mask = {f.mask[0], f.mask[1], f.mask[2], f.mask[3]},
                                       .payload = payload,
                                       .length = f.length});
            if (!queue_frame(b, WS_OP_PONG, payload, f.length))
                break;
        } else if (f.opcode == WS_OP_TEXT)
            queue_close(b, WS_CLOSE_UNSUPPORTED, "only binary frames carry RFB");
        else if (f.opcode == WS_OP_CLOSE)
            queue_close(b, WS_CLOSE_NORMAL, "");
        used += f.size;
    }
    memmove(b->from_client, b->from_client + used, b->from_client_len - used);
    b->from_client_len -= used;
}

/* Reads a side only while what it sends has room on the way to the other; once closing, only
 * the close frame still goes to the client (and the display is no longer watched). */
static void update_events(HttpVncBridge *b)
{
    size_t to_client_free = to_client_room(b);
    bool client_in = !b->closing && b->from_client_len < sizeof(b->from_client);
    bool display_in = !b->closing && to_client_free > WS_SERVER_HEADER_MAX + 1;
    bool display_out = !b->closing && b->to_display_len > 0;

    (void)sd_event_source_set_io_events(b->client_io, (client_in ? EPOLLIN : 0) |
                                                          (b->to_client_len ? EPOLLOUT : 0));
    if (!b->display_io)
        return; /* not connected yet: what the client sends waits in to_display */
    if (display_in || display_out) {
        (void)sd_event_source_set_io_events(b->display_io, (display_in ? EPOLLIN : 0) |
                                                               (display_out ? EPOLLOUT : 0));
        (void)sd_event_source_set_enabled(b->display_io, SD_EVENT_ON);
    } else
        /* Off, not just no events: a hung-up socket would still wake the loop. */
        (void)sd_event_source_set_enabled(b->display_io, SD_EVENT_OFF);
}

/* The I/O steps return false when the bridge ended (and is freed). */
static bool client_readable(HttpVncBridge *b)
{
    ssize_t n = recv(b->client_fd, b->from_client + b->from_client_len,
                     sizeof(b->from_client) - b->from_client_len, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n <= 0) {
        bridge_end(b, n == 0 ? "the client closed the connection" : strerror(errno));
        return false;
    }
    b->from_client_len += (size_t)n;
    parse_client(b);
    return true;
}

static bool client_writable(HttpVncBridge *b)
{
    ssize_t n = send(b->client_fd, b->to_client + b->to_client_off,
                     b->to_client_len - b->to_client_off, MSG_DONTWAIT | MSG_NOSIGNAL);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n < 0) {
        bridge_end(b, strerror(errno));
        return false;
    }
    b->to_client_off += (size_t)n;
    if (b->to_client_off == b->to_client_len) {
        b->to_client_off = b->to_client_len = 0;
        if (b->closing) {
            bridge_end(b, "closed");
            return false;
        }
    }
    /* A pong that waited for room may go now. */
    parse_client(b);
    return true;
}

static void display_readable(HttpVncBridge *b)
{
    uint8_t buf[VNC_READ_CHUNK];
    size_t room = to_client_room(b);
    ssize_t n;

    if (room <= WS_SERVER_HEADER_MAX)
        return;
    n = recv(b->display_fd, buf, MIN(room - WS_SERVER_HEADER_MAX, sizeof(buf)), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0)
        queue_close(b, WS_CLOSE_GOING_AWAY,
                    n == 0 ? "the display closed (the domain stopped?)" : "the display failed");
    else
        (void)queue_frame(b, WS_OP_BINARY, buf, (size_t)n);
}

static void display_writable(HttpVncBridge *b)
{
    ssize_t n = send(b->display_fd, b->to_display, b->to_display_len, MSG_DONTWAIT | MSG_NOSIGNAL);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        queue_close(b, WS_CLOSE_GOING_AWAY, "the display failed");
        return;
    }
    memmove(b->to_display, b->to_display + n, b->to_display_len - (size_t)n);
    b->to_display_len -= (size_t)n;
    /* Frames that waited for room go on now. */
    parse_client(b);
}

static int on_client(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    HttpVncBridge *b = userdata;

    if ((revents & EPOLLOUT) && !client_writable(b))
        return 0;
    if ((revents & EPOLLIN) && !client_readable(b))
        return 0;
    if ((revents & (EPOLLHUP | EPOLLERR)) && !(revents & EPOLLIN)) {
        bridge_end(b, "the client's connection broke");
        return 0;
    }
    update_events(b);
    return 0;
}

static int on_display(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    HttpVncBridge *b = userdata;

    if (revents & EPOLLOUT)
        display_writable(b);
    if ((revents & EPOLLIN) && !b->closing)
        display_readable(b);
    else if (revents & (EPOLLHUP | EPOLLERR))
        queue_close(b, WS_CLOSE_GOING_AWAY, "the display closed (the domain stopped?)");
    update_events(b);
    return 0;
}

/* The display's backlog was full when the client came: connect again, for VNC_RETRIES at most. */
static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
    HttpVncBridge *b = userdata;
    Manager *m = b->http->manager;
    Error e = ERROR_NULL;
    Domain *d = NULL;
    int fd = -EBADF;

    if (b->closing)
        return 0;
    if (manager_get(m, b->name, &d, &e) >= 0 && manager_domain_graphics(m, d, &fd, &e) >= 0) {
        log_debug("HTTP: VNC session of %s: the display took it after %u tries.", b->name,
                  b->retries + 1);
        b->display_fd = fd;
        b->retry_timer = sd_event_source_disable_unref(b->retry_timer);
        if (sd_event_add_io(b->http->event, &b->display_io, fd, EPOLLIN, on_display, b) < 0)
            queue_close(b, WS_CLOSE_INTERNAL, "could not watch the display");
        update_events(b);
        return 0;
    }
    if (e.errnum == -EAGAIN && ++b->retries < VNC_RETRIES) {
        (void)sd_event_source_set_time_relative(s, VNC_RETRY_US);
        (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
    }
    log_debug("HTTP: VNC session of %s: no display after %u tries: %s", b->name, b->retries,
              e.message);
    queue_close(b, e.errnum == -EAGAIN ? WS_CLOSE_TRY_AGAIN : WS_CLOSE_GOING_AWAY, e.message);
    update_events(b);
    return 0;
}

/* libmicrohttpd sent the 101 answer and hands over the client's socket. con_cls is the
 * request (NULL if it ended already), whose bridge takes the connection over. */
static void on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    HttpRequest *request = con_cls;
    HttpVncBridge *b = request ? request->vnc : NULL;
    int r;

    if (!b) {
        (void)MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        http_kick(cls);
        return;
    }
    request->vnc = NULL;
    b->request = NULL;
    b->urh = urh;
    b->client_fd = sock;
    /* Upgraded, the connection is the bridge's: no request deadline applies to it. */
    http_guard_request_received(conn);
    if (extra_in_size > sizeof(b->from_client)) {
        bridge_end(b, "the client sent more than a frame before the handshake completed");
        return;
    }
    memcpy(b->from_client, extra_in, extra_in_size);
    b->from_client_len = extra_in_size;
    r = sd_event_add_io(b->http->event, &b->client_io, sock, EPOLLIN, on_client, b);
    if (r >= 0 && b->display_fd >= 0)
        r = sd_event_add_io(b->http->event, &b->display_io, b->display_fd, EPOLLIN, on_display, b);
    else if (r >= 0)
        /* 1 ms accuracy, not sd-event's default 250 ms: VNC_RETRIES spans 2 s. */
        r = sd_event_add_time_relative(b->http->event, &b->retry_timer, CLOCK_MONOTONIC,
                                       VNC_RETRY_US, USEC_PER_MSEC, on_retry, b);
    if (r < 0) {
        bridge_end(b, "could not watch its sockets");
        return;
    }
    log_debug("HTTP: VNC session of %s started.", b->name);
    parse_client(b);
    update_events(b);
}

/* The WebSocket opening handshake (RFC 6455 section 4.2.1) as far as a plain GET can fail it. */
static bool handshake_ok(HttpRequest *r, const char **ret_protocol, enum MHD_Result *ret)
{
    const char *key = http_header(r, "Sec-WebSocket-Key");
    const char *version = http_header(r, "Sec-WebSocket-Version");
    const char *protocols = http_header(r, "Sec-WebSocket-Protocol");

    if (!ws_header_has_token(http_header(r, "Upgrade"), "websocket") ||
        !ws_header_has_token(http_header(r, "Connection"), "Upgrade"))
        *ret = http_reply_problem_header(
            r, MHD_HTTP_UPGRADE_REQUIRED, "Upgrade", "websocket",
            "the VNC display is a WebSocket: send 'Connection: Upgrade' and 'Upgrade: websocket' "
            "(a browser's new WebSocket(), or noVNC, does)");
    else if (!version || !streq(version, "13"))
        *ret = http_reply_problem_header(r, MHD_HTTP_UPGRADE_REQUIRED, "Sec-WebSocket-Version",
                                         "13", "'Sec-WebSocket-Version' must be 13, got '%.16s'",
                                         strna(version));
    else if (!ws_key_is_valid(key))
        *ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                  "'Sec-WebSocket-Key' must be 16 bytes in base64");
    else if (protocols && !ws_header_has_token(protocols, "binary"))
        *ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                  "the VNC display speaks the WebSocket subprotocol 'binary' only, "
                                  "not '%.64s'",
                                  protocols);
    else {
        *ret_protocol = protocols ? "binary" : NULL;
        return true;
    }
    return false;
}

enum MHD_Result http_domain_vnc(HttpRequest *r, Domain *d, const char *arg)
{
    const char *protocol = NULL;
    char accept[WS_ACCEPT_LENGTH + 1];
    struct MHD_Response *resp;
    enum MHD_Result ret = MHD_YES;
    Error e = ERROR_NULL;
    HttpVncBridge *b;
    int fd = -EBADF;

    /* Keyboard and mouse are changes: the token is wanted from loopback too. */
    if (!http_authorize_token(r, &ret))
        return ret;
    if (!handshake_ok(r, &protocol, &ret))
        return ret;
    /* A display whose backlog is full now (several viewers at once) is connected to again
     * after the upgrade. */
    if (manager_domain_graphics(r->http->manager, d, &fd, &e) < 0 && e.errnum != -EAGAIN)
        return http_reply_error(r, &e);
    if (ws_accept_value(http_header(r, "Sec-WebSocket-Key"), accept) < 0) {
        if (fd >= 0)
            (void)close(fd);
        return http_reply_problem(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                  "could not compute Sec-WebSocket-Accept");
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        if (fd >= 0)
            (void)close(fd);
        return MHD_NO;
    }
    *b = (HttpVncBridge){.http = r->http,
                         .display_fd = fd,
                         .client_fd = -EBADF,
                         .request = r,
                         .next = r->http->vnc_bridges};
    (void)snprintf(b->name, sizeof(b->name), "%s", d->config.name);
    if (b->next)
        b->next->prev = b;
    r->http->vnc_bridges = b;
    r->vnc = b;
    resp = MHD_create_response_for_upgrade(on_upgrade, r->http);
    if (!resp) {
        bridge_free(b);
        return MHD_NO;
    }
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    (void)MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    if (protocol)
        (void)MHD_add_response_header(resp, "Sec-WebSocket-Protocol", protocol);
    ret = MHD_queue_response(r->conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    return ret;
}

void http_vnc_abandon(HttpVncBridge *b)
{
    bridge_end(b, "the client left before the upgrade");
}

void http_vnc_done(Http *h)
{
    while (h->vnc_bridges) {
        HttpVncBridge *b = h->vnc_bridges;
        /* Clients are told, as far as their sockets take it now. */
        if (b->urh) {
            queue_close(b, WS_CLOSE_GOING_AWAY, "hvd is stopping");
            (void)send(b->client_fd, b->to_client + b->to_client_off,
                       b->to_client_len - b->to_client_off, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        bridge_end(b, "hvd is stopping");
    }
}
