/* hvd's side of `minihv spawner`: its process, the requests that start VMMs through it, and the
 * ends it tells of. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "minihv-spawner.h"
#include "spawner-protocol.h"
#include "time-util.h"

/* How long a request may go unanswered: a spawner that takes longer is killed. */
#define ANSWER_TIMEOUT_SEC 5
/* A spawner that ended within this of its start is started again only after as long; one that
 * cannot start is tried again after twice as long each time, up to RESTART_PAUSE_MAX_USEC. */
#define RESTART_PAUSE_USEC     USEC_PER_SEC
#define RESTART_PAUSE_MAX_USEC (60 * USEC_PER_SEC)

struct MinihvSpawner {
    char *binary;
    sd_event *event;
    MinihvSpawnerEnded ended;
    MinihvSpawnerLost lost;
    void *userdata;
    pthread_mutex_t lock; /* one request and its answer at a time, from any thread */
    int request_fd;       /* -EBADF while the spawner is down */
    int ends_fd;
    sd_event_source *ends_source;
    sd_event_source *restart_timer;
    uint64_t restart_pause_usec; /* before the next try of a spawner that cannot start */
    int pid;                     /* the spawner's process, hvd's child; 0 when none runs */
    uint64_t started_usec;
    char down_reason[256];
};

static void set_down(MinihvSpawner *s, const char *fmt, ...) _printf_(2, 3);
static void set_down(MinihvSpawner *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(s->down_reason, sizeof(s->down_reason), fmt, ap);
    va_end(ap);
}

/* Takes every end the spawner has sent; false when its socket is closed. */
static bool read_ends(MinihvSpawner *s)
{
    SpawnerEnd end;
    ssize_t n;

    while ((n = recv(s->ends_fd, &end, sizeof(end), MSG_DONTWAIT)) == sizeof(end))
        if (end.pid > 0)
            s->ended(s->userdata, end.pid, end.wait_status);
    if (n > 0)
        log_warning("minihv spawner: a message of %zd bytes, not an end: ignored", n);
    return n != 0 && (n > 0 || errno == EAGAIN || errno == EINTR);
}

static int on_ends(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
    MinihvSpawner *s = userdata;

    /* closed: the process is ending, and its reap (minihv_spawner_child_exited) follows */
    if (!read_ends(s))
        (void)sd_event_source_set_enabled(source, SD_EVENT_OFF);
    return 0;
}

static void close_sockets(MinihvSpawner *s)
{
    s->ends_source = sd_event_source_disable_unref(s->ends_source);
    s->ends_fd = safe_close(s->ends_fd);
    (void)pthread_mutex_lock(&s->lock);
    s->request_fd = safe_close(s->request_fd);
    (void)pthread_mutex_unlock(&s->lock);
}

/* Starts the spawner's process with its two sockets as descriptors 3 and 4, in a session of
 * its own (a terminal's Ctrl-C reaches hvd, not the VMMs' parent). */
