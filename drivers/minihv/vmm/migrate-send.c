/* The source of a live migration: pre-copy over KVM's dirty log on the main loop, then stop and
 * copy. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "dirty-log.h"
#include "macro.h"
#include "migrate.h"

#define CHUNK_PAGES       1024u      /* pages copied into the staging buffer at a time */
#define DISPATCH_BYTES    (8u << 20) /* sent per loop wake-up, so control and console go on */
#define STOP_COPY_TIMEOUT 10000u     /* ms: the paused phase's own sends */
#define REPLY_MAX         (sizeof(MigrateRecord) + MIGRATE_ERROR_MAX)

typedef enum SendPhase {
    PHASE_HELLO,   /* HELLO sent, waiting for ACCEPT */
    PHASE_PRECOPY, /* the guest runs, pages go out */
    PHASE_CONFIRM, /* the guest is paused, everything sent, waiting for READY */
    PHASE_DONE,
} SendPhase;

struct MigrateSend {
    Vm *vm;
    Loop *loop;
    MigrateOptions opts;
    MigrateDoneFn done;
    MigrateEventFn event;
    void *userdata;
    LoopSource sock_src;
    LoopSource timer_src;
    SendPhase phase;
    bool watching_out;
    bool started_log; /* this migration turned KVM's dirty log on */
    bool paused;      /* this migration paused the guest */

    uint64_t npages;
    uint64_t words;
    uint64_t *to_send;   /* pages still to send in this pass (and all later dirtied ones) */
    uint64_t *sent_once; /* pages the target has a copy of (the others are zero there) */
    uint64_t cursor;     /* next page this pass looks at */
    unsigned iteration;

    uint8_t *out; /* staged records */
    size_t out_len;
    size_t out_at;
    uint8_t in[REPLY_MAX]; /* the target's records */
    size_t in_len;

    uint64_t t_start, t_precopy, t_pass, t_paused, t_staged, deadline, confirm_deadline;
    uint64_t pages_sent, bytes_sent;
    uint64_t measured_bytes, busy_ns; /* staged chunks and the time from staged to sent */
    uint64_t dirty_pages;
    double dirty_rate, expected_downtime_ms;
};

static uint64_t ms_to_ns(double ms)
{
    return (uint64_t)(ms * 1e6);
}

static double ns_to_ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static double throughput(const MigrateSend *ms)
{
    /* before any measurement: a conservative 100 MiB/s */
    return ms->busy_ns > 0 && ms->measured_bytes > 0
               ? (double)ms->measured_bytes * 1e9 / (double)ms->busy_ns
               : 100.0 * 1048576.0;
}

static json_t *progress_json(MigrateSend *ms, const char *phase)
{
    return json_pack("{ss ss si sI sI sI sf sf sf sf}", "event", "migration", "phase", phase,
                     "iteration", ms->iteration, "pages_sent", (json_int_t)ms->pages_sent,
                     "bytes_sent", (json_int_t)ms->bytes_sent, "dirty_pages",
                     (json_int_t)ms->dirty_pages, "dirty_rate_pages_s", ms->dirty_rate,
                     "throughput_mib_s", throughput(ms) / 1048576.0, "expected_downtime_ms",
                     ms->expected_downtime_ms, "elapsed_ms", ns_to_ms(now_mono_ns() - ms->t_start));
}

static void emit(MigrateSend *ms, const char *phase)
{
    json_t *ev = progress_json(ms, phase);

    if (ev && ms->event)
        ms->event(ms->userdata, ev);
    json_decref(ev);
}

static void watch(MigrateSend *ms, bool out)
{
    if (ms->sock_src.fd < 0 || out == ms->watching_out)
        return;
    ms->watching_out = out;
    (void)loop_modify(ms->loop, &ms->sock_src, EPOLLIN | (out ? EPOLLOUT : 0));
}

