/* virEventRegisterImpl over sd-event, callable from any thread: libvirt updates its watches from
 * whichever thread is talking to libvirtd, hvd's workers included, and sd-event is not
 * thread-safe. So libvirt's handles live in an epoll set of their own and its timeouts behind one
 * timerfd, or an eventfd for those due at once (kernel objects that any thread may change), and
 * only those fds and a wake-up eventfd are sd-event sources. Every callback runs on the loop
 * thread; the free callback of a removed watch runs later from a clean stack, never inside the
 * remove call, as libvirt requires.
 */
#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>

#include "kvm-event-loop.h"
#include "macro.h"

#define EVENTS_PER_WAKEUP 16

typedef struct Watch {
    int id;
    bool is_timer;
    bool removed;
    int fd;
    int events;          /* handles: VIR_EVENT_HANDLE_* wanted */
    bool in_epoll;       /* handles: fd is in the epoll set */
    int interval;        /* timers: -1 off, 0 every iteration, >0 milliseconds */
    uint64_t expires_ns; /* timers: CLOCK_MONOTONIC deadline while interval >= 0 */
    virEventHandleCallback handle_cb;
    virEventTimeoutCallback timeout_cb;
    void *opaque;
    virFreeCallback ff;
    struct Watch *next;
} Watch;

/* Everything below is guarded by lock, except the sd-event sources (loop thread only). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sd_event *loop;
static int epoll_fd = -1, timer_fd = -1, due_fd = -1, wake_fd = -1;
static sd_event_source *epoll_source, *timer_source, *due_source, *wake_source;
static Watch *watches;
static int next_id = 1;
static uint64_t armed_ns;  /* the timerfd's deadline, 0 when it is not armed */
static bool due_signalled; /* due_fd was written and not read yet */

static uint64_t now_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static Watch *watch_find(int id, bool is_timer)
{
    for (Watch *w = watches; w; w = w->next)
        if (w->id == id && w->is_timer == is_timer && !w->removed)
            return w;
    return NULL;
}

static Watch *watch_new(void)
{
    Watch *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->id = next_id++;
    w->fd = -1;
    w->next = watches;
    watches = w;
    return w;
}

static void wake_loop(void)
{
    uint64_t one = 1;

    (void)write(wake_fd, &one, sizeof(one));
}

static uint32_t to_epoll(int events)
{
    uint32_t e = 0;

    if (events & VIR_EVENT_HANDLE_READABLE)
        e |= EPOLLIN;
    if (events & VIR_EVENT_HANDLE_WRITABLE)
        e |= EPOLLOUT;
    return e;
}

static int from_epoll(uint32_t e)
{
    int events = 0;

    if (e & EPOLLIN)
        events |= VIR_EVENT_HANDLE_READABLE;
    if (e & EPOLLOUT)
        events |= VIR_EVENT_HANDLE_WRITABLE;
    if (e & EPOLLERR)
        events |= VIR_EVENT_HANDLE_ERROR;
    if (e & EPOLLHUP)
        events |= VIR_EVENT_HANDLE_HANGUP;
    return events;
}

/* Puts w's fd in the epoll set with its events, or takes it out while it wants none (epoll would
 * still report errors and hang-ups of an fd nobody listens to). Lock held. */
