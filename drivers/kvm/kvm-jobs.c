/* The kvm driver's libvirt calls on worker threads: every call that talks to libvirtd runs here
 * (lifecycle operations one domain at a time and in order, connecting, statistics, consoles,
 * undefining, and letting go of connections and streams), so a libvirtd that hangs never holds
 * up hvd's loop. Results come back on the loop. */
#include <fcntl.h>
#include <libvirt/virterror.h>
#include <string.h>
#include <unistd.h>

#include "kvm-internal.h"
#include "kvm-xml.h"
#include "kvm-state.h"
#include "log.h"
#include "time-util.h"

#define RELEASE_JOB_KEY "release"

/* A domain with operations in flight, and the last change libvirt announced meanwhile. */
typedef struct KvmBusy {
    unsigned jobs;
    bool missed;
    DomainState state;
    DomainReason reason;
    const char *detail; /* static */
} KvmBusy;

static int busy_hold(KvmDriver *k, const char *name)
{
    KvmBusy *b = hashmap_get(k->busy, name);
    int r;

    if (!b) {
        b = calloc(1, sizeof(*b));
        if (!b)
            return -ENOMEM;
        r = hashmap_put(k->busy, name, b);
        if (r < 0) {
            free(b);
            return r;
        }
    }
    b->jobs++;
    return 0;
}

/* Drops one hold; returns true and the missed change when it was the last hold and a change
 * came meanwhile. */
static bool busy_release(KvmDriver *k, const char *name, KvmBusy *ret_missed)
{
    KvmBusy *b = hashmap_get(k->busy, name);
    bool missed;

    if (!b || --b->jobs > 0)
        return false;
    missed = b->missed;
    *ret_missed = *b;
    free(hashmap_remove(k->busy, name));
    return missed;
}

void kvm_domain_changed(Driver *drv, const char *name, DomainState state, DomainReason reason,
                        const char *detail)
{
    KvmBusy *b = hashmap_get(kvm(drv)->busy, name);

    if (state != STATE_SHUTOFF && hashmap_get(kvm(drv)->saved, name)) {
        log_debug("kvm: %s was saved; ignoring libvirt's news of it %s", name,
                  domain_state_to_string(state));
        return;
    }
    if (b) {
        *b = (KvmBusy){
            .jobs = b->jobs, .missed = true, .state = state, .reason = reason, .detail = detail};
        return;
    }
    drv->ctx.events.domain_state(drv->ctx.events.userdata, drv, name, state, reason, NULL, detail);
}

KvmJob *kvm_job_new(Driver *drv, KvmJobKind kind)
{
    KvmJob *j = calloc(1, sizeof(*j));

    if (j)
        *j = (KvmJob){
            .drv = drv,
            .kind = kind,
            .observed = _DOMAIN_STATE_INVALID,
            .error = ERROR_NULL,
            .lifecycle_callback = -1,
            .reboot_callback = -1,
            .stream_fd = -EBADF,
            .progress_fd = -EBADF,
        };
    return j;
}

static void stream_release_now(virStreamPtr st)
{
    if (!st)
        return;
    (void)virStreamAbort(st);
    (void)virStreamFree(st);
}

static void job_free(KvmJob *j)
{
    kvm_seen_free(j->seen, j->n_seen);
    free(j->xml);
    free(j->image);
    free(j->clone_backing);
    free(j->disk_path);
    free(j->target_uri);
    if (j->stream_fd >= 0)
        (void)close(j->stream_fd);
    if (j->progress_fd >= 0)
        (void)close(j->progress_fd);
    (void)kvm_migrate_progress_free(j->progress, false);
    free(j);
}

void kvm_job_cancel(void *job)
{
    KvmJob *j = job;
    KvmBusy ignored;

    if (j->kind == KVM_JOB_OPERATION || j->kind == KVM_JOB_MIGRATE)
        (void)busy_release(kvm(j->drv), j->name, &ignored);
    stream_release_now(j->console);
    if (j->conn && (j->kind == KVM_JOB_CONNECT || j->kind == KVM_JOB_RELEASE))
        kvm_connection_close(j->conn, j->lifecycle_callback, j->reboot_callback);
    else if (j->conn)
        (void)virConnectClose(j->conn);
    job_free(j);
}

bool kvm_being_removed(void)
{
    virErrorPtr err = virGetLastError();

    return err && err->code == VIR_ERR_OPERATION_FAILED && err->message &&
           strstr(err->message, "already being removed");
}

