/* Domain lifecycle: the transition function, actions and their completion (synchronous or
 * reported later by the driver), waiters, spontaneous driver events and the crash policy. */
#include <inttypes.h>
#include <string.h>

#include "log.h"
#include "manager-internal.h"
#include "manager-migrate.h"
#include "time-util.h"

#define RESTART_WINDOW_US (60 * USEC_PER_SEC)
#define RESTART_MAX       5u
/* A guest that restarts itself this often within the window is in a loop (a kernel that panics
 * at boot and reboots, say): it is marked crashed and the on-crash policy applies. */
#define REBOOT_LOOP_WINDOW_US (60 * USEC_PER_SEC)
#define REBOOT_LOOP_MAX       4u
/* One restart can reach hvd as several resets (a kernel trying one reboot method after another
 * while the first is still being carried out on a busy host): those within this time of the
 * last counted reboot are that reboot. A boot takes longer, and a guest that resets at once
 * forever is still counted once per interval. */
#define REBOOT_COALESCE_US (2 * USEC_PER_SEC)

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
        manager_after_commit_done(d->manager, d, w->done, w->userdata, e);
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

/* manager_transition, where new_boot says the guest booted again in the same state (a reboot):
 * a new start time, and a state change even when the reason was "rebooted" already. */
static int transition(Manager *m, Domain *d, DomainState state, DomainReason reason,
                      const DomainRuntime *rt, const char *detail, bool force, bool new_boot,
                      Error *e)
{
    DomainState old_state = d->state;
    DomainReason old_reason = d->reason;
    DomainRuntime new_rt = rt ? runtime_from_driver(d, rt) : d->runtime;
    bool held = domain_state_holds_allocation(old_state);
    bool holds = domain_state_holds_allocation(state);
    /* The same state and reason with new runtime data (a process recorded while starting, a
     * new pid): recorded and announced the same way, as a runtime change. */
    bool runtime_only = state == old_state && reason == old_reason && !new_boot;
    uint64_t now = now_usec(CLOCK_REALTIME);
    int64_t event_id = 0;
    bool unrecorded = false;
    DomainChange change;
    _cleanup_free_ char *message_json = NULL, *ev = NULL;
    char ev_fixed[512];
    int r;

    if (!runtime_only && !domain_state_transition_is_legal(old_state, state))
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
    if ((state == STATE_STARTING && !runtime_only) || new_boot)
        new_rt.started_us = now;
    if (runtime_only && new_rt.pid == d->runtime.pid &&
        new_rt.pid_start_time == d->runtime.pid_start_time &&
        new_rt.started_us == d->runtime.started_us)
        return 0; /* nothing new */

    /* state_changed_us and pid as the domain will show them: a client can apply the event
     * without reading the domain again. Written directly (the hot path of every operation);
     * only the message needs JSON's escaping. */
    if (detail) {
        json_t *message = json_string(detail);
        message_json = message ? json_dumps(message, JSON_ENCODE_ANY) : NULL;
        json_decref(message);
    }
    (void)snprintf(ev_fixed, sizeof(ev_fixed),
                   "{\"state\":\"%s\",\"reason\":\"%s\",\"old_state\":\"%s\",\"old_reason\":\"%s\","
                   "\"state_changed_us\":%" PRIu64 ",\"pid\":%d,\"started_us\":%" PRIu64 "%s",
                   domain_state_to_string(state), domain_reason_to_string(reason),
                   domain_state_to_string(old_state), domain_reason_to_string(old_reason),
                   runtime_only ? d->state_changed_us : now, new_rt.pid, new_rt.started_us,
                   message_json ? "" : "}");
    if (message_json && asprintf(&ev, "%s,\"message\":%s}", ev_fixed, message_json) < 0)
        ev = NULL;

    r = manager_change_begin(m);
    if (r >= 0)
        r = store_domain_set_state(m->store, d->id, state, reason, &new_rt,
                                   runtime_only ? d->state_changed_us : now);
    if (r >= 0 && holds && !held)
        r = store_allocation_set(m->store, d->id, d->config.vcpus, d->config.memory_mib,
                                 d->config.cpuset);
    if (r >= 0 && held && !holds)
        r = store_allocation_clear(m->store, d->id);
    if (r >= 0)
        r = !detail || ev
                ? manager_log_event_text(m, d->config.name,
                                         runtime_only ? "runtime-changed" : "state-changed",
                                         detail ? ev : ev_fixed, &event_id)
                : -ENOMEM;
    if (r < 0) {
        char why[256];

        (void)snprintf(why, sizeof(why), "%s",
                       r == -EBUSY    ? "the database is locked by another process"
                       : r == -ENOSPC ? "no space left in the state directory"
                                      : store_last_error(m->store));
        manager_change_end(m, r);
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
    } else {
        d->unsaved = false;
        manager_change_end(m, r);
    }
    change = (DomainChange){.old_state = old_state,
                            .state = state,
                            .reason = reason,
                            .event_id = event_id,
                            .runtime_only = runtime_only};

    if (runtime_only) {
        d->runtime = new_rt;
        log_debug("Domain %s: pid %d, started at %" PRIu64, d->config.name, new_rt.pid,
                  new_rt.started_us);
        manager_after_commit_change(m, d, &change);
        return unrecorded ? 1 : 0;
    }
    manager_account_state(m, d, state);
    d->state = state;
    d->reason = reason;
    d->runtime = new_rt;
    d->state_changed_us = now;
    if (state != STATE_STOPPING)
        d->shutdown_timer = sd_event_source_disable_unref(d->shutdown_timer);

    /* Every transition is in the event log; the journal hears of those with something to say
     * (a failure, a crash, a finding), not of each start and stop a client asked for. */
    (void)log_full_errno(detail ? LOG_INFO : LOG_DEBUG, 0, "Domain %s: %s/%s -> %s/%s%s%s",
                         d->config.name, domain_state_to_string(old_state),
                         domain_reason_to_string(old_reason), domain_state_to_string(state),
                         domain_reason_to_string(reason), detail ? ": " : "", strempty(detail));
    manager_after_commit_change(m, d, &change);
    return unrecorded ? 1 : 0;
}

