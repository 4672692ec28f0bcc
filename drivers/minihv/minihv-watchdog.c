/* The watchdog slot: hvd's renewals of a VMM's fencing watchdog ({"cmd":"watchdog"}), one in
 * flight per instance, and what a VMM that fenced itself while hvd was away left behind. */
#include <string.h>

#include "log.h"
#include "minihv-internal.h"
#include "minihv-status.h"

static void on_renewed(ControlCall *call, json_t *reply, const Error *e, void *userdata)
{
    Instance *inst = userdata;

    inst->watchdog_call = NULL;
    if (e)
        log_debug("minihv: the watchdog of %s was not renewed: %s", inst->config.name, e->message);
}

int minihv_watchdog(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                    unsigned timeout_ms, unsigned flags, Error *e)
{
    Instance *inst = instance_find(minihv(drv), c->name);
    json_t *request;
    int r;

    if (!inst || !inst->ready)
        return error_setf(e, ERROR_INVALID_STATE, "no minihv process runs '%s' yet", c->name);
    if (timeout_ms == 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "a watchdog needs a timeout");
    /* A renewal replaces the one not answered yet: only the newest deadline matters. */
    control_call_cancel(inst->watchdog_call);
    inst->watchdog_call = NULL;
    request = json_pack("{s:s,s:I}", "cmd", "watchdog", "timeout_ms", (json_int_t)timeout_ms);
    if (!request)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    r = control_call_async(drv->ctx.event, inst->control_path, request, CONTROL_TIMEOUT_MS,
                           on_renewed, inst, &inst->watchdog_call, e);
    json_decref(request);
    return r < 0 ? r : DRIVER_DONE;
}

void instance_watchdog_stop(Instance *inst)
{
    control_call_cancel(inst->watchdog_call);
    inst->watchdog_call = NULL;
}

bool minihv_ended_fenced(MinihvDriver *md, const DomainConfig *c)
{
    _cleanup_free_ char *path = minihv_path(md, c, ".stats");
    json_t *stats = path ? json_load_file(path, 0, NULL) : NULL;
    json_t *status = json_object_get(stats, "status");
    bool fenced = json_is_integer(status) && json_integer_value(status) == MINIHV_EXIT_FENCED;

    json_decref(stats);
    return fenced;
}
