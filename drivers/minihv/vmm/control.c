/* Control socket server: line-delimited JSON requests, replies and the raw console stream (the
 * commands themselves are in control-commands.c). */
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "console.h"
#include "control-internal.h"
#include "macro.h"
#include "migrate.h"
#include "watchdog.h"

static void client_close(ControlClient *c);

static void client_update_watch(ControlClient *c)
{
    bool want = c->out_len > 0;

    if (c->dead || want == c->watching_out)
        return;
    c->watching_out = want;
    (void)loop_modify(c->ctl->loop, &c->src, EPOLLIN | (want ? EPOLLOUT : 0));
}

/* Sends what send() would, with c->send_fd as SCM_RIGHTS (then forgotten) when there is one. */
static ssize_t client_send_some(ControlClient *c)
{
    char control[CMSG_SPACE(sizeof(int))] = {};
    struct iovec iov = {.iov_base = c->out, .iov_len = c->out_len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    struct cmsghdr *cm;
    ssize_t n;

    if (c->send_fd < 0)
        return send(c->src.fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    mh.msg_control = control;
    mh.msg_controllen = sizeof(control);
    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &c->send_fd, sizeof(int));
    n = sendmsg(c->src.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0)
        c->send_fd = -EBADF;
    return n;
}

static void client_flush(ControlClient *c)
{
    while (c->out_len > 0) {
        ssize_t n = client_send_some(c);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                client_close(c);
            break;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    client_update_watch(c);
}

/* Queues bytes for the client. A command client that lets 1 MiB pile up is cut off; a slow
 * console client loses output instead. */
static void client_send(ControlClient *c, const void *p, size_t n)
{
    if (c->dead)
        return;
    if (c->out_len + n > CONTROL_OUT_MAX) {
        if (!c->console)
            client_close(c);
        return;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = MAX(c->out_cap * 2, c->out_len + n);
        uint8_t *q = realloc(c->out, cap);
        if (!q) {
            client_close(c);
            return;
        }
        c->out = q;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    client_flush(c);
}

void client_send_json(ControlClient *c, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

    if (!s) {
        static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}\n";
        client_send(c, oom, sizeof(oom) - 1);
        return;
    }
    client_send(c, s, strlen(s));
    client_send(c, "\n", 1);
    free(s);
}

void client_reply_error(ControlClient *c, json_t *id, bool malformed, const char *msg)
{
    json_t *o = json_pack("{sb ss}", "ok", 0, "error", msg);

    if (malformed)
        stats_add(&c->ctl->vm->stats->bad_control_requests, 1);
    if (o && id)
        (void)json_object_set(o, "id", id);
    client_send_json(c, o);
    json_decref(o);
}

static void client_attach_console(ControlClient *c)
{
    c->console = true;
    if (c->ctl->n_console++ == 0)
        console_set_clients_attached(c->ctl->vm, true);
}

static void client_handle_line(ControlClient *c, const char *line, size_t len)
{
    const ControlCommand *cmd = NULL;
    const char *error = NULL, *name, *key;
    bool malformed = false;
    json_error_t jerr;
    json_t *req, *cmdv, *id, *value, *reply;
    char msg[256];

    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (len == 0)
        return; /* blank lines are ignored */
    req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req) {
        (void)snprintf(msg, sizeof(msg), "invalid JSON at column %d: %s", jerr.column, jerr.text);
        client_reply_error(c, NULL, true, msg);
        return;
    }
    if (!json_is_object(req)) {
        client_reply_error(c, NULL, true, "a request must be a JSON object");
        json_decref(req);
        return;
    }
    id = json_object_get(req, "id");
    cmdv = json_object_get(req, "cmd");
    if (!json_is_string(cmdv)) {
        client_reply_error(c, id, true, "a request needs a string field \"cmd\"");
        json_decref(req);
        return;
    }
    name = json_string_value(cmdv);
    cmd = control_command_find(name);
    if (!cmd) {
        (void)snprintf(msg, sizeof(msg),
                       "unknown command \"%.64s\" (known: pause, resume, shutdown, destroy, "
                       "reboot, stats, stats-page, info, console, save, dirty, migrate-send, "
                       "migrate-cancel, watchdog)",
                       name);
        client_reply_error(c, id, true, msg);
        json_decref(req);
        return;
    }
    json_object_foreach (req, key, value) {
        if (streq(key, "cmd") || streq(key, "id") || control_command_accepts(cmd, key))
            continue;
        (void)snprintf(msg, sizeof(msg), "unknown field \"%.64s\" for command \"%s\"", key,
                       cmd->name);
        client_reply_error(c, id, true, msg);
        json_decref(req);
        return;
    }
    c->reply_deferred = false;
    reply = cmd->run(c, req, &error, &malformed);
    if (!reply && c->reply_deferred)
        ; /* answered when the command completes */
    else if (!reply)
        client_reply_error(c, id, malformed, error ? error : "failed");
    else {
        if (id)
            (void)json_object_set(reply, "id", id);
        client_send_json(c, reply);
        json_decref(reply);
        if (control_command_attaches_console(cmd) && !c->dead)
            client_attach_console(c);
    }
    json_decref(req);
}

/* A passed descriptor belongs to the first request line that ends after it arrived. */
static void client_handle_line_with_fd(ControlClient *c, const char *line, size_t len)
{
    client_handle_line(c, line, len);
    c->pending_fd = safe_close(c->pending_fd);
}

/* Splits input into lines (command mode) or passes it to the guest (console mode). */
static void client_feed(ControlClient *c, const char *p, size_t n)
{
    while (n > 0 && !c->dead) {
        const char *nl;
        size_t take;

        if (c->console) {
            (void)console_input_push(c->ctl->vm, p, n);
            return;
        }
        nl = memchr(p, '\n', n);
        take = nl ? (size_t)(nl - p) : n;
        if (c->discarding) {
            if (nl)
                c->discarding = false;
        } else if (c->line_len + take > CONTROL_LINE_MAX) {
            c->line_len = 0;
            c->discarding = !nl;
            client_reply_error(c, NULL, true, "request line longer than 4096 bytes");
        } else {
            memcpy(c->line + c->line_len, p, take);
            c->line_len += take;
            if (nl) {
                size_t len = c->line_len;
                c->line_len = 0;
                c->line[len] = '\0';
                client_handle_line_with_fd(c, c->line, len);
            }
        }
        if (!nl)
            return;
        p += take + 1;
        n -= take + 1;
    }
}

/* Keeps the first descriptor a message carried (closing any earlier one not yet used) and
 * closes the rest. */
static void client_take_fds(ControlClient *c, struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        size_t n;

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (i == 0) {
                safe_close(c->pending_fd);
                c->pending_fd = fd;
            } else
                (void)close(fd);
        }
    }
}

