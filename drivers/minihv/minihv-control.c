/* Control-socket client for minihv: asynchronous calls bounded in time, console connections
 * opened the same way, and one-way requests. */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "macro.h"
#include "minihv-control.h"
#include "time-util.h"

#define REPLY_MAX   65536
#define REPLY_FIRST 4096 /* a stats reply fits; the buffer doubles up to REPLY_MAX if need be */

struct ControlCall {
    int fd;
    sd_event_source *source;
    sd_event_source *timer;
    int timeout_ms;
    char *pending; /* request text not yet sent */
    size_t pending_len;
    /* Grown as the reply comes, not REPLY_MAX up front: the sampler has a call in flight to
     * every running VMM at once (500 running held 32 MiB of reply buffers). */
    char *buf;
    size_t len, size;
    ControlDone done;                /* a plain call */
    ControlConsoleDone console_done; /* a console connection */
    void *userdata;
    int pass_fd;        /* sent with the first bytes of the request (SCM_RIGHTS), then closed */
    ControlEvent event; /* gets the event lines that come before the reply (NULL: none) */
    /* The event ({"event": NAME}) after the reply that done waits for, and the reply held
     * meanwhile (NULL: done gets the reply at once). */
    const char *until_event;
    json_t *held_reply;
};

/* A non-blocking connection to path. A unix socket connects at once or not at all: a listener
 * whose queue is full (a stopped minihv) fails with EAGAIN instead of making us wait. */
static int control_connect(const char *path, Error *e)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        return error_setf(e, ERROR_FAILED, "control socket path too long: %s", path);
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return error_set_errno(e, -errno, "socket: %m");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = -errno;
        (void)close(fd);
        return error_set_errno(e, r, "minihv's control socket %s does not answer: %m", path);
    }
    return fd;
}

/* Parses one reply line; {"ok": false} becomes an error with minihv's message. */
static int parse_reply(const char *line, size_t len, json_t **ret, Error *e)
{
    json_t *reply = json_loadb(line, len, 0, NULL);

    if (!json_is_object(reply)) {
        json_decref(reply);
        return error_setf(e, ERROR_FAILED, "minihv sent a malformed reply");
    }
    if (!json_is_true(json_object_get(reply, "ok"))) {
        const char *msg = json_string_value(json_object_get(reply, "error"));
        int r = error_setf(e, ERROR_FAILED, "minihv refused: %s", msg ? msg : "unknown error");
        json_decref(reply);
        return r;
    }
    *ret = reply;
    return 0;
}

static char *request_text(json_t *request, size_t *len)
{
    char *text = json_dumps(request, JSON_COMPACT);
    char *line;

    if (!text)
        return NULL;
    line = realloc(text, strlen(text) + 2);
    if (!line) {
        free(text);
        return NULL;
    }
    strcat(line, "\n");
    *len = strlen(line);
    return line;
}

int control_send(const char *socket_path, json_t *request, Error *e)
{
    _cleanup_free_ char *text = NULL;
    _cleanup_close_ int fd = -EBADF;
    size_t len;
    ssize_t n;

    text = request_text(request, &len);
    if (!text)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    fd = control_connect(socket_path, e);
    if (fd < 0)
        return fd;
    /* A new connection's buffer is empty: a short request fits whole or the peer is gone. */
    n = send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0)
        return error_set_errno(e, -errno, "sending to minihv failed: %m");
    if ((size_t)n != len)
        return error_setf(e, ERROR_FAILED, "minihv did not take the whole request");
    return 0;
}

bool control_error_unserved(const Error *e)
{
    return e->errnum == -ENOENT || e->errnum == -ECONNREFUSED || e->errnum == -ECONNRESET;
}

static void call_free(ControlCall *call)
{
    (void)sd_event_source_disable_unref(call->source);
    (void)sd_event_source_disable_unref(call->timer);
    safe_close(call->fd);
    safe_close(call->pass_fd);
    json_decref(call->held_reply);
    free(call->pending);
    free(call->buf);
    free(call);
}

void control_call_cancel(ControlCall *call)
{
    if (call)
        call_free(call);
}

/* Ends the call: with the reply, or with e; a console call that succeeded hands over its fd
 * with the bytes after the reply line. */
