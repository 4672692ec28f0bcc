/* Control-socket client for minihv: short synchronous exchanges and asynchronous calls. */
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "macro.h"
#include "minihv-control.h"
#include "time-util.h"

#define REPLY_MAX 65536

struct ControlCall {
    int fd;
    sd_event_source *source;
    char *pending; /* request text not yet sent */
    size_t pending_len;
    char buf[REPLY_MAX];
    size_t len;
    ControlDone done;
    void *userdata;
};

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

/* Waits (poll) until fd is ready for events or the deadline passes. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    uint64_t now = now_usec(CLOCK_MONOTONIC);
    struct pollfd p = {.fd = fd, .events = events};
    int r;

    if (now >= deadline)
        return -ETIMEDOUT;
    r = poll(&p, 1, (int)((deadline - now + 999) / 1000));
    if (r < 0)
        return -errno;
    return r == 0 ? -ETIMEDOUT : 0;
}

static int send_all(int fd, const char *text, size_t len, uint64_t deadline, Error *e)
{
    size_t sent = 0;
    int r;

    while (sent < len) {
        ssize_t n = send(fd, text + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            r = wait_fd(fd, POLLOUT, deadline);
            if (r < 0)
                return error_set_errno(e, r, "minihv did not take the request: %m");
            continue;
        }
        if (n < 0)
            return error_set_errno(e, -errno, "sending to minihv failed: %m");
        sent += (size_t)n;
    }
    return 0;
}

/* Reads up to the first newline into buf; with one_byte, never past it (what follows belongs
 * to someone else, the console stream). *ret_len excludes the newline. */
static int read_line(int fd, char *buf, size_t size, bool one_byte, uint64_t deadline,
                     size_t *ret_len, Error *e)
{
    size_t got = 0;
    int r;

    for (;;) {
        char *nl = memchr(buf, '\n', got);
        ssize_t n;

        if (nl) {
            *ret_len = (size_t)(nl - buf);
            return 0;
        }
        if (got == size)
            return error_setf(e, ERROR_FAILED, "minihv's reply is too long");
        n = recv(fd, buf + got, one_byte ? 1 : size - got, 0);
        if (n < 0 && errno == EAGAIN) {
            r = wait_fd(fd, POLLIN, deadline);
            if (r < 0)
                return error_set_errno(e, r, "minihv did not answer in time: %m");
            continue;
        }
        if (n <= 0)
            return error_setf(e, ERROR_FAILED, "minihv closed the control connection");
        got += (size_t)n;
    }
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

int control_call_sync(const char *socket_path, json_t *request, int timeout_ms, json_t **ret,
                      Error *e)
{
    _cleanup_free_ char *text = NULL, *buf = NULL;
    _cleanup_close_ int fd = -EBADF;
    uint64_t deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * USEC_PER_MSEC;
    size_t len, reply_len;
    int r;

    fd = control_connect(socket_path, e);
    if (fd < 0)
        return fd;
    text = request_text(request, &len);
    buf = malloc(REPLY_MAX);
    if (!text || !buf)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    r = send_all(fd, text, len, deadline, e);
    if (r >= 0)
        r = read_line(fd, buf, REPLY_MAX, false, deadline, &reply_len, e);
    if (r < 0)
        return r;
    return parse_reply(buf, reply_len, ret, e);
}

int control_console_open(const char *socket_path, int timeout_ms, int *ret_fd, Error *e)
{
    static const char request[] = "{\"cmd\":\"console\"}\n";
    _cleanup_close_ int fd = -EBADF;
    uint64_t deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * USEC_PER_MSEC;
    json_t *reply = NULL;
    char buf[256];
    size_t len;
    int r;

    fd = control_connect(socket_path, e);
    if (fd < 0)
        return fd;
    r = send_all(fd, request, sizeof(request) - 1, deadline, e);
    if (r >= 0)
        r = read_line(fd, buf, sizeof(buf), true, deadline, &len, e);
    if (r >= 0)
        r = parse_reply(buf, len, &reply, e);
    if (r < 0)
        return r;
    json_decref(reply);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static void call_free(ControlCall *call)
{
    (void)sd_event_source_disable_unref(call->source);
    safe_close(call->fd);
    free(call->pending);
    free(call);
}

void control_call_cancel(ControlCall *call)
{
    if (call)
        call_free(call);
}

static void call_finish(ControlCall *call, json_t *reply, const Error *e)
{
    ControlDone done = call->done;
    void *userdata = call->userdata;

    call->source = sd_event_source_disable_unref(call->source);
    done(call, reply, e, userdata);
    call_free(call);
}

static int on_call_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    ControlCall *call = userdata;
    Error e = ERROR_NULL;
    json_t *reply = NULL;

    while (call->pending_len > 0) {
        ssize_t n = send(fd, call->pending, call->pending_len, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0) {
            (void)error_set_errno(&e, -errno, "sending to minihv failed: %m");
            call_finish(call, NULL, &e);
            return 0;
        }
        memmove(call->pending, call->pending + n, call->pending_len - (size_t)n);
        call->pending_len -= (size_t)n;
        if (call->pending_len == 0)
            (void)sd_event_source_set_io_events(s, EPOLLIN);
    }
    for (;;) {
        char *nl = memchr(call->buf, '\n', call->len);
        ssize_t n;

        if (nl) {
            if (parse_reply(call->buf, (size_t)(nl - call->buf), &reply, &e) < 0)
                call_finish(call, NULL, &e);
            else {
                call_finish(call, reply, NULL);
                json_decref(reply);
            }
            return 0;
        }
        if (call->len == sizeof(call->buf)) {
            (void)error_setf(&e, ERROR_FAILED, "minihv's reply is too long");
            call_finish(call, NULL, &e);
            return 0;
        }
        n = recv(fd, call->buf + call->len, sizeof(call->buf) - call->len, 0);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0) {
            (void)error_setf(&e, ERROR_FAILED, "minihv closed the control connection");
            call_finish(call, NULL, &e);
            return 0;
        }
        call->len += (size_t)n;
    }
}

int control_call_async(sd_event *event, const char *socket_path, json_t *request, ControlDone done,
                       void *userdata, ControlCall **ret, Error *e)
{
    ControlCall *call;
    int r;

    call = calloc(1, sizeof(*call));
    if (!call)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    call->done = done;
    call->userdata = userdata;
    call->pending = request_text(request, &call->pending_len);
    call->fd = call->pending ? control_connect(socket_path, e) : -ENOMEM;
    if (call->fd < 0) {
        r = call->fd == -ENOMEM ? error_set_errno(e, -ENOMEM, "Out of memory") : call->fd;
        call_free(call);
        return r;
    }
    r = sd_event_add_io(event, &call->source, call->fd, EPOLLIN | EPOLLOUT, on_call_io, call);
    if (r < 0) {
        call_free(call);
        return error_set_errno(e, r, "Failed to watch the control connection: %m");
    }
    if (ret)
        *ret = call;
    return 0;
}