static int spawner_start(MinihvSpawner *s)
{
    char *argv[] = {s->binary, (char *)"spawner", NULL};
    int request[2] = {-EBADF, -EBADF}, ends[2] = {-EBADF, -EBADF}, r;
    struct timeval timeout = {.tv_sec = ANSWER_TIMEOUT_SEC};
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, request) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) < 0) {
        r = -errno;
        goto fail;
    }
    /* its output stays hvd's */
    r = -spawn_detached(argv, false, NULL,
                        (SpawnFd[]){{request[1], SPAWNER_REQUEST_FD}, {ends[1], SPAWNER_ENDS_FD}},
                        2, &pid);
    if (r < 0)
        goto fail;
    request[1] = safe_close(request[1]);
    ends[1] = safe_close(ends[1]);
    (void)setsockopt(request[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    r = sd_event_add_io(s->event, &s->ends_source, ends[0], EPOLLIN, on_ends, s);
    if (r >= 0)
        r = sd_event_source_set_priority(s->ends_source, SD_EVENT_PRIORITY_IMPORTANT);
    if (r < 0) {
        s->ends_source = sd_event_source_disable_unref(s->ends_source);
        (void)kill(pid, SIGKILL); /* hvd's child, not reaped yet: the pid is still its */
        goto fail;
    }
    s->pid = pid;
    s->started_usec = now_usec(CLOCK_MONOTONIC);
    s->ends_fd = ends[0];
    (void)pthread_mutex_lock(&s->lock);
    s->request_fd = request[0];
    s->down_reason[0] = 0;
    (void)pthread_mutex_unlock(&s->lock);
    s->restart_pause_usec = RESTART_PAUSE_USEC;
    return 0;
fail:
    for (size_t i = 0; i < 2; i++) {
        (void)safe_close(request[i]);
        (void)safe_close(ends[i]);
    }
    {
        char was[sizeof(s->down_reason)];
        memcpy(was, s->down_reason, sizeof(was));
        set_down(s, "the minihv spawner (%s spawner) cannot start: %s", s->binary, strerror(-r));
        if (!streq(was, s->down_reason)) /* said once, not at each try */
            log_warning("%s", s->down_reason);
    }
    return r;
}

static int on_restart_timer(sd_event_source *source, uint64_t usec, void *userdata);

/* Tries again after the current pause, which doubles for the next time. */
static void restart_later(MinihvSpawner *s)
{
    if (s->restart_timer)
        return;
    (void)sd_event_add_time_relative(s->event, &s->restart_timer, CLOCK_MONOTONIC,
                                     s->restart_pause_usec, 0, on_restart_timer, s);
    s->restart_pause_usec = MIN(s->restart_pause_usec * 2, RESTART_PAUSE_MAX_USEC);
}

static int on_restart_timer(sd_event_source *source, uint64_t usec, void *userdata)
{
    MinihvSpawner *s = userdata;

    s->restart_timer = sd_event_source_disable_unref(s->restart_timer);
    if (spawner_start(s) < 0)
        restart_later(s);
    return 0;
}

int minihv_spawner_new(const char *binary, sd_event *event, MinihvSpawnerEnded ended,
                       MinihvSpawnerLost lost, void *userdata, MinihvSpawner **ret)
{
    MinihvSpawner *s = calloc(1, sizeof(*s));

    if (!s || !(s->binary = strdup(binary))) {
        free(s);
        return -ENOMEM;
    }
    s->event = sd_event_ref(event);
    s->ended = ended;
    s->lost = lost;
    s->userdata = userdata;
    s->request_fd = s->ends_fd = -EBADF;
    s->restart_pause_usec = RESTART_PAUSE_USEC;
    (void)pthread_mutex_init(&s->lock, NULL);
    if (spawner_start(s) < 0)
        restart_later(s);
    *ret = s;
    return 0;
}

void minihv_spawner_free(MinihvSpawner *s)
{
    if (!s)
        return;
    close_sockets(s);
    s->restart_timer = sd_event_source_disable_unref(s->restart_timer);
    sd_event_unref(s->event);
    (void)pthread_mutex_destroy(&s->lock);
    free(s->binary);
    free(s);
}

/* The request for argv: its header and strings in buf; its length, or -E2BIG. */
static ssize_t build_request(char *buf, char *const argv[], const char *log_path,
                             const SpawnFd *fds, size_t n_fds)
{
    SpawnerRequest h = {.magic = SPAWNER_MAGIC, .n_fds = (uint32_t)n_fds};
    size_t len = sizeof(h), k;

    for (size_t i = 0; i < n_fds; i++)
        h.target_fd[i] = fds[i].target;
    for (k = 0; argv[k]; k++)
        ;
    if (k == 0 || k > SPAWNER_ARGS_MAX || n_fds > SPAWNER_FDS_MAX)
        return -E2BIG;
    h.argc = (uint32_t)k;
    for (ssize_t i = -1; i < (ssize_t)k; i++) {
        const char *str = i < 0 ? log_path : argv[i];
        size_t n = strlen(str) + 1;
        if (n > SPAWNER_REQUEST_MAX - len)
            return -E2BIG;
        memcpy(buf + len, str, n);
        len += n;
    }
    memcpy(buf, &h, sizeof(h));
    return (ssize_t)len;
}

/* One request and its answer on the locked socket; a failure takes the spawner down. */
static int ask(MinihvSpawner *s, char *buf, size_t len, const SpawnFd *fds, size_t n_fds,
               SpawnerAnswer *ret)
{
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int) * SPAWNER_FDS_MAX)];
    } control = {0};
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;

    if (n_fds > 0) {
        msg.msg_control = &control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
        for (size_t i = 0; i < n_fds; i++)
            memcpy(CMSG_DATA(c) + i * sizeof(int), &fds[i].fd, sizeof(int));
    }
    do
        n = sendmsg(s->request_fd, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)len) {
        do
            n = recv(s->request_fd, ret, sizeof(*ret), 0);
        while (n < 0 && errno == EINTR);
        if (n == sizeof(*ret))
            return 0;
    } else if (n < 0 && (errno == EMSGSIZE || errno == ENOMEM || errno == ENOBUFS))
        return -errno; /* this request's own trouble: the spawner is fine */
    int r = n < 0 ? (errno == EAGAIN ? -ETIMEDOUT : -errno) : -ECONNRESET;
    /* Its reap tells the loop (minihv_spawner_child_exited), which starts another. Only a
     * spawner that is still there is killed: one that is gone may be reaped already, and its
     * pid someone else's. */
    if (r == -ETIMEDOUT) {
        set_down(s, "the minihv spawner did not answer within %d s: killed", ANSWER_TIMEOUT_SEC);
        (void)kill(s->pid, SIGKILL);
    } else
        set_down(s, "the minihv spawner is gone: %s", strerror(-r));
    s->request_fd = safe_close(s->request_fd);
    return r == -ETIMEDOUT ? r : -ENOTCONN;
}

