/* The control socket's commands: pause, resume, shutdown, destroy, reboot, statistics, info,
 * console, save, dirty-page log, migration and the fencing watchdog, each checking its request. */
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "control-internal.h"
#include "dirty-log.h"
#include "macro.h"
#include "migrate.h"
#include "snapshot.h"
#include "vm-json.h"
#include "watchdog.h"

static json_t *reply_ok(void)
{
    return json_pack("{sb}", "ok", 1);
}

/* While a migration runs the guest's run state belongs to it. */
static bool refuse_while_migrating(ControlClient *c, const char **error)
{
    if (!migrate_send_active(c->ctl->migration))
        return false;
    *error = "a migration is in progress (migrate-cancel aborts it)";
    return true;
}

static json_t *cmd_pause(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    int r;

    if (refuse_while_migrating(c, error))
        return NULL;
    r = vm_pause(c->ctl->vm);

    if (r == -EBUSY)
        *error = "the domain is already paused";
    else if (r < 0)
        *error = "the domain is stopping";
    return r < 0 ? NULL : reply_ok();
}

static json_t *cmd_resume(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    int r;

    if (refuse_while_migrating(c, error))
        return NULL;
    r = vm_resume(c->ctl->vm);

    if (r == -EBUSY)
        *error = "the domain is not paused";
    else if (r < 0)
        *error = "the domain is stopping";
    return r < 0 ? NULL : reply_ok();
}

static json_t *cmd_shutdown(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    json_t *t = json_object_get(req, "timeout_s");
    double timeout = SHUTDOWN_DEFAULT_S;

    if (t) {
        if (!json_is_number(t) || json_number_value(t) <= 0 ||
            json_number_value(t) > SHUTDOWN_MAX_S) {
            *error = "\"timeout_s\" must be a number of seconds, more than 0 and at most 86400";
            *malformed = true;
            return NULL;
        }
        timeout = json_number_value(t);
    }
    if (vm_exit_requested(c->ctl->vm)) {
        *error = "the domain is stopping";
        return NULL;
    }
    vm_request_shutdown(c->ctl->vm);
    if (loop_arm_shutdown_timer(c->ctl->loop, timeout) < 0) {
        *error = "cannot arm the shutdown timer";
        return NULL;
    }
    return json_pack("{sb sf}", "ok", 1, "timeout_s", timeout);
}

static json_t *cmd_destroy(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    vm_request_exit(c->ctl->vm, MINIHV_EXIT_DESTROYED, "destroyed by a control client");
    return reply_ok();
}

static json_t *cmd_reboot(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    vm_request_exit(c->ctl->vm, MINIHV_EXIT_REBOOT, "reboot requested by a control client");
    return reply_ok();
}

static json_t *reply_merge(json_t *fields)
{
    json_t *o = reply_ok();

    if (!o || !fields || json_object_update(o, fields) < 0) {
        json_decref(o);
        o = NULL;
    }
    json_decref(fields);
    return o;
}

static json_t *cmd_stats(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    json_t *o = reply_merge(vm_stats_json(c->ctl->vm));
    if (!o)
        *error = "out of memory";
    return o;
}

/* The statistics page's memfd goes with the reply: hvd maps it and reads the counters from it
 * without asking again. */
static json_t *cmd_stats_page(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    Vm *vm = c->ctl->vm;

    stats_page_publish(vm, true); /* memory figures too: the next tick's may be 10 s away */
    c->send_fd = vm->stats_page_fd;
    return json_pack("{sb sI sI}", "ok", 1, "version", (json_int_t)STATS_PAGE_VERSION, "size",
                     (json_int_t)STATS_PAGE_SIZE);
}

static json_t *cmd_info(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    json_t *o = reply_merge(vm_info_json(c->ctl->vm));
    if (!o)
        *error = "out of memory";
    return o;
}

/* {"cmd":"save","then":"resume"|"pause"|"stop"} with the image's descriptor passed in the same
 * message (the sandbox opens no files): pauses, writes the image, then resumes, stays paused
 * ("pause", as hvd's managed save wants it until it recorded the image), leaves the domain as it
 * was (paused or running) without "then", or ends it with status "saved". */
