/* The minihv driver's operations: validation, guest resolution, lifecycle through instances
 * and control requests, statistics and consoles from what the instances keep, re-attachment
 * and the sweep of unclaimed instances. None of them waits on a minihv process. */
#include <dirent.h>
#include <limits.h>
#include <fcntl.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "log.h"
#include "minihv-driver.h"
#include "minihv-internal.h"
#include "minihv-process.h"

#define MINIHV_MEMORY_MIN   2u
#define MINIHV_MEMORY_MAX   3072u
#define MINIHV_PV_VCPUS_MAX 8u
#define MINIHV_CMDLINE_MAX  1024u

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

/* Lists the guests installed for mode, comma-separated, into buf. */
static void installed_guests(const char *dir, DomainMode mode, char *buf, size_t n)
{
    _cleanup_(closedirp) DIR *d = opendir(dir);
    char suffix[16];
    size_t used = 0;

    buf[0] = 0;
    (void)snprintf(suffix, sizeof(suffix), "-%s.elf", domain_mode_to_string(mode));
    for (struct dirent *de; d && (de = readdir(d));) {
        size_t len = strlen(de->d_name), slen = strlen(suffix);
        int k;

        if (len <= slen || !streq(de->d_name + len - slen, suffix))
            continue;
        k = snprintf(buf + used, n - used, "%s%.*s", used ? ", " : "", (int)(len - slen),
                     de->d_name);
        if (k < 0 || (size_t)k >= n - used)
            break;
        used += (size_t)k;
    }
}

/* A guest image must be a regular file hvd can open for reading: minihv would wait forever to
 * open a FIFO, and a directory or device is no ELF image. Never blocks (O_NONBLOCK). */
static int guest_image_check(const char *path, Error *e)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;

    if (fd < 0) {
        int r = error_set_errno(e, -errno, "the guest image %s cannot be read: %m", path);
        minihv_name_host_limit_errno(e->message, sizeof(e->message), r);
        return r;
    }
    if (fstat(fd, &st) < 0)
        return error_set_errno(e, -errno, "the guest image %s cannot be read: %m", path);
    if (!S_ISREG(st.st_mode))
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "the guest image %s cannot be read: it is not a regular file", path);
    return 0;
}

int minihv_resolve_guest(Driver *drv, const DomainConfig *c, char **ret, Error *e)
{
    int r;

    const char *dir = minihv_settings(drv)->guest_dir;
    char *path = NULL;

    if (!c->kernel)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'kernel' must name the guest a minihv domain runs: an installed guest "
                          "such as \"hello\" or an absolute path");
    if (c->kernel[0] == '/') {
        r = guest_image_check(c->kernel, e);
        if (r < 0)
            return r;
        path = strdup(c->kernel);
    } else if (strchr(c->kernel, '/') || streq(c->kernel, ".") || streq(c->kernel, "..")) {
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'kernel' must be an absolute path or the name of an installed guest, "
                          "got \"%s\"",
                          c->kernel);
    } else {
        if (asprintf(&path, "%s/%s-%s.elf", dir, c->kernel, domain_mode_to_string(c->mode)) < 0)
            return error_set_errno(e, -ENOMEM, "Out of memory");
        if (access(path, R_OK) < 0) {
            char list[1024];
            installed_guests(dir, c->mode, list, sizeof(list));
            free(path);
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "no installed %s-mode guest named \"%s\"; installed in %s: %s",
                              domain_mode_to_string(c->mode), c->kernel, dir,
                              list[0] ? list : "none");
        }
        r = guest_image_check(path, e);
        if (r < 0) {
            free(path);
            return r;
        }
    }
    if (!path)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    *ret = path;
    return 0;
}

