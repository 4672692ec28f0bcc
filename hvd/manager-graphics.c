/* The graphical console of a domain: the manager checks its state and asks its driver. */
#include "driver.h"
#include "manager.h"

int manager_domain_graphics(Manager *m, Domain *d, int *ret_fd, Error *e)
{
    Driver *drv = manager_driver(m, d);

    if (!drv->ops->graphics_open)
        return driver_graphics_open(drv, &d->config, &d->runtime, ret_fd, 0, e);
    if (!domain_state_is_active(d->state))
        return error_setf(e, ERROR_INVALID_STATE,
                          "domain '%s' is %s; its graphical console is there while it runs (start "
                          "it first: hvctl start %s)",
                          d->config.name, domain_state_to_string(d->state), d->config.name);
    return driver_graphics_open(drv, &d->config, &d->runtime, ret_fd, 0, e);
}
