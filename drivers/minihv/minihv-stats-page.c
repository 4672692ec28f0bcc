/* The statistics page of each running minihv VMM: fetched once over the control socket (its
 * memfd comes as SCM_RIGHTS), mapped read-only, the descriptor closed; each sample is then read
 * from memory, with no request to the VMM. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "minihv-internal.h"
#include "minihv-stats-page.h"
#include "stats-page.h"
#include "time-util.h"

#define FETCH_REPLY_MAX 512
/* After a fetch that failed for a reason other than a refusal (no answer in time), the next
 * try waits this long; meanwhile samples come from stats requests. */
#define FETCH_RETRY_USEC (5 * USEC_PER_SEC)
#define SEQ_TRIES        4

uint64_t stats_page_now_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

struct StatsPageFetch {
    Instance *inst;
    int fd;
    int page_fd; /* the memfd the reply carried, or -EBADF */
    sd_event_source *io;
    sd_event_source *timer;
    char buf[FETCH_REPLY_MAX];
    size_t len;
};

/* Copies the page word by word (each word is a whole field the VMM stores atomically), again
 * while its memory figures were being written. */
static void page_copy(const void *map, StatsPage *out)
{
    const uint64_t *src = map;
    uint64_t *dst = (uint64_t *)out;
    size_t words = sizeof(StatsPage) / sizeof(uint64_t);
    size_t seq_word = offsetof(StatsPage, memory_seq) / sizeof(uint64_t);

    for (unsigned t = 0; t < SEQ_TRIES; t++) {
        uint64_t seq = __atomic_load_n(&src[seq_word], __ATOMIC_ACQUIRE);
        for (size_t i = 0; i < words; i++)
            dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (!(seq & 1) && __atomic_load_n(&src[seq_word], __ATOMIC_RELAXED) == seq)
            return;
    }
    /* Still being written after every try: memory figures maybe torn, nothing else. */
}

static int page_check(const StatsPage *p, char *why, size_t why_size)
{
    if (p->magic != STATS_PAGE_MAGIC)
        (void)snprintf(why, why_size, "bad magic 0x%016llx", (unsigned long long)p->magic);
    else if (p->version != STATS_PAGE_VERSION)
        (void)snprintf(why, why_size, "layout version %u, hvd reads %u", p->version,
                       STATS_PAGE_VERSION);
    else if (p->size != sizeof(StatsPage))
        (void)snprintf(why, why_size, "layout of %u bytes, version %u has %zu", p->size,
                       STATS_PAGE_VERSION, sizeof(StatsPage));
    else if (p->n_exit_reasons != _EXIT_REASON_MAX || p->n_devices != _STAT_DEV_MAX)
        (void)snprintf(why, why_size, "%u exit reasons and %u devices, version %u has %u and %u",
                       p->n_exit_reasons, p->n_devices, STATS_PAGE_VERSION, _EXIT_REASON_MAX,
                       _STAT_DEV_MAX);
    else if (p->nr_vcpus == 0 || p->nr_vcpus > STATS_PAGE_MAX_VCPUS)
        (void)snprintf(why, why_size, "%u vCPUs (1 to %u)", p->nr_vcpus, STATS_PAGE_MAX_VCPUS);
    else
        return 0;
    return -EBADMSG;
}

