/* One running minihv domain: starting `minihv run`, readiness, control requests, and the end of
 * the process, mapped to hvd's states and reasons (adoption after a restart: minihv-adopt.c). */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "log.h"
#include "cgroup-join.h"
#include "minihv-internal.h"
#include "minihv-process.h"
#include "minihv-status.h"
#include "time-util.h"

#define READY_TIMEOUT_US (10 * USEC_PER_SEC)

Instance *instance_find(MinihvDriver *md, const char *name)
{
    return hashmap_get(md->instances, name);
}

char *minihv_path(MinihvDriver *md, const DomainConfig *c, const char *suffix)
{
    char *p = NULL;

    if (streq(suffix, ".log"))
        (void)asprintf(&p, "%s/%s.log", md->console_dir, c->uuid);
    else
        (void)asprintf(&p, "%s/%s%s", md->run_dir, c->uuid, suffix);
    return p;
}

/* Stops watching the process through its pidfd, and closes it. */
static void unwatch_pid(Instance *inst)
{
    inst->pidfd_source = sd_event_source_disable_unref(inst->pidfd_source);
    inst->pidfd = safe_close(inst->pidfd);
}

static void instance_unwatch(Instance *inst)
{
    unwatch_pid(inst);
    inst->ready_source = sd_event_source_disable_unref(inst->ready_source);
    inst->ready_timer = sd_event_source_disable_unref(inst->ready_timer);
    inst->ready_fd = safe_close(inst->ready_fd);
    instance_console_detach(inst);
    instance_stats_stop(inst);
    instance_probe_cancel(inst);
    control_call_cancel(inst->save_call);
    inst->save_call = NULL;
    for (size_t i = 0; i < ELEMENTSOF(inst->calls); i++)
        if (inst->calls[i]) {
            control_call_cancel(inst->calls[i]);
            inst->calls[i] = NULL;
        }
}

void instance_free(Instance *inst)
{
    if (!inst)
        return;
    if (hashmap_get(inst->md->instances, inst->config.name) == inst)
        (void)hashmap_remove(inst->md->instances, inst->config.name);
    instance_ending_forget(inst);
    instance_unwatch(inst);
    instance_console_free(inst);
    inst->tap_fd = safe_close(inst->tap_fd);
    inst->incoming_fd = safe_close(inst->incoming_fd);
    instance_migrate_stop(inst);
    instance_watchdog_stop(inst);
    domain_config_done(&inst->config);
    free(inst->end_detail);
    free(inst->guest);
    free(inst->control_path);
    free(inst->stats_path);
    free(inst->vmm_log_path);
    free(inst->restore_path);
    free(inst);
}

void instance_report_state(Instance *inst, DomainState state, DomainReason reason,
                           const char *detail)
{
    Driver *drv = inst->md->drv;
    DomainRuntime rt = {.pid = inst->pid, .pid_start_time = inst->start_ticks};

    drv->ctx.events.domain_state(drv->ctx.events.userdata, drv, inst->config.name, state, reason,
                                 &rt, detail);
}

static void report_op(Instance *inst, DomainAction op, const Error *e, DomainState observed)
{
    Driver *drv = inst->md->drv;
    DomainRuntime rt = {.pid = inst->pid, .pid_start_time = inst->start_ticks};

    drv->ctx.events.op_completed(drv->ctx.events.userdata, drv, inst->config.name, op, e, &rt,
                                 observed);
}

/* The adopted process ended (its pidfd is readable), or was found gone. */
static int on_process_gone(sd_event_source *s, void *userdata)
{
    instance_exited(userdata);
    return 0;
}

static int on_pidfd(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    return on_process_gone(s, userdata);
}

static int on_watch_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
    Instance *inst = userdata;

    inst->pidfd_source = sd_event_source_disable_unref(inst->pidfd_source);
    instance_watch_end(inst);
    return 0;
}

/* Watches an adopted process through a pidfd of its own. Gone already: its end is handled from
 * the loop, soon. No descriptor to spare: tried again in a second. */