static int minihv_validate(Driver *drv, const DomainConfig *c, Error *e)
{
    _cleanup_free_ char *guest = NULL;

    if (c->network && !c->nic.bridge[0])
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'network': minihv attaches only to hvd networks, and there is no hvd "
                          "network named '%s' (see hvctl network list)",
                          c->network);
    if (c->initrd)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'initrd': minihv boots its guest image alone, without an initial "
                          "ramdisk");
    if (c->mode == MODE_FULL && c->vcpus != 1)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'vcpus': minihv runs full-mode guests on exactly 1 vCPU, got %u",
                          c->vcpus);
    if (c->vcpus > MINIHV_PV_VCPUS_MAX)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'vcpus' must be 1..%u for minihv, got %u",
                          MINIHV_PV_VCPUS_MAX, c->vcpus);
    if (c->memory_mib < MINIHV_MEMORY_MIN || c->memory_mib > MINIHV_MEMORY_MAX)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'memory_mib' must be %u..%u for minihv, got %llu", MINIHV_MEMORY_MIN,
                          MINIHV_MEMORY_MAX, (unsigned long long)c->memory_mib);
    if (c->cmdline && strlen(c->cmdline) > MINIHV_CMDLINE_MAX)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'cmdline' must be at most %u characters for minihv", MINIHV_CMDLINE_MAX);
    /* A bare name must name an installed guest now; a path may appear later (checked at start). */
    if (c->kernel && c->kernel[0] == '/')
        return 0;
    return minihv_resolve_guest(drv, c, &guest, e);
}

static int mkdir_mode(const char *path, mode_t mode)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Available when the minihv program can be run and /dev/kvm opened; says which is missing. */
static void minihv_check_available(Driver *drv)
{
    const char *binary = minihv_settings(drv)->binary;
    _cleanup_close_ int kvm = -EBADF;
    char why[512];

    if (access(binary, X_OK) < 0) {
        (void)snprintf(why, sizeof(why), "%s cannot be run: %s (set [minihv] binary)", binary,
                       strerror(errno));
        driver_set_available(drv, false, why);
        return;
    }
    kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        (void)snprintf(why, sizeof(why), "/dev/kvm cannot be opened: %s", strerror(errno));
        driver_set_available(drv, false, why);
        return;
    }
    driver_set_available(drv, true, NULL);
}

/* (Re)makes the warm pool from the settings; without it, starts spawn as they always did. */
static void minihv_pool_restart(MinihvDriver *md)
{
    minihv_pool_free(md->pool);
    md->pool = NULL;
    if (md->drv->available && minihv_pool_open(md, &md->pool) < 0) {
        minihv_pool_free(md->pool);
        md->pool = NULL;
    }
}

/* New settings: running domains keep the program they started with; the next start uses the
 * new one, and availability follows it. */
static void minihv_settings_changed(Driver *drv, const void *old)
{
    const MinihvSettings *was = old, *now = minihv_settings(drv);
    MinihvDriver *md = minihv(drv);

    if (!md)
        return;
    minihv_check_available(drv);
    if (!was || was->warm_pool != now->warm_pool || was->warm_pool_mode != now->warm_pool_mode ||
        was->warm_pool_memory_mib != now->warm_pool_memory_mib ||
        was->warm_pool_vcpus != now->warm_pool_vcpus || !streq(was->binary, now->binary))
        minihv_pool_restart(md);
}

