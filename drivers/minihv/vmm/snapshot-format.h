/* The saved-image file layout: a versioned header page, a state area of tagged sections, memory. */
#pragma once

#include <linux/kvm.h>
#include <stdint.h>

#include "minihv-abi.h"

/* A saved image is one regular file:
 *
 *   [0, 4096)                       SnapshotHeader (zero-padded)
 *   [state_offset, +state_size)     state sections, each a SnapshotSection and its payload
 *                                   padded to 8 bytes
 *   [mem_offset, +mem_size)         guest memory, byte for byte; mem_offset is page-aligned so
 *                                   that a restore maps it copy-on-write (holes read as zero)
 *
 * The checksum covers the header (with the checksum field zero) and the state area; memory is
 * not checksummed, so that restoring reads none of it. Every integer is little-endian (the
 * host's own order: images move only between x86-64 hosts). Disks are referenced by path, never
 * copied. */
#define SNAPSHOT_MAGIC          "MINIHVSV"
#define SNAPSHOT_MAGIC_LEN      8u
#define SNAPSHOT_FORMAT_VERSION 1u
#define SNAPSHOT_HEADER_SIZE    4096u
#define SNAPSHOT_PAGE_SIZE      4096u
#define SNAPSHOT_STATE_MAX      (1u << 20) /* far above what 8 vCPUs and every device need */
#define SNAPSHOT_PATH_MAX       1024u
#define SNAPSHOT_MSRS_MAX       16u

/* Header flags: which optional devices the saved domain had. */
#define SNAPSHOT_F_DISK 0x1u
#define SNAPSHOT_F_NET  0x2u

typedef struct SnapshotHeader {
    char magic[SNAPSHOT_MAGIC_LEN];
    uint32_t format_version; /* SNAPSHOT_FORMAT_VERSION */
    uint32_t abi_version;    /* MINIHV_ABI_VERSION of the VMM that saved it */
    uint32_t header_size;    /* SNAPSHOT_HEADER_SIZE */
    uint32_t mode;           /* VmMode */
    uint32_t vcpus;
    uint32_t flags; /* SNAPSHOT_F_* */
    uint64_t mem_size;
    uint64_t state_offset;
    uint64_t state_size;
    uint64_t mem_offset;
    uint64_t checksum;          /* FNV-1a 64, see above */
    uint64_t saved_realtime_ns; /* host CLOCK_REALTIME when the guest was paused */
    uint64_t guest_boot_ns;     /* guest monotonic time (ns since boot) at that moment */
    uint64_t guest_size;        /* the guest image the domain booted: size and FNV-1a 64 */
    uint64_t guest_hash;
    uint64_t disk_sectors; /* with SNAPSHOT_F_DISK */
    uint8_t mac[6];        /* with SNAPSHOT_F_NET */
    uint8_t _pad[2];
    char guest_path[SNAPSHOT_PATH_MAX]; /* NUL-terminated, for information */
    char disk_path[SNAPSHOT_PATH_MAX];  /* NUL-terminated absolute path, with SNAPSHOT_F_DISK */
} SnapshotHeader;

_Static_assert(sizeof(SnapshotHeader) <= SNAPSHOT_HEADER_SIZE, "snapshot header fits a page");

typedef enum SnapshotTag {
    SNAP_TAG_VM = 1,   /* SnapVm, once */
    SNAP_TAG_VCPU,     /* SnapVcpu, once per vCPU, in id order */
    SNAP_TAG_CONSOLE,  /* SnapConsole, once */
    SNAP_TAG_UART,     /* full mode */
    SNAP_TAG_ATA,      /* full mode with a disk */
    SNAP_TAG_RTC,      /* full mode */
    SNAP_TAG_POWER,    /* full mode */
    SNAP_TAG_PV_BLOCK, /* pv mode */
    SNAP_TAG_PV_NET,   /* pv mode with a network device */
    SNAP_TAG_NE2000,   /* full mode with a network device */
    _SNAP_TAG_MAX,
} SnapshotTag;

