/* Control socket server: line-delimited JSON requests, replies and the raw console stream. */
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "console.h"
#include "dirty-log.h"
#include "control.h"
#include "macro.h"
#include "migrate.h"
#include "snapshot.h"
#include "vm-json.h"
#include "watchdog.h"

#define CONTROL_OUT_MAX    (1u << 20)
#define SHUTDOWN_DEFAULT_S 30.0
#define SHUTDOWN_MAX_S     86400.0

typedef struct ControlClient {
    LoopSource src;
    Control *ctl;
    char line[CONTROL_LINE_MAX + 1];
    size_t line_len;
    bool discarding; /* skipping the rest of an overlong line */
    bool console;    /* switched to the raw console stream */
    bool dead;
    bool watching_out;
    uint8_t *out;
    size_t out_len;
    size_t out_cap;
    int pending_fd;      /* a descriptor passed (SCM_RIGHTS) for the next request line, or -EBADF */
    bool reply_deferred; /* the command answers later (migrate-send) */
    int send_fd; /* borrowed: passed (SCM_RIGHTS) with the next bytes sent (stats-page), or -1 */
    char error[sizeof(((Error *)NULL)->message) + 64]; /* a command's detailed error */
} ControlClient;

struct Control {
    Vm *vm;
    Loop *loop;
    LoopSource listen_src;
    ControlClient *clients[CONTROL_MAX_CLIENTS];
    unsigned n_console;
    MigrateSend *migration;        /* the last migrate-send, running or ended */
    ControlClient *migrate_client; /* who asked for it, while connected */
    json_t *migrate_id;            /* its request's "id", or NULL */
    Watchdog *watchdog;            /* made by the first watchdog request */
};

static void client_close(ControlClient *c);

static void client_update_watch(ControlClient *c)
{
    bool want = c->out_len > 0;

    if (c->dead || want == c->watching_out)
        return;
    c->watching_out = want;
    (void)loop_modify(c->ctl->loop, &c->src, EPOLLIN | (want ? EPOLLOUT : 0));
}

