/* The words of the domain model: drivers, modes, states, reasons, crash policies, and the rules
 * that tie states to reasons and transitions. Shared by hvd, hvctl, drivers and tests. */
#pragma once

#include <stdbool.h>

#include "string-table.h"

typedef enum DriverKind {
    DRIVER_KVM,
    DRIVER_MINIHV,
    _DRIVER_KIND_MAX,
    _DRIVER_KIND_INVALID = -EINVAL,
} DriverKind;

typedef enum DomainMode {
    MODE_PV,
    MODE_FULL,
    _DOMAIN_MODE_MAX,
    _DOMAIN_MODE_INVALID = -EINVAL,
} DomainMode;

typedef enum DomainState {
    STATE_SHUTOFF,
    STATE_STARTING,
    STATE_RUNNING,
    STATE_PAUSED,
    STATE_STOPPING,
    STATE_CRASHED,
    STATE_MIGRATING, /* a running domain being moved to another host (manager-migrate.c) */
    _DOMAIN_STATE_MAX,
    _DOMAIN_STATE_INVALID = -EINVAL,
} DomainState;

typedef enum DomainReason {
    REASON_UNKNOWN,
    REASON_DEFINED,     /* shutoff: never started */
    REASON_SHUTDOWN,    /* shutoff: the guest powered off; stopping: a shutdown was requested */
    REASON_DESTROYED,   /* shutoff: forcibly stopped */
    REASON_FAILED,      /* shutoff: the start failed */
    REASON_DAEMON,      /* shutoff/running/paused: found so by hvd's reconciliation */
    REASON_CRASHED,     /* shutoff: crashed, then destroyed by the on-crash policy */
    REASON_BOOTING,     /* starting: the driver is bringing it up */
    REASON_BOOTED,      /* running: started normally */
    REASON_UNPAUSED,    /* running: resumed after a pause */
    REASON_REBOOTED,    /* running: rebooted */
    REASON_RESTARTED,   /* running: restarted by the on-crash policy */
    REASON_USER,        /* paused: paused by a user */
    REASON_GUEST_FAULT, /* crashed: the guest crashed */
    REASON_HOST_ERROR,  /* crashed: the hypervisor process failed */
    REASON_SAVED,       /* shutoff: a managed save; the next start resumes from its image */
    REASON_MIGRATED,    /* shutoff: moved to another host; starting/running: moved here */
    REASON_FENCED,      /* shutoff: ended by its fencing watchdog (a cluster's HA domain whose
                         * hvd stopped renewing it) */
    _DOMAIN_REASON_MAX,
    _DOMAIN_REASON_INVALID = -EINVAL,
} DomainReason;

typedef enum OnCrash {
    ON_CRASH_DESTROY,
    ON_CRASH_RESTART,
    ON_CRASH_PRESERVE,
    _ON_CRASH_MAX,
    _ON_CRASH_INVALID = -EINVAL,
} OnCrash;

/* A domain's consoles, by the name the guest gives them: the serial port every domain has, and
 * the paravirtual (virtio) console of a pv kvm domain. */
typedef enum ConsoleDevice {
    CONSOLE_SERIAL, /* "ttyS0" */
    CONSOLE_VIRTIO, /* "hvc0" */
    _CONSOLE_DEVICE_MAX,
    _CONSOLE_DEVICE_INVALID = -EINVAL,
} ConsoleDevice;

/* What a user (or a policy) asks of a domain; also the operations a driver performs. */
typedef enum DomainAction {
    ACTION_START,
    ACTION_SHUTDOWN,
    ACTION_DESTROY,
    ACTION_PAUSE,
    ACTION_RESUME,
    ACTION_REBOOT,
    ACTION_SAVE, /* write the domain's state into an image (a managed save, or a snapshot) */
    _DOMAIN_ACTION_MAX,
    _DOMAIN_ACTION_INVALID = -EINVAL,
} DomainAction;

DECLARE_STRING_TABLE(driver_kind, DriverKind);
DECLARE_STRING_TABLE(domain_action, DomainAction);
DECLARE_STRING_TABLE(domain_mode, DomainMode);
DECLARE_STRING_TABLE(domain_state, DomainState);
DECLARE_STRING_TABLE(domain_reason, DomainReason);
DECLARE_STRING_TABLE(on_crash, OnCrash);
DECLARE_STRING_TABLE(console_device, ConsoleDevice);

/* Whether reason may accompany state (e.g. running/booted yes, running/defined no). */
bool domain_reason_valid_for_state(DomainState state, DomainReason reason);

/* Whether the state machine allows moving from one state to another (running -> running is a
 * reboot and allowed; shutoff -> shutoff is not). */
bool domain_state_transition_is_legal(DomainState from, DomainState to);

/* Whether a domain in state holds an allocation of host CPUs and memory. */
bool domain_state_holds_allocation(DomainState state);

/* Whether a domain in state has a hypervisor-side instance (a process or libvirt domain). */
bool domain_state_is_active(DomainState state);

/* Name rules: 1..64 characters from [A-Za-z0-9_.-], and not "." or "..". */
#define DOMAIN_NAME_MAX 64
bool domain_name_is_valid(const char *name);