static int minihv_open(Driver *drv, Error *e)
{
    MinihvDriver *md = calloc(1, sizeof(*md));
    int r;

    if (!md)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    md->drv = drv;
    drv->data = md;
    md->instances = hashmap_new();
    if (!md->instances || asprintf(&md->run_dir, "%s/minihv", drv->ctx.runtime_dir) < 0 ||
        asprintf(&md->console_dir, "%s/consoles", drv->ctx.state_dir) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    r = mkdir_mode(md->run_dir, 0700);
    if (r >= 0)
        r = mkdir_mode(md->console_dir, 0750);
    if (r < 0)
        return error_set_errno(e, r, "Failed to create %s: %m", md->run_dir);

    minihv_resources_open(md);
    minihv_check_available(drv);
    if (minihv_spawner_new(minihv_settings(drv)->binary, drv->ctx.event, minihv_vmm_exited,
                           minihv_spawner_lost, md, &md->spawner) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    minihv_pool_restart(md);
    return 0;
}

static bool minihv_close(Driver *drv)
{
    MinihvDriver *md = minihv(drv);

    if (!md)
        return true;
    /* Running domains keep running: only hvd's watches go. The pooled VMMs run no domain. */
    minihv_pool_free(md->pool);
    md->pool = NULL;
    minihv_spawner_free(md->spawner); /* after the pool's thread, which uses it */
    md->spawner = NULL;
    minihv_refreshes_drop(md);
    minihv_probes_drop(md);
    if (md->instances) {
        size_t n = hashmap_size(md->instances), k = 0;
        Instance **all = calloc(n + 1, sizeof(Instance *));
        HASHMAP_FOREACH_VALUE(md->instances, value)
        if (all)
            all[k++] = value;
        for (size_t i = 0; all && i < k; i++)
            instance_free(all[i]);
        free(all);
    }
    minihv_ending_free_all(md); /* before the table: instance_free looks there */
    hashmap_free(md->instances);
    minihv_resources_close(md);
    free(md->run_dir);
    free(md->console_dir);
    free(md);
    drv->data = NULL;
    return true;
}

static int minihv_start(Driver *drv, const DomainConfig *c, DomainRuntime *rt, unsigned flags,
                        Error *e)
{
    MinihvDriver *md = minihv(drv);
    Instance *inst;
    int r;

    if (instance_find(md, c->name))
        return error_setf(e, ERROR_INVALID_STATE, "a minihv process still runs '%s'", c->name);
    r = instance_spawn(md, c, ACTION_START, &inst, e);
    if (r < 0)
        return r;
    rt->pid = inst->pid;
    rt->pid_start_time = inst->start_ticks;
    return DRIVER_PENDING;
}

static Instance *running(Driver *drv, const DomainConfig *c, Error *e)
{
    Instance *inst = instance_find(minihv(drv), c->name);

    if (!inst)
        (void)error_setf(e, ERROR_INVALID_STATE, "no minihv process runs '%s'", c->name);
    return inst;
}

static int control_op(Driver *drv, const DomainConfig *c, DomainAction op, json_t *request,
                      Error *e)
{
    Instance *inst = running(drv, c, e);
    int r;

    if (!inst) {
        json_decref(request);
        return -ESRCH;
    }
    r = instance_control(inst, op, request, e);
    json_decref(request);
    return r < 0 ? r : DRIVER_PENDING;
}

static int minihv_shutdown(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                           unsigned flags, Error *e)
{
    /* hvd's own timer turns an ignored shutdown into a destroy: minihv's is set out of reach. */
    return control_op(drv, c, ACTION_SHUTDOWN,
                      json_pack("{s:s, s:i}", "cmd", "shutdown", "timeout_s", 86400), e);
}

static int minihv_pause(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                        Error *e)
{
    return control_op(drv, c, ACTION_PAUSE, json_pack("{s:s}", "cmd", "pause"), e);
}

static int minihv_resume(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                         unsigned flags, Error *e)
{
    return control_op(drv, c, ACTION_RESUME, json_pack("{s:s}", "cmd", "resume"), e);
}

/* The VMM restarts the guest itself and answers once it did: no timeout to apply. */
static int minihv_reboot(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                         unsigned timeout_s, unsigned flags, Error *e)
{
    Instance *inst = running(drv, c, e);

    if (!inst)
        return -ESRCH;
    inst->completes = ACTION_REBOOT;
    return control_op(drv, c, ACTION_REBOOT, json_pack("{s:s}", "cmd", "reboot"), e);
}

static int minihv_destroy(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                          unsigned flags, Error *e)
{
    Instance *inst = instance_find(minihv(drv), c->name);
    Error ignored = ERROR_NULL;
    json_t *request;

    if (!inst)
        return DRIVER_DONE; /* nothing runs: it is off already */
    if (inst->predecessor) {
        instance_cancel_deferred(inst);
        return DRIVER_DONE;
    }
    inst->destroy_requested = true;
    request = json_pack("{s:s}", "cmd", "destroy");
    if (!inst->ready || instance_control(inst, ACTION_DESTROY, request, &ignored) < 0)
        instance_kill(inst);
    json_decref(request);
    return DRIVER_PENDING; /* completes when the process has ended */
}

/* From the statistics cache: answers at once (a sample that is no longer fresh is asked for
 * again, without waiting for it). */
static int minihv_get_info(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                           DomainInfo *info, unsigned flags, Error *e)
{
    Instance *inst = running(drv, c, e);
    json_t *stats;

    if (!inst)
        return -ESRCH;
    if (!inst->ready)
        return error_setf(e, ERROR_INVALID_STATE, "'%s' is still starting", c->name);
    stats = instance_stats_json(inst);
    if (!stats)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    info->state = inst->paused ? STATE_PAUSED : STATE_RUNNING;
    info->cpu_time_ns = (uint64_t)json_integer_value(json_object_get(stats, "cpu_time_ns"));
    info->memory_kib = (uint64_t)json_integer_value(json_object_get(stats, "memory_kib"));
    info->stats = stats;
    return 0;
}

/* Every ready instance with at least one sample, from the cache as get_info; an instance that
 * has none yet (adopted while minihv does not answer) is left out rather than shown as zeros. */
static int minihv_get_stats(Driver *drv, json_t **ret, unsigned flags, Error *e)
{
    MinihvDriver *md = minihv(drv);
    json_t *all = json_object();

    if (!all)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    HASHMAP_FOREACH_VALUE(md->instances, value)
    {
        Instance *inst = value;
        json_t *stats;

        if (!inst->ready)
            continue;
        stats = instance_stats_sample(inst, true);
        if (stats)
            (void)json_object_set_new(all, inst->config.name, stats);
    }
    *ret = all;
    return 0;
}

/* A minihv guest has one console, in both modes: its pv console is a hypercall, not a device. */
static int no_virtio_console(const DomainConfig *c, Error *e)
{
    return error_setf(e, ERROR_INVALID_ARGUMENT,
                      "minihv domain '%s' has one console (ttyS0), no virtio console", c->name);
}

static int minihv_console_open(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                               int *ret_fd, unsigned flags, Error *e)
{
    Instance *inst;

    if (flags & DRIVER_CONSOLE_VIRTIO)
        return no_virtio_console(c, e);
    inst = running(drv, c, e);
    if (!inst)
        return -ESRCH;
    return instance_console_connect(inst, ret_fd, e);
}

static int minihv_console_log(Driver *drv, const DomainConfig *c, unsigned flags, char **ret_path,
                              Error *e)
{
    if (flags & DRIVER_CONSOLE_VIRTIO)
        return no_virtio_console(c, e);
    *ret_path = minihv_path(minihv(drv), c, ".log");
    return *ret_path ? 0 : error_set_errno(e, -ENOMEM, "Out of memory");
}

static int minihv_reattach(Driver *drv, const DomainConfig *c, DomainRuntime *rt,
                           DomainState *ret_state, DomainReason *ret_reason, unsigned flags,
                           Error *e)
{
    Instance *inst = instance_find(minihv(drv), c->name);
    int r = 1;

    if (inst)
        *ret_state = inst->paused ? STATE_PAUSED : STATE_RUNNING;
    else {
        r = instance_adopt(minihv(drv), c, rt, *ret_state, e);
        *ret_state = *ret_state == STATE_PAUSED ? STATE_PAUSED : STATE_RUNNING;
    }
    *ret_reason = REASON_UNKNOWN;
    if (r == 0 && minihv_ended_migrated(minihv(drv), c)) {
        /* It handed the guest over while hvd was away. */
        *ret_state = STATE_SHUTOFF;
        *ret_reason = REASON_MIGRATED;
    } else if (r == 0 && minihv_ended_fenced(minihv(drv), c)) {
        /* Its watchdog ended it while hvd was away. */
        *ret_state = STATE_SHUTOFF;
        *ret_reason = REASON_FENCED;
    }
    return r;
}

/* True when an instance runs the domain whose UUID is uuid. */
static bool claimed(MinihvDriver *md, const char *uuid)
{
    HASHMAP_FOREACH_VALUE(md->instances, value)
    if (streq(((Instance *)value)->config.uuid, uuid))
        return true;
    return false;
}

/* Reads a small /proc file of pid into buf (NUL-terminated); returns its length or -errno. */
static ssize_t read_proc(int pid, const char *name, char *buf, size_t size)
{
    _cleanup_close_ int fd = -EBADF;
    char path[64];
    ssize_t n;

    (void)snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, size - 1);
    if (n < 0)
        return -errno;
    buf[n] = 0;
    return n;
}

/* Whether pid is a minihv process (the program hvd runs) with a control socket in this driver's
 * directory; *ret_path is that socket's path. */
static bool process_control_path(MinihvDriver *md, int pid, const char **ret_path, char *buf,
                                 size_t size)
{
    const char *binary = minihv_settings(md->drv)->binary, *base = strrchr(binary, '/');
    size_t dir_len = strlen(md->run_dir);
    char comm[32];
    ssize_t n;

    base = base ? base + 1 : binary;
    if (read_proc(pid, "comm", comm, sizeof(comm)) <= 0)
        return false;
    comm[strcspn(comm, "\n")] = 0; /* the kernel keeps at most 15 characters of the name */
    if (strlen(comm) != MIN(strlen(base), (size_t)15) || !strneq(comm, base, strlen(comm)))
        return false;
    n = read_proc(pid, "cmdline", buf, size);
    for (const char *arg = buf; n > 0 && arg < buf + n; arg += strlen(arg) + 1) {
        const char *next = arg + strlen(arg) + 1;

        if (streq(arg, "--control") && next < buf + n && strneq(next, md->run_dir, dir_len) &&
            next[dir_len] == '/') {
            *ret_path = next;
            return true;
        }
    }
    return false;
}

/* The domain UUID of a control socket file name (UUID.sock), or false. */
static bool socket_uuid(const char *file, char uuid[DOMAIN_UUID_STRING_MAX])
{
    size_t len = strlen(file);

    if (len != 36 + 5 || !streq(file + 36, ".sock"))
        return false;
    memcpy(uuid, file, 36);
    uuid[36] = 0;
    return true;
}

/* Kills the minihv processes of this driver's directory that no domain claims: started by an
 * hvd that died before it recorded them (their start was never answered), whether they have
 * set up their control socket yet or not. */
static unsigned sweep_processes(MinihvDriver *md)
{
    _cleanup_(closedirp) DIR *d = opendir("/proc");
    unsigned ended = 0;

    for (struct dirent *de; d && (de = readdir(d));) {
        char buf[4096], uuid[DOMAIN_UUID_STRING_MAX];
        const char *path, *file;
        int pid = atoi(de->d_name);
        uint64_t ticks = 0;

        /* its start time first: the kill below reaches only the process whose command line
         * was read, never one that took its pid over meanwhile */
        if (pid <= 0 || minihv_process_start_ticks(pid, &ticks) < 0 ||
            !process_control_path(md, pid, &path, buf, sizeof(buf)))
            continue;
        file = strrchr(path, '/') + 1;
        if (!socket_uuid(file, uuid) || claimed(md, uuid))
            continue;
        if (minihv_process_signal(pid, ticks, SIGKILL) == 0)
            ended++;
        (void)unlink(path); /* the socket pass below is for other programs' sockets */
    }
    return ended;
}

/* Ends every instance no domain claims, without waiting for any: the processes of the minihv
 * program are killed; a socket left by another program (a binary changed since) is asked to
 * destroy itself, as is a process that ran stopped (it ends when it runs again). Then removes
 * the cgroups no instance claims. Counts the ones killed or asked. */
static unsigned minihv_sweep(Driver *drv)
{
    MinihvDriver *md = minihv(drv);
    _cleanup_(closedirp) DIR *d = opendir(md->run_dir);
    unsigned asked = sweep_processes(md);

    for (struct dirent *de; d && (de = readdir(d));) {
        char uuid[DOMAIN_UUID_STRING_MAX], path[PATH_MAX];
        Error e = ERROR_NULL;
        json_t *request;

        if (!socket_uuid(de->d_name, uuid) || claimed(md, uuid))
            continue;
        (void)snprintf(path, sizeof(path), "%s/%s", md->run_dir, de->d_name);
        request = json_pack("{s:s}", "cmd", "destroy");
        if (request && control_send(path, request, &e) >= 0)
            asked++;
        json_decref(request);
        (void)unlink(path);
    }
    return asked + minihv_resources_sweep(md);
}

static int minihv_undefine(Driver *drv, const DomainConfig *c, unsigned flags, Error *e)
{
    static const char *const suffixes[] = {".log", ".vmm.log", ".stats", ".sock"};

    for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
        _cleanup_free_ char *path = minihv_path(minihv(drv), c, suffixes[i]);
        if (path)
            (void)unlink(path);
    }
    return 0;
}

