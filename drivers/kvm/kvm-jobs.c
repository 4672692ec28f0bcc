/* The kvm driver's blocking libvirt calls on worker threads: lifecycle operations (one domain at a
 * time, in order) and opening a connection. Results come back on the loop. */
#include <libvirt/virterror.h>
#include <string.h>

#include "kvm-internal.h"
#include "kvm-state.h"

#define CONNECT_JOB_KEY "connect"

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

    if (b) {
        *b = (KvmBusy){
            .jobs = b->jobs, .missed = true, .state = state, .reason = reason, .detail = detail};
        return;
    }
    drv->ctx.events.domain_state(drv->ctx.events.userdata, drv, name, state, reason, NULL, detail);
}

static void kvm_job_free(KvmJob *j)
{
    if (j->console) {
        (void)virStreamAbort(j->console);
        (void)virStreamFree(j->console);
    }
    if (j->conn)
        (void)virConnectClose(j->conn);
    free(j->xml);
    free(j);
}

void kvm_job_cancel(void *job)
{
    KvmJob *j = job;
    KvmBusy ignored;

    if (!j->connect)
        (void)busy_release(kvm(j->drv), j->name, &ignored);
    kvm_job_free(j);
}

/* Worker side of a start: hvd's database holds the definition, so libvirt gets a transient
 * domain that exists exactly while it runs (nothing to keep in sync, nothing left behind). */
static virDomainPtr job_start(KvmJob *j)
{
    virDomainPtr dom = virDomainCreateXML(j->conn, j->xml, 0);

    if (!dom)
        (void)kvm_libvirt_error(&j->error, "starting domain", j->name);
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
        return virDomainReboot(dom, 0);
    }
}

static void job_run_domain(KvmJob *j)
{
    virDomainPtr dom = NULL;
    int vir_state, vir_reason;
    DomainReason ignored;

    if (j->op == ACTION_START)
        dom = job_start(j);
    else {
        dom = virDomainLookupByUUIDString(j->conn, j->uuid);
        if (!dom) {
            /* A transient domain that stopped is gone: destroying it is then done. */
            if (!(j->op == ACTION_DESTROY && kvm_libvirt_error_is(VIR_ERR_NO_DOMAIN)))
                (void)kvm_libvirt_error(&j->error, "looking up domain", j->name);
            j->observed = STATE_SHUTOFF;
            return;
        }
        if (job_call(j, dom) < 0)
            (void)kvm_libvirt_error(&j->error, domain_action_to_string(j->op), j->name);
    }
    /* Follow the console from the start (its first bytes may precede this: the log has them). */
    if (dom && j->op == ACTION_START)
        (void)kvm_console_open_stream(dom, false, &j->console);
    if (dom && virDomainGetState(dom, &vir_state, &vir_reason, 0) >= 0)
        kvm_state_from_libvirt(vir_state, vir_reason, &j->observed, &ignored, NULL);
    else if (dom && kvm_libvirt_error_is(VIR_ERR_NO_DOMAIN))
        j->observed = STATE_SHUTOFF;
    if (dom)
        (void)virDomainFree(dom);
}

static void job_run(void *data)
{
    KvmJob *j = data;

    if (!j->connect) {
        job_run_domain(j);
        return;
    }
    j->conn = virConnectOpen(kvm(j->drv)->uri);
    if (!j->conn)
        (void)error_setf(&j->error, ERROR_DRIVER_UNAVAILABLE, "cannot connect to %s: %s",
                         kvm(j->drv)->uri, virGetLastErrorMessage());
}

static void job_done(void *data)
{
    KvmJob *j = data;
    Driver *drv = j->drv;
    KvmBusy missed;
    bool replay;

    if (j->connect) {
        kvm_connection_opened(drv, TAKE_PTR(j->conn), &j->error);
        kvm_job_free(j);
        return;
    }
    if (j->console)
        (void)kvm_console_adopt(drv, j->name, TAKE_PTR(j->console));
    /* Released first: the manager may queue the next operation from op_completed. */
    replay = busy_release(kvm(drv), j->name, &missed);
    drv->ctx.events.op_completed(drv->ctx.events.userdata, drv, j->name, j->op,
                                 error_is_set(&j->error) ? &j->error : NULL, NULL, j->observed);
    if (replay)
        kvm_domain_changed(drv, j->name, missed.state, missed.reason, missed.detail);
    kvm_job_free(j);
}

static KvmJob *job_new(Driver *drv)
{
    KvmJob *j = calloc(1, sizeof(*j));

    if (j)
        *j = (KvmJob){.drv = drv, .observed = _DOMAIN_STATE_INVALID, .error = ERROR_NULL};
    return j;
}

int kvm_job_submit(Driver *drv, const DomainConfig *c, DomainAction op, char *xml, Error *e)
{
    KvmDriver *k = kvm(drv);
    KvmJob *j;
    int r;

    if (!k->conn) {
        free(xml);
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the kvm driver is not connected");
    }
    j = job_new(drv);
    if (!j || busy_hold(k, c->name) < 0) {
        free(j);
        free(xml);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    j->op = op;
    j->xml = xml;
    (void)snprintf(j->name, sizeof(j->name), "%s", c->name);
    (void)snprintf(j->uuid, sizeof(j->uuid), "%s", c->uuid);
    j->conn = k->conn;
    (void)virConnectRef(j->conn);
    r = work_queue_submit(k->jobs, c->uuid, job_run, job_done, j);
    if (r < 0) {
        kvm_job_cancel(j);
        return error_set_errno(e, r, "Out of memory");
    }
    return DRIVER_PENDING;
}

int kvm_job_submit_connect(Driver *drv)
{
    KvmJob *j = job_new(drv);
    int r;

    if (!j)
        return -ENOMEM;
    j->connect = true;
    r = work_queue_submit(kvm(drv)->jobs, CONNECT_JOB_KEY, job_run, job_done, j);
    if (r < 0)
        kvm_job_free(j);
    return r;
}
