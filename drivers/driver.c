/* The driver dispatcher: one place that says "unsupported", "unknown flags" or "unavailable". */
#include <string.h>

#include "driver.h"

int driver_settings_parse(const DriverOps *ops, const ConfigSection *section, void **ret, Error *e)
{
    *ret = NULL;
    if (ops->settings_parse)
        return ops->settings_parse(section, ret, e);
    if (section && section->n_lines > 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "%s: the %s driver has no settings",
                          section->lines[0].origin, ops->name);
    return 0;
}

void driver_settings_free(const DriverOps *ops, void *settings)
{
    if (settings && ops->settings_free)
        ops->settings_free(settings);
}

void driver_settings_replace(Driver *drv, void *settings)
{
    void *old = drv->settings;

    drv->settings = settings;
    if (drv->ops->settings_changed)
        drv->ops->settings_changed(drv, old);
    driver_settings_free(drv->ops, old);
}

int driver_new(const DriverOps *ops, const DriverContext *ctx, void *settings, Driver **ret)
{
    Driver *drv;
    Error e = ERROR_NULL;
    int r;

    if (!settings) {
        r = driver_settings_parse(ops, NULL, &settings, &e);
        if (r < 0)
            return r;
    }
    drv = calloc(1, sizeof(*drv));
    if (!drv) {
        driver_settings_free(ops, settings);
        return -ENOMEM;
    }
    drv->ops = ops;
    drv->ctx = *ctx;
    drv->settings = settings;
    drv->ctx.state_dir = strdup(ctx->state_dir);
    drv->ctx.runtime_dir = strdup(ctx->runtime_dir);
    if (!drv->ctx.state_dir || !drv->ctx.runtime_dir) {
        driver_free(drv);
        return -ENOMEM;
    }
    drv->available = true;
    r = ops->open(drv, &e);
    if (r < 0)
        driver_set_available(drv, false, e.message[0] ? e.message : "failed to open");
    *ret = drv;
    return 0;
}

Driver *driver_free(Driver *drv)
{
    if (!drv)
        return NULL;
    if (drv->ops->close && !drv->ops->close(drv))
        return NULL; /* a backend call still uses it: left to the process's exit */
    driver_settings_free(drv->ops, drv->settings);
    free((char *)drv->ctx.state_dir);
    free((char *)drv->ctx.runtime_dir);
    free(drv->unavailable_reason);
    free(drv);
    return NULL;
}

void driver_set_available(Driver *drv, bool available, const char *why)
{
    char *copy = why ? strdup(why) : NULL;
    bool changed = drv->available != available;

    free(drv->unavailable_reason);
    drv->unavailable_reason = available ? mfree(copy) : copy;
    drv->available = available;
    if (changed && drv->ctx.events.availability)
        drv->ctx.events.availability(drv->ctx.events.userdata, drv, available, why);
}

static int unsupported(Driver *drv, const char *op, Error *e)
{
    return error_setf(e, ERROR_FAILED, "the %s driver does not support %s", drv->ops->name, op);
}

static int check_call(Driver *drv, const char *op, const void *slot, unsigned flags,
                      unsigned allowed, Error *e)
{
    if (!slot)
        return unsupported(drv, op, e);
    if (flags & ~allowed)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "%s: unknown flags 0x%x", op,
                          flags & ~allowed);
    if (!drv->available)
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the %s driver is unavailable: %s",
                          drv->ops->name, strna(drv->unavailable_reason));
    return 0;
}

#define DISPATCH(op, flags, ...)                                                 \
    ({                                                                           \
        int _r_ = check_call(drv, #op, (const void *)drv->ops->op, flags, 0, e); \
        _r_ < 0 ? _r_ : drv->ops->op(drv, __VA_ARGS__);                          \
    })

int driver_validate(Driver *drv, const DomainConfig *c, Error *e)
{
    if (!drv->ops->validate)
        return 0;
    return drv->ops->validate(drv, c, e);
}

int driver_start(Driver *drv, const DomainConfig *c, DomainRuntime *rt, unsigned flags, Error *e)
{
    return DISPATCH(start, flags, c, rt, flags, e);
}

int driver_shutdown(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                    Error *e)
{
    return DISPATCH(shutdown, flags, c, rt, flags, e);
}

int driver_destroy(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                   Error *e)
{
    return DISPATCH(destroy, flags, c, rt, flags, e);
}

int driver_pause(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                 Error *e)
{
    return DISPATCH(pause, flags, c, rt, flags, e);
}

int driver_resume(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                  Error *e)
{
    return DISPATCH(resume, flags, c, rt, flags, e);
}

int driver_reboot(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned timeout_s,
                  unsigned flags, Error *e)
{
    int r =
        check_call(drv, "reboot", (const void *)drv->ops->reboot, flags, DRIVER_REBOOT_FORCE, e);

    return r < 0 ? r : drv->ops->reboot(drv, c, rt, timeout_s, flags, e);
}

int driver_get_info(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, DomainInfo *info,
                    unsigned flags, Error *e)
{
    *info = (DomainInfo){};
    return DISPATCH(get_info, flags, c, rt, info, flags, e);
}

int driver_console_open(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int *ret_fd,
                        unsigned flags, Error *e)
{
    int r = check_call(drv, "console_open", (const void *)drv->ops->console_open, flags,
                       DRIVER_CONSOLE_VIRTIO, e);

    return r < 0 ? r : drv->ops->console_open(drv, c, rt, ret_fd, flags, e);
}

int driver_console_log(Driver *drv, const DomainConfig *c, unsigned flags, char **ret_path,
                       Error *e)
{
    if (!drv->ops->console_log)
        return unsupported(drv, "console logs", e);
    if (flags & ~DRIVER_CONSOLE_VIRTIO)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "console_log: unknown flags 0x%x",
                          flags & ~DRIVER_CONSOLE_VIRTIO);
    return drv->ops->console_log(drv, c, flags, ret_path, e);
}