static json_t *cmd_save(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    _cleanup_close_ int fd = TAKE_FD(c->pending_fd);
    json_t *then = json_object_get(req, "then");
    const char *then_s = then ? json_string_value(then) : NULL, *state;
    Vm *vm = c->ctl->vm;
    SnapshotSaveInfo info;
    Error e = ERROR_NULL;
    bool was_paused;
    int r;

    if (then && (!then_s ||
                 (!streq(then_s, "resume") && !streq(then_s, "pause") && !streq(then_s, "stop")))) {
        *error = "\"then\" must be \"resume\", \"pause\" or \"stop\"";
        *malformed = true;
        return NULL;
    }
    if (fd < 0) {
        *error = "save needs the image's file descriptor, passed with the request (SCM_RIGHTS)";
        *malformed = true;
        return NULL;
    }
    if (refuse_while_migrating(c, error))
        return NULL;
    r = vm_pause(vm);
    if (r == -ESHUTDOWN) {
        *error = "the domain is stopping";
        return NULL;
    }
    was_paused = r == -EBUSY;
    if (!vm_all_paused(vm))
        r = error_set_errno(&e, EBUSY, "the vCPUs did not stop within 1 s");
    else
        r = snapshot_save(vm, fd, &info, &e);
    if (r < 0) {
        if (!was_paused)
            (void)vm_resume(vm);
        (void)snprintf(c->error, sizeof(c->error), "save failed: %s", e.message);
        *error = c->error;
        return NULL;
    }
    if (then_s && streq(then_s, "stop")) {
        vm_request_exit(vm, MINIHV_EXIT_SAVED, "saved to an image");
        state = "saved";
    } else if (then_s && streq(then_s, "pause"))
        state = vm_state_to_string(VM_STATE_PAUSED);
    else if (!was_paused || then_s) {
        (void)vm_resume(vm);
        state = vm_state_to_string(VM_STATE_RUNNING);
    } else
        state = vm_state_to_string(VM_STATE_PAUSED);
    return json_pack("{sb sI sI sf ss}", "ok", 1, "file_size", (json_int_t)info.file_size,
                     "written_bytes", (json_int_t)info.written_bytes, "save_ms",
                     (double)info.duration_ns / 1e6, "state", state);
}

/* {"cmd":"dirty"}: the first call starts KVM's dirty page log; each later one returns how many
 * pages the guest wrote since the one before, and clears the log. */
static json_t *cmd_dirty(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    Vm *vm = c->ctl->vm;
    uint64_t dirty = 0;
    bool started = false;
    int r;

    if (refuse_while_migrating(c, error))
        return NULL;
    if (!vm->dirty_bitmap) {
        r = dirty_log_start(vm);
        started = r >= 0;
    } else
        r = dirty_log_collect(vm, &dirty);
    if (r < 0) {
        (void)snprintf(c->error, sizeof(c->error), "the dirty page log failed: %s", strerror(-r));
        *error = c->error;
        return NULL;
    }
    return json_pack("{sb sb sI sI}", "ok", 1, "started", started, "dirty_pages", (json_int_t)dirty,
                     "pages", (json_int_t)(vm->mem.size / 4096));
}

/* The reply has what info says, so that a client re-attaching to the domain checks whom it
 * reached with this one connection. The switch to the console stream happens after the reply
 * is queued (see client_handle_line). */
static json_t *cmd_console(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    return cmd_info(c, req, error, malformed);
}

/* Sends a migration event to every command client. */
static void on_migrate_event(void *userdata, json_t *event)
{
    Control *ctl = userdata;

    for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        ControlClient *c = ctl->clients[i];
        if (c && !c->dead && !c->console)
            client_send_json(c, event);
    }
}