static json_t *jint(uint64_t v)
{
    return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* {"reason": N, ..., "total": N} and {"device": N, ...}. */
static int exits_json(const StatsPage *p, json_t **ret_exits, json_t **ret_devices)
{
    const Stats *s = &p->stats;
    json_t *exits = json_object(), *devices = json_object();
    uint64_t total = 0;

    if (!exits || !devices) {
        json_decref(exits);
        json_decref(devices);
        return -ENOMEM;
    }
    for (int i = 0; i < _EXIT_REASON_MAX; i++) {
        total += s->exits[i];
        (void)json_object_set_new(exits, exit_reason_to_string(i), jint(s->exits[i]));
    }
    (void)json_object_set_new(exits, "total", jint(total));
    for (int i = 0; i < _STAT_DEV_MAX; i++)
        (void)json_object_set_new(devices, stat_device_to_string(i), jint(s->devices[i]));
    *ret_exits = exits;
    *ret_devices = devices;
    return 0;
}

static json_t *net_json(const StatsPage *p)
{
    const Stats *s = &p->stats;
    uint64_t frames = s->net_tx_frames + s->net_rx_frames;
    uint64_t exits = s->devices[STAT_DEV_HC_NET] + s->devices[STAT_DEV_NET_DOORBELL] +
                     s->devices[STAT_DEV_NE2000];
    uint64_t doorbells = s->devices[STAT_DEV_NET_DOORBELL_EVENT];

    return json_pack("{s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:f, s:f}", "attached",
                     (p->flags & STATS_PAGE_NET_ATTACHED) != 0, "tx_frames", jint(s->net_tx_frames),
                     "tx_bytes", jint(s->net_tx_bytes), "rx_frames", jint(s->net_rx_frames),
                     "rx_bytes", jint(s->net_rx_bytes), "tx_dropped", jint(s->net_tx_dropped),
                     "rx_dropped", jint(s->net_rx_dropped), "bad_descriptors",
                     jint(s->net_bad_descriptors), "doorbells", jint(doorbells), "exits",
                     jint(exits), "exits_per_frame", frames ? (double)exits / (double)frames : 0.0,
                     "doorbells_per_frame", frames ? (double)doorbells / (double)frames : 0.0);
}

int stats_page_copy(const void *map, size_t map_size, StatsPage *ret, char *why, size_t why_size)
{
    if (map_size < sizeof(StatsPage)) {
        (void)snprintf(why, why_size, "%zu bytes, the layout needs %zu", map_size,
                       sizeof(StatsPage));
        return -EBADMSG;
    }
    page_copy(map, ret);
    return page_check(ret, why, why_size);
}

uint64_t stats_page_age_ns(const StatsPage *p, uint64_t now_ns)
{
    return now_ns > p->heartbeat_ns ? now_ns - p->heartbeat_ns : 0;
}

static uint64_t run_ns(const StatsPage *p)
{
    uint64_t total = 0;

    for (unsigned i = 0; i < p->nr_vcpus && i < STATS_PAGE_MAX_VCPUS; i++)
        total += p->vcpu_run_ns[i];
    return total;
}

json_t *stats_page_json(const StatsPage *p, uint64_t now_ns)
{
    const StatsPageMemory *m = &p->memory;
    json_t *exits, *devices;

    if (exits_json(p, &exits, &devices) < 0)
        return NULL;
    return json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o, s:o, s:o}, s:{s:o, s:o}, s:{s:o, s:o, "
        "s:o, s:o}, s:{s:o, s:o}, s:o, s:o}",
        "sampled_from", "page", "exits_by_reason", exits, "exits_by_device", devices, "cpu_time_ns",
        jint(run_ns(p)), "memory_kib", jint(m->guest_resident_bytes / 1024), "memory",
        "guest_bytes", jint(m->guest_bytes), "guest_resident_bytes", jint(m->guest_resident_bytes),
        "vmm_rss_bytes", jint(m->vmm_rss_bytes), "vmm_anon_bytes", jint(m->vmm_anon_bytes),
        "vmm_overhead_bytes", jint(m->vmm_overhead_bytes), "bad_requests", "guest",
        jint(p->stats.bad_guest_requests), "control", jint(p->stats.bad_control_requests),
        "console", "out_bytes", jint(p->stats.console_out_bytes), "in_bytes",
        jint(p->stats.console_in_bytes), "in_dropped_bytes", jint(p->stats.console_in_dropped),
        "attached_dropped_bytes", jint(p->stats.console_client_dropped), "block", "read_sectors",
        jint(p->stats.blk_read_sectors), "write_sectors", jint(p->stats.blk_write_sectors),
        "uptime_ns", jint(now_ns > p->start_mono_ns ? now_ns - p->start_mono_ns : 0), "net",
        net_json(p));
}

/* As the JSON objects clamp them. */
static uint64_t clamp(uint64_t v)
{
    return v > INT64_MAX ? INT64_MAX : v;
}

void stats_page_counters(const StatsPage *p, DriverCounters *ret)
{
    const Stats *s = &p->stats;
    uint64_t total = 0;

    _Static_assert(_EXIT_REASON_MAX + 1 <= DRIVER_COUNTERS_MAX, "exit reasons and their total");
    _Static_assert(_STAT_DEV_MAX <= DRIVER_COUNTERS_MAX, "devices");
    *ret = (DriverCounters){
        .cpu_time_ns = clamp(run_ns(p)),
        .memory_kib = clamp(p->memory.guest_resident_bytes / 1024),
        .disk_read_bytes = clamp(s->blk_read_sectors) * 512,
        .disk_write_bytes = clamp(s->blk_write_sectors) * 512,
        .net_attached = (p->flags & STATS_PAGE_NET_ATTACHED) != 0,
        .net_tx_frames = clamp(s->net_tx_frames),
        .net_rx_frames = clamp(s->net_rx_frames),
        .net_tx_bytes = clamp(s->net_tx_bytes),
        .net_rx_bytes = clamp(s->net_rx_bytes),
        .net_tx_dropped = clamp(s->net_tx_dropped),
        .net_rx_dropped = clamp(s->net_rx_dropped),
    };
    for (int i = 0; i < _EXIT_REASON_MAX; i++) {
        total += s->exits[i];
        ret->exits[ret->n_exits++] =
            (DriverCounter){.name = exit_reason_to_string(i), .value = clamp(s->exits[i])};
    }
    ret->exits_total = clamp(total);
    ret->exits[ret->n_exits++] = (DriverCounter){.name = "total", .value = ret->exits_total};
    for (int i = 0; i < _STAT_DEV_MAX; i++)
        ret->device_exits[ret->n_device_exits++] =
            (DriverCounter){.name = stat_device_to_string(i), .value = clamp(s->devices[i])};
}