int driver_graphics_open(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int *ret_fd,
                         unsigned flags, Error *e)
{
    if (!drv->ops->graphics_open)
        return error_setf(e, ERROR_INVALID_STATE,
                          "domain '%s' has no graphical console: %s domains have text consoles "
                          "only (hvctl console %s)",
                          c->name, drv->ops->name, c->name);
    return DISPATCH(graphics_open, flags, c, rt, ret_fd, flags, e);
}

int driver_get_stats(Driver *drv, json_t **ret, unsigned flags, Error *e)
{
    *ret = NULL;
    return DISPATCH(get_stats, flags, ret, flags, e);
}

int driver_refresh_stats(Driver *drv, const DomainConfig *c, DriverRefreshDone done, void *userdata)
{
    if (!drv->ops->refresh_stats || !drv->available)
        return 1;
    return drv->ops->refresh_stats(drv, c, done, userdata);
}

int driver_reattach(Driver *drv, const DomainConfig *c, DomainRuntime *rt, DomainState *ret_state,
                    DomainReason *ret_reason, unsigned flags, Error *e)
{
    return DISPATCH(reattach, flags, c, rt, ret_state, ret_reason, flags, e);
}

int driver_set_resources(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                         unsigned flags, Error *e)
{
    return DISPATCH(set_resources, flags, c, rt, flags, e);
}

int driver_undefine(Driver *drv, const DomainConfig *c, unsigned flags, Error *e)
{
    if (!drv->ops->undefine)
        return 0;
    return DISPATCH(undefine, flags, c, flags, e);
}

int driver_child_exited(Driver *drv, int pid, int wait_status)
{
    if (!drv->ops->child_exited)
        return 0;
    return drv->ops->child_exited(drv, pid, wait_status);
}

json_t *driver_host_info(Driver *drv)
{
    return drv->ops->host_info ? drv->ops->host_info(drv) : NULL;
}

int driver_save(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, const char *path,
                unsigned flags, Error *e)
{
    int r = check_call(drv, "saving a domain's state", (const void *)drv->ops->save, flags,
                       DRIVER_SAVE_PAUSE, e);

    return r < 0 ? r : drv->ops->save(drv, c, rt, path, flags, e);
}

int driver_start_image(Driver *drv, const DomainConfig *c, DomainRuntime *rt, const char *path,
                       unsigned flags, Error *e)
{
    int r = check_call(drv, "restoring from a saved image", (const void *)drv->ops->start_image,
                       flags, 0, e);

    return r < 0 ? r : drv->ops->start_image(drv, c, rt, path, flags, e);
}

int driver_migrate_send(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int fd,
                        const DriverMigrateParams *params, unsigned flags, Error *e)
{
    int r = check_call(drv, "live migration", (const void *)drv->ops->migrate_send, flags, 0, e);

    return r < 0 ? r : drv->ops->migrate_send(drv, c, rt, fd, params, flags, e);
}

int driver_migrate_cancel(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                          unsigned flags, Error *e)
{
    int r = check_call(drv, "live migration", (const void *)drv->ops->migrate_cancel, flags, 0, e);

    return r < 0 ? r : drv->ops->migrate_cancel(drv, c, rt, flags, e);
}

int driver_start_incoming(Driver *drv, const DomainConfig *c, DomainRuntime *rt, int fd,
                          unsigned timeout_s, unsigned flags, Error *e)
{
    int r = check_call(drv, "receiving a live migration", (const void *)drv->ops->start_incoming,
                       flags, 0, e);

    return r < 0 ? r : drv->ops->start_incoming(drv, c, rt, fd, timeout_s, flags, e);
}

int driver_clone_disk(Driver *drv, const DomainConfig *c, const char *path, DriverCloneDone done,
                      void *userdata, Error *e)
{
    int r = check_call(drv, "making a clone's disk", (const void *)drv->ops->clone_disk, 0, 0, e);

    return r < 0 ? r : drv->ops->clone_disk(drv, c, path, done, userdata, e);
}

int driver_watchdog(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                    unsigned timeout_ms, unsigned flags, Error *e)
{
    int r = check_call(drv, "a fencing watchdog", (const void *)drv->ops->watchdog, flags, 0, e);

    return r < 0 ? r : drv->ops->watchdog(drv, c, rt, timeout_ms, flags, e);
}
