/* minihv's live migration: an outgoing migration asked of the VMM through its control socket
 * (the stream to the target passed with the request, progress read from the same connection),
 * its cancel, and a domain started to receive one (`minihv run --incoming`). */
#include <fcntl.h>
#include <string.h>

#include "log.h"
#include "minihv-internal.h"
#include "minihv-status.h"
#include "time-util.h"

/* How long the VMM may take beyond the pre-copy's limit (the stop and copy, the target's READY)
 * before hvd stops waiting for its answer. */
#define MIGRATE_SLACK_S 60u

static void report_done(Instance *inst, const Error *e, const json_t *result)
{
    Driver *drv = inst->md->drv;

    drv->ctx.events.migration_done(drv->ctx.events.userdata, drv, inst->config.name, e, result);
}

static void on_migrate_event(ControlCall *call, json_t *event, void *userdata)
{
    Instance *inst = userdata;
    Driver *drv = inst->md->drv;

    if (streq(json_string_value(json_object_get(event, "event")), "migration"))
        drv->ctx.events.migration_progress(drv->ctx.events.userdata, drv, inst->config.name, event);
}

static void on_migrate_reply(ControlCall *call, json_t *reply, const Error *e, void *userdata)
{
    Instance *inst = userdata;
    Error failed = ERROR_NULL;

    inst->migrate_call = NULL;
    if (e && inst->destroy_requested) {
        /* The destroy stopped it: the domain is not to run here again, so the end of the
         * process reports both. */
        inst->migrate_ending = true;
        return;
    }
    if (e) {
        (void)error_setf(&failed, ERROR_FAILED, "%s", e->message);
        report_done(inst, &failed, NULL);
        return;
    }
    report_done(inst, NULL, reply);
}

void instance_migrate_ended(Instance *inst, int status)
{
    Error e = ERROR_NULL;

    if (!inst->migrate_call && !inst->migrate_ending)
        return;
    control_call_cancel(inst->migrate_call);
    inst->migrate_call = NULL;
    inst->migrate_ending = false;
    if (status == MINIHV_EXIT_MIGRATED) {
        report_done(inst, NULL, NULL);
        return;
    }
    (void)error_setf(&e, ERROR_FAILED, "minihv pid %d ended during the migration of '%s'",
                     inst->pid, inst->config.name);
    report_done(inst, &e, NULL);
}

bool minihv_ended_migrated(MinihvDriver *md, const DomainConfig *c)
{
    _cleanup_free_ char *path = minihv_path(md, c, ".stats");
    json_t *stats = path ? json_load_file(path, 0, NULL) : NULL;
    json_t *status = json_object_get(stats, "status");
    bool migrated = json_is_integer(status) && json_integer_value(status) == MINIHV_EXIT_MIGRATED;

    json_decref(stats);
    return migrated;
}

void instance_migrate_stop(Instance *inst)
{
    control_call_cancel(inst->migrate_call);
    inst->migrate_call = NULL;
}

int minihv_migrate_send(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int fd,
                        const DriverMigrateParams *params, unsigned flags, Error *e)
{
    Instance *inst = instance_find(minihv(drv), c->name);
    unsigned timeout_s = params->timeout_s ?: 60;
    json_t *request;
    int copy, r;

    if (!inst || !inst->ready)
        return error_setf(e, ERROR_INVALID_STATE, "no minihv process runs '%s' yet", c->name);
    if (inst->migrate_call)
        return error_setf(e, ERROR_INVALID_STATE, "a migration of '%s' is already under way",
                          c->name);
    copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0)
        return error_set_errno(e, -errno, "Failed to pass the migration stream on: %m");
    request =
        json_pack("{s:s, s:I, s:I}", "cmd", "migrate-send", "downtime_ms",
                  (json_int_t)(params->downtime_ms ?: 10), "timeout_s", (json_int_t)timeout_s);
    if (request && params->bandwidth_mib_s &&
        json_object_set_new(request, "bandwidth_mib_s",
                            json_integer((json_int_t)params->bandwidth_mib_s)) < 0)
        request = (json_decref(request), NULL);
    if (!request) {
        (void)close(copy);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    r = control_call_with_fd_async(drv->ctx.event, inst->control_path, request, copy,
                                   (int)((timeout_s + MIGRATE_SLACK_S) * 1000u), on_migrate_reply,
                                   inst, &inst->migrate_call, e);
    json_decref(request);
    if (r < 0)
        return r;
    control_call_set_event(inst->migrate_call, on_migrate_event);
    return DRIVER_PENDING;
}

static void on_cancel_reply(ControlCall *call, json_t *reply, const Error *e, void *userdata)
{
    if (e)
        log_debug("minihv: migrate-cancel: %s", e->message);
}

int minihv_migrate_cancel(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                          unsigned flags, Error *e)
{
    Instance *inst = instance_find(minihv(drv), c->name);
    json_t *request;
    int r;

    if (!inst || !inst->migrate_call)
        return error_setf(e, ERROR_INVALID_STATE, "no migration of '%s' is under way", c->name);
    request = json_pack("{s:s}", "cmd", "migrate-cancel");
    if (!request)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    r = control_call_async(drv->ctx.event, inst->control_path, request, CONTROL_TIMEOUT_MS,
                           on_cancel_reply, NULL, NULL, e);
    json_decref(request);
    return r < 0 ? r : DRIVER_DONE;
}

int minihv_start_incoming(Driver *drv, const DomainConfig *c, DomainRuntime *rt, int fd,
                          unsigned timeout_s, unsigned flags, Error *e)
{
    MinihvDriver *md = minihv(drv);
    Instance *inst;
    int copy, r;

    if (instance_find(md, c->name))
        return error_setf(e, ERROR_INVALID_STATE, "a minihv process still runs '%s'", c->name);
    copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0)
        return error_set_errno(e, -errno, "Failed to pass the migration stream on: %m");
    r = instance_spawn_incoming(md, c, copy, (uint64_t)timeout_s * USEC_PER_SEC, &inst, e);
    if (r < 0)
        return r;
    rt->pid = inst->pid;
    rt->pid_start_time = inst->start_ticks;
    return DRIVER_PENDING;
}
