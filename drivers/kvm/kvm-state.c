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

/* The state and reason libvirt records with each lifecycle event, by event detail. */
static const int started_reasons[] = {
    [VIR_DOMAIN_EVENT_STARTED_BOOTED] = VIR_DOMAIN_RUNNING_BOOTED,
    [VIR_DOMAIN_EVENT_STARTED_MIGRATED] = VIR_DOMAIN_RUNNING_MIGRATED,
    [VIR_DOMAIN_EVENT_STARTED_RESTORED] = VIR_DOMAIN_RUNNING_RESTORED,
    [VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT] = VIR_DOMAIN_RUNNING_FROM_SNAPSHOT,
    [VIR_DOMAIN_EVENT_STARTED_WAKEUP] = VIR_DOMAIN_RUNNING_WAKEUP,
};

static const int suspended_reasons[] = {
    [VIR_DOMAIN_EVENT_SUSPENDED_PAUSED] = VIR_DOMAIN_PAUSED_USER,
    [VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED] = VIR_DOMAIN_PAUSED_MIGRATION,
    [VIR_DOMAIN_EVENT_SUSPENDED_IOERROR] = VIR_DOMAIN_PAUSED_IOERROR,
    [VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG] = VIR_DOMAIN_PAUSED_WATCHDOG,
    [VIR_DOMAIN_EVENT_SUSPENDED_RESTORED] = VIR_DOMAIN_PAUSED_UNKNOWN,
    [VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT] = VIR_DOMAIN_PAUSED_FROM_SNAPSHOT,
    [VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR] = VIR_DOMAIN_PAUSED_UNKNOWN,
    [VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY] = VIR_DOMAIN_PAUSED_POSTCOPY,
    [VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED] = VIR_DOMAIN_PAUSED_POSTCOPY_FAILED,
};

static const int resumed_reasons[] = {
    [VIR_DOMAIN_EVENT_RESUMED_UNPAUSED] = VIR_DOMAIN_RUNNING_UNPAUSED,
    [VIR_DOMAIN_EVENT_RESUMED_MIGRATED] = VIR_DOMAIN_RUNNING_MIGRATED,
    [VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT] = VIR_DOMAIN_RUNNING_FROM_SNAPSHOT,
    [VIR_DOMAIN_EVENT_RESUMED_POSTCOPY] = VIR_DOMAIN_RUNNING_POSTCOPY,
};

static const int stopped_reasons[] = {
    [VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN] = VIR_DOMAIN_SHUTOFF_SHUTDOWN,
    [VIR_DOMAIN_EVENT_STOPPED_DESTROYED] = VIR_DOMAIN_SHUTOFF_DESTROYED,
    [VIR_DOMAIN_EVENT_STOPPED_CRASHED] = VIR_DOMAIN_SHUTOFF_CRASHED,
    [VIR_DOMAIN_EVENT_STOPPED_MIGRATED] = VIR_DOMAIN_SHUTOFF_MIGRATED,
    [VIR_DOMAIN_EVENT_STOPPED_SAVED] = VIR_DOMAIN_SHUTOFF_SAVED,
    [VIR_DOMAIN_EVENT_STOPPED_FAILED] = VIR_DOMAIN_SHUTOFF_FAILED,
    [VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT] = VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT,
};

static const int crashed_reasons[] = {
    [VIR_DOMAIN_EVENT_CRASHED_PANICKED] = VIR_DOMAIN_CRASHED_PANICKED,
    /* A crash kernel took over: the guest runs on. */
    [VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED] = VIR_DOMAIN_RUNNING_CRASHED,
};

static int reason_of(const int *table, size_t n, int detail, int unknown)
{
    return detail >= 0 && (size_t)detail < n ? table[detail] : unknown;
}

#define REASON_OF(table, detail, unknown) reason_of(table, ELEMENTSOF(table), detail, unknown)

int kvm_state_from_event(int event, int detail, DomainState *ret_state, DomainReason *ret_reason,
                         const char **ret_detail)
{
    int vir_state, vir_reason;

    switch (event) {
    case VIR_DOMAIN_EVENT_STARTED:
        vir_state = VIR_DOMAIN_RUNNING;
        vir_reason = REASON_OF(started_reasons, detail, VIR_DOMAIN_RUNNING_UNKNOWN);
        break;
    case VIR_DOMAIN_EVENT_SUSPENDED:
        vir_state = VIR_DOMAIN_PAUSED;
        vir_reason = REASON_OF(suspended_reasons, detail, VIR_DOMAIN_PAUSED_UNKNOWN);
        break;
    case VIR_DOMAIN_EVENT_RESUMED:
        vir_state = VIR_DOMAIN_RUNNING;
        vir_reason = REASON_OF(resumed_reasons, detail, VIR_DOMAIN_RUNNING_UNKNOWN);
        break;
    case VIR_DOMAIN_EVENT_STOPPED:
        vir_state = VIR_DOMAIN_SHUTOFF;
        vir_reason = REASON_OF(stopped_reasons, detail, VIR_DOMAIN_SHUTOFF_UNKNOWN);
        break;
    case VIR_DOMAIN_EVENT_SHUTDOWN:
        /* The guest finished shutting down; QEMU ends next (another event). */
        vir_state = VIR_DOMAIN_SHUTDOWN;
        vir_reason = VIR_DOMAIN_SHUTDOWN_USER;
        break;
    case VIR_DOMAIN_EVENT_PMSUSPENDED:
        vir_state = VIR_DOMAIN_PMSUSPENDED;
        vir_reason = VIR_DOMAIN_PMSUSPENDED_UNKNOWN;
        break;
    case VIR_DOMAIN_EVENT_CRASHED:
        vir_reason = REASON_OF(crashed_reasons, detail, VIR_DOMAIN_CRASHED_UNKNOWN);
        vir_state = detail == VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED ? VIR_DOMAIN_RUNNING
                                                                   : VIR_DOMAIN_CRASHED;
        break;
    default:
        /* Defined, undefined: the definition changed, not the state. */
        return 0;
    }
    kvm_state_from_libvirt(vir_state, vir_reason, ret_state, ret_reason, ret_detail);
    return 1;
}
