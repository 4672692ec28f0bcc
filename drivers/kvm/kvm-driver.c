/* kvm driver: lifecycle through libvirt, events from libvirt into hvd's loop, and reconnection
 * with backoff when the connection to libvirtd is lost. libvirt's -1 plus last error become a
 * negative errno plus a message here, at the boundary. */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <string.h>
#include <sys/stat.h>

#include "kvm-driver.h"
#include "kvm-event-loop.h"
#include "kvm-xml.h"
#include "time-util.h"
#include "work-queue.h"

#define RECONNECT_MIN_S 1u
#define RECONNECT_MAX_S 30u

typedef struct KvmDriver {
    Driver *drv;
    virConnectPtr conn;
    int lifecycle_callback;
    sd_event_source *reconnect_timer;
    sd_event_source *lost_event;
    unsigned backoff_s;
    char domain_type[8];
    char *console_dir;
    /* libvirt calls that can take long (starting QEMU) run here, one domain at a time. */
    WorkQueue *jobs;
} KvmDriver;

/* One lifecycle operation, prepared on the loop, run on a worker, reported on the loop. */
typedef struct KvmJob {
    Driver *drv;
    virConnectPtr conn;
    DomainAction op;
    char name[DOMAIN_NAME_MAX + 1];
    char uuid[DOMAIN_UUID_STRING_MAX];
    char *xml;
    Error error;
    DomainState observed;
} KvmJob;

static void silence_libvirt(void *userdata, virErrorPtr error)
{
    /* Errors are read with virGetLastErrorMessage() where they are handled. */
}

static int libvirt_error(Error *e, ErrorKind kind, const char *what, const char *name)
{
    return error_setf(e, kind, "%s '%s' failed: %s", what, name, virGetLastErrorMessage());
}

void kvm_state_from_libvirt(int vir_state, int vir_reason, DomainState *ret_state,
                            DomainReason *ret_reason)
{
    DomainState state = STATE_RUNNING;
    DomainReason reason = REASON_UNKNOWN;

    switch (vir_state) {
    case VIR_DOMAIN_RUNNING:
        reason = vir_reason == VIR_DOMAIN_RUNNING_BOOTED     ? REASON_BOOTED
                 : vir_reason == VIR_DOMAIN_RUNNING_UNPAUSED ? REASON_UNPAUSED
                                                             : REASON_UNKNOWN;
        break;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
        state = STATE_PAUSED;
        reason = vir_reason == VIR_DOMAIN_PAUSED_USER ? REASON_USER : REASON_UNKNOWN;
        break;
    case VIR_DOMAIN_SHUTDOWN:
        state = STATE_STOPPING;
        reason = REASON_SHUTDOWN;
        break;
    case VIR_DOMAIN_SHUTOFF:
        state = STATE_SHUTOFF;
        switch (vir_reason) {
        case VIR_DOMAIN_SHUTOFF_SHUTDOWN:
            reason = REASON_SHUTDOWN;
            break;
        case VIR_DOMAIN_SHUTOFF_DESTROYED:
            reason = REASON_DESTROYED;
            break;
        case VIR_DOMAIN_SHUTOFF_CRASHED:
            /* The guest crashed and libvirt tore it down: hvd applies its own policy. */
            state = STATE_CRASHED;
            reason = REASON_GUEST_FAULT;
            break;
        case VIR_DOMAIN_SHUTOFF_FAILED:
            reason = REASON_FAILED;
            break;
        default:
            reason = REASON_UNKNOWN;
        }
        break;
    case VIR_DOMAIN_CRASHED:
        state = STATE_CRASHED;
        reason = REASON_GUEST_FAULT;
        break;
    default:
        break;
    }
    *ret_state = state;
    *ret_reason = reason;
}

static KvmDriver *kvm(Driver *drv)
{
    return drv->data;
}

