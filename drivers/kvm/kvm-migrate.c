/* Live migration of kvm domains between two libvirtds: the source's worker runs libvirt's
 * peer-to-peer migration (virDomainMigrateToURI3) to the target's libvirt URI, which the target
 * hvd's admission answered, and the target's worker waits for the domain to run there (libvirt
 * brings it as a running transient domain with the same UUID). hvd's data connection carries
 * nothing for kvm: libvirt and QEMU make their own. Progress, the downtime budget and the time
 * limit: kvm-migrate-watch.c. */
#include <inttypes.h>
#include <libvirt/virterror.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm-internal.h"
#include "log.h"
#include "time-util.h"

#define INCOMING_POLL_MS 200
#define ABORT_RETRIES    50
#define ABORT_RETRY_US   100000

json_t *kvm_migrate_target(Driver *drv, const DomainConfig *c)
{
    _cleanup_free_ char *xml = NULL;

    /* Its console logs and display socket are this host's. */
    if (kvm_uri_is_in_process(kvm(drv)->uri) || kvm_domain_xml(drv, c, &xml) < 0)
        return NULL;
    return json_pack("{s:s, s:s}", "uri", kvm(drv)->uri, "xml", xml);
}

int kvm_migrate_send(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int fd,
                     const DriverMigrateParams *params, unsigned flags, Error *e)
{
    (void)rt;
    const char *uri = json_string_value(json_object_get(params->target, "uri"));
    const char *xml = json_string_value(json_object_get(params->target, "xml"));

    (void)flags;
    if (!uri || !xml)
        return error_setf(e, ERROR_FAILED,
                          "the target did not say where its libvirtd takes the domain");
    return kvm_job_submit_migrate(drv, c, uri, xml, params, fd, e);
}

int kvm_migrate_cancel(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                       Error *e)
{
    KvmJob *j = kvm_job_new(drv, KVM_JOB_MIGRATE_ABORT);
    char key[DOMAIN_UUID_STRING_MAX + 16];
    int r;

    (void)rt;
    (void)flags;
    if (!j)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    (void)snprintf(j->name, sizeof(j->name), "%s", c->name);
    (void)snprintf(j->uuid, sizeof(j->uuid), "%s", c->uuid);
    /* Not behind the migration, which holds the domain's own queue. */
    (void)snprintf(key, sizeof(key), "abort:%s", c->uuid);
    r = kvm_job_queue(j, key);
    if (r < 0)
        return error_set_errno(e, r, "Failed to queue the cancel: %m");
    return 0;
}

int kvm_start_incoming(Driver *drv, const DomainConfig *c, DomainRuntime *rt, int fd,
                       unsigned timeout_s, unsigned flags, Error *e)
{
    (void)rt;
    (void)flags;
    return kvm_job_submit_incoming(drv, c, timeout_s, fd, e);
}

/* Where QEMU's stream goes when the target libvirtd is reached over a unix socket (so on this
 * host, maybe in another network namespace): a unix socket beside that one, which the target's
 * QEMU listens on. A new string ("" to let libvirt choose its TCP address), or NULL when out of
 * memory. */
static char *stream_uri(const char *target_uri, const char *uuid)
{
    const char *socket = strstr(target_uri, "socket=");
    const char *end, *slash = NULL;
    char *uri = NULL;

    if (!socket || socket[7] != '/')
        return strdup("");
    socket += 7;
    end = socket + strcspn(socket, "&");
    for (const char *p = socket; p < end; p++)
        if (*p == '/')
            slash = p;
    if (asprintf(&uri, "unix://%.*s/migrate-%s.sock", (int)(slash - socket), socket, uuid) < 0)
        return NULL;
    return uri;
}

/* On the worker: libvirt's migration of dom with params, watched meanwhile for its progress,
 * its downtime budget and its time limit. */
static void migrate_watched(KvmJob *j, virDomainPtr dom, virTypedParameterPtr params, int nparams)
{
    KvmMigrateWatch watch;
    bool watched =
        kvm_migrate_watch_start(&watch, dom, j->downtime_ms, j->timeout_s, j->progress_fd) >= 0;
    int r = virDomainMigrateToURI3(dom, j->target_uri, params, (unsigned)nparams,
                                   VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER);

    if (r < 0)
        (void)kvm_libvirt_error(&j->error, "migrating domain", j->name);
    if (!watched) {
        log_debug("kvm: the migration of %s runs unwatched: no progress, no time limit", j->name);
        return;
    }
    if (kvm_migrate_watch_stop(&watch) && r < 0) {
        j->error = ERROR_NULL;
        (void)error_setf(&j->error, ERROR_FAILED,
                         "the time limit of %u s was reached in pass %" PRIu64
                         " (%.1f MiB left to copy)",
                         j->timeout_s, watch.iteration, (double)watch.remaining / 1048576.0);
    }
}

