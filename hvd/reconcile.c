/* Agreement between SQLite (the source of truth) and the drivers: opening drivers, re-attaching
 * domains after an hvd restart or a driver reconnect, and autostart once per boot. */
#include <fcntl.h>
#include <string.h>

#include "log.h"
#include "manager-internal.h"
#include "manager-migrate.h"

int manager_open_drivers(Manager *m, const DriverOps *const ops[_DRIVER_KIND_MAX],
                         void *settings[_DRIVER_KIND_MAX])
{
    DriverContext ctx = {
        .event = m->event,
        .state_dir = m->config->state_dir,
        .runtime_dir = m->config->runtime_dir,
        .events = manager_driver_events(m),
    };

    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++) {
        int r;

        if (!ops[i])
            continue;
        r = driver_new(ops[i], &ctx, settings[i], &m->drivers[i]);
        if (r < 0)
            return r;
        settings[i] = NULL; /* the driver's now */
        if (m->drivers[i]->available)
            log_info("Driver %s is ready.", ops[i]->name);
        else
            log_warning("Driver %s is unavailable: %s", ops[i]->name,
                        strna(m->drivers[i]->unavailable_reason));
    }
    return 0;
}

static void reconcile_domain(Manager *m, Domain *d, Driver *drv)
{
    DomainRuntime rt = d->runtime;
    DomainState state = d->state;
    DomainReason reason = d->reason;
    Error e = ERROR_NULL;
    int r;

    r = driver_reattach(drv, &d->config, &rt, &state, &reason, 0, &e);
    if (r < 0) {
        log_warning("Domain %s: cannot check it with the %s driver: %s", d->config.name,
                    drv->ops->name, e.message);
        return;
    }
    if (r == 0) {
        char detail[640];
        (void)snprintf(detail, sizeof(detail), "not running in the %s driver%s%s", drv->ops->name,
                       e.message[0] ? ": " : "", e.message);
        /* A driver that can tell the instance ended migrated to another host, or by its fencing
         * watchdog, says so. */
        (void)manager_transition(m, d, STATE_SHUTOFF,
                                 state == STATE_SHUTOFF &&
                                         (reason == REASON_MIGRATED || reason == REASON_FENCED)
                                     ? reason
                                     : REASON_DAEMON,
                                 &rt, detail, true, NULL);
        return;
    }

    /* What the driver found of the process (a kvm domain's QEMU pid, say) is recorded the one
     * way every runtime change is. */
    (void)manager_transition(m, d, d->state, d->reason, &rt, NULL, true, NULL);
    if (d->state == STATE_STOPPING && state == STATE_RUNNING) {
        /* A shutdown was under way when hvd stopped: give it a fresh deadline. */
        (void)manager_arm_shutdown_timer(m, d, m->config->shutdown_timeout_s);
        return;
    }
    if (d->state == STATE_STARTING && state == STATE_RUNNING) {
        (void)manager_transition(m, d, STATE_RUNNING, REASON_BOOTED, &rt, "re-attached", true,
                                 NULL);
        return;
    }
    if (state != d->state && domain_reason_valid_for_state(state, REASON_DAEMON))
        (void)manager_transition(m, d, state, REASON_DAEMON, &rt, "found so by hvd", true, NULL);
    else if (state != d->state)
        (void)manager_transition(m, d, state, reason, &rt, "found so by hvd", true, NULL);
    else
        log_debug("Domain %s re-attached (%s).", d->config.name, domain_state_to_string(state));
}

void manager_reconcile_driver(Manager *m, Driver *drv)
{
    /* Transitions do not reorder the array, so plain iteration is safe. */
    for (size_t i = 0; i < m->n_domains; i++) {
        Domain *d = m->domains[i];

        if (manager_driver(m, d) == drv && domain_state_is_active(d->state))
            reconcile_domain(m, d, drv);
    }
    if (drv->ops->sweep) {
        unsigned n = drv->ops->sweep(drv);
        if (n > 0)
            log_warning("Ended %u %s instance(s) that no domain claims (left by an hvd that "
                        "stopped while starting them).",
                        n, drv->ops->name);
    }
}

/* Autostart runs once per boot: the marker lives in the runtime directory, which is empty after
 * a reboot, so a daemon restart does not start again what a user stopped. */
static bool autostart_claim(Manager *m)
{
    _cleanup_free_ char *path = NULL;
    int fd;

    if (asprintf(&path, "%s/autostarted", m->config->runtime_dir) < 0)
        return false;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno != EEXIST)
            log_warning_errno(errno, "Failed to create %s, skipping autostart: %m", path);
        return false;
    }
    (void)close(fd);
    return true;
}

static void autostart_done(void *userdata, Domain *d, const Error *e)
{
    if (e && d)
        log_warning("Autostart of %s failed: %s", d->config.name, e->message);
}

void manager_reconcile_all(Manager *m)
{
    /* The bridges first: domains re-attached or autostarted below need them. */
    manager_networks_reconcile_bridges(m);
    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++)
        if (m->drivers[i] && m->drivers[i]->available)
            manager_reconcile_driver(m, m->drivers[i]);
        else if (m->drivers[i])
            log_warning("Domains of the %s driver keep their recorded state until it is "
                        "available.",
                        m->drivers[i]->ops->name);
    manager_networks_reconcile_taps(m);
    manager_images_reconcile(m);
    manager_migrations_reconcile(m);

    if (!autostart_claim(m))
        return;
    for (size_t i = 0; i < m->n_domains; i++)
        if (m->domains[i]->config.autostart)
            m->domains[i]->autostart_pending = true;
    manager_autostart(m);
}

void manager_autostart(Manager *m)
{
    for (size_t i = 0; i < m->n_domains; i++) {
        Domain *d = m->domains[i];
        Driver *drv = manager_driver(m, d);
        Error e = ERROR_NULL;

        /* A domain whose driver is down waits for it (see on_driver_availability). */
        if (!d->autostart_pending || !drv || !drv->available)
            continue;
        d->autostart_pending = false;
        if (!d->config.autostart || d->state != STATE_SHUTOFF)
            continue;
        log_info("Autostarting %s.", d->config.name);
        if (manager_domain_action(m, d, ACTION_START, 0, autostart_done, NULL, &e) < 0)
            log_warning("Autostart of %s failed: %s", d->config.name, e.message);
    }
    manager_update_status(m);
}