static int lookup(Driver *drv, const DomainConfig *c, virDomainPtr *ret, Error *e)
{
    virDomainPtr dom = virDomainLookupByUUIDString(kvm(drv)->conn, c->uuid);

    if (!dom) {
        virErrorPtr err = virGetLastError();
        if (err && err->code == VIR_ERR_NO_DOMAIN)
            return 0;
        return libvirt_error(e, ERROR_FAILED, "looking up domain", c->name);
    }
    *ret = dom;
    return 1;
}

/* A transient domain that stopped no longer exists, so its state cannot be asked: the event's
 * own detail says why it stopped. */
static DomainReason stopped_reason(int detail, DomainState *state)
{
    *state = STATE_SHUTOFF;
    switch (detail) {
    case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
        return REASON_SHUTDOWN;
    case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
        return REASON_DESTROYED;
    case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
        *state = STATE_CRASHED;
        return REASON_GUEST_FAULT;
    case VIR_DOMAIN_EVENT_STOPPED_FAILED:
        return REASON_FAILED;
    default:
        return REASON_UNKNOWN;
    }
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    Driver *drv = opaque;
    int vir_state, vir_reason;
    DomainState state;
    DomainReason reason;

    if (event == VIR_DOMAIN_EVENT_DEFINED || event == VIR_DOMAIN_EVENT_UNDEFINED)
        return 0;
    /* Events can be stale by the time they arrive: report what libvirt says now. */
    if (virDomainGetState(dom, &vir_state, &vir_reason, 0) >= 0)
        kvm_state_from_libvirt(vir_state, vir_reason, &state, &reason);
    else if (event == VIR_DOMAIN_EVENT_CRASHED) {
        state = STATE_CRASHED;
        reason = REASON_GUEST_FAULT;
    } else if (event == VIR_DOMAIN_EVENT_STOPPED)
        reason = stopped_reason(detail, &state);
    else
        return 0;
    drv->ctx.events.domain_state(drv->ctx.events.userdata, drv, virDomainGetName(dom), state,
                                 reason, NULL, NULL);
    return 0;
}

static void connect_now(Driver *drv);
static void kvm_job_cancel(void *data);

static int on_reconnect_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    connect_now(userdata);
    return 0;
}

static void schedule_reconnect(Driver *drv)
{
    KvmDriver *k = kvm(drv);

    k->backoff_s = k->backoff_s ? MIN(k->backoff_s * 2, RECONNECT_MAX_S) : RECONNECT_MIN_S;
    k->reconnect_timer = sd_event_source_disable_unref(k->reconnect_timer);
    (void)sd_event_add_time_relative(drv->ctx.event, &k->reconnect_timer, CLOCK_MONOTONIC,
                                     (uint64_t)k->backoff_s * USEC_PER_SEC, 0, on_reconnect_timer,
                                     drv);
}

static void disconnect(KvmDriver *k)
{
    if (!k->conn)
        return;
    if (k->lifecycle_callback >= 0)
        (void)virConnectDomainEventDeregisterAny(k->conn, k->lifecycle_callback);
    k->lifecycle_callback = -1;
    (void)virConnectUnregisterCloseCallback(k->conn, NULL);
    (void)virConnectClose(k->conn);
    k->conn = NULL;
}

static int on_connection_lost_deferred(sd_event_source *s, void *userdata)
{
    Driver *drv = userdata;
    KvmDriver *k = kvm(drv);

    k->lost_event = sd_event_source_disable_unref(k->lost_event);
    disconnect(k);
    k->backoff_s = 0;
    schedule_reconnect(drv);
    return 0;
}