/* The migrate-send reply, once the migration ended; a success ends the domain "migrated". */
static void on_migrate_done(void *userdata, int r, const char *message, json_t *result)
{
    Control *ctl = userdata;
    ControlClient *c = ctl->migrate_client;
    json_t *reply;

    if (r >= 0) {
        reply = reply_ok();
        if (reply && result)
            (void)json_object_update(reply, result);
        if (reply)
            (void)json_object_set_new(reply, "state", json_string("migrated"));
    } else
        reply = json_pack("{sb ss ss}", "ok", 0, "error", message ? message : "failed", "state",
                          vm_state_to_string(VM_STATE_RUNNING));
    if (c && !c->dead) {
        if (reply && ctl->migrate_id)
            (void)json_object_set(reply, "id", ctl->migrate_id);
        client_send_json(c, reply);
    }
    json_decref(reply);
    ctl->migrate_client = NULL;
    json_decref(ctl->migrate_id);
    ctl->migrate_id = NULL;
    if (r >= 0)
        vm_request_exit(ctl->vm, MINIHV_EXIT_MIGRATED, "migrated to the target");
}

/* A number field in (min, max], or the default when absent. */
static bool number_field(json_t *req, const char *key, double min, double max, double *out)
{
    json_t *v = json_object_get(req, key);

    if (!v)
        return true;
    if (!json_is_number(v) || json_number_value(v) <= min || json_number_value(v) > max)
        return false;
    *out = json_number_value(v);
    return true;
}

/* {"cmd":"migrate-send", "downtime_ms":N, "timeout_s":N, "max_iterations":N,
 * "on_limit":"stop-and-copy"|"fail", "bandwidth_mib_s":N} with a connected stream socket to the
 * target (`minihv run --incoming FD`) passed in the same message. Answers when the migration
 * ends: ok (the domain then ends with status "migrated") or the reason it failed (the guest
 * runs on). Progress comes as {"event":"migration",...} lines meanwhile. */
static json_t *cmd_migrate_send(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    _cleanup_close_ int fd = TAKE_FD(c->pending_fd);
    MigrateOptions opts = {
        .downtime_ms = MIGRATE_DOWNTIME_DEFAULT_MS,
        .timeout_s = MIGRATE_TIMEOUT_DEFAULT_S,
        .max_iterations = MIGRATE_ITERATIONS_DEFAULT,
        .stop_at_limit = true,
    };
    json_t *limit = json_object_get(req, "on_limit"),
           *iters = json_object_get(req, "max_iterations");
    const char *limit_s = limit ? json_string_value(limit) : NULL;
    Control *ctl = c->ctl;
    Error e = ERROR_NULL;
    int r;

    *malformed = true;
    if (!number_field(req, "downtime_ms", 0, 60000, &opts.downtime_ms)) {
        *error = "\"downtime_ms\" must be a number of milliseconds, more than 0 and at most 60000";
        return NULL;
    }
    if (!number_field(req, "timeout_s", 0, 86400, &opts.timeout_s)) {
        *error = "\"timeout_s\" must be a number of seconds, more than 0 and at most 86400";
        return NULL;
    }
    if (!number_field(req, "bandwidth_mib_s", 0, 1e6, &opts.bandwidth_mib_s)) {
        *error = "\"bandwidth_mib_s\" must be a number of MiB/s, more than 0";
        return NULL;
    }
    if (iters && (!json_is_integer(iters) || json_integer_value(iters) < 0 ||
                  json_integer_value(iters) > 1000)) {
        *error = "\"max_iterations\" must be an integer from 0 to 1000";
        return NULL;
    }
    if (iters)
        opts.max_iterations = (unsigned)json_integer_value(iters);
    if (limit && (!limit_s || (!streq(limit_s, "stop-and-copy") && !streq(limit_s, "fail")))) {
        *error = "\"on_limit\" must be \"stop-and-copy\" or \"fail\"";
        return NULL;
    }
    if (limit_s)
        opts.stop_at_limit = streq(limit_s, "stop-and-copy");
    if (fd < 0) {
        *error = "migrate-send needs a connected socket to the target, passed with the request "
                 "(SCM_RIGHTS)";
        return NULL;
    }
    *malformed = false;
    if (refuse_while_migrating(c, error))
        return NULL;
    pthread_mutex_lock(&ctl->vm->lock);
    r = ctl->vm->state == VM_STATE_RUNNING ? 0 : -EBUSY;
    pthread_mutex_unlock(&ctl->vm->lock);
    if (r < 0) {
        *error = "migrate-send needs a running domain (resume it first)";
        return NULL;
    }
    ctl->migration = migrate_send_free(ctl->migration);
    r = migrate_send_start(ctl->vm, ctl->loop, TAKE_FD(fd), &opts, on_migrate_done,
                           on_migrate_event, ctl, &ctl->migration, &e);
    if (r < 0) {
        (void)snprintf(c->error, sizeof(c->error), "migration failed: %s", e.message);
        *error = c->error;
        return NULL;
    }
    ctl->migrate_client = c;
    ctl->migrate_id = json_incref(json_object_get(req, "id"));
    c->reply_deferred = true;
    return NULL;
}