static void arm_timer(MigrateSend *ms, uint64_t at_ns)
{
    uint64_t now = now_mono_ns(), in = at_ns > now ? at_ns - now : 1;
    struct itimerspec its = {
        .it_value = {(time_t)(in / 1000000000ull), (long)(in % 1000000000ull)}};

    (void)timerfd_settime(ms->timer_src.fd, 0, &its, NULL);
}

/* Stops recording writes: the VMM's, and KVM's dirty log when this migration turned it on. */
static void tracking_stop(MigrateSend *ms)
{
    Vm *vm = ms->vm;

    __atomic_store_n(&vm->mem.vmm_written, NULL, __ATOMIC_RELEASE);
    if (ms->started_log)
        (void)dirty_log_stop(vm);
    ms->started_log = false;
}

static void finish(MigrateSend *ms, int r, const char *message, json_t *result)
{
    ms->phase = PHASE_DONE;
    if (ms->sock_src.fd >= 0) {
        loop_remove(ms->loop, &ms->sock_src);
        ms->sock_src.fd = safe_close(ms->sock_src.fd);
    }
    loop_remove(ms->loop, &ms->timer_src);
    if (ms->done)
        ms->done(ms->userdata, r, message, result);
}

static int flush_staged_wait(MigrateSend *ms, uint64_t deadline);

/* Ends the migration unsuccessfully: tells the target (best effort), resumes the guest. */
static void fail(MigrateSend *ms, int r, const char *fmt, ...) _printf_(3, 4);

static void fail(MigrateSend *ms, int r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (ms->phase == PHASE_DONE)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* the ERROR record goes after whole records only: the staged ones are finished first */
    if (ms->sock_src.fd >= 0 && flush_staged_wait(ms, now_mono_ns() + ms_to_ns(200)) >= 0)
        (void)migrate_write_record(ms->sock_src.fd, MIGRATE_REC_ERROR, msg, strlen(msg), 100);
    tracking_stop(ms);
    if (ms->paused)
        (void)vm_resume(ms->vm);
    ms->paused = false;
    emit(ms, "failed");
    finish(ms, r, msg, NULL);
}

/* Fails for an error of the connection itself. */
static void fail_connection(MigrateSend *ms, int r, const char *doing)
{
    if (r == -EPIPE || r == -ECONNRESET || r == 0)
        fail(ms, -ECONNRESET, "the target closed the connection (%s)", doing);
    else if (r == -ETIMEDOUT)
        fail(ms, r, "the target took nothing for %u s (%s)", STOP_COPY_TIMEOUT / 1000, doing);
    else
        fail(ms, r, "the connection to the target failed (%s): %s", doing, strerror(-r));
}

static bool page_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)p;

    for (unsigned i = 0; i < MIGRATE_PAGE_SIZE / 8; i++)
        if (w[i])
            return false;
    return true;
}

static bool bit_test(const uint64_t *bits, uint64_t i)
{
    return bits[i / 64] & (1ull << (i % 64));
}

/* Copies up to CHUNK_PAGES pages still to send, from the cursor on, into the staging buffer as
 * PAGES records of contiguous runs, leaving out zero pages never sent (the target's memory
 * starts zeroed). Returns whether anything was staged. */
