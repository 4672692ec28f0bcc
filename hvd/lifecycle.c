/* Domain lifecycle: the transition function, actions and their completion (synchronous or
 * reported later by the driver), waiters, spontaneous driver events and the crash policy. */
#include <string.h>

#include "log.h"
#include "manager-internal.h"
#include "time-util.h"

#define RESTART_WINDOW_US (60 * USEC_PER_SEC)
#define RESTART_MAX       5u

struct DomainWaiter {
    DomainAction op;
    ManagerDone done;
    void *userdata;
    DomainWaiter *next;
};

static int waiter_add(Domain *d, DomainAction op, ManagerDone done, void *userdata)
{
    DomainWaiter *w = calloc(1, sizeof(*w));

    if (!w)
        return -ENOMEM;
    *w = (DomainWaiter){.op = op, .done = done, .userdata = userdata, .next = d->waiters};
    d->waiters = w;
    return 0;
}

/* Completes the waiters of op (all of them: a driver completes operations in order). */
static void waiters_complete(Domain *d, DomainAction op, const Error *e)
{
    DomainWaiter **p = &d->waiters;

    while (*p) {
        DomainWaiter *w = *p;
        if (w->op != op) {
            p = &w->next;
            continue;
        }
        *p = w->next;
        w->done(w->userdata, d, e);
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

/* What a driver reports (the process) over what hvd knows: drivers report pids, not start
 * times, so the time the domain started is kept. */
static DomainRuntime runtime_from_driver(const Domain *d, const DomainRuntime *rt)
{
    DomainRuntime merged = *rt;

    if (!merged.started_us)
        merged.started_us = d->runtime.started_us;
    return merged;
}

int manager_transition(Manager *m, Domain *d, DomainState state, DomainReason reason,
                       const DomainRuntime *rt, const char *detail, bool force, Error *e)
{
    DomainState old_state = d->state;
    DomainReason old_reason = d->reason;
    DomainRuntime new_rt = rt ? runtime_from_driver(d, rt) : d->runtime;
    bool held = domain_state_holds_allocation(old_state);
    bool holds = domain_state_holds_allocation(state);
    uint64_t now = now_usec(CLOCK_REALTIME);
    int64_t event_id = 0;
    bool unrecorded = false;
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

    /* state_changed_us and pid as the domain will show them: a client can apply the event
     * without reading the domain again. */
    ev = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "state", domain_state_to_string(state),
                   "reason", domain_reason_to_string(reason), "old_state",
                   domain_state_to_string(old_state), "old_reason",
                   domain_reason_to_string(old_reason), "state_changed_us", (json_int_t)now, "pid",
                   (json_int_t)new_rt.pid);
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
        const char *why = r == -EBUSY    ? "the database is locked by another process"
                          : r == -ENOSPC ? "no space left in the state directory"
                                         : store_last_error(m->store);
        store_rollback(m->store);
        log_error_errno(r, "Failed to record domain %s going %s -> %s: %s", d->config.name,
                        domain_state_to_string(old_state), domain_state_to_string(state), why);
        if (!force)
            return error_set_errno(e, r, "Failed to record the state change of '%s': %s",
                                   d->config.name, why);
        /* It happened anyway: keep it in memory, record it later, and let the caller say so. */
        (void)error_set_errno(e, r,
                              "domain '%s' is now %s, but hvd could not record it yet: %s (it "
                              "will as soon as it can)",
                              d->config.name, domain_state_to_string(state), why);
        manager_save_later(m, d);
        unrecorded = true;
    } else
        d->unsaved = false;

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
    return unrecorded ? 1 : 0;
}

static int on_shutdown_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    Domain *d = userdata;
    Error e = ERROR_NULL;

    d->shutdown_timer = sd_event_source_disable_unref(d->shutdown_timer);
    if (d->state != STATE_STOPPING)
        return 0;
    log_notice("Domain %s did not shut down in time; destroying it.", d->config.name);
    if (manager_domain_action(d->manager, d, ACTION_DESTROY, 0, NULL, NULL, &e) < 0)
        log_error("Domain %s: destroy after the shutdown timeout failed: %s", d->config.name,
                  e.message);
    return 0;
}