static void on_connection_closed(virConnectPtr conn, int reason, void *opaque)
{
    Driver *drv = opaque;
    KvmDriver *k = kvm(drv);
    static const char *const why[] = {
        [VIR_CONNECT_CLOSE_REASON_ERROR] = "lost the connection to libvirt (I/O error)",
        [VIR_CONNECT_CLOSE_REASON_EOF] = "lost the connection to libvirt (libvirtd went away)",
        [VIR_CONNECT_CLOSE_REASON_KEEPALIVE] = "lost the connection to libvirt (keepalive "
                                               "timeout)",
        [VIR_CONNECT_CLOSE_REASON_CLIENT] = "the connection to libvirt was closed",
    };

    driver_set_available(drv, false,
                         reason >= 0 && (size_t)reason < ELEMENTSOF(why)
                             ? why[reason]
                             : "lost the connection to libvirt");
    /* The connection must not be closed from inside its own callback. */
    if (!k->lost_event)
        (void)sd_event_add_defer(drv->ctx.event, &k->lost_event, on_connection_lost_deferred, drv);
}

static void connect_now(Driver *drv)
{
    KvmDriver *k = kvm(drv);
    char why[512];

    k->reconnect_timer = sd_event_source_disable_unref(k->reconnect_timer);
    k->conn = virConnectOpen(drv->ctx.kvm_uri);
    if (!k->conn) {
        (void)snprintf(why, sizeof(why), "cannot connect to %s: %s (retrying)", drv->ctx.kvm_uri,
                       virGetLastErrorMessage());
        driver_set_available(drv, false, why);
        schedule_reconnect(drv);
        return;
    }
    k->lifecycle_callback =
        virConnectDomainEventRegisterAny(k->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), drv, NULL);
    (void)virConnectRegisterCloseCallback(k->conn, on_connection_closed, drv, NULL);
    (void)virConnectSetKeepAlive(k->conn, 5, 3);
    k->backoff_s = 0;
    driver_set_available(drv, true, NULL);
}

static void resolve_domain_type(Driver *drv)
{
    KvmDriver *k = kvm(drv);
    const char *t = drv->ctx.kvm_domain_type;

    if (!t || streq(t, "auto"))
        t = access("/dev/kvm", R_OK | W_OK) == 0 ? "kvm" : "qemu";
    (void)snprintf(k->domain_type, sizeof(k->domain_type), "%s", t);
}

