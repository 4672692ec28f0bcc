/* Domain lifecycle: the transition function, actions, waiters, driver events and crash policy. */
#include <string.h>

#include "log.h"
#include "manager-internal.h"
#include "time-util.h"

#define RESTART_WINDOW_US (60 * USEC_PER_SEC)
#define RESTART_MAX       5u

struct DomainWaiter {
    DomainState target;
    ManagerDone done;
    void *userdata;
    DomainWaiter *next;
};

static int waiter_add(Domain *d, DomainState target, ManagerDone done, void *userdata)
{
    DomainWaiter *w = calloc(1, sizeof(*w));

    if (!w)
        return -ENOMEM;
    *w = (DomainWaiter){.target = target, .done = done, .userdata = userdata, .next = d->waiters};
    d->waiters = w;
    return 0;
}

/* Completes waiters whose target d reached, and fails those it can no longer reach. */
static void waiters_process(Domain *d)
{
    DomainWaiter **p = &d->waiters;

    while (*p) {
        DomainWaiter *w = *p;
        Error e = ERROR_NULL;
        bool finished = false;

        if (d->state == w->target)
            finished = true;
        else if (w->target == STATE_RUNNING &&
                 (d->state == STATE_SHUTOFF || d->state == STATE_CRASHED)) {
            (void)error_setf(&e, ERROR_FAILED, "domain '%s' is %s (%s) instead of running",
                             d->config.name, domain_state_to_string(d->state),
                             domain_reason_to_string(d->reason));
            finished = true;
        }
        if (!finished) {
            p = &w->next;
            continue;
        }
        *p = w->next;
        w->done(w->userdata, d, error_is_set(&e) ? &e : NULL);
        free(w);
    }
}

void manager_cancel_waiters(Domain *d, const char *why)
{
    while (d->waiters) {
        DomainWaiter *w = d->waiters;
        Error e = ERROR_NULL;

        d->waiters = w->next;
        (void)error_setf(&e, ERROR_FAILED, "%s", why);
        w->done(w->userdata, d, &e);
        free(w);
    }
}

int manager_transition(Manager *m, Domain *d, DomainState state, DomainReason reason,
                       const DomainRuntime *rt, const char *detail, bool force, Error *e)
{
    DomainState old_state = d->state;
    DomainReason old_reason = d->reason;
    DomainRuntime new_rt = rt ? *rt : d->runtime;
    bool held = domain_state_holds_allocation(old_state);
    bool holds = domain_state_holds_allocation(state);
    uint64_t now = now_usec(CLOCK_REALTIME);
    int64_t event_id = 0;
    json_t *ev;
    int r;

    if (!domain_state_transition_is_legal(old_state, state))
        return error_setf(e, ERROR_INVALID_STATE, "domain '%s' cannot go from %s to %s",
                          d->config.name, domain_state_to_string(old_state),
                          domain_state_to_string(state));
    if (!domain_reason_valid_for_state(state, reason))
        return error_setf(e, ERROR_FAILED, "internal error: %s is not a reason for %s",
                          domain_reason_to_string(reason), domain_state_to_string(state));
    if (!domain_state_is_active(state)) {
        new_rt.pid = 0;
        new_rt.pid_start_time = 0;
    }
    if (state == STATE_STARTING)
        new_rt.started_us = now;

    ev = json_pack("{s:s, s:s, s:s, s:s}", "state", domain_state_to_string(state), "reason",
                   domain_reason_to_string(reason), "old_state", domain_state_to_string(old_state),
                   "old_reason", domain_reason_to_string(old_reason));
    if (ev && detail)
        (void)json_object_set_new(ev, "message", json_string(detail));

    r = store_begin(m->store);
    if (r >= 0)
        r = store_domain_set_state(m->store, d->id, state, reason, &new_rt, now);
    if (r >= 0 && holds && !held)
        r = store_allocation_set(m->store, d->id, d->config.vcpus, d->config.memory_mib,
                                 d->config.cpuset);
    if (r >= 0 && held && !holds)
        r = store_allocation_clear(m->store, d->id);
    if (r >= 0)
        r = manager_log_event(m, d->config.name, "state-changed", ev, &event_id);
    if (r >= 0)
        r = store_commit(m->store);
    json_decref(ev);
    if (r < 0) {
        store_rollback(m->store);
        log_error_errno(r, "Failed to record domain %s going %s -> %s: %s", d->config.name,
                        domain_state_to_string(old_state), domain_state_to_string(state),
                        r == -EBUSY ? "database locked" : store_last_error(m->store));
        if (!force)
            return error_set_errno(e, r, "Failed to record the state change of '%s': %s",
                                   d->config.name,
                                   r == -EBUSY    ? "the database is locked by another process"
                                   : r == -ENOSPC ? "no space left in the state directory"
                                                  : store_last_error(m->store));
    }

    manager_account_state(m, d, state);
    d->state = state;
    d->reason = reason;
    d->runtime = new_rt;
    d->state_changed_us = now;
    if (state != STATE_STOPPING)
        d->shutdown_timer = sd_event_source_disable_unref(d->shutdown_timer);

    log_info("Domain %s: %s/%s -> %s/%s%s%s", d->config.name, domain_state_to_string(old_state),
             domain_reason_to_string(old_reason), domain_state_to_string(state),
             domain_reason_to_string(reason), detail ? ": " : "", strempty(detail));
    manager_notify_state(m, d, old_state, event_id);
    manager_update_status(m);
    waiters_process(d);
    return 0;
}