/* {"cmd":"migrate-cancel"}: aborts the migration in flight; the guest runs on here. */
static json_t *cmd_migrate_cancel(ControlClient *c, json_t *req, const char **error,
                                  bool *malformed)
{
    if (!migrate_send_active(c->ctl->migration)) {
        *error = "no migration is in progress";
        return NULL;
    }
    migrate_send_cancel(c->ctl->migration, "cancelled by a control client");
    return reply_ok();
}

/* {"cmd":"watchdog","timeout_ms":N}: arms or renews the fencing watchdog (watchdog.h). */
static json_t *cmd_watchdog(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    json_t *t = json_object_get(req, "timeout_ms");
    Error e = ERROR_NULL;

    if (!json_is_integer(t) || json_integer_value(t) <= 0 ||
        json_integer_value(t) > WATCHDOG_TIMEOUT_MAX_MS) {
        *error = "\"timeout_ms\" must be an integer number of milliseconds, from 1 to 3600000";
        *malformed = true;
        return NULL;
    }
    if (!c->ctl->watchdog && watchdog_new(c->ctl->vm, c->ctl->loop, &c->ctl->watchdog, &e) < 0) {
        (void)snprintf(c->error, sizeof(c->error), "%s", e.message);
        *error = c->error;
        return NULL;
    }
    if (watchdog_renew(c->ctl->watchdog, (uint64_t)json_integer_value(t)) < 0) {
        *error = "cannot arm the watchdog's timer";
        return NULL;
    }
    return json_pack("{sb sI}", "ok", 1, "remaining_ms",
                     (json_int_t)watchdog_remaining_ms(c->ctl->watchdog));
}

static const ControlCommand commands[] = {
    {"pause", {NULL}, cmd_pause},
    {"resume", {NULL}, cmd_resume},
    {"shutdown", {"timeout_s"}, cmd_shutdown},
    {"destroy", {NULL}, cmd_destroy},
    {"reboot", {NULL}, cmd_reboot},
    {"stats", {NULL}, cmd_stats},
    {"stats-page", {NULL}, cmd_stats_page},
    {"info", {NULL}, cmd_info},
    {"console", {NULL}, cmd_console},
    {"save", {"then"}, cmd_save},
    {"dirty", {NULL}, cmd_dirty},
    {"migrate-send",
     {"downtime_ms", "timeout_s", "max_iterations", "on_limit", "bandwidth_mib_s"},
     cmd_migrate_send},
    {"migrate-cancel", {NULL}, cmd_migrate_cancel},
    {"watchdog", {"timeout_ms"}, cmd_watchdog},
};

bool control_command_accepts(const ControlCommand *cmd, const char *key)
{
    for (unsigned i = 0; i < CONTROL_FIELDS_MAX && cmd->optional_fields[i]; i++)
        if (streq(cmd->optional_fields[i], key))
            return true;
    return false;
}

const ControlCommand *control_command_find(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(commands); i++)
        if (streq(commands[i].name, name))
            return &commands[i];
    return NULL;
}

bool control_command_attaches_console(const ControlCommand *cmd)
{
    return cmd->run == cmd_console;
}