/* Worker side of a start: hvd's database holds the definition, so libvirt gets a transient
 * domain that exists exactly while it runs (nothing to keep in sync, nothing left behind). */
static virDomainPtr job_start(KvmJob *j)
{
    virDomainPtr dom = virDomainCreateXML(j->conn, j->xml, 0);

    /* A run that just ended leaves its transient domain in libvirt's list until libvirt has
     * cleaned up after QEMU ("already being removed"): a start right after a power-off (a
     * reboot's second half, or a user quick enough) waits for that instead of failing. */
    for (unsigned i = 0; !dom && i < KVM_START_REMOVING_RETRIES && kvm_being_removed(); i++) {
        (void)usleep(KVM_START_REMOVING_WAIT_US);
        dom = virDomainCreateXML(j->conn, j->xml, 0);
    }
    if (!dom)
        (void)kvm_libvirt_error(&j->error, "starting domain", j->name);
    else
        j->pid = kvm_qemu_pid(kvm(j->drv)->uri, j->uuid);
    return dom;
}

static int job_call(KvmJob *j, virDomainPtr dom)
{
    switch (j->op) {
    case ACTION_SHUTDOWN:
        return virDomainShutdown(dom);
    case ACTION_DESTROY:
        if (virDomainDestroy(dom) < 0 && !kvm_libvirt_error_is(VIR_ERR_OPERATION_INVALID))
            return -1;
        return 0; /* off now, or it already was */
    case ACTION_PAUSE:
        return virDomainSuspend(dom);
    case ACTION_RESUME:
        return virDomainResume(dom);
    default:
        /* The power button, never virDomainReboot(): libvirt would keep that reboot armed when
         * the guest ignores it and turn its next power-off into a boot. A shutdown request also
         * disarms one left by someone else. */
        if (j->reboot == KVM_REBOOT_RESET)
            return virDomainReset(dom, 0);
        if (virDomainShutdownFlags(dom, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) == 0)
            return 0;
        /* A hypervisor without the choice (libvirt's test driver) has one way to ask. */
        if (!kvm_libvirt_error_is(VIR_ERR_INVALID_ARG) && !kvm_libvirt_error_is(VIR_ERR_NO_SUPPORT))
            return -1;
        return virDomainShutdown(dom);
    }
}

/* What libvirt says of dom after an operation: its state, and after a start the statistics of
 * an active one (so that the first look at a domain that just started has numbers; a running
 * domain has them already, and the sampler refreshes them). */