static bool stage_chunk(MigrateSend *ms)
{
    const uint8_t *mem = ms->vm->mem.base;
    unsigned staged = 0;

    ms->out_len = ms->out_at = 0;
    while (ms->cursor < ms->npages && staged < CHUNK_PAGES) {
        uint64_t first = ms->cursor, count = 0;
        MigrateRecord rec = {.type = MIGRATE_REC_PAGES};
        MigratePages hdr = {0};
        uint8_t *rec_at;

        /* skip to the next page to send (a whole word at a time when it is clear) */
        if (ms->to_send[first / 64] == 0) {
            ms->cursor = (first / 64 + 1) * 64;
            continue;
        }
        if (!bit_test(ms->to_send, first)) {
            ms->cursor++;
            continue;
        }
        rec_at = ms->out + ms->out_len;
        ms->out_len += sizeof(rec) + sizeof(hdr);
        while (ms->cursor < ms->npages && count < MIGRATE_PAGES_MAX && staged < CHUNK_PAGES &&
               bit_test(ms->to_send, ms->cursor)) {
            const uint8_t *page = mem + ms->cursor * MIGRATE_PAGE_SIZE;

            ms->to_send[ms->cursor / 64] &= ~(1ull << (ms->cursor % 64));
            if (!bit_test(ms->sent_once, ms->cursor)) {
                if (page_is_zero(page)) {
                    ms->cursor++;
                    break;
                }
                ms->sent_once[ms->cursor / 64] |= 1ull << (ms->cursor % 64);
            }
            memcpy(ms->out + ms->out_len, page, MIGRATE_PAGE_SIZE);
            ms->out_len += MIGRATE_PAGE_SIZE;
            ms->cursor++;
            count++;
            staged++;
        }
        if (count == 0) {
            ms->out_len -= sizeof(rec) + sizeof(hdr);
            continue;
        }
        hdr = (MigratePages){.gpa = first * MIGRATE_PAGE_SIZE, .count = (uint32_t)count};
        rec.len = sizeof(hdr) + count * MIGRATE_PAGE_SIZE;
        memcpy(rec_at, &rec, sizeof(rec));
        memcpy(rec_at + sizeof(rec), &hdr, sizeof(hdr));
        ms->pages_sent += count;
    }
    ms->t_staged = ms->out_len > 0 ? now_mono_ns() : 0;
    return ms->out_len > 0;
}

/* Sends staged bytes without blocking. Returns 1 when all went, 0 on EAGAIN, or -errno. */
static int flush_staged(MigrateSend *ms, uint64_t *budget)
{
    while (ms->out_at < ms->out_len) {
        size_t want = ms->out_len - ms->out_at;
        ssize_t n;

        if (budget && *budget == 0)
            return 0;
        if (budget)
            want = MIN(want, (size_t)*budget);
        n = send(ms->sock_src.fd, ms->out + ms->out_at, want, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : -errno;
        ms->out_at += (size_t)n;
        ms->bytes_sent += (uint64_t)n;
        if (budget)
            *budget -= (uint64_t)n;
    }
    if (ms->out_len > 0 && ms->t_staged) {
        /* the rate pages leave at, waits for room included, scans for zero pages not */
        ms->busy_ns += now_mono_ns() - ms->t_staged;
        ms->measured_bytes += ms->out_len;
        ms->t_staged = 0;
    }
    return 1;
}

/* Sends staged bytes, waiting for room until deadline. Returns 0 or -errno. */
static int flush_staged_wait(MigrateSend *ms, uint64_t deadline)
{
    for (;;) {
        struct pollfd pfd = {.fd = ms->sock_src.fd, .events = POLLOUT};
        uint64_t now;
        int r = flush_staged(ms, NULL);

        if (r != 0)
            return r < 0 ? r : 0;
        now = now_mono_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        if (poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1)) < 0 && errno != EINTR)
            return -errno;
    }
}

/* Folds the pages dirtied since the last call (by the guest and by the VMM) into to_send and
 * returns how many pages to_send now holds. */
static int collect_dirty(MigrateSend *ms, uint64_t *pending)
{
    uint64_t dirty, n = 0;
    int r = dirty_log_collect(ms->vm, &dirty);

    if (r < 0)
        return r;
    for (uint64_t i = 0; i < ms->words; i++) {
        uint64_t vmm = __atomic_exchange_n(&ms->vm->vmm_written[i], 0, __ATOMIC_RELAXED);
        ms->to_send[i] |= ms->vm->dirty_bitmap[i] | vmm;
        n += (uint64_t)__builtin_popcountll(ms->to_send[i]);
    }
    *pending = n;
    return 0;
}