static int require_state(Domain *d, DomainState wanted, const char *verb, const char *hint,
                         Error *e)
{
    if (d->state == wanted)
        return 0;
    return error_setf(e, ERROR_INVALID_STATE, "domain '%s' is %s; only a %s domain can be %s%s",
                      d->config.name, domain_state_to_string(d->state),
                      domain_state_to_string(wanted), verb, strempty(hint));
}

static int require_driver(Manager *m, Domain *d, Driver **ret, Error *e)
{
    Driver *drv = manager_driver(m, d);

    if (!drv)
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the %s driver is not built into this hvd",
                          driver_kind_to_string(d->config.driver));
    if (!drv->available)
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the %s driver is unavailable: %s",
                          drv->ops->name, strna(drv->unavailable_reason));
    *ret = drv;
    return 0;
}

/* Brings a shut-off (or crashed, for restarts) domain up; reason is the running reason. */
static int domain_boot(Manager *m, Domain *d, DomainReason reason, ManagerDone done, void *userdata,
                       Error *e)
{
    DomainRuntime rt = {};
    Error start_error = ERROR_NULL;
    Driver *drv;
    int r;

    r = require_driver(m, d, &drv, e);
    if (r < 0)
        return r;
    r = driver_validate(drv, &d->config, e);
    if (r < 0)
        return r;
    if (!domain_state_holds_allocation(d->state)) {
        r = alloc_check(&m->alloc, d->config.vcpus, d->config.memory_mib, d->config.cpuset, e);
        if (r < 0)
            return r;
    }
    r = manager_transition(m, d, STATE_STARTING, REASON_BOOTING, NULL, NULL, false, e);
    if (r < 0)
        return r;

    d->boot_reason = reason;
    rt.started_us = d->runtime.started_us;
    r = driver_start(drv, &d->config, &rt, 0, &start_error);
    if (r < 0) {
        (void)manager_transition(m, d, STATE_SHUTOFF, REASON_FAILED, NULL, start_error.message,
                                 true, NULL);
        *e = start_error;
        return r;
    }
    if (r == DRIVER_DONE)
        return manager_transition(m, d, STATE_RUNNING, reason, &rt, NULL, true, e);

    d->runtime = rt;
    if (rt.pid > 0) {
        /* Record the process now, so a restart of hvd can find it while it boots. */
        if (store_domain_set_state(m->store, d->id, d->state, d->reason, &rt,
                                   now_usec(CLOCK_REALTIME)) < 0)
            log_warning("Domain %s: failed to record pid %d: %s", d->config.name, rt.pid,
                        store_last_error(m->store));
    }
    if (!done)
        return 0;
    r = waiter_add(d, STATE_RUNNING, done, userdata);
    return r < 0 ? error_set_errno(e, r, "Out of memory") : 1;
}

static int on_shutdown_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    Domain *d = userdata;
    Manager *m = d->manager;
    Error e = ERROR_NULL;
    int r;

    d->shutdown_timer = sd_event_source_disable_unref(d->shutdown_timer);
    if (d->state != STATE_STOPPING)
        return 0;
    log_notice("Domain %s did not shut down in time; destroying it.", d->config.name);
    r = driver_destroy(manager_driver(m, d), &d->config, &d->runtime, 0, &e);
    if (r < 0)
        log_error("Domain %s: destroy after shutdown timeout failed: %s", d->config.name,
                  e.message);
    else if (r == DRIVER_DONE)
        (void)manager_transition(m, d, STATE_SHUTOFF, REASON_DESTROYED, NULL,
                                 "the guest did not shut down before the timeout", true, NULL);
    return 0;
}