static void client_on_event(LoopSource *src, uint32_t events)
{
    ControlClient *c = src->data;
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(4 * sizeof(int))];
    } control;
    char buf[4096];
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr mh = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = &control,
        .msg_controllen = sizeof(control),
    };
    ssize_t n;

    if (c->dead)
        return;
    if (events & EPOLLOUT)
        client_flush(c);
    if (c->dead || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    n = recvmsg(src->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    client_take_fds(c, &mh);
    if (n <= 0) {
        client_close(c);
        return;
    }
    client_feed(c, buf, (size_t)n);
}

static void client_close(ControlClient *c)
{
    if (c->dead)
        return;
    c->dead = true;
    loop_remove(c->ctl->loop, &c->src);
    if (c->ctl->migrate_client == c)
        c->ctl->migrate_client = NULL; /* the migration goes on; its end is an event */
    if (c->console && --c->ctl->n_console == 0)
        console_set_clients_attached(c->ctl->vm, false);
}

static ControlClient *client_free(ControlClient *c)
{
    if (!c)
        return NULL;
    safe_close(c->src.fd);
    safe_close(c->pending_fd);
    free(c->out);
    return mfree(c);
}

void control_collect(Control *ctl)
{
    for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
        if (ctl->clients[i] && ctl->clients[i]->dead)
            ctl->clients[i] = client_free(ctl->clients[i]);
}

static void control_on_accept(LoopSource *src, uint32_t events)
{
    static const char busy[] = "{\"ok\":false,\"error\":\"too many control clients\"}\n";
    Control *ctl = src->data;
    ControlClient *c;
    unsigned slot;
    int fd;

    fd = accept4(src->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    for (slot = 0; slot < CONTROL_MAX_CLIENTS && ctl->clients[slot]; slot++)
        ;
    if (slot == CONTROL_MAX_CLIENTS || !(c = calloc(1, sizeof(*c)))) {
        (void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)close(fd);
        return;
    }
    c->ctl = ctl;
    c->pending_fd = -EBADF;
    c->send_fd = -EBADF;
    c->src = (LoopSource){fd, client_on_event, c};
    if (loop_add(ctl->loop, &c->src, EPOLLIN) < 0) {
        client_free(c);
        return;
    }
    ctl->clients[slot] = c;
}

void control_pump_console(Control *ctl)
{
    uint8_t buf[16384];
    size_t n;

    while ((n = console_take_client_output(ctl->vm, buf, sizeof(buf))) > 0)
        for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
            ControlClient *c = ctl->clients[i];
            if (c && c->console && !c->dead)
                client_send(c, buf, n);
        }
}

/* Refuses to take over a socket that another process still serves. */
static int control_clear_stale(const char *path, const struct sockaddr_un *sa, Error *e)
{
    struct stat st;
    int fd, r;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : error_set_errno(e, errno, "cannot inspect %s: %m", path);
    if (!S_ISSOCK(st.st_mode))
        return error_set_errno(e, EEXIST, "control path %s exists and is not a socket", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set_errno(e, errno, "cannot create a socket: %m");
    r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    (void)close(fd);
    if (r == 0)
        return error_set_errno(e, EADDRINUSE, "control socket %s is in use by another process",
                               path);
    if (unlink(path) < 0 && errno != ENOENT)
        return error_set_errno(e, errno, "cannot remove stale control socket %s: %m", path);
    return 0;
}

int control_new(Vm *vm, Loop *loop, const char *path, Control **ret, Error *e)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    Control *ctl;
    mode_t old;
    int fd, r;

    if (strlen(path) >= sizeof(sa.sun_path))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "control socket path %s is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    r = control_clear_stale(path, &sa, e);
    if (r < 0)
        return r;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return error_set_errno(e, errno, "cannot create a socket: %m");
    old = umask(0077); /* the socket controls the domain: owner only */
    r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    (void)umask(old);
    if (r < 0 || listen(fd, 16) < 0) {
        r = error_set_errno(e, errno, "cannot listen on %s: %m", path);
        (void)close(fd);
        return r;
    }
    ctl = calloc(1, sizeof(*ctl));
    if (!ctl) {
        (void)close(fd);
        return error_set_errno(e, ENOMEM, "out of memory");
    }
    ctl->vm = vm;
    ctl->loop = loop;
    ctl->listen_src = (LoopSource){fd, control_on_accept, ctl};
    r = loop_add(loop, &ctl->listen_src, EPOLLIN);
    if (r < 0) {
        control_free(ctl);
        return error_set_errno(e, r, "cannot watch the control socket: %m");
    }
    loop_set_control(loop, ctl);
    *ret = ctl;
    return 0;
}

void control_finish(Control *ctl, int status, const char *reason)
{
    uint64_t deadline = now_mono_ns() + 200000000ull;
    json_t *ev;

    if (!ctl)
        return;
    migrate_send_cancel(ctl->migration, "the domain stopped");
    control_pump_console(ctl);
    ev = json_pack("{ss si ss ss}", "event", "stopped", "status", status, "status_name",
                   minihv_exit_status_to_string(status) ?: "unknown", "reason", reason);
    for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        ControlClient *c = ctl->clients[i];
        if (c && !c->dead && !c->console && ev)
            client_send_json(c, ev);
    }
    json_decref(ev);
    /* Best effort: give slow readers a moment to take their last bytes. */
    for (;;) {
        struct pollfd pfd[CONTROL_MAX_CLIENTS];
        ControlClient *who[CONTROL_MAX_CLIENTS];
        nfds_t n = 0;
        uint64_t now = now_mono_ns();

        for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
            ControlClient *c = ctl->clients[i];
            if (c && !c->dead && c->out_len > 0) {
                pfd[n] = (struct pollfd){.fd = c->src.fd, .events = POLLOUT};
                who[n++] = c;
            }
        }
        if (n == 0 || now >= deadline)
            break;
        if (poll(pfd, n, (int)((deadline - now) / 1000000 + 1)) <= 0)
            break;
        for (nfds_t i = 0; i < n; i++)
            if (pfd[i].revents)
                client_flush(who[i]);
    }
}

Control *control_free(Control *ctl)
{
    if (!ctl)
        return NULL;
    ctl->migration = migrate_send_free(ctl->migration);
    json_decref(ctl->migrate_id);
    ctl->watchdog = watchdog_free(ctl->watchdog);
    for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
        if (ctl->clients[i]) {
            client_close(ctl->clients[i]);
            ctl->clients[i] = client_free(ctl->clients[i]);
        }
    loop_remove(ctl->loop, &ctl->listen_src);
    safe_close(ctl->listen_src.fd);
    loop_set_control(ctl->loop, NULL);
    return mfree(ctl);
}
