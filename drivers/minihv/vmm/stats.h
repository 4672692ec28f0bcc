/* Per-domain counters: exits by reason, accesses by device, run time, bad requests. */
#pragma once

#include <stdint.h>

#include "string-table.h"

/* Why KVM_RUN returned to the VMM. */
typedef enum ExitReason {
    EXIT_REASON_IO,
    EXIT_REASON_MMIO,
    EXIT_REASON_HLT,
    EXIT_REASON_SHUTDOWN,
    EXIT_REASON_INTERNAL_ERROR,
    EXIT_REASON_FAIL_ENTRY,
    EXIT_REASON_SYSTEM_EVENT,
    EXIT_REASON_INTR, /* KVM_RUN interrupted by a kick (pause, stop) */
    EXIT_REASON_OTHER,
    _EXIT_REASON_MAX,
    _EXIT_REASON_INVALID = -EINVAL,
} ExitReason;

DECLARE_STRING_TABLE(exit_reason, ExitReason);

/* Which device an exit (or an ioeventfd notification) was for. */
typedef enum StatDevice {
    STAT_DEV_UART,
    STAT_DEV_ATA,
    STAT_DEV_RTC,
    STAT_DEV_POWER,
    STAT_DEV_UNASSIGNED_PORT,
    STAT_DEV_UNASSIGNED_MMIO,
    STAT_DEV_HC_CONSOLE,
    STAT_DEV_HC_BLOCK,
    STAT_DEV_HC_POLL,
    STAT_DEV_HC_POWER,
    STAT_DEV_HC_CRASH,
    STAT_DEV_HC_VCPU,
    STAT_DEV_HC_INVALID,
    STAT_DEV_BLK_DOORBELL,       /* doorbell writes that exited to the VMM */
    STAT_DEV_BLK_DOORBELL_EVENT, /* doorbell writes delivered by ioeventfd (no exit) */
    STAT_DEV_EXCEPTION,
    STAT_DEV_HC_NET,
    STAT_DEV_NET_DOORBELL,       /* net doorbell writes that exited to the VMM */
    STAT_DEV_NET_DOORBELL_EVENT, /* net doorbell writes delivered by ioeventfd (no exit) */
    STAT_DEV_NE2000,
    _STAT_DEV_MAX,
    _STAT_DEV_INVALID = -EINVAL,
} StatDevice;

DECLARE_STRING_TABLE(stat_device, StatDevice);

/* For an IoDevice whose handler counts each access itself (the hypercall window). */
#define STAT_DEV_SELF _STAT_DEV_MAX

typedef struct Stats {
    uint64_t exits[_EXIT_REASON_MAX];
    uint64_t devices[_STAT_DEV_MAX];
    uint64_t bad_guest_requests;   /* hypercalls and ring descriptors refused as malformed */
    uint64_t bad_control_requests; /* control-socket lines refused as malformed */
    uint64_t console_out_bytes;
    uint64_t console_in_bytes;
    uint64_t console_in_dropped;     /* input bytes lost because the guest did not read them */
    uint64_t console_client_dropped; /* output bytes attached clients lost (main loop behind) */
    uint64_t blk_read_sectors;
    uint64_t blk_write_sectors;
    uint64_t net_tx_frames; /* frames the guest sent that reached the tap */
    uint64_t net_tx_bytes;
    uint64_t net_rx_frames; /* frames from the tap that reached the guest */
    uint64_t net_rx_bytes;
    uint64_t net_tx_dropped;      /* the tap refused the frame */
    uint64_t net_rx_dropped;      /* no ring, device stopped, filtered, or longer than the buffer */
    uint64_t net_bad_descriptors; /* descriptors, ring indexes or NE2000 commands refused */
} Stats;

/* Counters are bumped from vCPU threads and read by the main thread: relaxed atomics. */
static inline void stats_add(uint64_t *counter, uint64_t n)
{
    __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static inline uint64_t stats_get(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}