int manager_arm_shutdown_timer(Manager *m, Domain *d, unsigned timeout_s)
{
    d->shutdown_timer = sd_event_source_disable_unref(d->shutdown_timer);
    return sd_event_add_time_relative(m->event, &d->shutdown_timer, CLOCK_MONOTONIC,
                                      (uint64_t)timeout_s * USEC_PER_SEC, 0, on_shutdown_timeout,
                                      d);
}

/* Applies the outcome of an operation to d, whether it finished at once or was reported later
 * by the driver; then completes its waiters. observed is what the backend says now. */
static int op_finished(Manager *m, Domain *d, DomainAction op, const Error *e,
                       const DomainRuntime *rt, DomainState observed, Error *ret_unrecorded)
{
    Error unrecorded = ERROR_NULL;

    if (op == ACTION_DESTROY && d->clearing_crashes > 0) {
        /* The on-crash policy cleared the crashed instance before restarting it (a driver
         * completes operations in order): the domain is starting, the start will report. */
        d->clearing_crashes--;
        if (e)
            log_debug("Domain %s: clearing the crashed instance: %s", d->config.name, e->message);
        return 0;
    }
    if (e) {
        switch (op) {
        case ACTION_START:
            if (d->state == STATE_STARTING)
                (void)manager_transition(m, d, STATE_SHUTOFF, REASON_FAILED, NULL, e->message, true,
                                         NULL);
            break;
        case ACTION_SHUTDOWN:
            if (d->state == STATE_STOPPING)
                (void)manager_transition(m, d, STATE_RUNNING, d->stopping_from, NULL, e->message,
                                         true, NULL);
            break;
        default:
            log_warning("Domain %s: %s failed: %s", d->config.name, domain_action_to_string(op),
                        e->message);
        }
        waiters_complete(d, op, e);
        return 0;
    }

    switch (op) {
    case ACTION_START:
        if (d->state == STATE_STARTING)
            (void)manager_transition(m, d, STATE_RUNNING, d->boot_reason, rt, NULL, true,
                                     &unrecorded);
        break;
    case ACTION_SHUTDOWN:
        /* The request reached the guest; it decides when it is off (or the timer does). */
        if (d->state == STATE_STOPPING && observed == STATE_SHUTOFF)
            (void)manager_transition(m, d, STATE_SHUTOFF, REASON_SHUTDOWN, NULL, NULL, true,
                                     &unrecorded);
        break;
    case ACTION_DESTROY:
        if (d->state != STATE_SHUTOFF)
            (void)manager_transition(
                m, d, STATE_SHUTOFF, d->state == STATE_CRASHED ? REASON_CRASHED : REASON_DESTROYED,
                NULL, d->state == STATE_STOPPING ? "the guest did not shut down in time" : NULL,
                true, &unrecorded);
        break;
    case ACTION_PAUSE:
        if (d->state == STATE_RUNNING)
            (void)manager_transition(m, d, STATE_PAUSED, REASON_USER, NULL, NULL, true,
                                     &unrecorded);
        break;
    case ACTION_RESUME:
        if (d->state == STATE_PAUSED)
            (void)manager_transition(m, d, STATE_RUNNING, REASON_UNPAUSED, NULL, NULL, true,
                                     &unrecorded);
        break;
    case ACTION_REBOOT:
        if (d->state == STATE_RUNNING)
            (void)manager_transition(m, d, STATE_RUNNING, REASON_REBOOTED, rt, NULL, true,
                                     &unrecorded);
        break;
    default:
        break;
    }
    /* Done by the hypervisor but not recorded: the caller hears so, rather than a success the
     * store could lose. */
    waiters_complete(d, op, error_is_set(&unrecorded) ? &unrecorded : NULL);
    if (ret_unrecorded && error_is_set(&unrecorded))
        *ret_unrecorded = unrecorded;
    return error_is_set(&unrecorded) ? unrecorded.errnum : 0;
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

/* Checks an action is allowed now and makes the state change that announces it. */
static int action_prepare(Manager *m, Domain *d, DomainAction op, DomainReason boot_reason,
                          Error *e)
{
    Driver *drv = NULL;
    int r;

    switch (op) {
    case ACTION_START:
        if (d->state != STATE_CRASHED || boot_reason != REASON_RESTARTED) {
            r = require_state(d, STATE_SHUTOFF, "started",
                              d->state == STATE_CRASHED ? " (destroy it first)" : NULL, e);
            if (r < 0)
                return r;
        }
        break;
    case ACTION_SHUTDOWN:
        r = require_state(d, STATE_RUNNING, "shut down", " (use destroy to force it off)", e);
        if (r < 0)
            return r;
        break;
    case ACTION_DESTROY:
        if (d->state == STATE_SHUTOFF)
            return error_setf(e, ERROR_INVALID_STATE, "domain '%s' is already shut off",
                              d->config.name);
        break;
    case ACTION_PAUSE:
        r = require_state(d, STATE_RUNNING, "paused", NULL, e);
        if (r < 0)
            return r;
        break;
    case ACTION_RESUME:
        r = require_state(d, STATE_PAUSED, "resumed", NULL, e);
        if (r < 0)
            return r;
        break;
    case ACTION_REBOOT:
        r = require_state(d, STATE_RUNNING, "rebooted", NULL, e);
        if (r < 0)
            return r;
        break;
    default:
        return error_setf(e, ERROR_INVALID_ARGUMENT, "unknown action %d", (int)op);
    }
    r = require_driver(m, d, &drv, e);
    if (r < 0)
        return r;

    if (op == ACTION_START) {
        r = driver_validate(drv, &d->config, e);
        if (r < 0)
            return r;
        if (!domain_state_holds_allocation(d->state)) {
            r = alloc_check(&m->alloc, d->config.vcpus, d->config.memory_mib, d->config.cpuset, e);
            if (r < 0)
                return r;
        }
        d->boot_reason = boot_reason;
        /* Recorded before the driver acts, so a crash of hvd mid-start is found again. */
        return manager_transition(m, d, STATE_STARTING, REASON_BOOTING, NULL, NULL, false, e);
    }
    if (op == ACTION_SHUTDOWN) {
        d->stopping_from = d->reason;
        return manager_transition(m, d, STATE_STOPPING, REASON_SHUTDOWN, NULL, NULL, false, e);
    }
    return 0;
}

static int action_run(Manager *m, Domain *d, DomainAction op, DomainReason boot_reason,
                      unsigned timeout_s, ManagerDone done, void *userdata, Error *e)
{
    Driver *drv = manager_driver(m, d);
    DomainRuntime rt;
    Error op_error = ERROR_NULL;
    int r;

    r = action_prepare(m, d, op, boot_reason, e);
    if (r < 0)
        return r;
    rt = d->runtime; /* after the preparation, which records when a start began */

    switch (op) {
    case ACTION_START:
        r = driver_start(drv, &d->config, &rt, 0, &op_error);
        break;
    case ACTION_SHUTDOWN:
        r = driver_shutdown(drv, &d->config, &d->runtime, 0, &op_error);
        break;
    case ACTION_DESTROY:
        r = driver_destroy(drv, &d->config, &d->runtime, 0, &op_error);
        break;
    case ACTION_PAUSE:
        r = driver_pause(drv, &d->config, &d->runtime, 0, &op_error);
        break;
    case ACTION_RESUME:
        r = driver_resume(drv, &d->config, &d->runtime, 0, &op_error);
        break;
    default:
        r = driver_reboot(drv, &d->config, &d->runtime, 0, &op_error);
        break;
    }
    if (op == ACTION_SHUTDOWN && r >= 0 && d->state == STATE_STOPPING) {
        int t = manager_arm_shutdown_timer(m, d, timeout_s ?: m->config->shutdown_timeout_s);
        if (t < 0)
            log_warning_errno(t, "Domain %s: failed to arm the shutdown timer: %m", d->config.name);
    }
    if (r < 0) {
        (void)op_finished(m, d, op, &op_error, NULL, _DOMAIN_STATE_INVALID, NULL);
        *e = op_error;
        return r;
    }
    if (r == DRIVER_DONE)
        return op_finished(m, d, op, NULL, &rt, _DOMAIN_STATE_INVALID, e);
    if (op == ACTION_START && rt.pid > 0) {
        /* Record the process now, so a restart of hvd can find it while it boots. */
        d->runtime = rt;
        if (store_domain_set_state(m->store, d->id, d->state, d->reason, &rt,
                                   now_usec(CLOCK_REALTIME)) < 0)
            log_warning("Domain %s: failed to record pid %d: %s", d->config.name, rt.pid,
                        store_last_error(m->store));
    }
    if (!done)
        return 0;
    r = waiter_add(d, op, done, userdata);
    return r < 0 ? error_set_errno(e, r, "Out of memory") : 1;
}

int manager_domain_action(Manager *m, Domain *d, DomainAction action, unsigned timeout_s,
                          ManagerDone done, void *userdata, Error *e)
{
    return action_run(m, d, action, REASON_BOOTED, timeout_s, done, userdata, e);
}

/* Applies the on-crash policy after d entered crashed. */
static void domain_handle_crash(Manager *m, Domain *d)
{
    uint64_t now = now_usec(CLOCK_MONOTONIC);
    Error e = ERROR_NULL;
    int r;

    switch (d->config.on_crash) {
    case ON_CRASH_PRESERVE:
        return;
    case ON_CRASH_DESTROY:
        if (action_run(m, d, ACTION_DESTROY, 0, 0, NULL, NULL, &e) < 0)
            log_warning("Domain %s: destroy after crash failed: %s", d->config.name, e.message);
        return;
    default:
        break;
    }

    if (d->last_crash_us && now - d->last_crash_us < RESTART_WINDOW_US)
        d->restarts++;
    else
        d->restarts = 1;
    d->last_crash_us = now;
    if (d->restarts > RESTART_MAX) {
        log_warning("Domain %s crashed %u times within %llu s; not restarting it again.",
                    d->config.name, d->restarts,
                    (unsigned long long)(RESTART_WINDOW_US / USEC_PER_SEC));
        if (action_run(m, d, ACTION_DESTROY, 0, 0, NULL, NULL, &e) < 0)
            log_warning("Domain %s: destroy after crash failed: %s", d->config.name, e.message);
        return;
    }
    /* The crashed instance may linger in the backend: clear it, then boot afresh. A backend
     * that clears it later (DRIVER_PENDING) completes that before the start. */
    r = driver_destroy(manager_driver(m, d), &d->config, &d->runtime, 0, &e);
    if (r < 0)
        log_debug("Domain %s: clearing the crashed instance: %s", d->config.name, e.message);
    else if (r == DRIVER_PENDING)
        d->clearing_crashes++;
    e = ERROR_NULL;
    if (action_run(m, d, ACTION_START, REASON_RESTARTED, 0, NULL, NULL, &e) < 0)
        log_warning("Domain %s: restart after crash failed: %s", d->config.name, e.message);
}

static void on_driver_domain_state(void *userdata, Driver *drv, const char *name, DomainState state,
                                   DomainReason reason, const DomainRuntime *rt, const char *detail)
{
    Manager *m = userdata;
    Domain *d = manager_find(m, name);

    if (!d || manager_driver(m, d) != drv)
        return;
    /* The same state again is news only as a reboot (running -> running). */
    if (state == d->state && !(state == STATE_RUNNING && reason == REASON_REBOOTED)) {
        if (rt && rt->pid != d->runtime.pid)
            d->runtime = runtime_from_driver(d, rt);
        return;
    }
    /* A starting domain is completed by its start operation, not by an early event. */
    if (d->state == STATE_STARTING && state == STATE_RUNNING)
        return;
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

static void on_driver_op_completed(void *userdata, Driver *drv, const char *name, DomainAction op,
                                   const Error *e, const DomainRuntime *rt, DomainState observed)
{
    Manager *m = userdata;
    Domain *d = manager_find(m, name);

    if (d && manager_driver(m, d) == drv)
        (void)op_finished(m, d, op, e, rt, observed, NULL);
}

static void on_driver_availability(void *userdata, Driver *drv, bool available, const char *why)
{
    Manager *m = userdata;

    if (available) {
        log_info("The %s driver is available; reconciling its domains.", drv->ops->name);
        manager_reconcile_driver(m, drv);
        manager_autostart(m);
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
        .op_completed = on_driver_op_completed,
        .availability = on_driver_availability,
        .console = on_driver_console,
        .userdata = m,
    };
}