static void watch_pid(Instance *inst)
{
    sd_event *event = inst->md->drv->ctx.event;
    int r;

    r = inst->pidfd = minihv_process_open(inst->pid, inst->start_ticks);
    if (r >= 0)
        r = sd_event_add_io(event, &inst->pidfd_source, inst->pidfd, EPOLLIN, on_pidfd, inst);
    if (r >= 0) {
        /* as hvd's SIGCHLD: an end is known before a timer acts on the domain */
        (void)sd_event_source_set_priority(inst->pidfd_source, SD_EVENT_PRIORITY_IMPORTANT);
        return;
    }
    inst->pidfd = safe_close(inst->pidfd);
    if (r == -ESRCH)
        r = sd_event_add_defer(event, &inst->pidfd_source, on_process_gone, inst);
    else {
        log_debug("minihv: cannot watch pid %d of %s (%s); trying again", inst->pid,
                  inst->config.name, strerror(-r));
        r = sd_event_add_time_relative(event, &inst->pidfd_source, CLOCK_MONOTONIC, USEC_PER_SEC, 0,
                                       on_watch_retry, inst);
    }
    if (r < 0)
        log_warning("minihv: the end of pid %d of %s may go unnoticed: %s", inst->pid,
                    inst->config.name, strerror(-r));
}

void instance_watch_end(Instance *inst)
{
    if (inst->own_child || inst->pid <= 0)
        return; /* SIGCHLD tells of hvd's own children */
    if (inst->console_source) {
        if (inst->pidfd >= 0)
            unwatch_pid(inst); /* the console connection's hang-up tells */
        return;                /* (a process found gone already stays so) */
    }
    /* A connection being made to it (the probe, the console) tells by failing, as will the
     * probe waiting its turn; a pidfd held already stays until the console is open. */
    if (!inst->pidfd_source && !inst->probe_call && !inst->probe_queued && !inst->console_call)
        watch_pid(inst);
}

static void became_ready(Instance *inst)
{
    int completes = inst->completes;

    inst->ready = true;
    inst->ready_source = sd_event_source_disable_unref(inst->ready_source);
    inst->ready_timer = sd_event_source_disable_unref(inst->ready_timer);
    inst->ready_fd = safe_close(inst->ready_fd);
    inst->completes = -1;
    inst->paused = false;
    instance_console_attach(inst);
    instance_stats_kick(inst); /* a first sample, so a fresh domain has numbers soon */
    if (completes >= 0)
        report_op(inst, (DomainAction)completes, NULL, STATE_RUNNING);
    else
        instance_report_state(inst, STATE_RUNNING, REASON_REBOOTED, "the guest rebooted");
}

static int on_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    Instance *inst = userdata;
    char buf[16];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n > 0 && strneq(buf, "ready", 5)) {
        became_ready(inst);
        return 0;
    }
    if (n < 0 && errno == EAGAIN)
        return 0;
    /* Closed without "ready": the process is ending; its exit says why. */
    inst->ready_source = sd_event_source_disable_unref(inst->ready_source);
    inst->ready_fd = safe_close(inst->ready_fd);
    return 0;
}

static int on_ready_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    Instance *inst = userdata;

    inst->ready_timer = sd_event_source_disable_unref(inst->ready_timer);
    if (!inst->ready)
        instance_kill(inst);
    return 0;
}

void instance_kill(Instance *inst)
{
    /* checked against its start time (the spawner may have reaped it already); 0, not known: a
     * pool's VMM handed over before its start time was read */
    if (inst->pid > 0)
        (void)minihv_process_signal(inst->pid, inst->start_ticks, SIGKILL);
}

/* The descriptor the VMM finds its tap on (after the ready pipe), and the stream of a migration
 * it receives. */
#define NET_FD      "4"
#define INCOMING_FD "5"

/* argv for `minihv run`, from the domain's settings. Strings are owned by the instance, the
 * config or the caller (cmdline: the domain's, with the NIC's address when it has one); the
 * array itself is new. *ret_cgroup_files gets the cgroup files the VMM joins. */