/* On the worker: the migration itself, or its abort. */
void kvm_migrate_run(KvmJob *j)
{
    virDomainPtr dom = virDomainLookupByUUIDString(j->conn, j->uuid);
    virTypedParameterPtr params = NULL;
    int nparams = 0, maxparams = 0;
    _cleanup_free_ char *stream = NULL;

    if (!dom) {
        (void)kvm_libvirt_error(&j->error, "looking up domain", j->name);
        return;
    }
    if (j->kind == KVM_JOB_MIGRATE_ABORT) {
        /* A cancel may come while the migration's job is still starting in libvirt (no job is
         * active yet): it tries again for a while. */
        int r = virDomainAbortJob(dom);

        for (unsigned i = 0;
             r < 0 && kvm_libvirt_error_is(VIR_ERR_OPERATION_INVALID) && i < ABORT_RETRIES; i++) {
            (void)usleep(ABORT_RETRY_US);
            r = virDomainAbortJob(dom);
        }
        if (r < 0)
            (void)kvm_libvirt_error(&j->error, "cancelling the migration of", j->name);
        (void)virDomainFree(dom);
        return;
    }
    stream = stream_uri(j->target_uri, j->uuid);
    if (!stream)
        (void)error_set_errno(&j->error, -ENOMEM, "Out of memory");
    else if ((j->bandwidth &&
              virTypedParamsAddULLong(&params, &nparams, &maxparams, VIR_MIGRATE_PARAM_BANDWIDTH,
                                      j->bandwidth) < 0) ||
             virTypedParamsAddString(&params, &nparams, &maxparams, VIR_MIGRATE_PARAM_DEST_XML,
                                     j->xml) < 0 ||
             (stream[0] && virTypedParamsAddString(&params, &nparams, &maxparams,
                                                   VIR_MIGRATE_PARAM_URI, stream) < 0))
        (void)kvm_libvirt_error(&j->error, "preparing the migration of", j->name);
    else
        migrate_watched(j, dom, params, nparams);
    virTypedParamsFree(params, nparams);
    (void)virDomainFree(dom);
}

/* On the loop: the migration's end goes to the manager; an abort's failure is only logged (the
 * migration ends on its own then). */
void kvm_migrate_done(KvmJob *j)
{
    Driver *drv = j->drv;

    if (j->kind == KVM_JOB_MIGRATE_ABORT) {
        if (error_is_set(&j->error))
            log_warning("kvm: %s", j->error.message);
        return;
    }
    /* Its last figures come before its end. */
    j->progress = kvm_migrate_progress_free(j->progress, true);
    drv->ctx.events.migration_done(drv->ctx.events.userdata, drv, j->name,
                                   error_is_set(&j->error) ? &j->error : NULL, NULL);
}

/* Waits up to INCOMING_POLL_MS on the data connection: whether the source let go of it (its
 * migration ended, or it gave up). */
static bool source_let_go(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    char buf[256];

    if (poll(&p, 1, INCOMING_POLL_MS) <= 0)
        return false;
    if (p.revents & (POLLHUP | POLLRDHUP | POLLERR))
        return true;
    return read(fd, buf, sizeof(buf)) == 0; /* nothing else comes; what does is ignored */
}

virDomainPtr kvm_incoming_wait(KvmJob *j)
{
    uint64_t deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t)j->wait_s * 1000000;
    bool last = false;

    for (;;) {
        virDomainPtr dom = virDomainLookupByUUIDString(j->conn, j->uuid);
        int vir_state = 0, vir_reason = 0;

        if (dom && virDomainGetState(dom, &vir_state, &vir_reason, 0) == 0 &&
            vir_state == VIR_DOMAIN_RUNNING) {
            j->pid = kvm_qemu_pid(kvm(j->drv)->uri, j->uuid);
            return dom;
        }
        if (dom)
            (void)virDomainFree(dom);
        if (last) {
            (void)error_setf(&j->error, ERROR_FAILED,
                             "the source let go of the migration before '%s' ran here", j->name);
            return NULL;
        }
        if (now_usec(CLOCK_MONOTONIC) >= deadline) {
            (void)error_setf(&j->error, ERROR_FAILED,
                             "domain '%s' did not arrive in libvirt within %u s", j->name,
                             j->wait_s);
            return NULL;
        }
        /* Once the source let go, one more look: the domain runs here before its end does. */
        last = source_let_go(j->stream_fd);
    }
}
