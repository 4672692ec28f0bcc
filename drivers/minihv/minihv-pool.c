/* The warm pool of `minihv pool` processes: spawned by a thread of its own, handed guests on
 * the event loop, replaced as they are taken or end. */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "minihv-internal.h"
#include "minihv-pool.h"
#include "minihv-process.h"
#include "time-util.h"

/* The descriptor a pooled process gets its socket on, and the room its command line keeps for
 * the domain's arguments (so that it is found by its --control socket, as any VMM is). */
#define POOL_SOCKET_FD "3"
#define POOL_ARGV_ROOM 4096

typedef struct PoolVmm PoolVmm;

struct PoolVmm {
    MinihvPool *pool;
    int pid; /* the spawner reaps it and tells the pool (minihv_pool_child_exited) */
    uint64_t start_ticks;
    int sock; /* hvd's end of the socket pair; the process ends when it closes */
    sd_event_source *sock_source;
    bool waiting; /* it said so: its VM is made */
    PoolVmm *next;
};

/* What the spawning thread answers for each request. */
typedef struct PoolSpawned {
    int pid; /* 0 when the spawn failed */
    uint64_t start_ticks;
    int sock;
    int error;
} PoolSpawned;

struct MinihvPool {
    MinihvDriver *md;
    unsigned size;
    DomainMode mode;
    uint64_t memory_mib;
    unsigned vcpus;
    PoolVmm *vmms;     /* spawned, waiting or not yet */
    unsigned n_vmms;   /* in vmms */
    unsigned asked;    /* spawn requests the thread has not answered yet */
    char *argv[13];    /* of `minihv pool`, for the thread (read-only while it runs) */
    char *log_path;    /* where the pooled processes write before a domain is theirs */
    int request_fd[2]; /* one byte per process to spawn; closed: the thread ends */
    int answer_fd[2];  /* PoolSpawned records */
    sd_event_source *answer_source;
    sd_event_source *refill_timer; /* a refill put off after a hand, NULL when none is due */
    pthread_t thread;
    bool thread_started;
    uint64_t taken, missed, spawn_failures;
    int last_spawn_error; /* errno of the last failed spawn, 0 when none failed */
};

/* One pooled process, started from the pool's thread through the spawner: a socket pair whose
 * other end is the process's fd 3, its output to the pool's log. */
static PoolSpawned spawn_one(MinihvPool *pool)
{
    PoolSpawned spawned = {0};
    int pair[2], r;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return (PoolSpawned){.error = errno};
    r = minihv_spawner_run(pool->md->spawner, pool->argv, pool->log_path,
                           &(SpawnFd){pair[1], atoi(POOL_SOCKET_FD)}, 1, &spawned.pid,
                           &spawned.start_ticks);
    (void)close(pair[1]);
    if (r < 0) {
        (void)close(pair[0]);
        return (PoolSpawned){.error = -r};
    }
    spawned.sock = pair[0];
    return spawned;
}

static void *pool_thread(void *userdata)
{
    MinihvPool *pool = userdata;
    char byte;

    while (read(pool->request_fd[0], &byte, 1) == 1) {
        PoolSpawned s = spawn_one(pool);
        if (write(pool->answer_fd[1], &s, sizeof(s)) != sizeof(s) && s.pid > 0) {
            (void)minihv_process_signal(s.pid, s.start_ticks, SIGKILL);
            (void)close(s.sock);
        }
    }
    return NULL;
}

/* Asks the thread for as many processes as the pool lacks. */
static void pool_refill(MinihvPool *pool)
{
    while (pool->thread_started && pool->n_vmms + pool->asked < pool->size &&
           write(pool->request_fd[1], "", 1) == 1)
        pool->asked++;
}

/* How long a refill waits after a VMM was handed a guest: spawning its replacement (exec, the
 * dynamic loader, KVM's VM and vCPUs) at once would take a CPU from the start it follows. */
#define POOL_REFILL_DELAY_USEC (20 * USEC_PER_MSEC)

static int on_refill_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    MinihvPool *pool = userdata;

    pool->refill_timer = sd_event_source_disable_unref(pool->refill_timer);
    pool_refill(pool);
    return 0;
}

/* Refills after POOL_REFILL_DELAY_USEC (at once when the timer cannot be made). */
static void pool_refill_later(MinihvPool *pool)
{
    if (pool->refill_timer)
        return;
    if (sd_event_add_time_relative(pool->md->drv->ctx.event, &pool->refill_timer, CLOCK_MONOTONIC,
                                   POOL_REFILL_DELAY_USEC, 0, on_refill_timer, pool) < 0)
        pool_refill(pool);
}

static void vmm_free(PoolVmm *v, bool kill_it)
{
    MinihvPool *pool = v->pool;

    for (PoolVmm **p = &pool->vmms; *p; p = &(*p)->next)
        if (*p == v) {
            *p = v->next;
            pool->n_vmms--;
            break;
        }
    if (kill_it && v->start_ticks)
        (void)minihv_process_signal(v->pid, v->start_ticks, SIGKILL);
    v->sock_source = sd_event_source_disable_unref(v->sock_source);
    safe_close(v->sock);
    free(v);
}

