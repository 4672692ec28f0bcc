/* The kvm driver's blocking libvirt calls on worker threads: lifecycle operations (one domain at a
 * time, in order) and opening a connection. Results come back on the loop. */
#include <libvirt/virterror.h>
#include <string.h>

#include "kvm-internal.h"
#include "kvm-state.h"

#define CONNECT_JOB_KEY "connect"

static void kvm_job_free(KvmJob *j)
{
    if (j->conn)
        (void)virConnectClose(j->conn);
    free(j->xml);
    free(j);
}

void kvm_job_cancel(void *job)
{
    kvm_job_free(job);
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
    j->conn = virConnectOpen(j->drv->ctx.kvm_uri);
    if (!j->conn)
        (void)error_setf(&j->error, ERROR_DRIVER_UNAVAILABLE, "cannot connect to %s: %s",
                         j->drv->ctx.kvm_uri, virGetLastErrorMessage());
}

static void job_done(void *data)
{
    KvmJob *j = data;
    Driver *drv = j->drv;

    if (j->connect)
        kvm_connection_opened(drv, TAKE_PTR(j->conn), &j->error);
    else
        drv->ctx.events.op_completed(drv->ctx.events.userdata, drv, j->name, j->op,
                                     error_is_set(&j->error) ? &j->error : NULL, NULL, j->observed);
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
    if (!j) {
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
        kvm_job_free(j);
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
