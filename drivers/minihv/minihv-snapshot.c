/* minihv's saved state: a running domain saved into an image file through its control socket
 * (the descriptor passed with the request), and a domain started from an image. */
#include <fcntl.h>
#include <string.h>

#include "log.h"
#include "minihv-internal.h"

/* How long a save may take: the VMM writes every guest page that is not all zero, then syncs. */
#define SAVE_TIMEOUT_MS 120000

static void report_save(Instance *inst, const Error *e, DomainState observed)
{
    Driver *drv = inst->md->drv;
    DomainRuntime rt = {.pid = inst->pid, .pid_start_time = inst->start_ticks};

    drv->ctx.events.op_completed(drv->ctx.events.userdata, drv, inst->config.name, ACTION_SAVE, e,
                                 &rt, observed);
}

static void on_save_reply(ControlCall *call, json_t *reply, const Error *e, void *userdata)
{
    Instance *inst = userdata;
    const char *state;
    Error failed = ERROR_NULL;

    inst->save_call = NULL;
    if (e) {
        (void)error_setf(&failed, ERROR_FAILED, "the save of '%s' failed: %s", inst->config.name,
                         e->message);
        report_save(inst, &failed, _DOMAIN_STATE_INVALID);
        return;
    }
    state = json_string_value(json_object_get(reply, "state"));
    inst->paused = state && streq(state, "paused");
    report_save(inst, NULL, inst->paused ? STATE_PAUSED : STATE_RUNNING);
}

void instance_save_abort(Instance *inst)
{
    Error e = ERROR_NULL;

    if (!inst->save_call)
        return;
    control_call_cancel(inst->save_call);
    inst->save_call = NULL;
    (void)error_setf(&e, ERROR_FAILED, "minihv pid %d ended during the save of '%s'", inst->pid,
                     inst->config.name);
    report_save(inst, &e, STATE_SHUTOFF);
}

int minihv_save(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, const char *path,
                unsigned flags, Error *e)
{
    Instance *inst = instance_find(minihv(drv), c->name);
    json_t *request;
    int fd, r;

    if (!inst || !inst->ready)
        return error_setf(e, ERROR_INVALID_STATE, "no minihv process runs '%s' yet", c->name);
    if (inst->save_call)
        return error_setf(e, ERROR_INVALID_STATE, "a save of '%s' is already under way", c->name);
    /* The VMM truncates it once it accepts the request; hvd owns the name. */
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return error_set_errno(e, -errno, "Failed to create the image %s: %m", path);
    request = flags & DRIVER_SAVE_PAUSE ? json_pack("{s:s, s:s}", "cmd", "save", "then", "pause")
                                        : json_pack("{s:s}", "cmd", "save");
    if (!request) {
        (void)close(fd);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    r = control_call_with_fd_async(drv->ctx.event, inst->control_path, request, fd, SAVE_TIMEOUT_MS,
                                   on_save_reply, inst, &inst->save_call, e);
    json_decref(request);
    return r < 0 ? r : DRIVER_PENDING;
}

int minihv_start_image(Driver *drv, const DomainConfig *c, DomainRuntime *rt, const char *path,
                       unsigned flags, Error *e)
{
    MinihvDriver *md = minihv(drv);
    Instance *inst;
    int r;

    if (instance_find(md, c->name))
        return error_setf(e, ERROR_INVALID_STATE, "a minihv process still runs '%s'", c->name);
    r = instance_spawn_from(md, c, path, ACTION_START, &inst, e);
    if (r < 0)
        return r;
    rt->pid = inst->pid;
    rt->pid_start_time = inst->start_ticks;
    return DRIVER_PENDING;
}