static int kvm_open(Driver *drv, Error *e)
{
    KvmDriver *k;
    int r;

    r = kvm_event_loop_register(drv->ctx.event);
    if (r < 0)
        return error_set_errno(e, r, "libvirt's event loop is bound to another loop");
    if (virInitialize() < 0)
        return error_setf(e, ERROR_FAILED, "libvirt failed to initialise: %s",
                          virGetLastErrorMessage());
    virSetErrorFunc(NULL, silence_libvirt);

    k = calloc(1, sizeof(*k));
    if (!k)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    k->drv = drv;
    k->lifecycle_callback = -1;
    drv->data = k;
    r = work_queue_new(drv->ctx.event, drv->ctx.kvm_workers ?: 4, &k->jobs);
    if (r < 0)
        return error_set_errno(e, r, "Failed to start libvirt worker threads: %m");
    resolve_domain_type(drv);
    if (asprintf(&k->console_dir, "%s/consoles", drv->ctx.state_dir) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    (void)mkdir(k->console_dir, 0750);
    connect_now(drv);
    return 0;
}

static void kvm_close(Driver *drv)
{
    KvmDriver *k = kvm(drv);

    if (!k)
        return;
    k->jobs = work_queue_free(k->jobs, kvm_job_cancel);
    (void)sd_event_source_disable_unref(k->reconnect_timer);
    (void)sd_event_source_disable_unref(k->lost_event);
    disconnect(k);
    free(k->console_dir);
    free(k);
    drv->data = NULL;
}

static void kvm_job_free(KvmJob *j)
{
    if (j->conn)
        (void)virConnectClose(j->conn);
    free(j->xml);
    free(j);
}

static void kvm_job_cancel(void *data)
{
    kvm_job_free(data);
}

/* Worker side of a start: hvd's database holds the definition, so libvirt gets a transient
 * domain that exists exactly while it runs (nothing to keep in sync, nothing left behind). */
static int job_start(KvmJob *j, virDomainPtr *dom)
{
    *dom = virDomainCreateXML(j->conn, j->xml, 0);
    if (!*dom)
        return libvirt_error(&j->error, ERROR_FAILED, "starting domain", j->name);
    return 0;
}

static void kvm_job_run(void *data)
{
    KvmJob *j = data;
    virDomainPtr dom = NULL;
    int r = 0, vir_state, vir_reason;
    DomainReason ignored;

    if (j->op == ACTION_START)
        r = job_start(j, &dom);
    else {
        dom = virDomainLookupByUUIDString(j->conn, j->uuid);
        if (!dom) {
            virErrorPtr err = virGetLastError();
            if (!(j->op == ACTION_DESTROY && err && err->code == VIR_ERR_NO_DOMAIN))
                r = libvirt_error(&j->error, ERROR_FAILED, "looking up domain", j->name);
            j->observed = STATE_SHUTOFF;
            return;
        }
        switch (j->op) {
        case ACTION_SHUTDOWN:
            r = virDomainShutdown(dom);
            break;
        case ACTION_DESTROY:
            r = virDomainDestroy(dom);
            if (r < 0 && virGetLastError() && virGetLastError()->code == VIR_ERR_OPERATION_INVALID)
                r = 0; /* already off */
            break;
        case ACTION_PAUSE:
            r = virDomainSuspend(dom);
            break;
        case ACTION_RESUME:
            r = virDomainResume(dom);
            break;
        default:
            r = virDomainReboot(dom, 0);
            break;
        }
        if (r < 0)
            r = libvirt_error(&j->error, ERROR_FAILED, domain_action_to_string(j->op), j->name);
    }
    if (dom && virDomainGetState(dom, &vir_state, &vir_reason, 0) >= 0)
        kvm_state_from_libvirt(vir_state, vir_reason, &j->observed, &ignored);
    else if (dom && virGetLastError() && virGetLastError()->code == VIR_ERR_NO_DOMAIN)
        j->observed = STATE_SHUTOFF; /* a transient domain that stopped is gone */
    if (dom)
        (void)virDomainFree(dom);
    (void)r;
}

static void kvm_job_done(void *data)
{
    KvmJob *j = data;
    Driver *drv = j->drv;

    drv->ctx.events.op_completed(drv->ctx.events.userdata, drv, j->name, j->op,
                                 error_is_set(&j->error) ? &j->error : NULL, NULL, j->observed);
    kvm_job_free(j);
}

/* Queues op for c on a worker; the result comes back through op_completed. */
static int submit(Driver *drv, const DomainConfig *c, DomainAction op, char *xml, Error *e)
{
    KvmDriver *k = kvm(drv);
    KvmJob *j;
    int r;

    if (!k->conn) {
        free(xml);
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the kvm driver is not connected");
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        free(xml);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    *j = (KvmJob){.drv = drv, .op = op, .xml = xml, .observed = _DOMAIN_STATE_INVALID};
    (void)snprintf(j->name, sizeof(j->name), "%s", c->name);
    (void)snprintf(j->uuid, sizeof(j->uuid), "%s", c->uuid);
    j->conn = k->conn;
    (void)virConnectRef(j->conn);
    r = work_queue_submit(k->jobs, c->uuid, kvm_job_run, kvm_job_done, j);
    if (r < 0) {
        kvm_job_free(j);
        return error_set_errno(e, r, "Out of memory");
    }
    return DRIVER_PENDING;
}

static int kvm_start(Driver *drv, const DomainConfig *c, DomainRuntime *rt, unsigned flags,
                     Error *e)
{
    KvmDriver *k = kvm(drv);
    _cleanup_free_ char *log = NULL;
    KvmXmlOptions o = {.domain_type = k->domain_type};
    char *xml = NULL;
    int r;

    if (asprintf(&log, "%s/%s.log", k->console_dir, c->uuid) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    o.console_log = log;
    r = kvm_xml_build(c, &o, &xml);
    if (r < 0)
        return error_set_errno(e, r, "Out of memory");
    rt->pid = 0;
    return submit(drv, c, ACTION_START, xml, e);
}

static int kvm_shutdown(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                        Error *e)
{
    return submit(drv, c, ACTION_SHUTDOWN, NULL, e);
}

static int kvm_destroy(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                       Error *e)
{
    return submit(drv, c, ACTION_DESTROY, NULL, e);
}

static int kvm_pause(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                     Error *e)
{
    return submit(drv, c, ACTION_PAUSE, NULL, e);
}

static int kvm_resume(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                      Error *e)
{
    return submit(drv, c, ACTION_RESUME, NULL, e);
}

static int kvm_reboot(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                      Error *e)
{
    return submit(drv, c, ACTION_REBOOT, NULL, e);
}

static int kvm_get_info(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                        DomainInfo *info, unsigned flags, Error *e)
{
    virDomainPtr dom = NULL;
    virDomainInfo vi;
    int r;

    r = lookup(drv, c, &dom, e);
    if (r <= 0)
        return r < 0 ? r : error_setf(e, ERROR_FAILED, "libvirt does not know '%s'", c->name);
    r = virDomainGetInfo(dom, &vi);
    if (r < 0)
        r = libvirt_error(e, ERROR_FAILED, "reading information of domain", c->name);
    else {
        kvm_state_from_libvirt(vi.state, 0, &info->state, &info->reason);
        info->cpu_time_ns = vi.cpuTime;
        info->memory_kib = vi.memory;
        info->stats = json_pack("{s:I, s:i}", "memory_max_kib", (json_int_t)vi.maxMem, "vcpus",
                                (int)vi.nrVirtCpu);
    }
    (void)virDomainFree(dom);
    return r;
}

static int kvm_reattach(Driver *drv, const DomainConfig *c, DomainRuntime *rt,
                        DomainState *ret_state, DomainReason *ret_reason, unsigned flags, Error *e)
{
    virDomainPtr dom = NULL;
    int r, vir_state, vir_reason;

    r = lookup(drv, c, &dom, e);
    if (r < 0)
        return r;
    if (r == 0) {
        (void)error_setf(e, ERROR_FAILED, "libvirt does not know it");
        return 0;
    }
    r = virDomainGetState(dom, &vir_state, &vir_reason, 0);
    (void)virDomainFree(dom);
    if (r < 0)
        return libvirt_error(e, ERROR_FAILED, "reading the state of domain", c->name);
    kvm_state_from_libvirt(vir_state, vir_reason, ret_state, ret_reason);
    if (*ret_state == STATE_SHUTOFF) {
        (void)error_setf(e, ERROR_FAILED, "libvirt reports it shut off (%s)",
                         domain_reason_to_string(*ret_reason));
        return 0;
    }
    return 1;
}

/* hvd starts transient domains; a persistent definition with the same UUID (made by hand with
 * virsh, say) would shadow the domain, so deleting the domain removes it too. */
static int kvm_undefine(Driver *drv, const DomainConfig *c, unsigned flags, Error *e)
{
    virDomainPtr dom = NULL;
    int r, persistent;

    r = lookup(drv, c, &dom, e);
    if (r <= 0)
        return r;
    persistent = virDomainIsPersistent(dom);
    r = persistent == 1 ? virDomainUndefine(dom) : 0;
    if (r < 0)
        r = libvirt_error(e, ERROR_FAILED, "undefining domain", c->name);
    (void)virDomainFree(dom);
    return r;
}

const DriverOps kvm_driver_ops = {
    .name = "kvm",
    .kind = DRIVER_KVM,
    .open = kvm_open,
    .close = kvm_close,
    .start = kvm_start,
    .shutdown = kvm_shutdown,
    .destroy = kvm_destroy,
    .pause = kvm_pause,
    .resume = kvm_resume,
    .reboot = kvm_reboot,
    .get_info = kvm_get_info,
    .reattach = kvm_reattach,
    .undefine = kvm_undefine,
};