static char **build_argv(MinihvDriver *md, Instance *inst, char *memory, char *vcpus, char *console,
                         char *cmdline, char ***ret_cgroup_files, Error *e)
{
    const DomainConfig *c = &inst->config;
    char **argv = calloc(32 + 4 * VM_CGROUP_FILES_MAX, sizeof(char *));
    size_t n = 0;

    if (!argv) {
        (void)error_set_errno(e, -ENOMEM, "Out of memory");
        return NULL;
    }
    argv[n++] = (char *)minihv_settings(md->drv)->binary;
    argv[n++] = (char *)"run";
    argv[n++] = (char *)"--mode";
    argv[n++] = (char *)domain_mode_to_string(c->mode);
    argv[n++] = (char *)"--memory";
    argv[n++] = memory;
    argv[n++] = (char *)"--vcpus";
    argv[n++] = vcpus;
    if (c->disk) {
        argv[n++] = (char *)"--disk";
        argv[n++] = c->disk;
    }
    if (cmdline && !inst->restore_path &&
        inst->incoming_fd < 0) { /* a restored guest keeps the one it booted with */
        argv[n++] = (char *)"--cmdline";
        argv[n++] = cmdline;
    }
    if (inst->tap_fd >= 0) {
        argv[n++] = (char *)"--net-fd";
        argv[n++] = (char *)NET_FD;
        if (inst->incoming_fd < 0) { /* a migrated guest keeps the MAC it has */
            argv[n++] = (char *)"--mac";
            argv[n++] = (char *)c->nic.mac;
        }
    }
    if (c->cpuset) {
        argv[n++] = (char *)"--cpuset";
        argv[n++] = c->cpuset;
    }
    argv[n++] = (char *)"--control";
    argv[n++] = inst->control_path;
    argv[n++] = (char *)"--console";
    argv[n++] = console;
    argv[n++] = (char *)"--stats-file";
    argv[n++] = inst->stats_path;
    argv[n++] = (char *)"--ready-fd";
    argv[n++] = (char *)"3";
    if (instance_cgroup_prepare(inst, argv, &n, ret_cgroup_files, e) < 0)
        return mfree(argv);
    if (inst->incoming_fd >= 0) { /* the guest comes from the stream */
        argv[n++] = (char *)"--incoming";
        argv[n++] = (char *)INCOMING_FD;
    } else if (inst->restore_path) {
        argv[n++] = (char *)"--restore";
        argv[n++] = inst->restore_path;
    } else
        argv[n++] = inst->guest;
    return argv;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(char **, cgroup_strv_free);

/* Through the spawner (minihv-spawner.c): own session so a terminal's Ctrl-C never reaches the
 * domain, default signal handling, stdin from /dev/null, stdout and stderr to the VMM log, the
 * ready pipe as fd 3. With resource control the VMM joins the groups hvd
 * made for it (--cgroup) as its first step, before it creates the VM, and moves its vCPU
 * threads into the vCPU group (--vcpu-cgroup): no second process step, no gate to wait on. */
static int spawn(MinihvDriver *md, Instance *inst, int ready_write, Error *e)
{
    _cleanup_free_ char *memory = NULL, *vcpus = NULL, *console = NULL, *cmdline = NULL;
    _cleanup_(cgroup_strv_freep) char **cgroup_files = NULL;
    const DomainConfig *c = &inst->config;
    _cleanup_free_ char **argv = NULL;
    SpawnFd fds[3];
    size_t n_fds = 0;
    int r;

    console = minihv_path(md, &inst->config, ".log");
    if (asprintf(&memory, "%" PRIu64, c->memory_mib) < 0 || asprintf(&vcpus, "%u", c->vcpus) < 0 ||
        !console)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    /* The guest learns its address from its command line (ip=A.B.C.D/N). */
    if (inst->tap_fd >= 0 && c->nic.ipv4[0]
            ? asprintf(&cmdline, "%s%sip=%s/%u", strempty(c->cmdline), c->cmdline ? " " : "",
                       c->nic.ipv4, c->nic.prefix) < 0
            : c->cmdline && !(cmdline = strdup(c->cmdline)))
        return error_set_errno(e, -ENOMEM, "Out of memory");
    argv = build_argv(md, inst, memory, vcpus, console, cmdline, &cgroup_files, e);
    if (!argv)
        return -EIO;

    /* a boot or a restore of the pool's shape goes to a VMM made for it */
    r = inst->incoming_fd >= 0 ? 0
                               : minihv_pool_hand(md->pool, c, argv, inst->vmm_log_path,
                                                  ready_write, inst->tap_fd, &inst->pid);
    if (r > 0) {
        (void)minihv_process_start_ticks(inst->pid, &inst->start_ticks);
        return 0;
    }
    fds[n_fds++] = (SpawnFd){ready_write, 3};
    if (inst->tap_fd >= 0)
        fds[n_fds++] = (SpawnFd){inst->tap_fd, atoi(NET_FD)};
    if (inst->incoming_fd >= 0)
        fds[n_fds++] = (SpawnFd){inst->incoming_fd, atoi(INCOMING_FD)};
    r = minihv_spawner_run(md->spawner, argv, inst->vmm_log_path, fds, n_fds, &inst->pid,
                           &inst->start_ticks);
    if (r < 0) {
        const char *down = minihv_spawner_down_reason(md->spawner);
        instance_cgroup_remove(inst);
        if (r == -ENOTCONN && down)
            return error_setf(e, ERROR_FAILED, "Failed to run %s: %s", argv[0], down);
        (void)error_set_errno(e, r, "Failed to run %s: %m", argv[0]);
        minihv_name_host_limit_errno(e->message, sizeof(e->message), -r);
        return r;
    }
    return 0;
}

int instance_new(MinihvDriver *md, const DomainConfig *c, Instance **ret, Error *e)
{
    Instance *inst = calloc(1, sizeof(*inst));
    int r;

    if (!inst)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    inst->md = md;
    inst->pidfd = inst->ready_fd = inst->console_fd = inst->tap_fd = inst->incoming_fd = -EBADF;
    inst->completes = -1;
    inst->confirmed = true;
    r = domain_config_copy(&inst->config, c);
    inst->control_path = minihv_path(md, c, ".sock");
    inst->stats_path = minihv_path(md, c, ".stats");
    inst->vmm_log_path = minihv_path(md, c, ".vmm.log");
    if (r < 0 || !inst->control_path || !inst->stats_path || !inst->vmm_log_path) {
        instance_free(inst);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    *ret = inst;
    return 0;
}

/* Starts the process of inst (fresh, or again for a reboot). */
static int instance_start_process(Instance *inst, Error *e)
{
    MinihvDriver *md = inst->md;
    sd_event *event = md->drv->ctx.event;
    int pipefd[2], r;

    if (!inst->guest && inst->incoming_fd < 0)
        return error_setf(e, ERROR_FAILED, "the guest image of '%s' is not known",
                          inst->config.name);
    /* A NIC on an hvd network: hvd opens the tap, the VMM gets it as a descriptor. */
    if (inst->config.nic.tap[0] && inst->tap_fd < 0) {
        Driver *drv = md->drv;
        r = drv->ctx.events.tap_open(drv->ctx.events.userdata, drv, &inst->config.nic,
                                     &inst->tap_fd, e);
        if (r < 0)
            return r;
    }
    (void)unlink(inst->stats_path);
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        r = error_set_errno(e, -errno, "pipe: %m");
        minihv_name_host_limit_errno(e->message, sizeof(e->message), r);
        return r;
    }
    r = spawn(md, inst, pipefd[1], e);
    inst->restore_path = mfree(inst->restore_path);    /* a reboot boots the guest afresh */
    inst->incoming_fd = safe_close(inst->incoming_fd); /* the VMM has its copy */
    /* The VMM holds the tap (and the tap goes when it ends); a reboot opens it again, as for an
     * adopted domain. */
    inst->tap_fd = safe_close(inst->tap_fd);
    (void)close(pipefd[1]);
    if (r < 0) {
        (void)close(pipefd[0]);
        return r;
    }
    /* hvd's own VMM: the spawner reaps it and tells its end (minihv_vmm_exited), so no
     * descriptor watches it. */
    inst->own_child = true;
    unwatch_pid(inst);
    inst->ready = false;
    inst->have_wait_status = false;
    inst->ready_fd = pipefd[0];
    r = sd_event_add_io(event, &inst->ready_source, inst->ready_fd, EPOLLIN, on_ready, inst);
    if (r >= 0)
        r = sd_event_add_time_relative(event, &inst->ready_timer, CLOCK_MONOTONIC,
                                       inst->ready_timeout_us ?: READY_TIMEOUT_US, 0,
                                       on_ready_timeout, inst);
    inst->ready_timeout_us = 0; /* a reboot is ready as fast as any start */
    if (r < 0) {
        instance_kill(inst);
        return error_set_errno(e, r, "Failed to watch minihv: %m");
    }
    return 0;
}

void instance_start_deferred(Instance *inst)
{
    Error e = ERROR_NULL;

    if (instance_start_process(inst, &e) >= 0)
        return;
    /* out of the table before the report, so what it triggers sees the domain not running */
    if (hashmap_get(inst->md->instances, inst->config.name) == inst)
        (void)hashmap_remove(inst->md->instances, inst->config.name);
    if (inst->completes >= 0)
        report_op(inst, (DomainAction)inst->completes, &e, STATE_SHUTOFF);
    instance_free(inst);
}

void instance_cancel_deferred(Instance *inst)
{
    Error e = ERROR_NULL;

    if (hashmap_get(inst->md->instances, inst->config.name) == inst)
        (void)hashmap_remove(inst->md->instances, inst->config.name);
    (void)error_setf(&e, ERROR_FAILED, "'%s' was destroyed before its minihv process started",
                     inst->config.name);
    if (inst->completes >= 0)
        report_op(inst, (DomainAction)inst->completes, &e, STATE_SHUTOFF);
    instance_free(inst);
}

int instance_spawn(MinihvDriver *md, const DomainConfig *c, int completes, Instance **ret, Error *e)
{
    return instance_spawn_from(md, c, NULL, completes, ret, e);
}

/* Starts the process of a new instance, registers it and arms completes. */
static int instance_launch(MinihvDriver *md, const DomainConfig *c, Instance *inst, int completes,
                           Instance **ret, Error *e)
{
    bool incoming = inst->incoming_fd >= 0;
    Error ignored = ERROR_NULL;
    /* A migrated guest needs no image to arrive, only to boot again at a reboot. */
    int r = minihv_resolve_guest(md->drv, c, &inst->guest, incoming ? &ignored : e);

    Instance *before = minihv_ending_find(md, c->name);

    if (incoming)
        r = 0;
    if (r >= 0 && before) {
        /* the last process of this domain still holds its control socket and memory: this one
         * spawns once it is gone (instance_ending_exited), a few milliseconds from now */
        before->successor = inst;
        inst->predecessor = before;
    } else if (r >= 0)
        r = instance_start_process(inst, e);
    if (r >= 0 && hashmap_put(md->instances, c->name, inst) < 0)
        r = error_set_errno(e, -ENOMEM, "Out of memory");
    if (r < 0) {
        instance_free(inst);
        return r;
    }
    inst->completes = completes;
    *ret = inst;
    return 0;
}

int instance_spawn_from(MinihvDriver *md, const DomainConfig *c, const char *restore_path,
                        int completes, Instance **ret, Error *e)
{
    Instance *inst;
    int r;

    r = instance_new(md, c, &inst, e);
    if (r < 0)
        return r;
    if (restore_path && !(inst->restore_path = strdup(restore_path))) {
        instance_free(inst);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    return instance_launch(md, c, inst, completes, ret, e);
}

int instance_spawn_incoming(MinihvDriver *md, const DomainConfig *c, int fd,
                            uint64_t ready_timeout_us, Instance **ret, Error *e)
{
    Instance *inst;
    int r;

    r = instance_new(md, c, &inst, e);
    if (r < 0) {
        (void)close(fd);
        return r;
    }
    inst->incoming_fd = fd;
    inst->ready_timeout_us = ready_timeout_us;
    return instance_launch(md, c, inst, ACTION_START, ret, e);
}

static void on_control_reply(ControlCall *call, json_t *reply, const Error *e, void *userdata)
{
    Instance *inst = userdata;
    DomainAction op = _DOMAIN_ACTION_INVALID;

    for (size_t i = 0; i < ELEMENTSOF(inst->calls); i++)
        if (inst->calls[i] == call) {
            inst->calls[i] = NULL;
            op = inst->call_ops[i];
            break;
        }
    if (e) {
        /* A destroy must happen whatever the socket says (also when minihv did not answer in
         * time); it completes when the process ends. */
        if (op == ACTION_DESTROY || op == ACTION_REBOOT)
            instance_kill(inst);
        else
            report_op(inst, op, e, _DOMAIN_STATE_INVALID);
        /* Unanswered, a pause or resume may still be carried out when minihv runs again: ask
         * it what it did (with its next statistics). */
        if ((op == ACTION_PAUSE || op == ACTION_RESUME) && e->errnum == -ETIMEDOUT)
            inst->confirmed = false;
        return;
    }
    switch (op) {
    case ACTION_PAUSE:
        inst->paused = true;
        report_op(inst, op, NULL, STATE_PAUSED);
        break;
    case ACTION_RESUME:
        inst->paused = false;
        report_op(inst, op, NULL, STATE_RUNNING);
        break;
    case ACTION_SHUTDOWN:
        report_op(inst, op, NULL, STATE_STOPPING);
        break;
    case ACTION_DESTROY:
        /* the guest has stopped (the reply waited for it): done, unless a save or a migration
         * is to see the end first; otherwise it completes when the process ends */
        (void)instance_end_early(inst);
        break;
    default:
        /* a reboot completes when the process runs again. */
        break;
    }
}

int instance_control(Instance *inst, DomainAction op, json_t *request, Error *e)
{
    size_t slot;
    int r;

    for (slot = 0; slot < ELEMENTSOF(inst->calls) && inst->calls[slot]; slot++)
        ;
    if (slot == ELEMENTSOF(inst->calls))
        return error_setf(e, ERROR_FAILED, "too many requests in flight for '%s'",
                          inst->config.name);
    inst->call_ops[slot] = op;
    if (op == ACTION_PAUSE || op == ACTION_RESUME)
        inst->state_requests++;
    r = control_call_async(inst->md->drv->ctx.event, inst->control_path, request,
                           CONTROL_TIMEOUT_MS, on_control_reply, inst, &inst->calls[slot], e);
    /* a destroy is answered once minihv says the guest stopped (after its vCPUs ended) */
    if (r >= 0 && op == ACTION_DESTROY && instance_may_end_early(inst))
        control_call_set_until_event(inst->calls[slot], "stopped");
    return r;
}

/* Reads why minihv ended from its stats file: status and reason. */
static int read_end(Instance *inst, int *ret_status, char *reason, size_t n)
{
    json_t *stats = json_load_file(inst->stats_path, 0, NULL);
    json_t *status = json_object_get(stats, "status");

    if (!json_is_integer(status)) {
        json_decref(stats);
        return -ENODATA;
    }
    *ret_status = (int)json_integer_value(status);
    (void)snprintf(reason, n, "%s", strempty(json_string_value(json_object_get(stats, "reason"))));
    json_decref(stats);
    return 0;
}

/* Takes inst out of the driver's table, so what a report triggers (a restart, a destroy) sees
 * the domain as not running. */
static void instance_unregister(Instance *inst)
{
    if (hashmap_get(inst->md->instances, inst->config.name) == inst)
        (void)hashmap_remove(inst->md->instances, inst->config.name);
}

/* The last line minihv wrote on stderr (its VMM log): it says why it ended. */
static void last_vmm_line(Instance *inst, char *out, size_t n)
{
    _cleanup_fclose_ FILE *f = fopen(inst->vmm_log_path, "re");
    char line[512];

    out[0] = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strneq(line, "minihv: ", 8)) {
            line[strcspn(line, "\n")] = 0;
            (void)snprintf(out, n, "%s", line + 8);
        }
}

void instance_exited(Instance *inst)
{
    char reason[512] = "", detail[600];
    int status = -1, signal = 0;
    bool oom;
    Error e = ERROR_NULL;

    /* A guest that ends at once (hello powers off) may have its end seen before its readiness:
     * the ready pipe still says whether it started. Its writer is gone, so this read cannot
     * wait. */
    if (!inst->ready && inst->ready_fd >= 0) {
        char buf[16];
        ssize_t n = read(inst->ready_fd, buf, sizeof(buf));
        if (n > 0 && strneq(buf, "ready", 5)) {
            int completes = inst->completes;
            inst->ready = true;
            inst->completes = -1;
            if (completes >= 0)
                report_op(inst, (DomainAction)completes, NULL, STATE_RUNNING);
        }
    }
    instance_save_abort(inst);
    instance_unwatch(inst);
    if (instance_ending_exited(inst))
        return; /* its destroy was reported when its guest stopped */
    if (inst->have_wait_status && WIFSIGNALED(inst->wait_status))
        signal = WTERMSIG(inst->wait_status);
    else if (inst->have_wait_status && WIFEXITED(inst->wait_status))
        status = WEXITSTATUS(inst->wait_status);
    if (read_end(inst, &status, reason, sizeof(reason)) < 0 || !reason[0])
        last_vmm_line(inst, reason, sizeof(reason));
    if (!reason[0] && !signal)
        (void)snprintf(reason, sizeof(reason), "minihv pid %d ended without saying why", inst->pid);
    if (signal)
        (void)snprintf(reason, sizeof(reason), "minihv pid %d was killed by signal %d (%s)",
                       inst->pid, signal, strsignal(signal));
    (void)snprintf(detail, sizeof(detail), "%s", reason[0] ? reason : "minihv ended");
    oom = instance_cgroup_oom(inst, detail, sizeof(detail));

    if (!oom && inst->ready && status == MINIHV_EXIT_REBOOT && !signal &&
        !inst->destroy_requested && !inst->end_detail) {
        if (instance_start_process(inst, &e) >= 0)
            return; /* readiness reports running/rebooted (or completes hvd's reboot) */
        (void)snprintf(detail, sizeof(detail), "the reboot failed: %s", e.message);
        status = MINIHV_EXIT_HOST_ERROR;
    }

    instance_unregister(inst);
    instance_cgroup_remove(inst);
    if (!inst->ready) {
        /* It never started: the operation that was waiting for it fails, naming the host
         * limit the VMM hit, when it was one. */
        minihv_name_host_limit_text(detail, sizeof(detail));
        (void)error_setf(&e, ERROR_FAILED, "minihv failed to start the guest: %s", detail);
        if (inst->completes >= 0)
            report_op(inst, (DomainAction)inst->completes, &e, STATE_SHUTOFF);
        else
            instance_report_state(inst, STATE_SHUTOFF, REASON_FAILED, e.message);
    } else if (inst->destroy_requested)
        report_op(inst, ACTION_DESTROY, NULL, STATE_SHUTOFF);
    else if (inst->end_detail)
        instance_report_state(inst, STATE_SHUTOFF, REASON_DAEMON, inst->end_detail);
    else if (status == MINIHV_EXIT_MIGRATED && !signal)
        /* The target runs the guest now: off here, defined still. */
        instance_report_state(inst, STATE_SHUTOFF, REASON_MIGRATED, "migrated to another host");
    else if (status == MINIHV_EXIT_SAVED && !signal)
        /* Saved by a control client and stopped: off, its state in the image it was given. */
        instance_report_state(inst, STATE_SHUTOFF, REASON_SHUTDOWN,
                              "saved into an image and stopped");
    else if (oom)
        instance_report_state(inst, STATE_CRASHED, REASON_HOST_ERROR, detail);
    else if (status == MINIHV_EXIT_POWEROFF && !signal)
        instance_report_state(inst, STATE_SHUTOFF, REASON_SHUTDOWN, detail);
    else if (status == MINIHV_EXIT_DESTROYED && !signal)
        instance_report_state(inst, STATE_SHUTOFF, REASON_DESTROYED, detail);
    else if (status == MINIHV_EXIT_FENCED && !signal)
        instance_report_state(inst, STATE_SHUTOFF, REASON_FENCED, detail);
    else if (status == MINIHV_EXIT_CRASH && !signal)
        instance_report_state(inst, STATE_CRASHED, REASON_GUEST_FAULT, detail);
    else
        instance_report_state(inst, STATE_CRASHED, REASON_HOST_ERROR, detail);
    /* After the state: a migration the end cut short must not announce a guest running here. */
    instance_migrate_ended(inst, signal ? -1 : status);
    instance_free(inst);
}