static void on_stop_and_copy(MigrateSend *ms);

/* A pass ended: measures, and either starts another or stops the guest for the rest. */
static void end_of_pass(MigrateSend *ms)
{
    uint64_t now = now_mono_ns(), pass_ns = now - ms->t_pass, pending;
    double rest_bytes;
    int r;

    r = collect_dirty(ms, &pending);
    if (r < 0) {
        fail(ms, r, "cannot read the dirty page log: %s", strerror(-r));
        return;
    }
    ms->dirty_pages = pending;
    ms->dirty_rate = pass_ns ? (double)pending * 1e9 / (double)pass_ns : 0;
    rest_bytes = (double)pending * (MIGRATE_PAGE_SIZE + 32) + 64 * 1024; /* + the state */
    ms->expected_downtime_ms = rest_bytes / throughput(ms) * 1e3;
    emit(ms, "precopy");
    if (ms->expected_downtime_ms <= ms->opts.downtime_ms) {
        on_stop_and_copy(ms);
        return;
    }
    if (ms->iteration >= ms->opts.max_iterations || now >= ms->deadline) {
        if (ms->opts.stop_at_limit)
            on_stop_and_copy(ms);
        else
            fail(ms, -ETIMEDOUT,
                 "the dirty pages did not fit the downtime budget of %g ms within %s (%llu "
                 "pages left, %.1f ms expected)",
                 ms->opts.downtime_ms,
                 now >= ms->deadline ? "the time limit" : "the iteration limit",
                 (unsigned long long)pending, ms->expected_downtime_ms);
        return;
    }
    ms->iteration++;
    ms->cursor = 0;
    ms->t_pass = now_mono_ns();
}

/* The bytes the bandwidth limit allows right now (UINT64_MAX without a limit). */
static uint64_t bandwidth_budget(MigrateSend *ms)
{
    double allowed;

    if (ms->opts.bandwidth_mib_s <= 0)
        return UINT64_MAX;
    allowed = ms->opts.bandwidth_mib_s * 1048576.0 * (double)(now_mono_ns() - ms->t_precopy) / 1e9;
    return allowed > (double)ms->bytes_sent ? (uint64_t)(allowed - (double)ms->bytes_sent) : 0;
}

static void precopy_send(MigrateSend *ms)
{
    uint64_t budget = MIN((uint64_t)DISPATCH_BYTES, bandwidth_budget(ms));
    int r;

    while (ms->phase == PHASE_PRECOPY) {
        r = flush_staged(ms, &budget);
        if (r < 0) {
            fail_connection(ms, r, "sending memory");
            return;
        }
        if (r == 0)
            break; /* the socket is full, or this wake-up's budget is spent */
        if (!stage_chunk(ms))
            end_of_pass(ms); /* may stop and copy, fail, or start the next pass */
    }
    if (ms->phase != PHASE_PRECOPY)
        return;
    if (budget == 0 && bandwidth_budget(ms) == 0) {
        /* over the bandwidth limit: wait for it rather than for room in the socket */
        watch(ms, false);
        arm_timer(ms, MIN(ms->deadline, now_mono_ns() + 5000000ull));
    } else {
        watch(ms, true);
        arm_timer(ms, ms->deadline);
    }
}

/* Sends the pages left and the STATE record image (len bytes). Returns 0 or a connection's
 * negative errno. */
static int send_rest(MigrateSend *ms, const uint8_t *image, size_t len, uint64_t deadline)
{
    int r;

    ms->cursor = 0;
    ms->iteration++;
    while (stage_chunk(ms)) {
        r = flush_staged_wait(ms, deadline);
        if (r < 0)
            return r;
    }
    r = migrate_write_record(ms->sock_src.fd, MIGRATE_REC_STATE, image, len,
                             (deadline - MIN(deadline, now_mono_ns())) / 1000000 + 1);
    if (r < 0)
        return r;
    ms->bytes_sent += sizeof(MigrateRecord) + len;
    return 0;
}

