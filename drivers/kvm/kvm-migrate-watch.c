/* A kvm migration watched while libvirt runs it: a thread beside the migration's worker polls
 * libvirt's job statistics (virDomainGetJobStats), sets the downtime budget once the job runs
 * (virDomainMigrateSetMaxDowntime), aborts the job at the time limit, and sends each figure as
 * one datagram to the loop, where it becomes a migration_progress event of the same shape as
 * minihv's. Nothing here waits on the loop. */
#include <errno.h>
#include <libvirt/virterror.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kvm-internal.h"
#include "log.h"
#include "time-util.h"

#define WATCH_INTERVAL_MS 500u
#define WATCH_START_MS    20u   /* until libvirt's job runs: the budget is set as early as it can */
#define PROGRESS_MAX      2048u /* one datagram: far more than one progress object takes */

/* The loop's end of a migration's progress. */
struct KvmMigrateProgress {
    Driver *drv;
    char name[DOMAIN_NAME_MAX + 1];
    int fd;
    sd_event_source *source;
};

static void progress_dispatch(KvmMigrateProgress *p, const char *text, size_t len)
{
    json_t *event = json_loadb(text, len, 0, NULL);

    if (json_is_object(event))
        p->drv->ctx.events.migration_progress(p->drv->ctx.events.userdata, p->drv, p->name, event);
    json_decref(event);
}

/* Hands on every figure waiting in the socket. */
static void progress_drain(KvmMigrateProgress *p)
{
    char buf[PROGRESS_MAX];

    for (;;) {
        ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0)
            return;
        progress_dispatch(p, buf, (size_t)n);
    }
}

static int on_progress(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    KvmMigrateProgress *p = userdata;

    progress_drain(p);
    if (revents & (EPOLLHUP | EPOLLERR))
        (void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
    return 0;
}

int kvm_migrate_progress_new(Driver *drv, const char *name, int *ret_fd, KvmMigrateProgress **ret)
{
    KvmMigrateProgress *p = calloc(1, sizeof(*p));
    int fds[2], r;

    if (!p)
        return -ENOMEM;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0) {
        r = -errno;
        free(p);
        return r;
    }
    *p = (KvmMigrateProgress){.drv = drv, .fd = fds[0]};
    (void)snprintf(p->name, sizeof(p->name), "%s", name);
    r = sd_event_add_io(drv->ctx.event, &p->source, p->fd, EPOLLIN, on_progress, p);
    if (r < 0) {
        (void)close(fds[0]);
        (void)close(fds[1]);
        free(p);
        return r;
    }
    (void)sd_event_source_set_description(p->source, "kvm-migrate-progress");
    *ret_fd = fds[1];
    *ret = p;
    return 0;
}

KvmMigrateProgress *kvm_migrate_progress_free(KvmMigrateProgress *p, bool flush)
{
    if (!p)
        return NULL;
    if (flush)
        progress_drain(p);
    (void)sd_event_source_disable_unref(p->source);
    (void)close(p->fd);
    free(p);
    return NULL;
}

/* The worker's side. */

static uint64_t typed_ull(virTypedParameterPtr params, int n, const char *name)
{
    unsigned long long v = 0;

    return virTypedParamsGetULLong(params, n, name, &v) == 1 ? v : 0;
}

/* One progress object from libvirt's statistics of a migration job, in minihv's figures (pages
 * of the guest's page size) with libvirt's data counts beside them. */
static json_t *progress_json(virTypedParameterPtr params, int n, const char *phase)
{
#define STAT(name) typed_ull(params, n, VIR_DOMAIN_JOB_##name)
    uint64_t page = STAT(MEMORY_PAGE_SIZE) ?: 4096;
    json_int_t pages_sent = (json_int_t)(STAT(MEMORY_NORMAL) + STAT(MEMORY_CONSTANT));
    json_int_t dirty_pages = (json_int_t)((STAT(MEMORY_REMAINING) + page - 1) / page);
    json_t *event =
        json_pack("{ss ss sI sI sI sI}", "event", "migration", "phase", phase, "iteration",
                  (json_int_t)STAT(MEMORY_ITERATION), "pages_sent", pages_sent, "bytes_sent",
                  (json_int_t)STAT(DATA_PROCESSED), "dirty_pages", dirty_pages);
    json_t *figures = json_pack(
        "{sf sf sf sf sI sI sI}", "dirty_rate_pages_s", (double)STAT(MEMORY_DIRTY_RATE),
        "throughput_mib_s", (double)STAT(MEMORY_BPS) / 1048576.0, "expected_downtime_ms",
        (double)STAT(DOWNTIME), "elapsed_ms", (double)STAT(TIME_ELAPSED), "data_total_bytes",
        (json_int_t)STAT(DATA_TOTAL), "data_processed_bytes", (json_int_t)STAT(DATA_PROCESSED),
        "data_remaining_bytes", (json_int_t)STAT(DATA_REMAINING));
#undef STAT

    if (!event || !figures || json_object_update(event, figures) < 0)
        event = (json_decref(event), NULL);
    json_decref(figures);
    return event;
}

