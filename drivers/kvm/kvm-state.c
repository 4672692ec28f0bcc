/* libvirt's domain states, reasons and lifecycle events in hvd's words. Every libvirt state maps
 * to one hvd state; a libvirt reason hvd has no word for becomes "unknown" plus a sentence that
 * keeps what libvirt said. */
#include <libvirt/libvirt.h>

#include "kvm-state.h"

static const char *const running_details[] = {
    [VIR_DOMAIN_RUNNING_MIGRATED] = "libvirt: running after an incoming migration",
    [VIR_DOMAIN_RUNNING_RESTORED] = "libvirt: running, restored from a saved state",
    [VIR_DOMAIN_RUNNING_FROM_SNAPSHOT] = "libvirt: running, restored from a snapshot",
    [VIR_DOMAIN_RUNNING_MIGRATION_CANCELED] = "libvirt: running after a cancelled migration",
    [VIR_DOMAIN_RUNNING_SAVE_CANCELED] = "libvirt: running after a failed save",
    [VIR_DOMAIN_RUNNING_CRASHED] = "libvirt: running again after a crash",
    [VIR_DOMAIN_RUNNING_POSTCOPY] = "libvirt: running in a post-copy migration",
};

static const char *const paused_details[] = {
    [VIR_DOMAIN_PAUSED_MIGRATION] = "libvirt: paused for a migration",
    [VIR_DOMAIN_PAUSED_SAVE] = "libvirt: paused while saving its state",
    [VIR_DOMAIN_PAUSED_DUMP] = "libvirt: paused for a core dump",
    [VIR_DOMAIN_PAUSED_IOERROR] = "libvirt: paused after a disk I/O error",
    [VIR_DOMAIN_PAUSED_WATCHDOG] = "libvirt: paused by its watchdog",
    [VIR_DOMAIN_PAUSED_FROM_SNAPSHOT] = "libvirt: paused, restored from a snapshot",
    [VIR_DOMAIN_PAUSED_SHUTTING_DOWN] = "libvirt: paused while shutting down",
    [VIR_DOMAIN_PAUSED_SNAPSHOT] = "libvirt: paused for a snapshot",
    [VIR_DOMAIN_PAUSED_POSTCOPY] = "libvirt: paused for a post-copy migration",
    [VIR_DOMAIN_PAUSED_POSTCOPY_FAILED] = "libvirt: paused after a failed post-copy migration",
};

static const char *const shutoff_details[] = {
    [VIR_DOMAIN_SHUTOFF_MIGRATED] = "libvirt: migrated to another host",
    [VIR_DOMAIN_SHUTOFF_SAVED] = "libvirt: saved to a file",
    [VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT] = "libvirt: restored from a shut-off snapshot",
};

static const char *detail_of(const char *const *table, size_t n, int reason)
{
    return reason >= 0 && (size_t)reason < n ? table[reason] : NULL;
}

static DomainReason running_reason(int reason)
{
    switch (reason) {
    case VIR_DOMAIN_RUNNING_BOOTED:
        return REASON_BOOTED;
    case VIR_DOMAIN_RUNNING_UNPAUSED:
    case VIR_DOMAIN_RUNNING_WAKEUP:
        return REASON_UNPAUSED;
    default:
        return REASON_UNKNOWN;
    }
}

static DomainReason shutoff_reason(int reason, DomainState *state)
{
    switch (reason) {
    case VIR_DOMAIN_SHUTOFF_SHUTDOWN:
        return REASON_SHUTDOWN;
    case VIR_DOMAIN_SHUTOFF_DESTROYED:
        return REASON_DESTROYED;
    case VIR_DOMAIN_SHUTOFF_CRASHED:
        /* The guest crashed and libvirt tore it down: hvd applies its own policy. */
        *state = STATE_CRASHED;
        return REASON_GUEST_FAULT;
    case VIR_DOMAIN_SHUTOFF_FAILED:
        return REASON_FAILED;
    case VIR_DOMAIN_SHUTOFF_DAEMON:
        return REASON_DAEMON;
    default:
        return REASON_UNKNOWN;
    }
}

void kvm_state_from_libvirt(int vir_state, int vir_reason, DomainState *ret_state,
                            DomainReason *ret_reason, const char **ret_detail)
{
    DomainState state = STATE_RUNNING;
    DomainReason reason = REASON_UNKNOWN;
    const char *detail = NULL;

    switch (vir_state) {
    case VIR_DOMAIN_RUNNING:
        reason = running_reason(vir_reason);
        detail = detail_of(running_details, ELEMENTSOF(running_details), vir_reason);
        break;
    case VIR_DOMAIN_PAUSED:
        state = STATE_PAUSED;
        if (vir_reason == VIR_DOMAIN_PAUSED_USER)
            reason = REASON_USER;
        else if (vir_reason == VIR_DOMAIN_PAUSED_CRASHED) {
            state = STATE_CRASHED;
            reason = REASON_GUEST_FAULT;
        } else if (vir_reason == VIR_DOMAIN_PAUSED_STARTING_UP) {
            /* libvirt starts a guest paused and lets it run once its devices are set up. */
            state = STATE_STARTING;
            reason = REASON_BOOTING;
        } else
            detail = detail_of(paused_details, ELEMENTSOF(paused_details), vir_reason);
        break;
    case VIR_DOMAIN_PMSUSPENDED:
        state = STATE_PAUSED;
        detail = "libvirt: suspended by the guest's power management";
        break;
    case VIR_DOMAIN_SHUTDOWN:
        state = STATE_STOPPING;
        reason = REASON_SHUTDOWN;
        break;
    case VIR_DOMAIN_SHUTOFF:
        state = STATE_SHUTOFF;
        reason = shutoff_reason(vir_reason, &state);
        detail = detail_of(shutoff_details, ELEMENTSOF(shutoff_details), vir_reason);
        break;
    case VIR_DOMAIN_CRASHED:
        state = STATE_CRASHED;
        reason = REASON_GUEST_FAULT;
        break;
    default:
        /* VIR_DOMAIN_NOSTATE and VIR_DOMAIN_BLOCKED: an active domain libvirt says little of. */
        break;
    }
    *ret_state = state;
    *ret_reason = reason;
    if (ret_detail)
        *ret_detail = detail;
}

int kvm_state_from_event(int event, int detail, DomainState *ret_state, DomainReason *ret_reason)
{
    switch (event) {
    case VIR_DOMAIN_EVENT_CRASHED:
        *ret_state = STATE_CRASHED;
        *ret_reason = REASON_GUEST_FAULT;
        return 1;
    case VIR_DOMAIN_EVENT_STOPPED:
        *ret_state = STATE_SHUTOFF;
        switch (detail) {
        case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
            *ret_reason = REASON_SHUTDOWN;
            break;
        case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
            *ret_reason = REASON_DESTROYED;
            break;
        case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
            *ret_state = STATE_CRASHED;
            *ret_reason = REASON_GUEST_FAULT;
            break;
        case VIR_DOMAIN_EVENT_STOPPED_FAILED:
            *ret_reason = REASON_FAILED;
            break;
        default:
            *ret_reason = REASON_UNKNOWN;
        }
        return 1;
    default:
        return 0;
    }
}