static void on_stop_and_copy(MigrateSend *ms)
{
    _cleanup_free_ uint8_t *image = NULL;
    Vm *vm = ms->vm;
    Error e = ERROR_NULL;
    uint64_t pending;
    size_t len;
    int r;

    /* what is staged goes first: those pages' bits are already clear */
    r = flush_staged_wait(ms, now_mono_ns() + ms_to_ns(STOP_COPY_TIMEOUT));
    if (r < 0) {
        fail_connection(ms, r, "sending memory");
        return;
    }
    ms->t_paused = now_mono_ns();
    r = vm_pause(vm);
    if (r < 0) {
        fail(ms, r, "cannot pause the domain: %s",
             r == -EBUSY ? "it is already paused" : "it is stopping");
        return;
    }
    ms->paused = true;
    if (!vm_all_paused(vm)) {
        fail(ms, -EBUSY, "the vCPUs did not stop within 1 s");
        return;
    }
    /* The state first: taking each device's lock lets a frame in flight land (the network
     * thread idles from then on), so the pages collected next hold everything it describes. */
    r = snapshot_state_image(vm, &image, &len, &e);
    if (r < 0) {
        fail(ms, r, "%s", e.message);
        return;
    }
    r = collect_dirty(ms, &pending);
    if (r < 0) {
        fail(ms, r, "cannot read the dirty page log: %s", strerror(-r));
        return;
    }
    ms->dirty_pages = pending;
    r = send_rest(ms, image, len, ms->t_paused + ms_to_ns(STOP_COPY_TIMEOUT));
    if (r < 0) {
        fail_connection(ms, r, "sending the last pages and the state");
        return;
    }
    tracking_stop(ms);
    ms->phase = PHASE_CONFIRM;
    watch(ms, false);
    ms->confirm_deadline = now_mono_ns() + (uint64_t)(MIGRATE_CONFIRM_TIMEOUT_S * 1e9);
    arm_timer(ms, ms->confirm_deadline);
    emit(ms, "stop-and-copy");
}

static void on_running(MigrateSend *ms)
{
    uint64_t now = now_mono_ns();
    json_t *result;

    result = json_pack("{sf sf si sI sI sI}", "downtime_ms", ns_to_ms(now - ms->t_paused),
                       "total_ms", ns_to_ms(now - ms->t_start), "iterations", ms->iteration,
                       "pages_sent", (json_int_t)ms->pages_sent, "bytes_sent",
                       (json_int_t)ms->bytes_sent, "last_dirty_pages", (json_int_t)ms->dirty_pages);
    emit(ms, "completed");
    finish(ms, 0, NULL, result);
    json_decref(result);
}

static void on_accept(MigrateSend *ms)
{
    Vm *vm = ms->vm;
    uint64_t dirty;
    int r;

    if (!vm->vmm_written)
        vm->vmm_written = calloc(ms->words, sizeof(uint64_t));
    if (!vm->vmm_written) {
        fail(ms, -ENOMEM, "out of memory");
        return;
    }
    memset(vm->vmm_written, 0, ms->words * sizeof(uint64_t));
    r = dirty_log_start(vm);
    if (r == -EALREADY)
        r = dirty_log_collect(vm, &dirty); /* a `dirty` client started it: start from now */
    else if (r >= 0)
        ms->started_log = true;
    if (r < 0) {
        fail(ms, r, "cannot start the dirty page log: %s", strerror(-r));
        return;
    }
    __atomic_store_n(&vm->mem.vmm_written, vm->vmm_written, __ATOMIC_RELEASE);
    /* the first pass: every page (but zero ones) */
    memset(ms->to_send, 0xff, ms->words * sizeof(uint64_t));
    if (ms->npages % 64)
        ms->to_send[ms->words - 1] = (1ull << (ms->npages % 64)) - 1;
    ms->phase = PHASE_PRECOPY;
    ms->t_precopy = ms->t_pass = now_mono_ns();
    emit(ms, "accepted");
    watch(ms, true);
}