static int handle_sync(Watch *w)
{
    struct epoll_event ev = {.events = to_epoll(w->events), .data.u64 = (uint64_t)w->id};

    if (w->events == 0 || w->removed) {
        if (w->in_epoll)
            (void)epoll_ctl(epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
        w->in_epoll = false;
        return 0;
    }
    if (epoll_ctl(epoll_fd, w->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w->fd, &ev) < 0)
        return -errno;
    w->in_epoll = true;
    return 0;
}

/* Arms the timerfd for the earliest active timeout. Lock held. It is only ever moved earlier:
 * a deadline that is later than the armed one, or none at all, leaves the timerfd to fire early
 * (on_timers finds nothing due and arms it again), which costs less than a timerfd_settime for
 * every change libvirt makes (its event queue turns a zero timeout on and off per event). */
static void timers_sync(void)
{
    struct itimerspec its = {};
    uint64_t earliest = UINT64_MAX;

    for (Watch *w = watches; w; w = w->next)
        if (w->is_timer && !w->removed && w->interval >= 0)
            earliest = MIN(earliest, w->expires_ns);
    if (earliest == UINT64_MAX || (armed_ns && armed_ns <= earliest))
        return;
    if (earliest <= now_ns()) {
        /* Due now (libvirt's zero timeouts): an eventfd says so without programming a timer,
         * which costs far more here. */
        uint64_t one = 1;
        if (!due_signalled && write(due_fd, &one, sizeof(one)) == sizeof(one))
            due_signalled = true;
        return;
    }
    earliest = MAX(earliest, UINT64_C(1)); /* zero would disarm */
    its.it_value.tv_sec = (time_t)(earliest / 1000000000u);
    its.it_value.tv_nsec = (long)(earliest % 1000000000u);
    if (timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        armed_ns = earliest;
}

static void timer_schedule(Watch *w, uint64_t now)
{
    if (w->interval >= 0)
        w->expires_ns = now + (uint64_t)w->interval * 1000000u;
}

static int add_handle(int fd, int events, virEventHandleCallback cb, void *opaque,
                      virFreeCallback ff)
{
    Watch *w;
    int id = -1;

    (void)pthread_mutex_lock(&lock);
    w = watch_new();
    if (w) {
        w->fd = fd;
        w->events = events;
        w->handle_cb = cb;
        w->opaque = opaque;
        w->ff = ff;
        if (handle_sync(w) < 0) {
            watches = w->next;
            free(w);
        } else
            id = w->id;
    }
    (void)pthread_mutex_unlock(&lock);
    return id;
}

static void update_handle(int id, int events)
{
    Watch *w;

    (void)pthread_mutex_lock(&lock);
    w = watch_find(id, false);
    if (w) {
        w->events = events;
        (void)handle_sync(w);
    }
    (void)pthread_mutex_unlock(&lock);
}

/* Marks the watch removed now (its callbacks stop at once) and lets the loop free it. */
static int remove_watch(int id, bool is_timer)
{
    Watch *w;

    (void)pthread_mutex_lock(&lock);
    w = watch_find(id, is_timer);
    if (w) {
        w->removed = true;
        if (is_timer)
            timers_sync();
        else
            (void)handle_sync(w);
    }
    (void)pthread_mutex_unlock(&lock);
    if (!w)
        return -1;
    wake_loop();
    return 0;
}

static int remove_handle(int id)
{
    return remove_watch(id, false);
}

static int add_timeout(int interval, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff)
{
    Watch *w;
    int id = -1;

    (void)pthread_mutex_lock(&lock);
    w = watch_new();
    if (w) {
        w->is_timer = true;
        w->interval = interval;
        w->timeout_cb = cb;
        w->opaque = opaque;
        w->ff = ff;
        timer_schedule(w, now_ns());
        timers_sync();
        id = w->id;
    }
    (void)pthread_mutex_unlock(&lock);
    return id;
}

static void update_timeout(int id, int interval)
{
    Watch *w;

    (void)pthread_mutex_lock(&lock);
    w = watch_find(id, true);
    if (w) {
        w->interval = interval;
        timer_schedule(w, now_ns());
        timers_sync();
    }
    (void)pthread_mutex_unlock(&lock);
}

static int remove_timeout(int id)
{
    return remove_watch(id, true);
}

static int on_handles(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    struct epoll_event evs[EVENTS_PER_WAKEUP];
    int n = epoll_wait(epoll_fd, evs, ELEMENTSOF(evs), 0);

    for (int i = 0; i < n; i++) {
        virEventHandleCallback cb = NULL;
        void *opaque = NULL;
        int id = (int)evs[i].data.u64, watch_fd = -1, events = 0;
        Watch *w;

        /* A callback may have removed or changed a watch whose event is still in evs. */
        (void)pthread_mutex_lock(&lock);
        w = watch_find(id, false);
        if (w) {
            events = from_epoll(evs[i].events) &
                     (w->events | VIR_EVENT_HANDLE_ERROR | VIR_EVENT_HANDLE_HANGUP);
            cb = w->handle_cb;
            opaque = w->opaque;
            watch_fd = w->fd;
        }
        (void)pthread_mutex_unlock(&lock);
        if (w && events)
            cb(id, watch_fd, events, opaque);
    }
    return 0;
}

static int on_timers(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    uint64_t expirations, now = now_ns();
    int due[EVENTS_PER_WAKEUP];
    size_t n_due = 0;

    (void)read(fd, &expirations, sizeof(expirations));
    (void)pthread_mutex_lock(&lock);
    if (fd == timer_fd)
        armed_ns = 0; /* it fired: nothing is armed any more */
    else
        due_signalled = false;
    for (Watch *w = watches; w && n_due < ELEMENTSOF(due); w = w->next)
        if (w->is_timer && !w->removed && w->interval >= 0 && w->expires_ns <= now) {
            due[n_due++] = w->id;
            timer_schedule(w, now);
        }
    timers_sync();
    (void)pthread_mutex_unlock(&lock);

    for (size_t i = 0; i < n_due; i++) {
        virEventTimeoutCallback cb = NULL;
        void *opaque = NULL;
        Watch *w;

        /* An earlier callback may have removed or disabled this timer. */
        (void)pthread_mutex_lock(&lock);
        w = watch_find(due[i], true);
        if (w && w->interval >= 0) {
            cb = w->timeout_cb;
            opaque = w->opaque;
        }
        (void)pthread_mutex_unlock(&lock);
        if (cb)
            cb(due[i], opaque);
    }
    return 0;
}

/* Frees removed watches, calling their free callbacks outside the lock (they may call back into
 * libvirt, and so into this file). */
static int on_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    Watch *gone = NULL, **p = &watches;
    uint64_t n;

    (void)read(wake_fd, &n, sizeof(n));
    (void)pthread_mutex_lock(&lock);
    while (*p) {
        Watch *w = *p;
        if (!w->removed) {
            p = &w->next;
            continue;
        }
        *p = w->next;
        w->next = gone;
        gone = w;
    }
    (void)pthread_mutex_unlock(&lock);

    while (gone) {
        Watch *next = gone->next;
        if (gone->ff)
            gone->ff(gone->opaque);
        free(gone);
        gone = next;
    }
    return 0;
}

static int add_fd_source(int fd, sd_event_io_handler_t handler, sd_event_source **ret)
{
    if (fd < 0)
        return -errno;
    return sd_event_add_io(loop, ret, fd, EPOLLIN, handler, NULL);
}

int kvm_event_loop_register(sd_event *event)
{
    int r;

    if (loop)
        return loop == event ? 0 : -EBUSY;
    loop = event;
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    due_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r = add_fd_source(epoll_fd, on_handles, &epoll_source);
    if (r >= 0)
        r = add_fd_source(timer_fd, on_timers, &timer_source);
    if (r >= 0)
        r = add_fd_source(due_fd, on_timers, &due_source);
    if (r >= 0)
        r = add_fd_source(wake_fd, on_wake, &wake_source);
    if (r < 0) {
        epoll_source = sd_event_source_disable_unref(epoll_source);
        timer_source = sd_event_source_disable_unref(timer_source);
        due_source = sd_event_source_disable_unref(due_source);
        wake_source = sd_event_source_disable_unref(wake_source);
        epoll_fd = safe_close(epoll_fd);
        timer_fd = safe_close(timer_fd);
        due_fd = safe_close(due_fd);
        wake_fd = safe_close(wake_fd);
        loop = NULL;
        return r;
    }
    sd_event_ref(loop);
    virEventRegisterImpl(add_handle, update_handle, remove_handle, add_timeout, update_timeout,
                         remove_timeout);
    return 0;
}