static void watch_send(KvmMigrateWatch *w, json_t *event)
{
    _cleanup_free_ char *text = event ? json_dumps(event, JSON_COMPACT) : NULL;

    /* A loop too busy to read loses a figure, never the migration. */
    if (text && strlen(text) < PROGRESS_MAX)
        (void)send(w->progress_fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* One look at the job: progress, the downtime budget once it runs. Returns whether it runs. */
static bool watch_poll(KvmMigrateWatch *w)
{
    virTypedParameterPtr params = NULL;
    int type = VIR_DOMAIN_JOB_NONE, n = 0, state = 0, reason = 0;
    const char *phase = "precopy";

    if (virDomainGetJobStats(w->dom, &type, &params, &n, 0) < 0 || type == VIR_DOMAIN_JOB_NONE) {
        virTypedParamsFree(params, n);
        return false;
    }
    if (w->downtime_ms && !w->downtime_set) {
        if (virDomainMigrateSetMaxDowntime(w->dom, w->downtime_ms, 0) < 0)
            log_debug("kvm: setting the downtime budget of a migration: %s",
                      virGetLastErrorMessage());
        w->downtime_set = true;
    }
    if (virDomainGetState(w->dom, &state, &reason, 0) == 0 && state == VIR_DOMAIN_PAUSED &&
        reason == VIR_DOMAIN_PAUSED_MIGRATION)
        phase = "stop-and-copy";
    w->iteration = typed_ull(params, n, VIR_DOMAIN_JOB_MEMORY_ITERATION);
    w->remaining = typed_ull(params, n, VIR_DOMAIN_JOB_DATA_REMAINING);
    if (w->progress_fd >= 0) {
        json_t *event = progress_json(params, n, phase);
        watch_send(w, event);
        json_decref(event);
    }
    virTypedParamsFree(params, n);
    return true;
}

static void *watch_thread(void *userdata)
{
    KvmMigrateWatch *w = userdata;
    uint64_t deadline = w->timeout_s ? w->started_us + (uint64_t)w->timeout_s * USEC_PER_SEC : 0;
    bool active = false;

    (void)pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec until;

        (void)clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)(active ? WATCH_INTERVAL_MS : WATCH_START_MS) * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT || w->stop)
            continue;
        (void)pthread_mutex_unlock(&w->lock);
        active = watch_poll(w) || active;
        if (deadline && !w->timed_out && now_usec(CLOCK_MONOTONIC) >= deadline) {
            /* The guest runs on here: libvirt resumes it if its copy was paused. */
            w->timed_out = true;
            if (virDomainAbortJob(w->dom) < 0)
                log_debug("kvm: aborting a migration at its time limit: %s",
                          virGetLastErrorMessage());
        }
        (void)pthread_mutex_lock(&w->lock);
    }
    (void)pthread_mutex_unlock(&w->lock);
    return NULL;
}

int kvm_migrate_watch_start(KvmMigrateWatch *w, virDomainPtr dom, unsigned downtime_ms,
                            unsigned timeout_s, int progress_fd)
{
    pthread_condattr_t attr;
    int r;

    *w = (KvmMigrateWatch){.dom = dom,
                           .downtime_ms = downtime_ms,
                           .timeout_s = timeout_s,
                           .progress_fd = progress_fd,
                           .started_us = now_usec(CLOCK_MONOTONIC)};
    (void)pthread_mutex_init(&w->lock, NULL);
    (void)pthread_condattr_init(&attr);
    (void)pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    (void)pthread_cond_init(&w->cond, &attr);
    (void)pthread_condattr_destroy(&attr);
    if (virDomainRef(dom) < 0)
        r = -ENOMEM;
    else if ((r = -pthread_create(&w->thread, NULL, watch_thread, w)) < 0)
        (void)virDomainFree(dom);
    if (r < 0) {
        (void)pthread_cond_destroy(&w->cond);
        (void)pthread_mutex_destroy(&w->lock);
        return r;
    }
    w->running = true;
    return 0;
}

bool kvm_migrate_watch_stop(KvmMigrateWatch *w)
{
    if (!w->running)
        return false;
    (void)pthread_mutex_lock(&w->lock);
    w->stop = true;
    (void)pthread_cond_signal(&w->cond);
    (void)pthread_mutex_unlock(&w->lock);
    (void)pthread_join(w->thread, NULL);
    (void)pthread_cond_destroy(&w->cond);
    (void)pthread_mutex_destroy(&w->lock);
    (void)virDomainFree(w->dom);
    w->running = false;
    return w->timed_out;
}