/* Handles one complete record from the target; returns false once the migration ended. */
static bool on_target_record(MigrateSend *ms, const MigrateRecord *rec, const uint8_t *payload)
{
    char msg[MIGRATE_ERROR_MAX + 1];

    if (rec->type == MIGRATE_REC_ERROR) {
        size_t n = MIN((size_t)rec->len, MIGRATE_ERROR_MAX);
        memcpy(msg, payload, n);
        msg[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
                msg[i] = '?';
        fail(ms, -ECONNREFUSED, "the target refused: %s", msg);
        return false;
    }
    if (rec->type == MIGRATE_REC_ACCEPT && ms->phase == PHASE_HELLO && rec->len == 0) {
        on_accept(ms);
        return ms->phase != PHASE_DONE;
    }
    if (rec->type == MIGRATE_REC_READY && ms->phase == PHASE_CONFIRM && rec->len == 0) {
        on_running(ms);
        return false;
    }
    fail(ms, -EPROTO, "the target sent an unexpected record (type %u, %llu bytes)", rec->type,
         (unsigned long long)rec->len);
    return false;
}

static void on_readable(MigrateSend *ms)
{
    for (;;) {
        MigrateRecord rec;
        ssize_t n =
            recv(ms->sock_src.fd, ms->in + ms->in_len, sizeof(ms->in) - ms->in_len, MSG_DONTWAIT);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            fail_connection(ms, n == 0 ? 0 : -errno, "waiting for its answer");
            return;
        }
        ms->in_len += (size_t)n;
        while (ms->in_len >= sizeof(rec)) {
            size_t whole;

            memcpy(&rec, ms->in, sizeof(rec));
            if (rec.type == 0 || rec.type >= _MIGRATE_REC_MAX || rec.reserved ||
                rec.len > MIGRATE_ERROR_MAX) {
                fail(ms, -EPROTO, "the target sent a malformed record");
                return;
            }
            whole = sizeof(rec) + (size_t)rec.len;
            if (ms->in_len < whole)
                break;
            if (!on_target_record(ms, &rec, ms->in + sizeof(rec)))
                return;
            memmove(ms->in, ms->in + whole, ms->in_len - whole);
            ms->in_len -= whole;
        }
    }
}

static void on_socket(LoopSource *src, uint32_t events)
{
    MigrateSend *ms = src->data;

    if (ms->phase == PHASE_DONE)
        return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(ms);
    if (ms->phase == PHASE_PRECOPY && (events & EPOLLOUT))
        precopy_send(ms);
}

static void on_timer(LoopSource *src, uint32_t events)
{
    MigrateSend *ms = src->data;
    uint64_t expirations, now = now_mono_ns();

    (void)!read(src->fd, &expirations, sizeof(expirations));
    switch (ms->phase) {
    case PHASE_HELLO:
        if (now >= ms->deadline)
            fail(ms, -ETIMEDOUT, "the target did not accept within the time limit of %g s",
                 ms->opts.timeout_s);
        break;
    case PHASE_PRECOPY:
        if (now < ms->deadline) {
            precopy_send(ms); /* the bandwidth limit allows more now */
            break;
        }
        if (ms->opts.stop_at_limit)
            on_stop_and_copy(ms);
        else
            fail(ms, -ETIMEDOUT, "the time limit of %g s was reached in pass %u",
                 ms->opts.timeout_s, ms->iteration);
        break;
    case PHASE_CONFIRM:
        if (now >= ms->confirm_deadline)
            fail(ms, -ETIMEDOUT, "the target was not ready within %g s of the state",
                 MIGRATE_CONFIRM_TIMEOUT_S);
        break;
    case PHASE_DONE:
        break;
    }
}