typedef struct SnapshotSection {
    uint32_t tag; /* SnapshotTag */
    uint32_t len; /* payload bytes, exactly the size of the tag's structure */
} SnapshotSection;

typedef struct SnapVm {
    uint64_t entry;
    uint64_t boot_arg;
    uint32_t events; /* latched MINIHV_EVENT_SHUTDOWN */
    uint32_t blk_events;
    uint32_t net_events;
    uint32_t _pad;
} SnapVm;

typedef struct SnapVcpu {
    uint32_t id;
    uint32_t up; /* 0: a pv vCPU the guest never started */
    uint32_t nmsrs;
    uint32_t _pad;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_vcpu_events events;
    struct kvm_xcrs xcrs;
    uint32_t xsave[1024]; /* struct kvm_xsave's region: the FPU, SSE and AVX state */
    struct kvm_msr_entry msrs[SNAPSHOT_MSRS_MAX];
} SnapVcpu;

#define SNAP_CONSOLE_INPUT_MAX 4096u

typedef struct SnapConsole {
    uint32_t in_len; /* input the guest had not read yet, oldest first */
    uint32_t _pad;
    uint8_t in[SNAP_CONSOLE_INPUT_MAX];
} SnapConsole;

typedef struct SnapUart {
    uint8_t ier, lcr, mcr, scr, dll, dlm, msr_last;
    uint8_t fifo_enabled, thre_pending, overrun;
    uint8_t loop_len;
    uint8_t _pad[5];
    uint8_t loop[16];
} SnapUart;

typedef struct SnapAta {
    uint8_t error, feature, nsect, lbal, lbam, lbah, device, status, control;
    uint8_t xfer; /* AtaTransfer */
    uint8_t identify;
    uint8_t _pad[5];
    uint32_t pos;
    uint32_t remaining;
    uint64_t sector;
    uint8_t buf[512];
} SnapAta;

typedef struct SnapRtc {
    uint8_t index;
    uint8_t frozen;
    uint8_t _pad[6];
    int64_t offset_s; /* guest RTC = host real time + offset_s: it keeps tracking wall time */
    int64_t frozen_s;
    uint8_t ram[128];
} SnapRtc;

typedef struct SnapPower {
    uint16_t sts, en, cnt;
    uint8_t reset_reg;
    uint8_t _pad;
} SnapPower;

typedef struct SnapPvBlock {
    uint8_t ring_set, broken;
    uint8_t _pad[2];
    uint32_t entries;
    uint32_t req_cons;
    uint32_t _pad2;
    uint64_t ring_gpa;
} SnapPvBlock;

typedef struct SnapPvNetRing {
    uint64_t gpa;
    uint32_t cons;
    uint8_t broken;
    uint8_t _pad[3];
} SnapPvNetRing;

typedef struct SnapPvNet {
    uint8_t set;
    uint8_t _pad[3];
    uint32_t entries;
    SnapPvNetRing tx, rx;
} SnapPvNet;

#define SNAP_NE2000_MEM 0xc000u

typedef struct SnapNe2000 {
    uint8_t cr, isr, imr, dcr, rcr, tcr, tsr, rsr;
    uint8_t pstart, pstop, bnry, curr, tpsr;
    uint8_t _pad;
    uint16_t tbcr, rsar, rbcr;
    uint8_t par[6], mar[8];
    uint8_t mem[SNAP_NE2000_MEM];
} SnapNe2000;

#define SNAPSHOT_FNV_OFFSET 0xcbf29ce484222325ull
#define SNAPSHOT_FNV_PRIME  0x100000001b3ull

/* Continues a 64-bit FNV-1a hash (start from SNAPSHOT_FNV_OFFSET) over len bytes at p. */
static inline uint64_t snapshot_fnv1a(uint64_t h, const void *p, uint64_t len)
{
    const uint8_t *b = p;

    for (uint64_t i = 0; i < len; i++)
        h = (h ^ b[i]) * SNAPSHOT_FNV_PRIME;
    return h;
}
