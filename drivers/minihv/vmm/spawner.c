/* `minihv spawner`: the small process that hvd's minihv driver starts its VMMs through, and
 * that reaps them and tells hvd of each end. hvd holds a descriptor per running domain, and an
 * exec from hvd closes every one of them again in the new process; the spawner holds six. The
 * end SIGCHLD names is reaped at once, without a walk over every child. The spawner ends when
 * hvd does (its request socket closes); the VMMs it started keep running. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "minihv-process.h"
#include "spawn-util.h"
#include "spawner-protocol.h"
#include "spawner.h"

/* Where the descriptors a VMM gets wait while it is made: above every number it gets. */
#define HELD_FD_MIN (SPAWNER_TARGET_FD_MAX + 1)
/* SIGCHLD names one child, whose end is told at once; ends that came while it was pending were
 * merged into it, and a reap of every child (a walk over them all, in the kernel: about 1 ms
 * with 10 000) finds those at most this long after, so that a host ending domains one after the
 * other walks its children 10 times a second, not once per end. (A destroy is answered once the
 * guest has stopped, before its process ends: a merged end delays only what waits for the
 * process, a start of the same domain, the removal of its cgroups.) */
#define SWEEP_DELAY_MS 100

/* Ends not yet taken by hvd's socket: sent as it has room. */
static struct {
    SpawnerEnd *v;
    size_t head, n, cap;
} pending;

typedef struct Request {
    const char *log_path;
    char *argv[SPAWNER_ARGS_MAX + 1];
    SpawnFd fds[SPAWNER_FDS_MAX];
    unsigned n_fds;
} Request;

static void queue_end(pid_t pid, int status)
{
    if (pending.head > 0 && pending.head == pending.n) {
        pending.head = pending.n = 0;
    }
    if (pending.n == pending.cap) {
        size_t cap = pending.cap ? pending.cap * 2 : 64;
        SpawnerEnd *v = realloc(pending.v, cap * sizeof(*v));
        if (!v) {
            fprintf(stderr, "minihv spawner: out of memory: the end of pid %d is lost\n", pid);
            return;
        }
        pending.v = v;
        pending.cap = cap;
    }
    pending.v[pending.n++] = (SpawnerEnd){.pid = pid, .wait_status = status};
}

/* Sends what hvd's socket takes; false when hvd is gone. */
static bool flush_ends(void)
{
    while (pending.head < pending.n) {
        if (send(SPAWNER_ENDS_FD, &pending.v[pending.head], sizeof(SpawnerEnd),
                 MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
            return errno == EAGAIN || errno == EINTR || errno == ENOBUFS;
        pending.head++;
    }
    pending.head = pending.n = 0;
    return true;
}

static void reap(pid_t pid)
{
    int status;

    if (waitpid(pid, &status, WNOHANG) > 0)
        queue_end(pid, status);
}

static void sweep(void)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        queue_end(pid, status);
}

/* Runs rq's program (the spawner's few descriptors are all the new process closes at its
 * exec); its answer. */
static SpawnerAnswer start(const Request *rq)
{
    SpawnerAnswer a = {0};
    pid_t pid;

    a.error = spawn_detached(rq->argv, false, rq->log_path, rq->fds, rq->n_fds, &pid);
    if (a.error != 0)
        return a;
    a.pid = pid;
    (void)minihv_process_start_ticks(pid, &a.start_ticks);
    return a;
}

/* Checks a request and holds its descriptors above every target; 0 or an errno. */
static int parse_request(char *buf, size_t len, int *fds, unsigned n_fds, Request *rq)
{
    SpawnerRequest h;
    char *p, *end = buf + len;

    if (len < sizeof(h))
        return EBADMSG;
    memcpy(&h, buf, sizeof(h));
    if (h.magic != SPAWNER_MAGIC || h.argc == 0 || h.argc > SPAWNER_ARGS_MAX || h.n_fds != n_fds ||
        n_fds > SPAWNER_FDS_MAX)
        return EBADMSG;
    for (unsigned i = 0; i < n_fds; i++) {
        if (h.target_fd[i] < SPAWNER_TARGET_FD_MIN || h.target_fd[i] > SPAWNER_TARGET_FD_MAX)
            return EBADMSG;
        for (unsigned k = 0; k < i; k++)
            if (h.target_fd[k] == h.target_fd[i])
                return EBADMSG;
        rq->fds[i].target = h.target_fd[i];
    }
    p = buf + sizeof(h);
    for (uint32_t i = 0; i <= h.argc; i++) {
        char *nul = memchr(p, 0, (size_t)(end - p));
        if (!nul || nul == p)
            return EBADMSG;
        if (i == 0)
            rq->log_path = p;
        else
            rq->argv[i - 1] = p;
        p = nul + 1;
    }
    if (p != end)
        return EBADMSG;
    rq->argv[h.argc] = NULL;
    for (unsigned i = 0; i < n_fds; i++) {
        int held = fcntl(fds[i], F_DUPFD_CLOEXEC, HELD_FD_MIN);
        if (held < 0)
            return errno;
        (void)close(fds[i]);
        fds[i] = rq->fds[i].fd = held;
    }
    rq->n_fds = n_fds;
    return 0;
}

/* Reads one request, runs it and answers; false when hvd is gone. */
static bool handle_request(void)
{
    static char buf[SPAWNER_REQUEST_MAX];
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int) * SPAWNER_FDS_MAX)];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = &control,
                         .msg_controllen = sizeof(control)};
    int fds[SPAWNER_FDS_MAX];
    unsigned n_fds = 0;
    SpawnerAnswer a = {0};
    Request rq = {0};
    ssize_t n;

    n = recvmsg(SPAWNER_REQUEST_FD, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    if (n == 0)
        return false;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                if (n_fds < SPAWNER_FDS_MAX)
                    fds[n_fds++] = fd;
                else
                    (void)close(fd);
            }
        }
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
        a.error = EMSGSIZE;
    else
        a.error = parse_request(buf, (size_t)n, fds, n_fds, &rq);
    if (a.error == 0)
        a = start(&rq);
    for (unsigned i = 0; i < n_fds; i++)
        (void)close(fds[i]);
    return send(SPAWNER_REQUEST_FD, &a, sizeof(a), MSG_NOSIGNAL) == (ssize_t)sizeof(a);
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The ends the signal descriptor tells of: the one each SIGCHLD names now, any merged into it
 * by the sweep due at *sweep_at. */