static void job_read_after(KvmJob *j, virDomainPtr dom, bool started)
{
    virDomainPtr doms[] = {dom, NULL};
    virDomainStatsRecordPtr *records = NULL;
    int vir_state, vir_reason, n;

    if (virDomainGetState(dom, &vir_state, &vir_reason, 0) < 0) {
        if (kvm_libvirt_error_is(VIR_ERR_NO_DOMAIN))
            j->observed = STATE_SHUTOFF;
        return;
    }
    kvm_state_from_libvirt(vir_state, vir_reason, &j->observed, &j->observed_reason, NULL);
    if (!started || !domain_state_is_active(j->observed))
        return;
    j->seen_at_us = now_usec(CLOCK_MONOTONIC);
    n = virDomainListGetStats(doms, KVM_STATS_WANTED, &records,
                              VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
    if (n > 0)
        (void)kvm_seen_from_records(records, n, &j->seen, &j->n_seen);
    if (records)
        virDomainStatsRecordListFree(records);
}

static void job_run_operation(KvmJob *j)
{
    virDomainPtr dom;

    bool starts = j->op == ACTION_START || j->reboot == KVM_REBOOT_RESTART;

    if (starts)
        dom = j->incoming ? kvm_incoming_wait(j) : j->image ? kvm_restore_run(j) : job_start(j);
    else {
        dom = virDomainLookupByUUIDString(j->conn, j->uuid);
        if (!dom) {
            /* A transient domain that stopped is gone: destroying it is then done. */
            if (!(j->op == ACTION_DESTROY && kvm_libvirt_error_is(VIR_ERR_NO_DOMAIN)))
                (void)kvm_libvirt_error(&j->error, "looking up domain", j->name);
            j->observed = STATE_SHUTOFF;
            j->observed_reason = REASON_UNKNOWN;
            return;
        }
        if (j->op == ACTION_SAVE)
            (void)kvm_save_run(j, dom);
        else if (job_call(j, dom) < 0)
            (void)kvm_libvirt_error(&j->error, domain_action_to_string(j->op), j->name);
    }
    if (!dom)
        return;
    /* Follow the console from the start (its first bytes may precede this: the log has them). */
    if (starts)
        (void)kvm_console_open_stream(dom, CONSOLE_SERIAL, false, &j->console);
    job_read_after(j, dom, starts);
    (void)virDomainFree(dom);
}

static void job_done_operation(KvmJob *j)
{
    Driver *drv = j->drv;
    KvmBusy missed;
    bool replay;

    if (j->console)
        (void)kvm_console_adopt(drv, j->name, j->uuid, CONSOLE_SERIAL, TAKE_PTR(j->console));
    /* What libvirt says of the saved instance until hvd ends it is no news (see saved). */
    if (j->op == ACTION_SAVE && j->save_pause && !error_is_set(&j->error))
        (void)hashmap_put(kvm(drv)->saved, j->name, drv);
    /* Released first: the manager may queue the next operation from op_completed. */
    replay = busy_release(kvm(drv), j->name, &missed);
    /* A change libvirt announced meanwhile is newer than what the worker read: it stays. */
    if (!replay && j->observed != _DOMAIN_STATE_INVALID)
        kvm_domain_set_state(drv, j->uuid, j->name, j->observed, j->observed_reason);
    if (j->seen_at_us)
        kvm_domain_set_stats(drv, j->uuid, j->n_seen > 0 ? &j->seen[0] : NULL, j->seen_at_us);
    if (j->reboot != KVM_REBOOT_NONE)
        kvm_reboot_job_done(drv, j->name, j->reboot, error_is_set(&j->error) ? &j->error : NULL,
                            j->pid);
    else
        drv->ctx.events.op_completed(drv->ctx.events.userdata, drv, j->name, j->op,
                                     error_is_set(&j->error) ? &j->error : NULL,
                                     j->pid > 0 ? &(DomainRuntime){.pid = j->pid} : NULL,
                                     j->observed);
    if (replay)
        kvm_domain_changed(drv, j->name, missed.state, missed.reason, missed.detail);
}

static void job_run_console(KvmJob *j)
{
    virDomainPtr dom = virDomainLookupByUUIDString(j->conn, j->uuid);

    if (!dom) {
        (void)kvm_libvirt_error(&j->error, "looking up domain", j->name);
        return;
    }
    if (kvm_console_open_stream(dom, j->device, j->force, &j->console) < 0)
        (void)kvm_libvirt_error(&j->error, "opening the console of domain", j->name);
    (void)virDomainFree(dom);
}

/* hvd starts transient domains; a persistent definition with the same UUID (made by hand with
 * virsh, say) would shadow the domain, so deleting the domain removes it too. */
static void job_run_undefine(KvmJob *j)
{
    virDomainPtr dom = virDomainLookupByUUIDString(j->conn, j->uuid);

    if (!dom) {
        if (!kvm_libvirt_error_is(VIR_ERR_NO_DOMAIN))
            (void)kvm_libvirt_error(&j->error, "looking up domain", j->name);
        return;
    }
    if (virDomainIsPersistent(dom) == 1 && virDomainUndefine(dom) < 0)
        (void)kvm_libvirt_error(&j->error, "undefining domain", j->name);
    (void)virDomainFree(dom);
}

/* Weight as shares, the cap over the whole domain (quota -1: none), the hard memory limit in
 * KiB (unlimited when 0), all on the running domain only: its next start takes them from the
 * XML. */
static void job_run_resources(KvmJob *j)
{
    virDomainPtr dom = virDomainLookupByUUIDString(j->conn, j->uuid);
    virTypedParameterPtr sched = NULL, mem = NULL;
    int n_sched = 0, max_sched = 0, n_mem = 0, max_mem = 0;
    long long quota = j->cpu_cap ? (long long)j->cpu_cap * KVM_CPU_PERIOD_US / 100 : -1;
    unsigned long long hard =
        j->memory_limit ? j->memory_limit * 1024 : VIR_DOMAIN_MEMORY_PARAM_UNLIMITED;

    if (!dom) {
        (void)kvm_libvirt_error(&j->error, "looking up domain", j->name);
        return;
    }
    if (virTypedParamsAddULLong(&sched, &n_sched, &max_sched, VIR_DOMAIN_SCHEDULER_CPU_SHARES,
                                j->cpu_weight) < 0 ||
        virTypedParamsAddULLong(&sched, &n_sched, &max_sched, VIR_DOMAIN_SCHEDULER_GLOBAL_PERIOD,
                                KVM_CPU_PERIOD_US) < 0 ||
        virTypedParamsAddLLong(&sched, &n_sched, &max_sched, VIR_DOMAIN_SCHEDULER_GLOBAL_QUOTA,
                               quota) < 0 ||
        virDomainSetSchedulerParametersFlags(dom, sched, n_sched, VIR_DOMAIN_AFFECT_LIVE) < 0)
        (void)kvm_libvirt_error(&j->error, "setting the CPU weight and cap of domain", j->name);
    else if (virTypedParamsAddULLong(&mem, &n_mem, &max_mem, VIR_DOMAIN_MEMORY_HARD_LIMIT, hard) <
                 0 ||
             virDomainSetMemoryParameters(dom, mem, n_mem, VIR_DOMAIN_AFFECT_LIVE) < 0)
        (void)kvm_libvirt_error(&j->error, "setting the memory limit of domain", j->name);
    virTypedParamsFree(sched, n_sched);
    virTypedParamsFree(mem, n_mem);
    (void)virDomainFree(dom);
}

static void job_run(void *data)
{
    KvmJob *j = data;

    switch (j->kind) {
    case KVM_JOB_CONNECT:
        kvm_connect_run(j);
        return;
    case KVM_JOB_RELEASE:
        stream_release_now(TAKE_PTR(j->console));
        if (j->conn)
            kvm_connection_close(TAKE_PTR(j->conn), j->lifecycle_callback, j->reboot_callback);
        return;
    case KVM_JOB_OPERATION:
        job_run_operation(j);
        break;
    case KVM_JOB_CONSOLE:
        job_run_console(j);
        break;
    case KVM_JOB_UNDEFINE:
        job_run_undefine(j);
        break;
    case KVM_JOB_RESOURCES:
        job_run_resources(j);
        break;
    case KVM_JOB_STATS:
        kvm_stats_run(j);
        break;
    case KVM_JOB_CLONE_DISK:
        kvm_clone_disk_run(j);
        break;
    case KVM_JOB_MIGRATE:
    case KVM_JOB_MIGRATE_ABORT:
        kvm_migrate_run(j);
        break;
    }
    /* The job's own reference goes here, so the loop never holds a connection's last one
     * (closing that one is a round trip). */
    if (j->conn)
        (void)virConnectClose(TAKE_PTR(j->conn));
}

/* What libvirt announced while the domain migrated (its pause, its end) is news only after the
 * manager heard how the migration ended. */
static void job_done_migrate(KvmJob *j)
{
    KvmBusy missed;
    bool replay = busy_release(kvm(j->drv), j->name, &missed);

    kvm_migrate_done(j);
    if (replay)
        kvm_domain_changed(j->drv, j->name, missed.state, missed.reason, missed.detail);
}

static void job_done(void *data)
{
    KvmJob *j = data;

    switch (j->kind) {
    case KVM_JOB_CONNECT:
        if (!j->taken)
            kvm_connect_done(j);
        break;
    case KVM_JOB_OPERATION:
        job_done_operation(j);
        break;
    case KVM_JOB_CONSOLE:
        if (j->console)
            (void)kvm_console_adopt(j->drv, j->name, j->uuid, j->device, TAKE_PTR(j->console));
        else
            kvm_console_failed(j->drv, j->name, j->device, j->force, &j->error);
        break;
    case KVM_JOB_UNDEFINE:
    case KVM_JOB_RESOURCES:
        if (error_is_set(&j->error))
            log_debug("kvm: %s", j->error.message);
        break;
    case KVM_JOB_STATS:
        kvm_stats_done(j);
        break;
    case KVM_JOB_CLONE_DISK:
        kvm_clone_disk_done(j);
        break;
    case KVM_JOB_MIGRATE:
        job_done_migrate(j);
        break;
    case KVM_JOB_MIGRATE_ABORT:
        kvm_migrate_done(j);
        break;
    case KVM_JOB_RELEASE:
        break;
    }
    job_free(j);
}

int kvm_job_queue(KvmJob *j, const char *key)
{
    KvmDriver *k = kvm(j->drv);
    bool uses_conn =
        j->kind != KVM_JOB_CONNECT && j->kind != KVM_JOB_RELEASE && j->kind != KVM_JOB_CLONE_DISK;
    int r;

    if (uses_conn) {
        if (!k->conn) {
            kvm_job_cancel(j);
            return -ENOTCONN;
        }
        j->conn = k->conn;
        (void)virConnectRef(j->conn);
    }
    r = work_queue_submit(k->jobs, key, job_run, job_done, j);
    if (r < 0)
        kvm_job_cancel(j);
    return r;
}

/* Queues operation op (step of a reboot) on c, taking ownership of xml and image (the image a
 * save writes or a start restores, or NULL); extra, when not NULL, fills in what the kind of
 * operation needs. */
static int submit_operation(Driver *drv, const DomainConfig *c, DomainAction op, KvmRebootStep step,
                            char *xml, char *image, const KvmJob *extra, Error *e)
{
    KvmDriver *k = kvm(drv);
    KvmJob *j = NULL;
    int r;

    if (!k->conn || !(j = kvm_job_new(drv, KVM_JOB_OPERATION)) || busy_hold(k, c->name) < 0) {
        free(j);
        free(xml);
        free(image);
        free(extra ? extra->disk_path : NULL);
        if (extra && extra->stream_fd >= 0)
            (void)close(extra->stream_fd);
        if (!k->conn)
            return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the kvm driver is not connected");
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    j->op = op;
    j->reboot = step;
    j->xml = xml;
    j->image = image;
    if (extra) {
        j->save_pause = extra->save_pause;
        memcpy(j->disk_target, extra->disk_target, sizeof(j->disk_target));
        j->disk_path = extra->disk_path;
        j->summary = extra->summary;
        j->incoming = extra->incoming;
        j->wait_s = extra->wait_s;
        j->stream_fd = extra->stream_fd;
    }
    (void)snprintf(j->name, sizeof(j->name), "%s", c->name);
    (void)snprintf(j->uuid, sizeof(j->uuid), "%s", c->uuid);
    r = kvm_job_queue(j, c->uuid);
    if (r < 0)
        return error_set_errno(e, r, "Failed to queue the operation: %m");
    return DRIVER_PENDING;
}

int kvm_job_submit(Driver *drv, const DomainConfig *c, DomainAction op, char *xml, Error *e)
{
    return submit_operation(drv, c, op, KVM_REBOOT_NONE, xml, NULL, NULL, e);
}

int kvm_job_submit_incoming(Driver *drv, const DomainConfig *c, unsigned wait_s, int fd, Error *e)
{
    KvmJob extra = {.incoming = true, .wait_s = wait_s, .stream_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)};

    if (extra.stream_fd < 0)
        return error_set_errno(e, -errno, "Failed to keep the data connection: %m");
    return submit_operation(drv, c, ACTION_START, KVM_REBOOT_NONE, NULL, NULL, &extra, e);
}

int kvm_job_submit_migrate(Driver *drv, const DomainConfig *c, const char *target_uri,
                           const char *target_xml, const DriverMigrateParams *params, int fd,
                           Error *e)
{
    KvmJob *j;
    int r;

    if (!kvm(drv)->conn)
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the kvm driver is not connected");
    j = kvm_job_new(drv, KVM_JOB_MIGRATE);
    if (!j || !(j->target_uri = strdup(target_uri)) || !(j->xml = strdup(target_xml)) ||
        busy_hold(kvm(drv), c->name) < 0) {
        if (j) {
            free(j->target_uri);
            free(j->xml);
        }
        free(j);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    j->bandwidth = params->bandwidth_mib_s;
    j->downtime_ms = params->downtime_ms;
    j->timeout_s = params->timeout_s;
    /* Without its progress the migration still runs. */
    if (kvm_migrate_progress_new(drv, c->name, &j->progress_fd, &j->progress) < 0)
        log_debug("kvm: no progress of the migration of %s", c->name);
    j->stream_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (j->stream_fd < 0) {
        r = -errno;
        kvm_job_cancel(j);
        return error_set_errno(e, r, "Failed to keep the data connection: %m");
    }
    (void)snprintf(j->name, sizeof(j->name), "%s", c->name);
    (void)snprintf(j->uuid, sizeof(j->uuid), "%s", c->uuid);
    r = kvm_job_queue(j, c->uuid);
    if (r < 0)
        return error_set_errno(e, r, "Failed to queue the migration: %m");
    return 0;
}

int kvm_job_submit_save(Driver *drv, const DomainConfig *c, const char *path, unsigned flags,
                        Error *e)
{
    KvmJob extra = {.save_pause = flags & DRIVER_SAVE_PAUSE};
    char *image = strdup(path);

    if (!image)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if (c->disk)
        (void)snprintf(extra.disk_target, sizeof(extra.disk_target), "%s", kvm_disk_target(c));
    /* A snapshot keeps a qcow2 disk's state too; a managed save's guest ends with the save. */
    if (!extra.save_pause && c->disk && streq(kvm_disk_format(c->disk), "qcow2") &&
        !(extra.disk_path = strdup(c->disk))) {
        free(image);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    return submit_operation(drv, c, ACTION_SAVE, KVM_REBOOT_NONE, NULL, image, &extra, e);
}

int kvm_job_submit_restore(Driver *drv, const DomainConfig *c, char *xml, const char *path,
                           Error *e)
{
    KvmJob extra = {
        .summary = {.memory_mib = c->memory_mib, .vcpus = c->vcpus, .pv = c->mode == MODE_PV}};
    char *image = strdup(path);

    if (!image || (c->disk && !(extra.disk_path = strdup(c->disk)))) {
        free(image);
        free(xml);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    return submit_operation(drv, c, ACTION_START, KVM_REBOOT_NONE, xml, image, &extra, e);
}

void kvm_saved_forget(Driver *drv, const char *name)
{
    (void)hashmap_remove(kvm(drv)->saved, name);
}

int kvm_job_submit_reboot(Driver *drv, const DomainConfig *c, KvmRebootStep step, char *xml,
                          Error *e)
{
    return submit_operation(drv, c, ACTION_REBOOT, step, xml, NULL, NULL, e);
}

/* A job about one domain: named, and queued behind the domain's other jobs. */
static int submit_for_domain(Driver *drv, KvmJobKind kind, const char *name, const char *uuid,
                             ConsoleDevice device, bool force)
{
    KvmJob *j = kvm_job_new(drv, kind);

    if (!j)
        return -ENOMEM;
    (void)snprintf(j->name, sizeof(j->name), "%s", name);
    (void)snprintf(j->uuid, sizeof(j->uuid), "%s", uuid);
    j->device = device;
    j->force = force;
    return kvm_job_queue(j, uuid);
}

int kvm_job_submit_undefine(Driver *drv, const DomainConfig *c, Error *e)
{
    int r = submit_for_domain(drv, KVM_JOB_UNDEFINE, c->name, c->uuid, CONSOLE_SERIAL, false);

    return r < 0 ? error_set_errno(e, r, "Failed to queue the undefining of '%s': %m", c->name) : 0;
}

int kvm_job_submit_resources(Driver *drv, const DomainConfig *c, Error *e)
{
    KvmJob *j = kvm_job_new(drv, KVM_JOB_RESOURCES);
    int r;

    if (!j)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    (void)snprintf(j->name, sizeof(j->name), "%s", c->name);
    (void)snprintf(j->uuid, sizeof(j->uuid), "%s", c->uuid);
    j->cpu_weight = c->cpu_weight;
    j->cpu_cap = c->cpu_cap;
    j->memory_limit = c->memory_limit;
    r = kvm_job_queue(j, c->uuid);
    if (r == -ENOTCONN)
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the kvm driver is not connected");
    return r < 0 ? error_set_errno(e, r, "Failed to queue the change of '%s': %m", c->name) : 0;
}

int kvm_job_submit_console(Driver *drv, const char *name, const char *uuid, ConsoleDevice device,
                           bool force)
{
    return submit_for_domain(drv, KVM_JOB_CONSOLE, name, uuid, device, force);
}

void kvm_release(Driver *drv, virStreamPtr st, virConnectPtr conn, int callback,
                 int reboot_callback)
{
    KvmJob *j = kvm(drv)->jobs ? kvm_job_new(drv, KVM_JOB_RELEASE) : NULL;

    if (!j) {
        /* hvd is stopping (the workers are gone), or out of memory. */
        stream_release_now(st);
        if (conn)
            kvm_connection_close(conn, callback, reboot_callback);
        return;
    }
    j->console = st;
    j->conn = conn;
    j->lifecycle_callback = callback;
    j->reboot_callback = reboot_callback;
    (void)kvm_job_queue(j, RELEASE_JOB_KEY);
}