int minihv_spawner_run(MinihvSpawner *s, char *const argv[], const char *log_path,
                       const SpawnFd *fds, size_t n_fds, int *ret_pid, uint64_t *ret_start_ticks)
{
    _cleanup_free_ char *buf = malloc(SPAWNER_REQUEST_MAX);
    SpawnerAnswer a = {0};
    ssize_t len;
    int r;

    if (!buf)
        return -ENOMEM;
    len = build_request(buf, argv, log_path, fds, n_fds);
    if (len < 0)
        return (int)len;
    (void)pthread_mutex_lock(&s->lock);
    r = s->request_fd < 0 ? -ENOTCONN : ask(s, buf, (size_t)len, fds, n_fds, &a);
    (void)pthread_mutex_unlock(&s->lock);
    if (r < 0)
        return r;
    if (a.error != 0 || a.pid <= 0)
        return -(a.error > 0 ? a.error : EIO);
    *ret_pid = a.pid;
    *ret_start_ticks = a.start_ticks;
    return 0;
}

bool minihv_spawner_child_exited(MinihvSpawner *s, int pid)
{
    uint64_t lasted;

    if (!s || pid <= 0 || pid != s->pid)
        return false;
    if (s->ends_fd >= 0)
        (void)read_ends(s); /* what it told before it ended comes first */
    close_sockets(s);
    s->pid = 0;
    (void)pthread_mutex_lock(&s->lock);
    if (!s->down_reason[0])
        set_down(s, "the minihv spawner ended; another is starting");
    (void)pthread_mutex_unlock(&s->lock);
    log_warning("minihv: the spawner (pid %d) ended; its VMMs keep running", pid);
    s->lost(s->userdata);
    lasted = now_usec(CLOCK_MONOTONIC) - s->started_usec;
    if (lasted >= RESTART_PAUSE_USEC && spawner_start(s) >= 0)
        return true;
    restart_later(s);
    return true;
}

const char *minihv_spawner_down_reason(MinihvSpawner *s)
{
    return !s ? "no minihv spawner" : s->request_fd >= 0 ? NULL : s->down_reason;
}