/* A pooled process ended (or its socket did): replaced, unless it ended before its VM was made
 * (no /dev/kvm, a bad binary): then the pool waits for the next start to try again, rather than
 * spawning in a loop. */
static void vmm_ended(PoolVmm *v, bool kill_it)
{
    MinihvPool *pool = v->pool;
    bool was_waiting = v->waiting;

    vmm_free(v, kill_it);
    if (was_waiting)
        pool_refill(pool);
    else
        pool->spawn_failures++;
}

/* "waiting" from a pooled process, or the end of its socket (it ended). */
static int on_vmm_socket(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    PoolVmm *v = userdata;
    char buf[16];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

    if (n > 0 && strneq(buf, "waiting", 7)) {
        v->waiting = true;
        return 0;
    }
    if (n < 0 && errno == EAGAIN)
        return 0;
    vmm_ended(v, true);
    return 0;
}

static int on_answer(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    MinihvPool *pool = userdata;
    PoolSpawned a;
    PoolVmm *v;

    while (read(fd, &a, sizeof(a)) == sizeof(a)) {
        if (pool->asked > 0)
            pool->asked--;
        if (a.pid <= 0) {
            pool->spawn_failures++; /* not asked again until something is taken or ends */
            pool->last_spawn_error = a.error;
            continue;
        }
        v = calloc(1, sizeof(*v));
        if (!v) {
            (void)minihv_process_signal(a.pid, a.start_ticks, SIGKILL);
            (void)close(a.sock);
            continue;
        }
        *v = (PoolVmm){.pool = pool, .pid = a.pid, .start_ticks = a.start_ticks, .sock = a.sock};
        v->next = pool->vmms;
        pool->vmms = v;
        pool->n_vmms++;
        if (sd_event_add_io(pool->md->drv->ctx.event, &v->sock_source, v->sock, EPOLLIN,
                            on_vmm_socket, v) < 0)
            vmm_free(v, true);
    }
    return 0;
}