/* Sends what send() would, with c->send_fd as SCM_RIGHTS (then forgotten) when there is one. */
static ssize_t client_send_some(ControlClient *c)
{
    char control[CMSG_SPACE(sizeof(int))] = {};
    struct iovec iov = {.iov_base = c->out, .iov_len = c->out_len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    struct cmsghdr *cm;
    ssize_t n;

    if (c->send_fd < 0)
        return send(c->src.fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    mh.msg_control = control;
    mh.msg_controllen = sizeof(control);
    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &c->send_fd, sizeof(int));
    n = sendmsg(c->src.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0)
        c->send_fd = -EBADF;
    return n;
}

static void client_flush(ControlClient *c)
{
    while (c->out_len > 0) {
        ssize_t n = client_send_some(c);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                client_close(c);
            break;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    client_update_watch(c);
}

/* Queues bytes for the client. A command client that lets 1 MiB pile up is cut off; a slow
 * console client loses output instead. */
static void client_send(ControlClient *c, const void *p, size_t n)
{
    if (c->dead)
        return;
    if (c->out_len + n > CONTROL_OUT_MAX) {
        if (!c->console)
            client_close(c);
        return;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = MAX(c->out_cap * 2, c->out_len + n);
        uint8_t *q = realloc(c->out, cap);
        if (!q) {
            client_close(c);
            return;
        }
        c->out = q;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    client_flush(c);
}

static void client_send_json(ControlClient *c, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

    if (!s) {
        static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}\n";
        client_send(c, oom, sizeof(oom) - 1);
        return;
    }
    client_send(c, s, strlen(s));
    client_send(c, "\n", 1);
    free(s);
}

static void client_reply_error(ControlClient *c, json_t *id, bool malformed, const char *msg)
{
    json_t *o = json_pack("{sb ss}", "ok", 0, "error", msg);

    if (malformed)
        stats_add(&c->ctl->vm->stats->bad_control_requests, 1);
    if (o && id)
        (void)json_object_set(o, "id", id);
    client_send_json(c, o);
    json_decref(o);
}

#define CONTROL_FIELDS_MAX 6

typedef struct ControlCommand {
    const char *name;
    const char *optional_fields[CONTROL_FIELDS_MAX]; /* the extra fields the command accepts */
    /* Returns a reply object with "ok":true (new reference), or NULL with *error set. */
    json_t *(*run)(ControlClient *c, json_t *req, const char **error, bool *malformed);
} ControlCommand;

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

static json_t *cmd_console(ControlClient *c, json_t *req, const char **error, bool *malformed)
{
    /* The switch happens after the reply is queued (see client_handle_line). */
    return reply_ok();
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

static bool command_accepts(const ControlCommand *cmd, const char *key)
{
    for (unsigned i = 0; i < CONTROL_FIELDS_MAX && cmd->optional_fields[i]; i++)
        if (streq(cmd->optional_fields[i], key))
            return true;
    return false;
}

static void client_attach_console(ControlClient *c)
{
    c->console = true;
    if (c->ctl->n_console++ == 0)
        console_set_clients_attached(c->ctl->vm, true);
}

static void client_handle_line(ControlClient *c, const char *line, size_t len)
{
    const ControlCommand *cmd = NULL;
    const char *error = NULL, *name, *key;
    bool malformed = false;
    json_error_t jerr;
    json_t *req, *cmdv, *id, *value, *reply;
    char msg[256];

    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (len == 0)
        return; /* blank lines are ignored */
    req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req) {
        (void)snprintf(msg, sizeof(msg), "invalid JSON at column %d: %s", jerr.column, jerr.text);
        client_reply_error(c, NULL, true, msg);
        return;
    }
    if (!json_is_object(req)) {
        client_reply_error(c, NULL, true, "a request must be a JSON object");
        json_decref(req);
        return;
    }
    id = json_object_get(req, "id");
    cmdv = json_object_get(req, "cmd");
    if (!json_is_string(cmdv)) {
        client_reply_error(c, id, true, "a request needs a string field \"cmd\"");
        json_decref(req);
        return;
    }
    name = json_string_value(cmdv);
    for (size_t i = 0; i < ELEMENTSOF(commands); i++)
        if (streq(commands[i].name, name))
            cmd = &commands[i];
    if (!cmd) {
        (void)snprintf(msg, sizeof(msg),
                       "unknown command \"%.64s\" (known: pause, resume, shutdown, destroy, "
                       "reboot, stats, stats-page, info, console, save, dirty, migrate-send, "
                       "migrate-cancel, watchdog)",
                       name);
        client_reply_error(c, id, true, msg);
        json_decref(req);
        return;
    }
    json_object_foreach (req, key, value) {
        if (streq(key, "cmd") || streq(key, "id") || command_accepts(cmd, key))
            continue;
        (void)snprintf(msg, sizeof(msg), "unknown field \"%.64s\" for command \"%s\"", key,
                       cmd->name);
        client_reply_error(c, id, true, msg);
        json_decref(req);
        return;
    }
    c->reply_deferred = false;
    reply = cmd->run(c, req, &error, &malformed);
    if (!reply && c->reply_deferred)
        ; /* answered when the command completes */
    else if (!reply)
        client_reply_error(c, id, malformed, error ? error : "failed");
    else {
        if (id)
            (void)json_object_set(reply, "id", id);
        client_send_json(c, reply);
        json_decref(reply);
        if (cmd->run == cmd_console && !c->dead)
            client_attach_console(c);
    }
    json_decref(req);
}

/* A passed descriptor belongs to the first request line that ends after it arrived. */
static void client_handle_line_with_fd(ControlClient *c, const char *line, size_t len)
{
    client_handle_line(c, line, len);
    c->pending_fd = safe_close(c->pending_fd);
}

/* Splits input into lines (command mode) or passes it to the guest (console mode). */
static void client_feed(ControlClient *c, const char *p, size_t n)
{
    while (n > 0 && !c->dead) {
        const char *nl;
        size_t take;

        if (c->console) {
            (void)console_input_push(c->ctl->vm, p, n);
            return;
        }
        nl = memchr(p, '\n', n);
        take = nl ? (size_t)(nl - p) : n;
        if (c->discarding) {
            if (nl)
                c->discarding = false;
        } else if (c->line_len + take > CONTROL_LINE_MAX) {
            c->line_len = 0;
            c->discarding = !nl;
            client_reply_error(c, NULL, true, "request line longer than 4096 bytes");
        } else {
            memcpy(c->line + c->line_len, p, take);
            c->line_len += take;
            if (nl) {
                size_t len = c->line_len;
                c->line_len = 0;
                c->line[len] = '\0';
                client_handle_line_with_fd(c, c->line, len);
            }
        }
        if (!nl)
            return;
        p += take + 1;
        n -= take + 1;
    }
}

/* Keeps the first descriptor a message carried (closing any earlier one not yet used) and
 * closes the rest. */
static void client_take_fds(ControlClient *c, struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        size_t n;

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (i == 0) {
                safe_close(c->pending_fd);
                c->pending_fd = fd;
            } else
                (void)close(fd);
        }
    }
}

