/* Exit statuses of `minihv run`: why the domain ended. Shared with hvd, which reaps minihv. */
#pragma once

/* The process exit status of `minihv run`. Exactly one line on stderr says why it ended. */
typedef enum MinihvExitStatus {
    MINIHV_EXIT_POWEROFF = 0,   /* the guest powered off */
    MINIHV_EXIT_HOST_ERROR = 1, /* VMM failure, bad guest image, /dev/kvm unusable */
    MINIHV_EXIT_USAGE = 2,      /* bad command line */
    MINIHV_EXIT_REBOOT = 3,     /* the guest (or a control client) asked for a reboot */
    MINIHV_EXIT_CRASH = 4,      /* the guest crashed: triple fault, unhandled exception, KVM
                                 * internal error, --strict violation, crash-report hypercall */
    MINIHV_EXIT_DESTROYED = 5,  /* destroyed: control `destroy`, SIGTERM/SIGINT, or a
                                 * `shutdown` that the guest did not honour in time */
    MINIHV_EXIT_SAVED = 6,      /* saved into an image by a control `save` with "then":"stop";
                                 * `minihv run --restore` continues it */
    MINIHV_EXIT_MIGRATED = 7,   /* migrated by a control `migrate-send`: the target was ready
                                 * and the guest was handed over to it */
    MINIHV_EXIT_FENCED = 8,     /* ended by its fencing watchdog, which a control `watchdog`
                                 * armed and nobody renewed in time (watchdog.h) */
} MinihvExitStatus;

/* A short word for each status ("poweroff", "host-error", "usage", "reboot", "crash",
 * "destroyed", "saved", "migrated", "fenced"), or NULL when status is out of range. */
static inline const char *minihv_exit_status_to_string(int status)
{
    static const char *const names[] = {
        "poweroff",  "host-error", "usage",    "reboot", "crash",
        "destroyed", "saved",      "migrated", "fenced",
    };
    if (status < 0 || (unsigned)status >= sizeof(names) / sizeof(names[0]))
        return 0;
    return names[status];
}