int manager_transition(Manager *m, Domain *d, DomainState state, DomainReason reason,
                       const DomainRuntime *rt, const char *detail, bool force, Error *e)
{
    return transition(m, d, state, reason, rt, detail, force, false, e);
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

#define S(state)  (1u << (state))
#define NO_STATE  _DOMAIN_STATE_INVALID
#define NO_REASON _DOMAIN_REASON_INVALID

/* What an action may do, as one row a reader can check against the state machine in
 * docs/hvd.8: the states it may start from, the state announced before the driver acts, the
 * state it ends in when the driver reports success, and where a failure leaves the domain. */
typedef struct ActionRule {
    const char *verb; /* "only a running domain can be <verb>" */
    unsigned from;    /* S(state) of every state the action may start from */
    const char *hint; /* added to a refusal */
    DomainState via;  /* recorded before the driver acts (NO_STATE: none) */
    DomainReason via_reason;
    DomainState ends; /* on success (NO_STATE: the driver's report decides) */
    DomainReason ends_reason;
    DomainState undo; /* on failure, from the via state (NO_STATE: stays) */
    DomainReason undo_reason;
    bool ends_when_observed; /* success only once the backend reports the end state */
} ActionRule;

static const ActionRule action_rules[_DOMAIN_ACTION_MAX] = {
    /* ends in the start's boot reason: booted, or restarted by the on-crash policy */
    [ACTION_START] = {"started", S(STATE_SHUTOFF), NULL, STATE_STARTING, REASON_BOOTING,
                      STATE_RUNNING, REASON_BOOTED, STATE_SHUTOFF, REASON_FAILED, false},
    /* the guest decides when it is off (or the shutdown timer destroys it); a failure returns
     * to the running reason it had */
    [ACTION_SHUTDOWN] = {"shut down", S(STATE_RUNNING), " (use destroy to force it off)",
                         STATE_STOPPING, REASON_SHUTDOWN, STATE_SHUTOFF, REASON_SHUTDOWN,
                         STATE_RUNNING, NO_REASON, true},
    /* a crashed domain ends shutoff/crashed */
    [ACTION_DESTROY] = {"destroyed",
                        S(STATE_STARTING) | S(STATE_RUNNING) | S(STATE_PAUSED) | S(STATE_STOPPING) |
                            S(STATE_CRASHED) | S(STATE_MIGRATING),
                        NULL, NO_STATE, NO_REASON, STATE_SHUTOFF, REASON_DESTROYED, NO_STATE,
                        NO_REASON, false},
    [ACTION_PAUSE] = {"paused", S(STATE_RUNNING), NULL, NO_STATE, NO_REASON, STATE_PAUSED,
                      REASON_USER, NO_STATE, NO_REASON, false},
    [ACTION_RESUME] = {"resumed", S(STATE_PAUSED), NULL, NO_STATE, NO_REASON, STATE_RUNNING,
                       REASON_UNPAUSED, NO_STATE, NO_REASON, false},
    [ACTION_REBOOT] = {"rebooted", S(STATE_RUNNING), NULL, NO_STATE, NO_REASON, STATE_RUNNING,
                       REASON_REBOOTED, NO_STATE, NO_REASON, false},
    /* a managed save (manager-snapshot.c): the image is recorded with the state change, then
     * the paused instance is ended; a failure leaves the domain as it was */
    [ACTION_SAVE] = {"saved", S(STATE_RUNNING) | S(STATE_PAUSED), NULL, NO_STATE, NO_REASON,
                     STATE_SHUTOFF, REASON_SAVED, NO_STATE, NO_REASON, false},
};

/* The reason an action ends in for d, where the row leaves it to the domain. */
static DomainReason rule_end_reason(const Domain *d, DomainAction op)
{
    if (op == ACTION_START)
        return d->boot_reason;
    if (op == ACTION_DESTROY && d->state == STATE_CRASHED)
        return REASON_CRASHED;
    return action_rules[op].ends_reason;
}

/* Applies the outcome of an operation to d, whether it finished at once or was reported later
 * by the driver; then completes its waiters. observed is what the backend says now. */
static int op_outcome(Manager *m, Domain *d, DomainAction op, const Error *e,
                      const DomainRuntime *rt, DomainState observed, Error *ret_unrecorded);

/* op_outcome with the events it logs naming who asked for op, when a client did. */
static int op_finished(Manager *m, Domain *d, DomainAction op, const Error *e,
                       const DomainRuntime *rt, DomainState observed, Error *ret_unrecorded)
{
    _cleanup_free_ char *caller = TAKE_PTR(d->op_caller[op]), *outer = NULL;
    int r;

    if (!caller)
        return op_outcome(m, d, op, e, rt, observed, ret_unrecorded);
    outer = strdup(m->caller);
    manager_set_caller(m, caller);
    r = op_outcome(m, d, op, e, rt, observed, ret_unrecorded);
    manager_set_caller(m, outer);
    return r;
}

static int op_outcome(Manager *m, Domain *d, DomainAction op, const Error *e,
                      const DomainRuntime *rt, DomainState observed, Error *ret_unrecorded)
{
    const ActionRule *rule = &action_rules[op];
    Error unrecorded = ERROR_NULL;
    /* A start that resumes a managed save returns to shutoff/saved when it fails. */
    DomainReason undo_reason =
        op == ACTION_START && d->restore_image_id > 0 ? REASON_SAVED : rule->undo_reason;

    if (op == ACTION_START)
        manager_image_start_done(m, d, !e);
    if (op == ACTION_DESTROY && d->clearing_crashes > 0) {
        /* The on-crash policy cleared the crashed instance before restarting it (a driver
         * completes operations in order): the domain is starting, the start will report. */
        d->clearing_crashes--;
        if (e)
            log_debug("Domain %s: clearing the crashed instance: %s", d->config.name, e->message);
        return 0;
    }
    if (e) {
        if (rule->via != NO_STATE && rule->undo != NO_STATE && d->state == rule->via)
            (void)manager_transition(m, d, rule->undo,
                                     undo_reason != NO_REASON ? undo_reason : d->stopping_from,
                                     NULL, e->message, true, NULL);
        else if (rule->via == NO_STATE)
            log_warning("Domain %s: %s failed: %s", d->config.name, domain_action_to_string(op),
                        e->message);
        waiters_complete(d, op, e);
        return 0;
    }

    /* Still where the action left it (a report may have moved it on meanwhile)? */
    if (rule->via != NO_STATE ? d->state == rule->via
                              : (rule->from & S(d->state)) && d->state != rule->ends) {
        if (!rule->ends_when_observed || observed == rule->ends)
            (void)manager_transition(m, d, rule->ends, rule_end_reason(d, op),
                                     op == ACTION_START ? rt : NULL,
                                     op == ACTION_DESTROY && d->state == STATE_STOPPING
                                         ? "the guest did not shut down in time"
                                         : NULL,
                                     true, &unrecorded);
    } else if (op == ACTION_REBOOT && d->state == STATE_RUNNING)
        (void)transition(m, d, STATE_RUNNING, REASON_REBOOTED, rt, NULL, true, true, &unrecorded);
    /* Done by the hypervisor but not recorded: the caller hears so, rather than a success the
     * store could lose. */
    waiters_complete(d, op, error_is_set(&unrecorded) ? &unrecorded : NULL);
    if (ret_unrecorded && error_is_set(&unrecorded))
        *ret_unrecorded = unrecorded;
    return error_is_set(&unrecorded) ? unrecorded.errnum : 0;
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

/* Refuses an action the rules do not allow from d's state, saying which state it needs. */
static int check_rule(Domain *d, DomainAction op, DomainReason boot_reason, Error *e)
{
    const ActionRule *rule = &action_rules[op];
    unsigned from = rule->from;

    /* The on-crash policy restarts a crashed domain without destroying it first. */
    if (op == ACTION_START && boot_reason == REASON_RESTARTED)
        from |= S(STATE_CRASHED);
    if (from & S(d->state))
        return 0;
    if (op == ACTION_DESTROY)
        return error_setf(e, ERROR_INVALID_STATE, "domain '%s' is already shut off",
                          d->config.name);
    return error_setf(e, ERROR_INVALID_STATE, "domain '%s' is %s; only a %s domain can be %s%s",
                      d->config.name, domain_state_to_string(d->state),
                      domain_state_to_string((DomainState)__builtin_ctz(rule->from)), rule->verb,
                      op == ACTION_START && d->state == STATE_CRASHED ? " (destroy it first)"
                                                                      : strempty(rule->hint));
}

int manager_wait_op(Domain *d, DomainAction op, ManagerDone done, void *userdata)
{
    return waiter_add(d, op, done, userdata);
}

int manager_action_check(Domain *d, DomainAction op, Error *e)
{
    return check_rule(d, op, REASON_BOOTED, e);
}

/* Checks an action is allowed now and makes the state change that announces it. */
static int action_prepare(Manager *m, Domain *d, DomainAction op, DomainReason boot_reason,
                          Error *e)
{
    const ActionRule *rule;
    Driver *drv = NULL;
    int r;

    if ((int)op < 0 || op >= _DOMAIN_ACTION_MAX)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "unknown action %d", (int)op);
    rule = &action_rules[op];
    r = check_rule(d, op, boot_reason, e);
    if (r < 0)
        return r;
    r = require_driver(m, d, &drv, e);
    if (r < 0)
        return r;

    if (op == ACTION_START) {
        r = manager_network_attach(m, d, e);
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
        d->boot_reason = boot_reason;
    }
    if (op == ACTION_SHUTDOWN)
        d->stopping_from = d->reason;
    if (rule->via == NO_STATE)
        return 0;
    /* Recorded before the driver acts, so a crash of hvd mid-operation is found again. A start
     * that receives a migration is starting/migrated. */
    return manager_transition(
        m, d, rule->via,
        op == ACTION_START && boot_reason == REASON_MIGRATED ? REASON_MIGRATED : rule->via_reason,
        NULL, NULL, false, e);
}

/* The driver call that carries out op. */
static int action_call(Driver *drv, Domain *d, DomainAction op, unsigned timeout_s, unsigned flags,
                       DomainRuntime *rt, Error *e)
{
    switch (op) {
    case ACTION_START:
        if (d->incoming)
            return driver_start_incoming(drv, &d->config, rt, d->incoming_fd, d->incoming_timeout_s,
                                         0, e);
        if (d->restore_path)
            return driver_start_image(drv, &d->config, rt, d->restore_path, 0, e);
        return driver_start(drv, &d->config, rt, 0, e);
    case ACTION_SHUTDOWN:
        return driver_shutdown(drv, &d->config, &d->runtime, 0, e);
    case ACTION_DESTROY:
        return driver_destroy(drv, &d->config, &d->runtime, 0, e);
    case ACTION_PAUSE:
        return driver_pause(drv, &d->config, &d->runtime, 0, e);
    case ACTION_RESUME:
        return driver_resume(drv, &d->config, &d->runtime, 0, e);
    case ACTION_REBOOT:
        return driver_reboot(drv, &d->config, &d->runtime, timeout_s ?: MANAGER_REBOOT_TIMEOUT_S,
                             flags, e);
    default:
        return error_setf(e, ERROR_INVALID_ARGUMENT, "unknown action %d", (int)op);
    }
}

static int action_run(Manager *m, Domain *d, DomainAction op, DomainReason boot_reason,
                      unsigned timeout_s, unsigned flags, ManagerDone done, void *userdata,
                      Error *e)
{
    Driver *drv = manager_driver(m, d);
    DomainRuntime rt;
    Error op_error = ERROR_NULL;
    int r;

    if (op == ACTION_START && !d->incoming)
        manager_image_prepare_start(m, d);
    r = action_prepare(m, d, op, boot_reason, e);
    if (r < 0) {
        if (op == ACTION_START)
            manager_image_start_done(m, d, false);
        return r;
    }
    rt = d->runtime; /* after the preparation, which records when a start began */

    r = action_call(drv, d, op, timeout_s, flags, &rt, &op_error);
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
    if (r == DRIVER_DONE) {
        r = op_finished(m, d, op, NULL, &rt, _DOMAIN_STATE_INVALID, e);
        if (r < 0 || !done || !m->batch_open)
            return r;
        /* Done, but not durable yet: the caller hears once it is committed. */
        manager_after_commit_done(m, d, done, userdata, NULL);
        return 1;
    }
    /* Pending: its outcome is logged as asked for by the same caller. */
    free(d->op_caller[op]);
    d->op_caller[op] = m->caller[0] ? strdup(m->caller) : NULL;
    if (op == ACTION_START && rt.pid > 0)
        /* Record the process now, so a restart of hvd can find it while it boots. */
        (void)manager_transition(m, d, d->state, d->reason, &rt, NULL, true, NULL);
    if (!done)
        return 0;
    r = waiter_add(d, op, done, userdata);
    return r < 0 ? error_set_errno(e, r, "Out of memory") : 1;
}

int manager_domain_action(Manager *m, Domain *d, DomainAction action, unsigned timeout_s,
                          ManagerDone done, void *userdata, Error *e)
{
    if (action == ACTION_SAVE)
        return manager_domain_save(m, d, done, userdata, e);
    return action_run(m, d, action, REASON_BOOTED, timeout_s, 0, done, userdata, e);
}

int manager_domain_start_incoming(Manager *m, Domain *d, int fd, unsigned timeout_s,
                                  ManagerDone done, void *userdata, Error *e)
{
    int r;

    d->incoming = true;
    d->incoming_fd = fd;
    d->incoming_timeout_s = timeout_s;
    r = action_run(m, d, ACTION_START, REASON_MIGRATED, 0, 0, done, userdata, e);
    d->incoming = false;
    d->incoming_fd = -EBADF;
    return r;
}

int manager_domain_reboot(Manager *m, Domain *d, unsigned timeout_s, bool force, ManagerDone done,
                          void *userdata, Error *e)
{
    return action_run(m, d, ACTION_REBOOT, REASON_BOOTED, timeout_s,
                      force ? DRIVER_REBOOT_FORCE : 0, done, userdata, e);
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
        if (action_run(m, d, ACTION_DESTROY, 0, 0, 0, NULL, NULL, &e) < 0)
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
        if (action_run(m, d, ACTION_DESTROY, 0, 0, 0, NULL, NULL, &e) < 0)
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
    if (action_run(m, d, ACTION_START, REASON_RESTARTED, 0, 0, NULL, NULL, &e) < 0)
        log_warning("Domain %s: restart after crash failed: %s", d->config.name, e.message);
}

/* The guest restarted by itself: a new boot, recorded as such; too many within the window are a
 * loop, which is a crash of the guest. */
static void guest_rebooted(Manager *m, Domain *d, const DomainRuntime *rt, const char *detail)
{
    uint64_t now = now_usec(CLOCK_MONOTONIC);

    if (d->guest_reboot_last_us && now - d->guest_reboot_last_us < REBOOT_COALESCE_US) {
        log_info("Domain %s reset again %.1f s after its reboot: the same reboot.", d->config.name,
                 (double)(now - d->guest_reboot_last_us) / USEC_PER_SEC);
        if (rt && rt->pid != d->runtime.pid)
            (void)manager_transition(m, d, d->state, d->reason, rt, NULL, true, NULL);
        return;
    }
    d->guest_reboot_last_us = now;
    if (d->guest_reboots == 0 || now - d->guest_reboots_since_us > REBOOT_LOOP_WINDOW_US) {
        d->guest_reboots = 0;
        d->guest_reboots_since_us = now;
    }
    if (++d->guest_reboots < REBOOT_LOOP_MAX) {
        (void)transition(m, d, STATE_RUNNING, REASON_REBOOTED, rt, detail ?: "the guest rebooted",
                         true, true, NULL);
        return;
    }
    log_warning("Domain %s rebooted %u times within %llu s: it is in a loop.", d->config.name,
                d->guest_reboots, (unsigned long long)(REBOOT_LOOP_WINDOW_US / USEC_PER_SEC));
    d->guest_reboots = 0;
    if (transition(m, d, STATE_CRASHED, REASON_GUEST_FAULT, rt, "rebooting in a loop", true, false,
                   NULL) >= 0)
        domain_handle_crash(m, d);
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
            (void)manager_transition(m, d, d->state, d->reason, rt, NULL, true, NULL);
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
    if (state == STATE_RUNNING && reason == REASON_REBOOTED && d->state == STATE_RUNNING) {
        guest_rebooted(m, d, rt, detail);
        return;
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

    if (d && manager_driver(m, d) == drv && op == ACTION_SAVE)
        manager_image_written(m, d, e, observed);
    else if (d && manager_driver(m, d) == drv)
        (void)op_finished(m, d, op, e, rt, observed, NULL);
}

static void on_driver_migration_progress(void *userdata, Driver *drv, const char *name,
                                         const json_t *progress)
{
    Manager *m = userdata;
    Domain *d = manager_find(m, name);

    if (d && manager_driver(m, d) == drv)
        manager_migration_progress(m, d, progress);
}

static void on_driver_migration_done(void *userdata, Driver *drv, const char *name, const Error *e,
                                     const json_t *result)
{
    Manager *m = userdata;
    Domain *d = manager_find(m, name);

    if (d && manager_driver(m, d) == drv)
        manager_migration_sent(m, d, e, result);
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

static void on_driver_console(void *userdata, Driver *drv, const char *name, ConsoleDevice device,
                              const char *data, size_t len)
{
    Manager *m = userdata;
    Domain *d = manager_find(m, name);

    if (d)
        manager_notify_console(m, d, device, data, len);
}

static int on_driver_tap_open(void *userdata, Driver *drv, const DomainNic *nic, int *ret_fd,
                              Error *e)
{
    return manager_network_open_tap(userdata, nic, ret_fd, e);
}

DriverEvents manager_driver_events(Manager *m)
{
    return (DriverEvents){
        .domain_state = on_driver_domain_state,
        .op_completed = on_driver_op_completed,
        .availability = on_driver_availability,
        .console = on_driver_console,
        .tap_open = on_driver_tap_open,
        .migration_progress = on_driver_migration_progress,
        .migration_done = on_driver_migration_done,
        .userdata = m,
    };
}