static void take_signals(int sfd, uint64_t *sweep_at)
{
    struct signalfd_siginfo si[32];
    ssize_t n;

    while ((n = read(sfd, si, sizeof(si))) > 0)
        for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
            reap((pid_t)si[i].ssi_pid);
            if (*sweep_at == 0)
                *sweep_at = now_ms() + SWEEP_DELAY_MS;
        }
}

int spawner_main(int argc, char **argv)
{
    uint64_t sweep_at = 0; /* when the next sweep is due (CLOCK_MONOTONIC ms), 0: none */
    sigset_t mask;
    int sfd;

    if (argc != 1) {
        fprintf(stderr,
                "minihv spawner: takes no arguments (hvd starts it, with its sockets "
                "as descriptors %d and %d)\n",
                SPAWNER_REQUEST_FD, SPAWNER_ENDS_FD);
        return 2;
    }
    if (fcntl(SPAWNER_REQUEST_FD, F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(SPAWNER_ENDS_FD, F_SETFD, FD_CLOEXEC) < 0) {
        fprintf(stderr, "minihv spawner: descriptors %d and %d must be hvd's sockets: %s\n",
                SPAWNER_REQUEST_FD, SPAWNER_ENDS_FD, strerror(errno));
        return 2;
    }
    (void)sigemptyset(&mask);
    (void)sigaddset(&mask, SIGCHLD);
    (void)sigprocmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        fprintf(stderr, "minihv spawner: signalfd: %s\n", strerror(errno));
        return 1;
    }
    for (;;) {
        uint64_t now = now_ms();
        int timeout = sweep_at == 0 ? -1 : sweep_at <= now ? 0 : (int)(sweep_at - now);
        struct pollfd p[3] = {
            {.fd = SPAWNER_REQUEST_FD, .events = POLLIN},
            {.fd = sfd, .events = POLLIN},
            {.fd = SPAWNER_ENDS_FD, .events = pending.n > pending.head ? POLLOUT : 0},
        };
        int r = poll(p, 3, timeout);

        if (r < 0 && errno != EINTR)
            return 1;
        if (p[1].revents & POLLIN)
            take_signals(sfd, &sweep_at);
        if (sweep_at != 0 && now_ms() >= sweep_at) {
            sweep_at = 0;
            sweep();
        }
        if (!flush_ends() || (p[2].revents & (POLLERR | POLLHUP)))
            return 0; /* hvd is gone */
        if ((p[0].revents & POLLIN) && !handle_request())
            return 0;
        if ((p[0].revents & (POLLERR | POLLHUP)) && !(p[0].revents & POLLIN))
            return 0;
    }
}