static int send_hello(MigrateSend *ms)
{
    MigrateHello hello = {.format_version = MIGRATE_FORMAT_VERSION};

    memcpy(hello.magic, MIGRATE_MAGIC, MIGRATE_MAGIC_LEN);
    snapshot_fill_header(ms->vm, 0, &hello.settings);
    return migrate_write_record(ms->sock_src.fd, MIGRATE_REC_HELLO, &hello, sizeof(hello), 5000);
}

int migrate_send_start(Vm *vm, Loop *loop, int fd, const MigrateOptions *opts, MigrateDoneFn done,
                       MigrateEventFn event, void *userdata, MigrateSend **ret, Error *e)
{
    MigrateSend *ms;
    int r, type;
    socklen_t tlen = sizeof(type);

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != SOCK_STREAM) {
        safe_close(fd);
        return error_set_errno(e, ENOTSOCK, "the descriptor is not a connected stream socket");
    }
    /* records end in small writes: Nagle's algorithm would hold them for an ACK (AF_UNIX: no-op) */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    ms = calloc(1, sizeof(*ms));
    if (!ms) {
        safe_close(fd);
        return error_set_errno(e, ENOMEM, "out of memory");
    }
    *ms = (MigrateSend){
        .vm = vm,
        .loop = loop,
        .opts = *opts,
        .done = done,
        .event = event,
        .userdata = userdata,
        .sock_src = {fd, on_socket, ms},
        .timer_src = {timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK), on_timer, ms},
        .npages = vm->mem.size / MIGRATE_PAGE_SIZE,
        .t_start = now_mono_ns(),
    };
    ms->words = (ms->npages + 63) / 64;
    ms->deadline = ms->t_start + (uint64_t)(opts->timeout_s * 1e9);
    ms->to_send = calloc(ms->words, sizeof(uint64_t));
    ms->sent_once = calloc(ms->words, sizeof(uint64_t));
    ms->out =
        malloc(CHUNK_PAGES * (MIGRATE_PAGE_SIZE + sizeof(MigrateRecord) + sizeof(MigratePages)));
    if (ms->timer_src.fd < 0 || !ms->to_send || !ms->sent_once || !ms->out) {
        r = error_set_errno(e, ms->timer_src.fd < 0 ? errno : ENOMEM,
                            "cannot set up the migration: %m");
        goto fail;
    }
    r = send_hello(ms);
    if (r < 0) {
        r = error_set_errno(e, -r, "cannot send to the target: %m");
        goto fail;
    }
    r = loop_add(loop, &ms->sock_src, EPOLLIN);
    if (r >= 0)
        r = loop_add(loop, &ms->timer_src, EPOLLIN);
    if (r < 0) {
        loop_remove(loop, &ms->sock_src);
        r = error_set_errno(e, -r, "cannot watch the migration: %m");
        goto fail;
    }
    arm_timer(ms, ms->deadline);
    *ret = ms;
    return 0;
fail:
    ms->done = NULL;
    ms->phase = PHASE_DONE;
    migrate_send_free(ms);
    return r;
}

void migrate_send_cancel(MigrateSend *ms, const char *reason)
{
    if (ms && ms->phase != PHASE_DONE)
        fail(ms, -ECANCELED, "%s", reason);
}

bool migrate_send_active(const MigrateSend *ms)
{
    return ms && ms->phase != PHASE_DONE;
}

MigrateSend *migrate_send_free(MigrateSend *ms)
{
    if (!ms)
        return NULL;
    ms->done = NULL;
    ms->event = NULL;
    migrate_send_cancel(ms, "the migration was abandoned");
    safe_close(ms->sock_src.fd);
    safe_close(ms->timer_src.fd);
    free(ms->to_send);
    free(ms->sent_once);
    free(ms->out);
    return mfree(ms);
}