json_t *stats_page_sample(const void *map, size_t map_size, uint64_t now_ns, uint64_t *ret_age_ns,
                          char *why, size_t why_size)
{
    json_t *o;
    StatsPage p;

    if (stats_page_copy(map, map_size, &p, why, why_size) < 0)
        return NULL;
    if (why_size > 0)
        why[0] = '\0';
    o = stats_page_json(&p, now_ns);
    if (o)
        *ret_age_ns = stats_page_age_ns(&p, now_ns);
    return o;
}

static StatsPageFetch *fetch_free(StatsPageFetch *f)
{
    if (!f)
        return NULL;
    (void)sd_event_source_disable_unref(f->io);
    (void)sd_event_source_disable_unref(f->timer);
    safe_close(f->fd);
    safe_close(f->page_fd);
    return mfree(f);
}

static void page_refuse(Instance *inst, const char *what, const char *why)
{
    log_warning("minihv: %s: %s (%s); its statistics come from stats requests to its VMM",
                inst->config.name, what, why);
    inst->stats_page_refused = true;
}

/* Maps the memfd the VMM passed, after checking it is one that cannot shrink under the map (a
 * read past its end would kill hvd with SIGBUS). */
static int page_map(Instance *inst, int fd)
{
    char why[160];
    struct stat st;
    StatsPage copy;
    void *p;
    int seals = fcntl(fd, F_GET_SEALS);

    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
        page_refuse(inst, "refused the statistics page of its VMM",
                    seals < 0 ? "not a memfd" : "not sealed against shrinking");
        return -EBADMSG;
    }
    if (fstat(fd, &st) < 0 || st.st_size < (off_t)STATS_PAGE_SIZE) {
        page_refuse(inst, "refused the statistics page of its VMM", "smaller than a page");
        return -EBADMSG;
    }
    p = mmap(NULL, STATS_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        log_debug_errno(errno, "minihv: %s: cannot map its statistics page: %m", inst->config.name);
        return -errno;
    }
    if (stats_page_copy(p, STATS_PAGE_SIZE, &copy, why, sizeof(why)) < 0) {
        (void)munmap(p, STATS_PAGE_SIZE);
        page_refuse(inst, "refused the statistics page of its VMM", why);
        return -EBADMSG;
    }
    inst->stats_page = p;
    return 0;
}

/* The reply came (or the exchange failed: reply NULL). */
static void fetch_end(StatsPageFetch *f, const char *reply)
{
    Instance *inst = f->inst;
    json_t *o = reply ? json_loads(reply, 0, NULL) : NULL;

    inst->stats_page_fetch = NULL;
    if (o && json_is_true(json_object_get(o, "ok")) && f->page_fd >= 0)
        (void)page_map(inst, f->page_fd);
    else if (o) {
        const char *error = json_string_value(json_object_get(o, "error"));
        /* a VMM older than the page, or one that will not give it */
        log_debug("minihv: %s: its VMM gives no statistics page (%s); its statistics come from "
                  "stats requests",
                  inst->config.name, error ? error : "no descriptor with the reply");
        inst->stats_page_refused = true;
    } else
        inst->stats_page_retry_usec = now_usec(CLOCK_MONOTONIC) + FETCH_RETRY_USEC;
    json_decref(o);
    fetch_free(f);
    instance_stats_page_done(inst);
}

static void fetch_take_fds(StatsPageFetch *f, struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        size_t n;
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (f->page_fd < 0)
                f->page_fd = fd;
            else
                (void)close(fd);
        }
    }
}