static void client_on_event(LoopSource *src, uint32_t events)
{
    ControlClient *c = src->data;
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(4 * sizeof(int))];
    } control;
    char buf[4096];
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr mh = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = &control,
        .msg_controllen = sizeof(control),
    };
    ssize_t n;

    if (c->dead)
        return;
    if (events & EPOLLOUT)
        client_flush(c);
    if (c->dead || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    n = recvmsg(src->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    client_take_fds(c, &mh);
    if (n <= 0) {
        client_close(c);
        return;
    }
    client_feed(c, buf, (size_t)n);
}

static void client_close(ControlClient *c)
{
    if (c->dead)
        return;
    c->dead = true;
    loop_remove(c->ctl->loop, &c->src);
    if (c->ctl->migrate_client == c)
        c->ctl->migrate_client = NULL; /* the migration goes on; its end is an event */
    if (c->console && --c->ctl->n_console == 0)
        console_set_clients_attached(c->ctl->vm, false);
}

static ControlClient *client_free(ControlClient *c)
{
    if (!c)
        return NULL;
    safe_close(c->src.fd);
    safe_close(c->pending_fd);
    free(c->out);
    return mfree(c);
}

void control_collect(Control *ctl)
{
    for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
        if (ctl->clients[i] && ctl->clients[i]->dead)
            ctl->clients[i] = client_free(ctl->clients[i]);
}

static void control_on_accept(LoopSource *src, uint32_t events)
{
    static const char busy[] = "{\"ok\":false,\"error\":\"too many control clients\"}\n";
    Control *ctl = src->data;
    ControlClient *c;
    unsigned slot;
    int fd;

    fd = accept4(src->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    for (slot = 0; slot < CONTROL_MAX_CLIENTS && ctl->clients[slot]; slot++)
        ;
    if (slot == CONTROL_MAX_CLIENTS || !(c = calloc(1, sizeof(*c)))) {
        (void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)close(fd);
        return;
    }
    c->ctl = ctl;
    c->pending_fd = -EBADF;
    c->send_fd = -EBADF;
    c->src = (LoopSource){fd, client_on_event, c};
    if (loop_add(ctl->loop, &c->src, EPOLLIN) < 0) {
        client_free(c);
        return;
    }
    ctl->clients[slot] = c;
}

void control_pump_console(Control *ctl)
{
    uint8_t buf[16384];
    size_t n;

    while ((n = console_take_client_output(ctl->vm, buf, sizeof(buf))) > 0)
        for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
            ControlClient *c = ctl->clients[i];
            if (c && c->console && !c->dead)
                client_send(c, buf, n);
        }
}

/* Refuses to take over a socket that another process still serves. */
static int control_clear_stale(const char *path, const struct sockaddr_un *sa, Error *e)
{
    struct stat st;
    int fd, r;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : error_set_errno(e, errno, "cannot inspect %s: %m", path);
    if (!S_ISSOCK(st.st_mode))
        return error_set_errno(e, EEXIST, "control path %s exists and is not a socket", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set_errno(e, errno, "cannot create a socket: %m");
    r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    (void)close(fd);
    if (r == 0)
        return error_set_errno(e, EADDRINUSE, "control socket %s is in use by another process",
                               path);
    if (unlink(path) < 0 && errno != ENOENT)
        return error_set_errno(e, errno, "cannot remove stale control socket %s: %m", path);
    return 0;
}

int control_new(Vm *vm, Loop *loop, const char *path, Control **ret, Error *e)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    Control *ctl;
    mode_t old;
    int fd, r;

    if (strlen(path) >= sizeof(sa.sun_path))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "control socket path %s is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    r = control_clear_stale(path, &sa, e);
    if (r < 0)
        return r;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return error_set_errno(e, errno, "cannot create a socket: %m");
    old = umask(0077); /* the socket controls the domain: owner only */
    r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    (void)umask(old);
    if (r < 0 || listen(fd, 16) < 0) {
        r = error_set_errno(e, errno, "cannot listen on %s: %m", path);
        (void)close(fd);
        return r;
    }
    ctl = calloc(1, sizeof(*ctl));
    if (!ctl) {
        (void)close(fd);
        return error_set_errno(e, ENOMEM, "out of memory");
    }
    ctl->vm = vm;
    ctl->loop = loop;
    ctl->listen_src = (LoopSource){fd, control_on_accept, ctl};
    r = loop_add(loop, &ctl->listen_src, EPOLLIN);
    if (r < 0) {
        control_free(ctl);
        return error_set_errno(e, r, "cannot watch the control socket: %m");
    }
    loop_set_control(loop, ctl);
    *ret = ctl;
    return 0;
}

void control_finish(Control *ctl, int status, const char *reason)
{
    uint64_t deadline = now_mono_ns() + 200000000ull;
    json_t *ev;

    if (!ctl)
        return;
    migrate_send_cancel(ctl->migration, "the domain stopped");
    control_pump_console(ctl);
    ev = json_pack("{ss si ss ss}", "event", "stopped", "status", status, "status_name",
                   minihv_exit_status_to_string(status) ?: "unknown", "reason", reason);
    for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        ControlClient *c = ctl->clients[i];
        if (c && !c->dead && !c->console && ev)
            client_send_json(c, ev);
    }
    json_decref(ev);
    /* Best effort: give slow readers a moment to take their last bytes. */
    for (;;) {
        struct pollfd pfd[CONTROL_MAX_CLIENTS];
        ControlClient *who[CONTROL_MAX_CLIENTS];
        nfds_t n = 0;
        uint64_t now = now_mono_ns();

        for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
            ControlClient *c = ctl->clients[i];
            if (c && !c->dead && c->out_len > 0) {
                pfd[n] = (struct pollfd){.fd = c->src.fd, .events = POLLOUT};
                who[n++] = c;
            }
        }
        if (n == 0 || now >= deadline)
            break;
        if (poll(pfd, n, (int)((deadline - now) / 1000000 + 1)) <= 0)
            break;
        for (nfds_t i = 0; i < n; i++)
            if (pfd[i].revents)
                client_flush(who[i]);
    }
}

Control *control_free(Control *ctl)
{
    if (!ctl)
        return NULL;
    ctl->migration = migrate_send_free(ctl->migration);
    json_decref(ctl->migrate_id);
    ctl->watchdog = watchdog_free(ctl->watchdog);
    for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
        if (ctl->clients[i]) {
            client_close(ctl->clients[i]);
            ctl->clients[i] = client_free(ctl->clients[i]);
        }
    loop_remove(ctl->loop, &ctl->listen_src);
    safe_close(ctl->listen_src.fd);
    loop_set_control(ctl->loop, NULL);
    return mfree(ctl);
}