int manager_arm_shutdown_timer(Manager *m, Domain *d, unsigned timeout_s)
{
    d->shutdown_timer = sd_event_source_disable_unref(d->shutdown_timer);
    return sd_event_add_time_relative(m->event, &d->shutdown_timer, CLOCK_MONOTONIC,
                                      (uint64_t)timeout_s * USEC_PER_SEC, 0, on_shutdown_timeout,
                                      d);
}

static int action_shutdown(Manager *m, Domain *d, unsigned timeout_s, Error *e)
{
    DomainReason running_reason = d->reason;
    Error shutdown_error = ERROR_NULL;
    Driver *drv;
    int r;

    r = require_state(d, STATE_RUNNING, "shut down", " (use destroy to force it off)", e);
    if (r < 0)
        return r;
    r = require_driver(m, d, &drv, e);
    if (r < 0)
        return r;
    r = manager_transition(m, d, STATE_STOPPING, REASON_SHUTDOWN, NULL, NULL, false, e);
    if (r < 0)
        return r;
    r = driver_shutdown(drv, &d->config, &d->runtime, 0, &shutdown_error);
    if (r < 0) {
        (void)manager_transition(m, d, STATE_RUNNING, running_reason, NULL, shutdown_error.message,
                                 true, NULL);
        *e = shutdown_error;
        return r;
    }
    if (r == DRIVER_DONE)
        return manager_transition(m, d, STATE_SHUTOFF, REASON_SHUTDOWN, NULL, NULL, true, e);
    r = manager_arm_shutdown_timer(m, d, timeout_s ?: m->config->shutdown_timeout_s);
    if (r < 0)
        log_warning_errno(r, "Domain %s: failed to arm the shutdown timer: %m", d->config.name);
    return 0;
}

static int action_destroy(Manager *m, Domain *d, ManagerDone done, void *userdata, Error *e)
{
    Driver *drv;
    int r;

    if (d->state == STATE_SHUTOFF)
        return error_setf(e, ERROR_INVALID_STATE, "domain '%s' is already shut off",
                          d->config.name);
    r = require_driver(m, d, &drv, e);
    if (r < 0)
        return r;
    r = driver_destroy(drv, &d->config, &d->runtime, 0, e);
    if (r < 0)
        return r;
    if (r == DRIVER_DONE || d->state == STATE_SHUTOFF) {
        if (d->state == STATE_SHUTOFF)
            return 0;
        return manager_transition(m, d, STATE_SHUTOFF, REASON_DESTROYED, NULL, NULL, true, e);
    }
    if (!done)
        return 0;
    r = waiter_add(d, STATE_SHUTOFF, done, userdata);
    return r < 0 ? error_set_errno(e, r, "Out of memory") : 1;
}

typedef int (*DriverSimpleOp)(Driver *, const DomainConfig *, const DomainRuntime *, unsigned,
                              Error *);

/* pause, resume, reboot: from one state, through one driver call, to one state. */
static int action_simple(Manager *m, Domain *d, DomainState from, const char *verb,
                         DriverSimpleOp op, DomainState to, DomainReason reason, ManagerDone done,
                         void *userdata, Error *e)
{
    Driver *drv;
    int r;

    r = require_state(d, from, verb, NULL, e);
    if (r < 0)
        return r;
    r = require_driver(m, d, &drv, e);
    if (r < 0)
        return r;
    r = op(drv, &d->config, &d->runtime, 0, e);
    if (r < 0)
        return r;
    if (r == DRIVER_DONE)
        return manager_transition(m, d, to, reason, NULL, NULL, true, e);
    if (!done)
        return 0;
    r = waiter_add(d, to, done, userdata);
    return r < 0 ? error_set_errno(e, r, "Out of memory") : 1;
}

