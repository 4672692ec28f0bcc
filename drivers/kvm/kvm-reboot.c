/* Reboots of kvm domains. hvd's own request presses the guest's power button (which also
 * disarms any reboot libvirt still had pending) and is complete only once the guest restarted:
 * libvirt's reboot event (the guest reset itself), or a new run of QEMU that the driver starts
 * once the guest powered off. After the timeout it fails, or with force resets the guest; nothing
 * of it stays armed. Restarts the guest makes by itself are reported as running/rebooted. */
#include <libvirt/virterror.h>

#include "kvm-internal.h"
#include "log.h"
#include "time-util.h"

/* After a forced reset, how long the driver waits for libvirt's reboot event before it takes
 * the reset's own success as the restart. */
#define RESET_WAIT_S 15u

struct KvmReboot {
    Driver *drv;
    char name[DOMAIN_NAME_MAX + 1];
    char uuid[DOMAIN_UUID_STRING_MAX];
    char *xml; /* what a new run starts from */
    unsigned timeout_s;
    bool force;
    bool restarting; /* the guest powered off: a new run is being started */
    bool resetting;  /* the timeout passed with force: the guest is being reset */
    sd_event_source *timer;
};

static void reboot_free(KvmReboot *rb)
{
    if (!rb)
        return;
    (void)sd_event_source_disable_unref(rb->timer);
    free(rb->xml);
    free(rb);
}

/* Ends rb's request with e (NULL: the guest restarted) and forgets it. */
static void reboot_complete(KvmReboot *rb, const Error *e, const DomainRuntime *rt)
{
    Driver *drv = rb->drv;
    char name[DOMAIN_NAME_MAX + 1];

    (void)snprintf(name, sizeof(name), "%s", rb->name);
    (void)hashmap_remove(kvm(drv)->reboots, rb->name);
    reboot_free(rb);
    drv->ctx.events.op_completed(drv->ctx.events.userdata, drv, name, ACTION_REBOOT, e, rt,
                                 e ? _DOMAIN_STATE_INVALID : STATE_RUNNING);
}

static void reboot_fail(KvmReboot *rb, const char *fmt, const char *arg)
{
    Error e = ERROR_NULL;

    (void)error_setf(&e, ERROR_FAILED, fmt, rb->name, arg);
    reboot_complete(rb, &e, NULL);
}

static int submit_reboot_job(KvmReboot *rb, KvmRebootStep step)
{
    DomainConfig c = {};
    char *xml = NULL;
    Error e = ERROR_NULL;

    (void)snprintf(c.name, sizeof(c.name), "%s", rb->name);
    (void)snprintf(c.uuid, sizeof(c.uuid), "%s", rb->uuid);

    if (step == KVM_REBOOT_RESTART) {
        xml = strdup(rb->xml);
        if (!xml)
            return -ENOMEM;
    }
    return kvm_job_submit_reboot(rb->drv, &c, step, xml, &e);
}

static int arm(KvmReboot *rb, unsigned seconds, sd_event_time_handler_t handler)
{
    rb->timer = sd_event_source_disable_unref(rb->timer);
    return sd_event_add_time_relative(rb->drv->ctx.event, &rb->timer, CLOCK_MONOTONIC,
                                      (uint64_t)seconds * USEC_PER_SEC, 0, handler, rb);
}

static int on_reset_wait(sd_event_source *s, uint64_t usec, void *userdata)
{
    /* The reset succeeded but libvirt said nothing of it: the guest restarts all the same. */
    reboot_complete(userdata, NULL, NULL);
    return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    KvmReboot *rb = userdata;
    char seconds[16];

    rb->timer = sd_event_source_disable_unref(rb->timer);
    if (rb->restarting)
        return 0; /* the new run is being started: its job completes the request */
    (void)snprintf(seconds, sizeof(seconds), "%u", rb->timeout_s);
    if (!rb->force) {
        reboot_fail(rb,
                    "domain '%s' did not restart within %s s: the guest did not act on the power "
                    "button (reboot --force resets it)",
                    seconds);
        return 0;
    }
    rb->resetting = true;
    if (submit_reboot_job(rb, KVM_REBOOT_RESET) < 0)
        reboot_fail(rb,
                    "domain '%s' did not restart within %s s, and its reset could not be "
                    "queued",
                    seconds);
    return 0;
}

