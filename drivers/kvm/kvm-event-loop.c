/* virEventRegisterImpl over sd-event: handles become io sources, timeouts time/defer sources.
 * libvirt requires that the free callback of a removed watch runs later, never inside the
 * remove call, so removals are finished from a deferred source. */
#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "kvm-event-loop.h"
#include "macro.h"

typedef struct Watch {
    int id;
    bool is_timer;
    bool removed;
    int fd;
    int events;   /* handles: VIR_EVENT_HANDLE_* */
    int interval; /* timers: -1 off, 0 every iteration, >0 milliseconds */
    sd_event_source *source;
    virEventHandleCallback handle_cb;
    virEventTimeoutCallback timeout_cb;
    void *opaque;
    virFreeCallback ff;
    struct Watch *next;
} Watch;

static sd_event *loop;
static Watch *watches;
static int next_id = 1;
static sd_event_source *reaper;

static Watch *watch_find(int id, bool is_timer)
{
    for (Watch *w = watches; w; w = w->next)
        if (w->id == id && w->is_timer == is_timer && !w->removed)
            return w;
    return NULL;
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

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    Watch *w = userdata;

    if (!w->removed)
        w->handle_cb(w->id, fd, from_epoll(revents), w->opaque);
    return 0;
}

static int on_reap(sd_event_source *s, void *userdata)
{
    Watch **p = &watches;

    while (*p) {
        Watch *w = *p;
        if (!w->removed) {
            p = &w->next;
            continue;
        }
        *p = w->next;
        (void)sd_event_source_disable_unref(w->source);
        if (w->ff)
            w->ff(w->opaque);
        free(w);
    }
    (void)sd_event_source_set_enabled(reaper, SD_EVENT_OFF);
    return 0;
}

static void schedule_reap(void)
{
    if (!reaper && sd_event_add_defer(loop, &reaper, on_reap, NULL) < 0)
        return;
    (void)sd_event_source_set_enabled(reaper, SD_EVENT_ONESHOT);
}

static int add_handle(int fd, int events, virEventHandleCallback cb, void *opaque,
                      virFreeCallback ff)
{
    Watch *w = calloc(1, sizeof(*w));

    if (!w)
        return -1;
    *w = (Watch){
        .id = next_id++, .fd = fd, .events = events, .handle_cb = cb, .opaque = opaque, .ff = ff};
    if (sd_event_add_io(loop, &w->source, fd, to_epoll(events), on_io, w) < 0) {
        free(w);
        return -1;
    }
    if (events == 0)
        (void)sd_event_source_set_enabled(w->source, SD_EVENT_OFF);
    w->next = watches;
    watches = w;
    return w->id;
}

static void update_handle(int id, int events)
{
    Watch *w = watch_find(id, false);

    if (!w)
        return;
    w->events = events;
    (void)sd_event_source_set_io_events(w->source, to_epoll(events));
    (void)sd_event_source_set_enabled(w->source, events ? SD_EVENT_ON : SD_EVENT_OFF);
}

static int remove_watch(int id, bool is_timer)
{
    Watch *w = watch_find(id, is_timer);

    if (!w)
        return -1;
    w->removed = true;
    (void)sd_event_source_set_enabled(w->source, SD_EVENT_OFF);
    schedule_reap();
    return 0;
}

static int remove_handle(int id)
{
    return remove_watch(id, false);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    Watch *w = userdata;

    if (w->removed)
        return 0;
    /* Re-arm first: the callback may change or remove the timer. */
    (void)sd_event_source_set_time_relative(s, (uint64_t)w->interval * 1000);
    (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    w->timeout_cb(w->id, w->opaque);
    return 0;
}

static int on_defer(sd_event_source *s, void *userdata)
{
    Watch *w = userdata;

    if (!w->removed)
        w->timeout_cb(w->id, w->opaque);
    return 0;
}

/* Replaces the timer's source to match its interval. */
static int timer_arm(Watch *w)
{
    w->source = sd_event_source_disable_unref(w->source);
    if (w->interval < 0)
        return 0;
    if (w->interval == 0)
        return sd_event_add_defer(loop, &w->source, on_defer, w);
    return sd_event_add_time_relative(loop, &w->source, CLOCK_MONOTONIC,
                                      (uint64_t)w->interval * 1000, 0, on_timer, w);
}

static int add_timeout(int interval, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff)
{
    Watch *w = calloc(1, sizeof(*w));

    if (!w)
        return -1;
    *w = (Watch){.id = next_id++,
                 .is_timer = true,
                 .fd = -1,
                 .interval = interval,
                 .timeout_cb = cb,
                 .opaque = opaque,
                 .ff = ff};
    if (timer_arm(w) < 0) {
        free(w);
        return -1;
    }
    if (w->source && w->interval == 0)
        (void)sd_event_source_set_enabled(w->source, SD_EVENT_ON);
    w->next = watches;
    watches = w;
    return w->id;
}

static void update_timeout(int id, int interval)
{
    Watch *w = watch_find(id, true);

    if (!w)
        return;
    w->interval = interval;
    (void)timer_arm(w);
    if (w->source && w->interval == 0)
        (void)sd_event_source_set_enabled(w->source, SD_EVENT_ON);
}

static int remove_timeout(int id)
{
    return remove_watch(id, true);
}

int kvm_event_loop_register(sd_event *event)
{
    if (loop)
        return loop == event ? 0 : -EBUSY;
    loop = sd_event_ref(event);
    virEventRegisterImpl(add_handle, update_handle, remove_handle, add_timeout, update_timeout,
                         remove_timeout);
    return 0;
}