/* The instance (destroyed and still ending, or running) whose VMM is pid, or NULL. */
static Instance *instance_by_pid(MinihvDriver *md, int pid)
{
    for (Instance *inst = md->ending; inst; inst = inst->ending_next)
        if (inst->pid == pid)
            return inst;
    HASHMAP_FOREACH_VALUE(md->instances, value)
    {
        Instance *inst = value;
        if (inst->pid == pid)
            return inst;
    }
    return NULL;
}

/* A VMM of hvd's ended: a pooled one, or a domain's (wait_status < 0: not known). */
static bool vmm_exited(MinihvDriver *md, int pid, int wait_status)
{
    Instance *inst;

    if (minihv_pool_child_exited(md->pool, pid))
        return true;
    inst = instance_by_pid(md, pid);
    if (!inst)
        return false;
    inst->have_wait_status = wait_status >= 0;
    inst->wait_status = wait_status;
    instance_exited(inst);
    return true;
}

void minihv_vmm_exited(void *userdata, int pid, int wait_status)
{
    if (!vmm_exited(userdata, pid, wait_status))
        log_debug("minihv: the end of pid %d, not a VMM hvd knows", pid);
}

/* The spawner ended: the VMMs it had started are hvd's children now (hvd reaps them), or have
 * ended already and were reaped by it, their end not told: those end here, their status not
 * known. */