static void call_finish(ControlCall *call, json_t *reply, const Error *e, size_t line_end)
{
    call->source = sd_event_source_disable_unref(call->source);
    call->timer = sd_event_source_disable_unref(call->timer);
    if (call->console_done) {
        int fd = e ? -EBADF : TAKE_FD(call->fd);
        size_t early = e ? 0 : call->len - line_end;

        call->console_done(call, fd, early ? call->buf + line_end : "", early, e ? NULL : reply, e,
                           call->userdata);
    } else
        call->done(call, reply, e, call->userdata);
    call_free(call);
}

static void call_fail(ControlCall *call, const Error *e)
{
    call_finish(call, NULL, e, 0);
}

/* Sends what is pending with call->pass_fd as ancillary data (which then is minihv's). */
static ssize_t send_with_fd(int fd, ControlCall *call)
{
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(int))];
    } control = {};
    struct iovec iov = {call->pending, call->pending_len};
    struct msghdr mh = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = &control,
        .msg_controllen = sizeof(control),
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    ssize_t n;

    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &call->pass_fd, sizeof(int));
    n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (n > 0)
        call->pass_fd = safe_close(call->pass_fd);
    return n;
}

/* Hands the first line (len bytes) to call->event when it is an event ({"event": ...}) and
 * drops it from the buffer; returns whether it was one. */
static bool take_event(ControlCall *call, size_t len)
{
    json_t *line = json_loadb(call->buf, len, 0, NULL);
    bool is_event = json_is_object(line) && json_is_string(json_object_get(line, "event"));

    if (is_event) {
        call->event(call, line, call->userdata);
        memmove(call->buf, call->buf + len + 1, call->len - len - 1);
        call->len -= len + 1;
    }
    json_decref(line);
    return is_event;
}

/* Drops the first line (len bytes and its newline) from the buffer. */
static void drop_line(ControlCall *call, size_t len)
{
    memmove(call->buf, call->buf + len + 1, call->len - len - 1);
    call->len -= len + 1;
}

/* With the reply held: whether the first line (len bytes) is the event the call waits for. */
static bool is_until_event(ControlCall *call, size_t len)
{
    json_t *line = json_loadb(call->buf, len, 0, NULL);
    const char *name = json_string_value(json_object_get(line, "event"));
    bool is = name && streq(name, call->until_event);

    json_decref(line);
    return is;
}

static void finish_held(ControlCall *call)
{
    json_t *reply = TAKE_PTR(call->held_reply);

    call_finish(call, reply, NULL, 0);
    json_decref(reply);
}

/* Reads and writes until EAGAIN or the end of the call: its source is edge-triggered. */
static int on_call_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    ControlCall *call = userdata;
    Error e = ERROR_NULL;
    json_t *reply = NULL;

    while (call->pending_len > 0) {
        ssize_t n = call->pass_fd >= 0 ? send_with_fd(fd, call)
                                       : send(fd, call->pending, call->pending_len, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0) {
            (void)error_set_errno(&e, -errno, "sending to minihv failed: %m");
            call_fail(call, &e);
            return 0;
        }
        memmove(call->pending, call->pending + n, call->pending_len - (size_t)n);
        call->pending_len -= (size_t)n;
        if (call->pending_len == 0)
            (void)sd_event_source_set_io_events(s, EPOLLIN | EPOLLET);
    }
    for (;;) {
        char *nl = call->len ? memchr(call->buf, '\n', call->len) : NULL;
        ssize_t n;

        if (nl && call->held_reply) {
            if (is_until_event(call, (size_t)(nl - call->buf))) {
                finish_held(call);
                return 0;
            }
            drop_line(call, (size_t)(nl - call->buf));
            continue;
        }
        if (nl && call->event && take_event(call, (size_t)(nl - call->buf)))
            continue;
        if (nl) {
            if (parse_reply(call->buf, (size_t)(nl - call->buf), &reply, &e) < 0)
                call_fail(call, &e);
            else if (call->until_event) {
                call->held_reply = reply;
                drop_line(call, (size_t)(nl - call->buf));
                continue;
            } else {
                call_finish(call, reply, NULL, (size_t)(nl - call->buf) + 1);
                json_decref(reply);
            }
            return 0;
        }
        if (call->len == REPLY_MAX) {
            (void)error_setf(&e, ERROR_FAILED, "minihv's reply is too long");
            call_fail(call, &e);
            return 0;
        }
        if (call->len == call->size) {
            size_t size = call->size ? MIN(call->size * 2, (size_t)REPLY_MAX) : REPLY_FIRST;
            char *grown = realloc(call->buf, size);
            if (!grown) {
                (void)error_set_errno(&e, -ENOMEM, "Out of memory");
                call_fail(call, &e);
                return 0;
            }
            call->buf = grown;
            call->size = size;
        }
        n = recv(fd, call->buf + call->len, call->size - call->len, 0);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0 && call->held_reply) {
            finish_held(call); /* it ended after its reply: past the event too */
            return 0;
        }
        if (n <= 0) {
            (void)error_set_errno(&e, -ECONNRESET, "minihv closed the control connection");
            call_fail(call, &e);
            return 0;
        }
        call->len += (size_t)n;
    }
}