static int on_fetch_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    StatsPageFetch *f = userdata;
    char control[CMSG_SPACE(4 * sizeof(int))];
    struct iovec iov = {.iov_base = f->buf + f->len, .iov_len = sizeof(f->buf) - 1 - f->len};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control,
                        .msg_controllen = sizeof(control)};
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    char *nl;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n > 0)
        fetch_take_fds(f, &mh);
    if (n <= 0 || iov.iov_len == 0) {
        fetch_end(f, NULL);
        return 0;
    }
    f->len += (size_t)n;
    f->buf[f->len] = '\0';
    nl = strchr(f->buf, '\n');
    if (nl) {
        *nl = '\0';
        fetch_end(f, f->buf);
    } else if (f->len == sizeof(f->buf) - 1)
        fetch_end(f, NULL);
    return 0;
}

static int on_fetch_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    StatsPageFetch *f = userdata;

    log_debug("minihv: %s: no statistics page within %d ms", f->inst->config.name,
              CONTROL_TIMEOUT_MS);
    fetch_end(f, NULL);
    return 0;
}

static int fetch_start(Instance *inst)
{
    static const char request[] = "{\"cmd\":\"stats-page\"}\n";
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    sd_event *event = inst->md->drv->ctx.event;
    StatsPageFetch *f;

    if (strlen(inst->control_path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, inst->control_path);
    f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    *f = (StatsPageFetch){.inst = inst, .page_fd = -EBADF};
    f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    /* A unix socket connects at once or not at all (EAGAIN: a stopped VMM's full queue). */
    if (f->fd < 0 || connect(f->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        send(f->fd, request, sizeof(request) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) !=
            (ssize_t)(sizeof(request) - 1) ||
        sd_event_add_io(event, &f->io, f->fd, EPOLLIN, on_fetch_io, f) < 0 ||
        sd_event_add_time_relative(event, &f->timer, CLOCK_MONOTONIC,
                                   CONTROL_TIMEOUT_MS * USEC_PER_MSEC, 0, on_fetch_timeout,
                                   f) < 0) {
        int r = errno > 0 ? -errno : -EIO;
        fetch_free(f);
        return r;
    }
    (void)sd_event_source_set_priority(f->io, PRIORITY_BACKGROUND);
    (void)sd_event_source_set_priority(f->timer, PRIORITY_BACKGROUND);
    inst->stats_page_fetch = f;
    inst->stats_asked_usec = now_usec(CLOCK_MONOTONIC);
    return 0;
}

bool instance_stats_page_fetch(Instance *inst)
{
    if (inst->stats_page_fetch)
        return true;
    if (inst->stats_page || inst->stats_page_refused || !inst->ready ||
        now_usec(CLOCK_MONOTONIC) < inst->stats_page_retry_usec)
        return false;
    if (fetch_start(inst) < 0) {
        inst->stats_page_retry_usec = now_usec(CLOCK_MONOTONIC) + FETCH_RETRY_USEC;
        return false;
    }
    return true;
}

bool instance_stats_page_read(Instance *inst, StatsPage *ret)
{
    uint64_t now = now_usec(CLOCK_MONOTONIC), now_ns = stats_page_now_ns(), age_ns, overdue,
             heartbeat;
    char why[160];
    StatsPage local, *p = ret ? ret : &local;

    if (!inst->stats_page)
        return false;
    if (stats_page_copy(inst->stats_page, STATS_PAGE_SIZE, p, why, sizeof(why)) < 0) {
        page_refuse(inst, "its VMM's statistics page went bad", why);
        instance_stats_page_drop(inst);
        return false;
    }
    inst->stats_sampled = true;
    age_ns = stats_page_age_ns(p, now_ns);
    heartbeat = now_ns - age_ns;
    if (inst->stats_failed && heartbeat == inst->stats_page_heartbeat) {
        /* A request went unanswered and the VMM has not ticked since: stale, and as old as its
         * last tick, the last sign that it ran. */
        uint64_t beat = now > age_ns / NSEC_PER_USEC ? now - age_ns / NSEC_PER_USEC : 0;

        if (beat < inst->stats_usec)
            inst->stats_usec = beat;
        return true;
    }
    inst->stats_page_heartbeat = heartbeat;
    /* The numbers are as fresh as the read while the VMM's main loop ticks; once its tick is
     * overdue, they age from then on (and turn stale as an unanswered request's would). */
    overdue =
        age_ns > STATS_PAGE_HEARTBEAT_NS ? (age_ns - STATS_PAGE_HEARTBEAT_NS) / NSEC_PER_USEC : 0;
    inst->stats_usec = now > overdue ? now - overdue : 0;
    inst->stats_failed = false;
    return true;
}

void instance_stats_page_drop(Instance *inst)
{
    inst->stats_page_fetch = fetch_free(inst->stats_page_fetch);
    if (inst->stats_page)
        (void)munmap((void *)inst->stats_page, STATS_PAGE_SIZE);
    inst->stats_page = NULL;
}