int manager_domain_action(Manager *m, Domain *d, DomainAction action, unsigned timeout_s,
                          ManagerDone done, void *userdata, Error *e)
{
    int r;

    switch (action) {
    case ACTION_START:
        r = require_state(d, STATE_SHUTOFF, "started",
                          d->state == STATE_CRASHED ? " (destroy it first)" : NULL, e);
        if (r < 0)
            return r;
        return domain_boot(m, d, REASON_BOOTED, done, userdata, e);
    case ACTION_SHUTDOWN:
        return action_shutdown(m, d, timeout_s, e);
    case ACTION_DESTROY:
        return action_destroy(m, d, done, userdata, e);
    case ACTION_PAUSE:
        return action_simple(m, d, STATE_RUNNING, "paused", driver_pause, STATE_PAUSED, REASON_USER,
                             done, userdata, e);
    case ACTION_RESUME:
        return action_simple(m, d, STATE_PAUSED, "resumed", driver_resume, STATE_RUNNING,
                             REASON_UNPAUSED, done, userdata, e);
    case ACTION_REBOOT:
        return action_simple(m, d, STATE_RUNNING, "rebooted", driver_reboot, STATE_RUNNING,
                             REASON_REBOOTED, done, userdata, e);
    default:
        return error_setf(e, ERROR_INVALID_ARGUMENT, "unknown action %d", (int)action);
    }
}

/* Applies the on-crash policy after d entered crashed. */
static void domain_handle_crash(Manager *m, Domain *d)
{
    uint64_t now = now_usec(CLOCK_MONOTONIC);
    Error e = ERROR_NULL;

    if (d->config.on_crash == ON_CRASH_PRESERVE)
        return;

    if (driver_destroy(manager_driver(m, d), &d->config, &d->runtime, 0, &e) < 0)
        log_debug("Domain %s: destroy after crash: %s", d->config.name, e.message);

    if (d->config.on_crash == ON_CRASH_DESTROY) {
        (void)manager_transition(m, d, STATE_SHUTOFF, REASON_CRASHED, NULL,
                                 "on-crash policy: destroy", true, NULL);
        return;
    }

    if (d->last_crash_us && now - d->last_crash_us < RESTART_WINDOW_US)
        d->restarts++;
    else
        d->restarts = 1;
    d->last_crash_us = now;
    if (d->restarts > RESTART_MAX) {
        (void)manager_transition(m, d, STATE_SHUTOFF, REASON_CRASHED, NULL,
                                 "on-crash policy: restart, but it crashed too often; stopped "
                                 "restarting",
                                 true, NULL);
        return;
    }
    e = ERROR_NULL;
    if (domain_boot(m, d, REASON_RESTARTED, NULL, NULL, &e) < 0)
        log_warning("Domain %s: restart after crash failed: %s", d->config.name, e.message);
}

static void on_driver_domain_state(void *userdata, Driver *drv, const char *name, DomainState state,
                                   DomainReason reason, const DomainRuntime *rt, const char *detail)
{
    Manager *m = userdata;
    Domain *d = manager_find(m, name);

    if (!d || manager_driver(m, d) != drv)
        return;
    if (state == d->state && !(state == STATE_RUNNING && reason == REASON_REBOOTED)) {
        if (rt && rt->pid != d->runtime.pid)
            d->runtime = *rt;
        return;
    }
    if (d->state == STATE_STARTING && state == STATE_RUNNING && reason == REASON_BOOTED)
        reason = d->boot_reason;

    if (d->state == STATE_SHUTOFF && (state == STATE_RUNNING || state == STATE_PAUSED)) {
        log_notice("Domain %s was started outside hvd; recording it.", name);
        (void)manager_transition(m, d, STATE_STARTING, REASON_BOOTING, rt, "started outside hvd",
                                 true, NULL);
    }
    if (!domain_state_transition_is_legal(d->state, state)) {
        log_debug("Domain %s: ignoring driver report %s/%s while %s", name,
                  domain_state_to_string(state), domain_reason_to_string(reason),
                  domain_state_to_string(d->state));
        return;
    }
    (void)manager_transition(m, d, state, reason, rt, detail, true, NULL);
    if (state == STATE_CRASHED)
        domain_handle_crash(m, d);
}

static void on_driver_availability(void *userdata, Driver *drv, bool available, const char *why)
{
    Manager *m = userdata;

    if (available) {
        log_info("The %s driver is available again; reconciling its domains.", drv->ops->name);
        manager_reconcile_driver(m, drv);
    } else
        log_warning("The %s driver is unavailable: %s", drv->ops->name, strna(why));
}

static void on_driver_console(void *userdata, Driver *drv, const char *name, const char *data,
                              size_t len)
{
    Manager *m = userdata;
    Domain *d = manager_find(m, name);

    if (d)
        manager_notify_console(m, d, data, len);
}

DriverEvents manager_driver_events(Manager *m)
{
    return (DriverEvents){
        .domain_state = on_driver_domain_state,
        .availability = on_driver_availability,
        .console = on_driver_console,
        .userdata = m,
    };
}