static int on_call_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    ControlCall *call = userdata;
    Error e = ERROR_NULL;

    (void)error_set_errno(&e, -ETIMEDOUT, "minihv did not answer within %d ms (is it stopped?)",
                          call->timeout_ms);
    call_fail(call, &e);
    return 0;
}

static int call_start(sd_event *event, const char *socket_path, json_t *request, int timeout_ms,
                      ControlCall *call, ControlCall **ret, Error *e)
{
    int r;

    call->fd = -EBADF;
    call->timeout_ms = timeout_ms;
    call->pending = request_text(request, &call->pending_len);
    if (!call->pending) {
        call_free(call);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    call->fd = control_connect(socket_path, e);
    if (call->fd < 0) {
        r = call->fd;
        call_free(call);
        return r;
    }
    /* Edge-triggered (on_call_io reads and writes until EAGAIN): when thousands of calls are
     * answered at once (a re-attach probes every VMM), a level-triggered socket would be reported
     * again by every epoll_wait until its turn came to be read, each turn of the loop then costing
     * as much as there are answers waiting: quadratic in the number of VMMs. */
    r = sd_event_add_io(event, &call->source, call->fd, EPOLLIN | EPOLLOUT | EPOLLET, on_call_io,
                        call);
    if (r >= 0)
        r = sd_event_add_time_relative(event, &call->timer, CLOCK_MONOTONIC,
                                       (uint64_t)timeout_ms * USEC_PER_MSEC, 0, on_call_timeout,
                                       call);
    if (r < 0) {
        call_free(call);
        return error_set_errno(e, r, "Failed to watch the control connection: %m");
    }
    if (ret)
        *ret = call;
    return 0;
}

int control_call_async(sd_event *event, const char *socket_path, json_t *request, int timeout_ms,
                       ControlDone done, void *userdata, ControlCall **ret, Error *e)
{
    ControlCall *call = calloc(1, sizeof(*call));

    if (!call)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    call->done = done;
    call->userdata = userdata;
    call->pass_fd = -EBADF;
    return call_start(event, socket_path, request, timeout_ms, call, ret, e);
}

int control_call_with_fd_async(sd_event *event, const char *socket_path, json_t *request, int fd,
                               int timeout_ms, ControlDone done, void *userdata, ControlCall **ret,
                               Error *e)
{
    ControlCall *call = calloc(1, sizeof(*call));

    if (!call) {
        safe_close(fd);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    call->done = done;
    call->userdata = userdata;
    call->pass_fd = fd;
    return call_start(event, socket_path, request, timeout_ms, call, ret, e);
}

void control_call_set_event(ControlCall *call, ControlEvent event)
{
    call->event = event;
}

void control_call_set_until_event(ControlCall *call, const char *name)
{
    call->until_event = name;
}

void control_call_set_priority(ControlCall *call, int64_t priority)
{
    (void)sd_event_source_set_priority(call->source, priority);
    (void)sd_event_source_set_priority(call->timer, priority);
}

int control_console_open_async(sd_event *event, const char *socket_path, int timeout_ms,
                               ControlConsoleDone done, void *userdata, ControlCall **ret, Error *e)
{
    ControlCall *call = calloc(1, sizeof(*call));
    json_t *request;
    int r;

    if (!call)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    call->console_done = done;
    call->userdata = userdata;
    call->pass_fd = -EBADF;
    request = json_pack("{s:s}", "cmd", "console");
    if (!request) {
        free(call);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    r = call_start(event, socket_path, request, timeout_ms, call, ret, e);
    json_decref(request);
    return r;
}