int kvm_reboot_request(Driver *drv, const DomainConfig *c, unsigned timeout_s, bool force,
                       char *xml, Error *e)
{
    KvmDriver *k = kvm(drv);
    KvmReboot *rb;
    int r;

    if (hashmap_get(k->reboots, c->name)) {
        free(xml);
        return error_setf(e, ERROR_INVALID_STATE, "domain '%s' is rebooting already", c->name);
    }
    rb = calloc(1, sizeof(*rb));
    if (!rb) {
        free(xml);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    *rb = (KvmReboot){.drv = drv, .xml = xml, .timeout_s = timeout_s, .force = force};
    (void)snprintf(rb->name, sizeof(rb->name), "%s", c->name);
    (void)snprintf(rb->uuid, sizeof(rb->uuid), "%s", c->uuid);
    r = arm(rb, timeout_s, on_timeout);
    if (r >= 0)
        r = hashmap_put(k->reboots, rb->name, rb);
    if (r < 0) {
        reboot_free(rb);
        return error_set_errno(e, r, "Failed to wait for the reboot: %m");
    }
    r = kvm_job_submit_reboot(drv, c, KVM_REBOOT_ASK, NULL, e);
    if (r < 0) {
        (void)hashmap_remove(k->reboots, rb->name);
        reboot_free(rb);
    }
    return r;
}

void kvm_reboot_job_done(Driver *drv, const char *name, KvmRebootStep step, const Error *error,
                         int pid)
{
    KvmReboot *rb = hashmap_get(kvm(drv)->reboots, name);

    if (!rb)
        return;
    if (error) {
        Error e = *error;
        reboot_complete(rb, &e, NULL);
        if (step == KVM_REBOOT_RESTART)
            kvm_domain_changed(drv, name, STATE_SHUTOFF, REASON_FAILED,
                               "the new run after a reboot failed");
        return;
    }
    if (step == KVM_REBOOT_RESTART) {
        DomainRuntime rt = {.pid = pid};
        reboot_complete(rb, NULL, &rt);
    } else if (step == KVM_REBOOT_RESET && arm(rb, RESET_WAIT_S, on_reset_wait) < 0)
        reboot_complete(rb, NULL, NULL);
}

bool kvm_reboot_intercept(Driver *drv, const char *name, DomainState state, DomainReason reason)
{
    KvmReboot *rb = hashmap_get(kvm(drv)->reboots, name);

    if (!rb)
        return false;
    if (state == STATE_STOPPING || (state == STATE_RUNNING && rb->restarting))
        return true; /* on the way to the restart */
    if (state == STATE_SHUTOFF && reason == REASON_SHUTDOWN && !rb->restarting && !rb->resetting) {
        rb->restarting = true;
        if (submit_reboot_job(rb, KVM_REBOOT_RESTART) >= 0)
            return true;
        reboot_fail(rb, "domain '%s' powered off for its reboot, but a new run could not be %s",
                    "queued");
        return false;
    }
    if (state == STATE_SHUTOFF || state == STATE_CRASHED) {
        reboot_fail(rb, "domain '%s' %s before it restarted",
                    state == STATE_CRASHED ? "crashed" : "stopped");
        return false;
    }
    return false;
}

void kvm_reboot_seen(Driver *drv, const char *name)
{
    KvmReboot *rb = hashmap_get(kvm(drv)->reboots, name);

    if (rb && !rb->restarting) {
        reboot_complete(rb, NULL, NULL);
        return;
    }
    kvm_domain_changed(drv, name, STATE_RUNNING, REASON_REBOOTED, "the guest rebooted");
}

void kvm_reboots_done(Driver *drv)
{
    KvmDriver *k = kvm(drv);
    KvmReboot *rb;
    size_t i;

    if (!k->reboots)
        return;
    for (;;) {
        i = 0;
        if (!hashmap_iterate(k->reboots, &i, NULL, (void **)&rb))
            break;
        (void)hashmap_remove(k->reboots, rb->name);
        reboot_free(rb);
    }
    k->reboots = hashmap_free(k->reboots);
}
