/* A domain's fencing watchdog, which the cluster arms and renews through the domain's driver. */
#include "manager-internal.h"

int manager_domain_watchdog(Manager *m, Domain *d, unsigned timeout_ms, Error *e)
{
    Driver *drv = manager_driver(m, d);
    int r;

    if (!drv || !drv->ops->watchdog)
        return 0;
    if (!domain_state_is_active(d->state))
        return error_setf(e, ERROR_INVALID_STATE, "domain '%s' is not running", d->config.name);
    r = driver_watchdog(drv, &d->config, &d->runtime, timeout_ms, 0, e);
    return r < 0 ? r : 1;
}