void minihv_spawner_lost(void *userdata)
{
    MinihvDriver *md = userdata;
    size_t n = md->n_ending + hashmap_size(md->instances), k = 0;
    _cleanup_free_ int *pids = calloc(n + 1, sizeof(int));

    if (!pids)
        return;
    for (Instance *inst = md->ending; inst && k < n; inst = inst->ending_next)
        if (inst->own_child && inst->pid > 0)
            pids[k++] = inst->pid;
    HASHMAP_FOREACH_VALUE(md->instances, value)
    {
        Instance *inst = value;
        if (k < n && inst->own_child && inst->pid > 0)
            pids[k++] = inst->pid;
    }
    for (size_t i = 0; i < k; i++) {
        int status;
        pid_t r = waitpid(pids[i], &status, WNOHANG);
        if (r > 0 || (r < 0 && errno == ECHILD))
            (void)vmm_exited(md, pids[i], r > 0 ? status : -1);
    }
}

static int minihv_child_exited(Driver *drv, int pid, int wait_status)
{
    MinihvDriver *md = minihv(drv);

    /* the spawner itself; or a VMM whose spawner ended first, now hvd's child */
    return minihv_spawner_child_exited(md->spawner, pid) || vmm_exited(md, pid, wait_status);
}

const DriverOps minihv_driver_ops = {
    .name = "minihv",
    .kind = DRIVER_MINIHV,
    .settings_parse = minihv_settings_parse,
    .settings_free = minihv_settings_free,
    .settings_print = minihv_settings_print,
    .settings_changed = minihv_settings_changed,
    .open = minihv_open,
    .close = minihv_close,
    .validate = minihv_validate,
    .start = minihv_start,
    .shutdown = minihv_shutdown,
    .destroy = minihv_destroy,
    .pause = minihv_pause,
    .resume = minihv_resume,
    .reboot = minihv_reboot,
    .get_info = minihv_get_info,
    .get_stats = minihv_get_stats,
    .peek_stats = minihv_peek_stats,
    .peek_counters = minihv_peek_counters,
    .refresh_stats = minihv_refresh_stats,
    .console_open = minihv_console_open,
    .console_log = minihv_console_log,
    .reattach = minihv_reattach,
    .sweep = minihv_sweep,
    .undefine = minihv_undefine,
    .child_exited = minihv_child_exited,
    .set_resources = minihv_set_resources,
    .host_info = minihv_host_info,
    .save = minihv_save,
    .start_image = minihv_start_image,
    .migrate_send = minihv_migrate_send,
    .migrate_cancel = minihv_migrate_cancel,
    .start_incoming = minihv_start_incoming,
    .watchdog = minihv_watchdog,
};
