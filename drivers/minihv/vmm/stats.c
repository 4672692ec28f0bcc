/* Names of the exit reasons and device counters, as they appear in `stats` replies. */
#include "stats.h"

static const char *const exit_reason_table[_EXIT_REASON_MAX] = {
    [EXIT_REASON_IO] = "io",
    [EXIT_REASON_MMIO] = "mmio",
    [EXIT_REASON_HLT] = "hlt",
    [EXIT_REASON_SHUTDOWN] = "shutdown",
    [EXIT_REASON_INTERNAL_ERROR] = "internal-error",
    [EXIT_REASON_FAIL_ENTRY] = "fail-entry",
    [EXIT_REASON_SYSTEM_EVENT] = "system-event",
    [EXIT_REASON_INTR] = "intr",
    [EXIT_REASON_OTHER] = "other",
};

DEFINE_STRING_TABLE(exit_reason, ExitReason, _EXIT_REASON_MAX);

static const char *const stat_device_table[_STAT_DEV_MAX] = {
    [STAT_DEV_UART] = "uart",
    [STAT_DEV_ATA] = "ata",
    [STAT_DEV_RTC] = "rtc",
    [STAT_DEV_POWER] = "power",
    [STAT_DEV_UNASSIGNED_PORT] = "unassigned-port",
    [STAT_DEV_UNASSIGNED_MMIO] = "unassigned-mmio",
    [STAT_DEV_HC_CONSOLE] = "hypercall:console",
    [STAT_DEV_HC_BLOCK] = "hypercall:block",
    [STAT_DEV_HC_POLL] = "hypercall:poll",
    [STAT_DEV_HC_POWER] = "hypercall:power",
    [STAT_DEV_HC_CRASH] = "hypercall:crash",
    [STAT_DEV_HC_VCPU] = "hypercall:vcpu",
    [STAT_DEV_HC_INVALID] = "hypercall:invalid",
    [STAT_DEV_BLK_DOORBELL] = "block-doorbell",
    [STAT_DEV_BLK_DOORBELL_EVENT] = "block-doorbell-eventfd",
    [STAT_DEV_EXCEPTION] = "exception",
    [STAT_DEV_HC_NET] = "hypercall:net",
    [STAT_DEV_NET_DOORBELL] = "net-doorbell",
    [STAT_DEV_NET_DOORBELL_EVENT] = "net-doorbell-eventfd",
    [STAT_DEV_NE2000] = "ne2000",
};

DEFINE_STRING_TABLE(stat_device, StatDevice, _STAT_DEV_MAX);
