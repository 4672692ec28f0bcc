/* A domain's JSON form, shared by D-Bus GetInfo, HTTP and hvctl --json. */
#include "domain.h"

int domain_to_json(const Domain *d, json_t *obj)
{
    int r = domain_config_to_json(&d->config, obj);

    if (r < 0)
        return r;
    r |= json_object_set_new(obj, "state", json_string(domain_state_to_string(d->state)));
    r |= json_object_set_new(obj, "reason", json_string(domain_reason_to_string(d->reason)));
    r |= json_object_set_new(obj, "pid", json_integer(d->runtime.pid));
    r |= json_object_set_new(obj, "created_us", json_integer((json_int_t)d->created_us));
    r |=
        json_object_set_new(obj, "state_changed_us", json_integer((json_int_t)d->state_changed_us));
    r |= json_object_set_new(obj, "started_us", json_integer((json_int_t)d->runtime.started_us));
    return r ? -ENOMEM : 0;
}