int minihv_pool_open(MinihvDriver *md, MinihvPool **ret)
{
    const MinihvSettings *s = minihv_settings(md->drv);
    MinihvPool *pool = calloc(1, sizeof(*pool));
    char memory[32], vcpus[16];
    sigset_t all, old_mask;
    int r;

    if (!pool)
        return -ENOMEM;
    *pool = (MinihvPool){.md = md,
                         .size = s->warm_pool,
                         .mode = s->warm_pool_mode,
                         .memory_mib = s->warm_pool_memory_mib,
                         .vcpus = s->warm_pool_vcpus,
                         .request_fd = {-EBADF, -EBADF},
                         .answer_fd = {-EBADF, -EBADF}};
    *ret = pool;
    if (pool->size == 0)
        return 0;
    (void)snprintf(memory, sizeof(memory), "%" PRIu64, pool->memory_mib);
    (void)snprintf(vcpus, sizeof(vcpus), "%u", pool->vcpus);
    const char *argv[] = {s->binary,  "pool",        "--mode",  domain_mode_to_string(pool->mode),
                          "--memory", memory,        "--vcpus", vcpus,
                          "--socket", POOL_SOCKET_FD};
    for (size_t i = 0; i < ELEMENTSOF(argv); i++)
        if (!(pool->argv[i] = strdup(argv[i])))
            return -ENOMEM;
    pool->argv[ELEMENTSOF(argv)] = strdup("--room");
    pool->argv[ELEMENTSOF(argv) + 1] = malloc(POOL_ARGV_ROOM);
    if (!pool->argv[ELEMENTSOF(argv)] || !pool->argv[ELEMENTSOF(argv) + 1])
        return -ENOMEM;
    memset(pool->argv[ELEMENTSOF(argv) + 1], ' ', POOL_ARGV_ROOM - 1);
    pool->argv[ELEMENTSOF(argv) + 1][POOL_ARGV_ROOM - 1] = 0;
    if (asprintf(&pool->log_path, "%s/warm-pool.vmm.log", md->run_dir) < 0) {
        pool->log_path = NULL;
        return -ENOMEM;
    }
    if (pipe2(pool->request_fd, O_CLOEXEC | O_NONBLOCK) < 0 ||
        pipe2(pool->answer_fd, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    /* the thread blocks on its requests; the loop never blocks on its answers */
    if (fcntl(pool->request_fd[0], F_SETFL, 0) < 0 || fcntl(pool->answer_fd[1], F_SETFL, 0) < 0)
        return -errno;
    r = sd_event_add_io(md->drv->ctx.event, &pool->answer_source, pool->answer_fd[0], EPOLLIN,
                        on_answer, pool);
    if (r < 0)
        return r;
    /* every signal blocked in the thread: hvd's arrive on its loop only */
    (void)sigfillset(&all);
    (void)pthread_sigmask(SIG_SETMASK, &all, &old_mask);
    r = -pthread_create(&pool->thread, NULL, pool_thread, pool);
    (void)pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    if (r < 0)
        return r;
    pool->thread_started = true;
    pool_refill(pool);
    return 0;
}

void minihv_pool_free(MinihvPool *pool)
{
    if (!pool)
        return;
    pool->request_fd[1] = safe_close(pool->request_fd[1]); /* the thread's read ends */
    if (pool->thread_started)
        (void)pthread_join(pool->thread, NULL);
    pool->thread_started = false;
    /* processes spawned after the last answer read: end them too */
    if (pool->answer_source)
        (void)on_answer(NULL, pool->answer_fd[0], EPOLLIN, pool);
    while (pool->vmms)
        vmm_free(pool->vmms, true);
    pool->answer_source = sd_event_source_disable_unref(pool->answer_source);
    pool->refill_timer = sd_event_source_disable_unref(pool->refill_timer);
    safe_close(pool->request_fd[0]);
    safe_close(pool->answer_fd[0]);
    safe_close(pool->answer_fd[1]);
    for (size_t i = 0; i < ELEMENTSOF(pool->argv); i++)
        free(pool->argv[i]);
    free(pool->log_path);
    free(pool);
}

/* Whether a pooled process can run c: the same mode, memory size and vCPU count. */
static bool pool_fits(const MinihvPool *pool, const DomainConfig *c)
{
    return c->mode == pool->mode && c->memory_mib == pool->memory_mib && c->vcpus == pool->vcpus;
}

/* Sends the arguments and descriptors of a guest; -errno when the process cannot take it. */
static int send_guest(PoolVmm *v, char **argv, int ready_fd, int log_fd, int tap_fd)
{
    int fds[3] = {ready_fd, log_fd, tap_fd};
    size_t nfds = tap_fd >= 0 ? 3 : 2, len = 0;
    char control[CMSG_SPACE(sizeof(fds))] = {0};
    _cleanup_free_ char *buf = NULL;
    struct cmsghdr *cm;
    struct iovec iov;
    struct msghdr mh;

    for (size_t i = 0; argv[i]; i++)
        len += strlen(argv[i]) + 1;
    buf = malloc(len);
    if (!buf)
        return -ENOMEM;
    len = 0;
    for (size_t i = 0; argv[i]; i++) {
        size_t l = strlen(argv[i]) + 1;
        memcpy(buf + len, argv[i], l);
        len += l;
    }
    iov = (struct iovec){.iov_base = buf, .iov_len = len};
    mh = (struct msghdr){.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control,
                         .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
    return sendmsg(v->sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int minihv_pool_hand(MinihvPool *pool, const DomainConfig *c, char **argv, const char *log_path,
                     int ready_fd, int tap_fd, int *ret_pid)
{
    _cleanup_close_ int log_fd = -EBADF;
    PoolVmm *v, *next;

    if (!pool || pool->size == 0)
        return 0;
    if (!pool_fits(pool, c)) {
        pool->missed++;
        return 0;
    }
    for (v = pool->vmms; v; v = next) {
        next = v->next;
        if (!v->waiting)
            continue;
        if (log_fd < 0) {
            log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (log_fd < 0)
                return -errno;
        }
        if (send_guest(v, argv, ready_fd, log_fd, tap_fd) < 0) {
            vmm_free(v, true); /* it ended or cannot take a guest: the next one may */
            continue;
        }
        *ret_pid = v->pid;
        pool->taken++;
        vmm_free(v, false); /* the domain's now */
        pool_refill_later(pool);
        return 1;
    }
    pool->missed++;
    pool_refill(pool);
    return 0;
}

bool minihv_pool_child_exited(MinihvPool *pool, int pid)
{
    if (!pool)
        return false;
    for (PoolVmm *v = pool->vmms; v; v = v->next)
        if (v->pid == pid) {
            vmm_ended(v, false);
            return true;
        }
    return false;
}

json_t *minihv_pool_json(MinihvPool *pool)
{
    unsigned waiting = 0;

    if (!pool)
        return NULL;
    for (PoolVmm *v = pool->vmms; v; v = v->next)
        waiting += v->waiting;
    return json_pack("{s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:s*}", "size",
                     (json_int_t)pool->size, "waiting", (json_int_t)waiting, "starting",
                     (json_int_t)(pool->n_vmms - waiting + pool->asked), "mode",
                     domain_mode_to_string(pool->mode), "memory_mib", (json_int_t)pool->memory_mib,
                     "vcpus", (json_int_t)pool->vcpus, "taken", (json_int_t)pool->taken, "missed",
                     (json_int_t)pool->missed, "spawn_failures", (json_int_t)pool->spawn_failures,
                     "last_spawn_error",
                     pool->last_spawn_error ? strerror(pool->last_spawn_error) : NULL);
}
