/* The minihv guest/host ABI: hypercall transport, request layouts, block ring, boot info, shared
 * page. */
#pragma once

/* This header is shared by the VMM (hosted C) and guests (freestanding C). It depends on nothing
 * but <stdint.h>, uses only fixed-width types, and every structure has the same layout on both
 * sides. Guest addresses are plain uint64_t guest-physical addresses (GPAs), never pointers. */

#include <stdint.h>

/* Version 2 added the network device (NET_INFO, NET_SETUP, the TX/RX rings, the net doorbell,
 * MINIHV_EVENT_NET and MINIHV_DEV_NET); version-1 layouts are unchanged. */
#define MINIHV_ABI_VERSION 2u

/* ---- Hypercall transport (pv mode only) ----
 *
 * A hypercall is a 32-bit `out` of the request's GPA to port MINIHV_HC_PORT_BASE + nr. The VMM
 * copies the request into its own memory, validates it, performs it, copies OUT fields back and
 * returns the status in eax: 0 on success or a negative MINIHV_E* code. `vmcall` is not used: on
 * the supported KVM it never reaches the VMM. The TSS I/O bitmap opens exactly the ports
 * [MINIHV_HC_PORT_BASE, MINIHV_HC_PORT_BASE + MINIHV_HC_PORT_COUNT), MINIHV_PORT_BLK_DOORBELL and
 * MINIHV_PORT_NET_DOORBELL; every other port faults (#GP) at ring 3. */
#define MINIHV_HC_PORT_BASE  0x700u
#define MINIHV_HC_PORT_COUNT 16u

/* Writing any value here tells the VMM that the block ring has new requests. It is an ioeventfd
 * when the host supports it (no exit; processed asynchronously, watch rsp_prod), otherwise an
 * ordinary exit that processes the ring before the guest continues. */
#define MINIHV_PORT_BLK_DOORBELL 0x714u

/* Writing any value here tells the VMM that the net rings changed: frames were published on the
 * TX ring, or buffers were posted on an RX ring that had run dry. It is an ioeventfd (no exit);
 * the VMM's network thread processes both rings asynchronously. One write covers a whole batch. */
#define MINIHV_PORT_NET_DOORBELL 0x718u

/* Used only by the VMM's ring-0 exception stub; not reachable from ring 3. */
#define MINIHV_PORT_EXCEPTION 0x71fu

enum minihv_hypercall {
    MINIHV_HC_RESERVED = 0,      /* never valid: returns MINIHV_ENOSYS */
    MINIHV_HC_CONSOLE_WRITE = 1, /* struct minihv_hc_console_write */
    MINIHV_HC_CONSOLE_READ = 2,  /* struct minihv_hc_console_read */
    MINIHV_HC_BLK_INFO = 3,      /* struct minihv_hc_blk_info */
    MINIHV_HC_BLK_SETUP = 4,     /* struct minihv_hc_blk_setup */
    MINIHV_HC_BLK_KICK = 5,      /* no request: processes the block ring before returning */
    MINIHV_HC_POLL = 6,          /* struct minihv_hc_poll */
    MINIHV_HC_POWEROFF = 7,      /* no request: the domain powers off (exit status 0) */
    MINIHV_HC_REBOOT = 8,        /* no request: the domain asks for a reboot (exit status 3) */
    MINIHV_HC_CRASH = 9,         /* struct minihv_hc_crash: the domain crashed (exit status 4) */
    MINIHV_HC_VCPU_UP = 10,      /* struct minihv_hc_vcpu_up */
    MINIHV_HC_NET_INFO = 11,     /* struct minihv_hc_net_info (ABI 2) */
    MINIHV_HC_NET_SETUP = 12,    /* struct minihv_hc_net_setup (ABI 2) */
    MINIHV_HC_MAX,
};

/* Status codes returned in eax (and in block descriptors). Values follow Linux errno numbers. */
#define MINIHV_OK     0
#define MINIHV_EIO    (-5)  /* the host failed to perform a valid request */
#define MINIHV_EFAULT (-14) /* an address/length is outside guest memory or overflows */
#define MINIHV_EBUSY  (-16) /* the resource is already in use (vCPU already up, ring set up) */
#define MINIHV_ENODEV (-19) /* no such device (no disk attached) */
#define MINIHV_EINVAL (-22) /* a field is out of range, misaligned or malformed */
#define MINIHV_EROFS  (-30) /* write to a read-only disk */
#define MINIHV_ENOSYS (-38) /* unknown hypercall number */
#define MINIHV_ERANGE (-34) /* a sector range lies beyond the end of the disk */

/* ---- Requests: IN fields are read by the VMM, OUT fields written back on success ---- */

#define MINIHV_CONSOLE_WRITE_MAX 65536u /* longer writes are refused with MINIHV_EINVAL */
#define MINIHV_CONSOLE_READ_MAX  4096u  /* longer reads are clamped */
#define MINIHV_CRASH_MESSAGE_MAX 256u   /* longer crash messages are truncated */

struct minihv_hc_console_write {
    /* IN */
    uint64_t buf; /* GPA of the bytes */
    uint32_t len; /* 0..MINIHV_CONSOLE_WRITE_MAX */
    uint32_t _pad;
};

struct minihv_hc_console_read {
    /* IN */
    uint64_t buf; /* GPA of the destination */
    uint32_t len; /* capacity; clamped to MINIHV_CONSOLE_READ_MAX */
    uint32_t _pad;
    /* OUT */
    uint32_t nread; /* bytes stored; 0 when no input is waiting (never blocks) */
    uint32_t _pad2;
};

#define MINIHV_BLK_SECTOR_SIZE 512u
#define MINIHV_BLK_F_READ_ONLY 0x1u

struct minihv_hc_blk_info {
    /* OUT */
    uint64_t sectors;     /* capacity in MINIHV_BLK_SECTOR_SIZE sectors */
    uint32_t sector_size; /* always MINIHV_BLK_SECTOR_SIZE */
    uint32_t flags;       /* MINIHV_BLK_F_* */
    uint32_t max_sectors; /* largest nsectors accepted in one descriptor */
    uint32_t _pad;
};

/* The block ring: one page-aligned area in guest memory holding a header and `entries`
 * descriptors. The guest fills desc[req_prod % entries], then increments req_prod (release
 * store) and rings the doorbell; the VMM processes descriptors in order, writes each status,
 * then advances rsp_prod (release store). req_prod - rsp_prod must never exceed entries. */
#define MINIHV_BLK_RING_MAX_ENTRIES 256u
#define MINIHV_BLK_MAX_SECTORS      256u

enum minihv_blk_op {
    MINIHV_BLK_OP_READ = 1,  /* disk -> guest buffer */
    MINIHV_BLK_OP_WRITE = 2, /* guest buffer -> disk */
    MINIHV_BLK_OP_FLUSH = 3, /* make earlier writes durable; sector/nsectors/buf ignored */
};

struct minihv_blk_desc {
    /* IN */
    uint32_t op;       /* enum minihv_blk_op */
    uint32_t nsectors; /* 1..max_sectors (ignored for FLUSH) */
    uint64_t sector;   /* first sector */
    uint64_t buf;      /* GPA of nsectors * 512 bytes */
    uint64_t id;       /* opaque to the VMM */
    /* OUT */
    int32_t status; /* MINIHV_OK or a negative MINIHV_E* */
    uint32_t _pad;
};

struct minihv_blk_ring {
    uint32_t req_prod; /* written by the guest */
    uint32_t rsp_prod; /* written by the VMM */
    int32_t error;     /* written by the VMM: nonzero once the ring was found malformed; the VMM
                        * then ignores the ring until it is set up again */
    uint32_t _pad[13];
    struct minihv_blk_desc desc[];
};

struct minihv_hc_blk_setup {
    /* IN */
    uint64_t ring;    /* GPA of struct minihv_blk_ring, 4096-aligned */
    uint32_t entries; /* power of two, 1..MINIHV_BLK_RING_MAX_ENTRIES */
    uint32_t _pad;
};

#define MINIHV_EVENT_CONSOLE_INPUT 0x1u /* console input is waiting */
#define MINIHV_EVENT_SHUTDOWN      0x2u /* the host asks the guest to power off */
#define MINIHV_EVENT_BLK           0x4u /* block responses were published since the last poll */
#define MINIHV_EVENT_NET           0x8u /* frames were put on the RX ring since the last poll */

struct minihv_hc_poll {
    /* IN */
    uint64_t timeout_ns; /* longest wait; the VMM may return earlier (it caps waits at 60 s) */
    /* OUT */
    uint32_t events; /* MINIHV_EVENT_* pending when the call returned (0 on timeout) */
    uint32_t _pad;
};

/* ---- Network (ABI 2) ----
 *
 * Two rings in guest memory, each one page-aligned area holding a header and `entries`
 * descriptors (a power of two). The guest owns `prod`, the VMM owns `cons`; both only grow
 * (mod 2^32) and prod - cons never exceeds entries.
 *
 * TX: the guest puts a frame (destination MAC onwards, no FCS) in desc[prod % entries], advances
 * prod (release store) and, once per batch, writes MINIHV_PORT_NET_DOORBELL when tx->kick is 1.
 * The VMM's network thread sends each frame to the tap, stores its status and advances cons;
 * the slot is the guest's again once cons has passed it. While the thread is working it holds
 * tx->kick at 0 and looks at prod again before it sleeps, so a guest that keeps it busy sends
 * whole streams of batches without a doorbell (a full fence between the guest's store of prod
 * and its load of kick).
 *
 * RX: the guest posts empty buffers (len = capacity) the same way. The network thread fills
 * them in order with frames from the tap, stores the frame length (or a negative MINIHV_E* for a
 * buffer it refused) in status, advances cons and raises MINIHV_EVENT_NET for POLL. When every
 * posted buffer is used it sets rx->kick to 1 and stops reading the tap; a guest that then
 * posts buffers and sees kick == 1 writes the doorbell.
 *
 * A descriptor that names memory outside the guest or a length out of range is refused with
 * MINIHV_EFAULT or MINIHV_EINVAL in its status and counted; a producer index that runs ahead of
 * the consumer by more than the ring holds sets `error` and the VMM ignores that ring until the
 * next NET_SETUP. */
#define MINIHV_NET_RING_MAX_ENTRIES 256u
#define MINIHV_NET_FRAME_MIN        14u   /* an Ethernet header */
#define MINIHV_NET_FRAME_MAX        9018u /* a 9000-byte MTU, the header and a VLAN tag */
#define MINIHV_NET_MTU              1500u /* the MTU the guest should use unless told otherwise */
#define MINIHV_NET_F_LINK_UP        0x1u

struct minihv_net_desc {
    /* IN */
    uint64_t buf; /* GPA of the frame (TX) or of the empty buffer (RX) */
    uint32_t len; /* TX: frame length, MINIHV_NET_FRAME_MIN..MINIHV_NET_FRAME_MAX;
                   * RX: buffer capacity, MINIHV_NET_FRAME_MIN..MINIHV_NET_FRAME_MAX */
    /* OUT */
    int32_t status; /* TX: MINIHV_OK or a negative MINIHV_E*; RX: the frame length (> 0), or a
                     * negative MINIHV_E* when the buffer was refused (nothing stored) */
};

struct minihv_net_ring {
    uint32_t prod; /* written by the guest */
    uint32_t cons; /* written by the VMM */
    int32_t error; /* written by the VMM: nonzero once the ring was found malformed */
    uint32_t kick; /* written by the VMM: 1 while it needs a doorbell to look at the ring */
    uint32_t _pad[12];
    struct minihv_net_desc desc[];
};

struct minihv_hc_net_info {
    /* OUT */
    uint8_t mac[6];
    uint16_t _pad;
    uint32_t flags;       /* MINIHV_NET_F_* */
    uint32_t mtu;         /* MINIHV_NET_MTU */
    uint32_t max_entries; /* MINIHV_NET_RING_MAX_ENTRIES */
    uint32_t max_frame;   /* MINIHV_NET_FRAME_MAX */
    uint32_t _pad2;
};

struct minihv_hc_net_setup {
    /* IN */
    uint64_t tx_ring; /* GPA of a struct minihv_net_ring, 4096-aligned */
    uint64_t rx_ring; /* GPA of a struct minihv_net_ring, 4096-aligned, not overlapping tx */
    uint32_t entries; /* of each ring: power of two, 1..MINIHV_NET_RING_MAX_ENTRIES */
    uint32_t _pad;
};

struct minihv_hc_crash {
    /* IN */
    uint64_t msg; /* GPA of a message (not NUL-terminated) */
    uint32_t len; /* truncated to MINIHV_CRASH_MESSAGE_MAX */
    uint32_t _pad;
};

/* Starts vCPU `cpu` (1..nr_vcpus-1, once) at ring 3 with rip, rsp, rdi = arg, rsi = cpu. */
struct minihv_hc_vcpu_up {
    /* IN */
    uint32_t cpu;
    uint32_t _pad;
    uint64_t rip;
    uint64_t rsp;
    uint64_t arg;
};

/* ---- Boot (pv mode) ----
 *
 * The VMM owns guest-physical [0, MINIHV_PV_RESERVED_END): page 0 is unmapped, the boot info
 * and the shared page are readable at ring 3, the rest (GDT, IDT, TSS, page tables, ring-0 stub)
 * is supervisor-only. A pv image is an ELF64 file whose PT_LOAD segments lie in
 * [MINIHV_PV_RESERVED_END, memory size) and which carries a MINIHV_NOTE_ABI note. It is entered
 * at e_entry in 64-bit mode at ring 3 (cs 0x33, ss 0x2b), rdi = GPA of the boot info, rsp = top
 * of memory, interrupts off, all guest memory identity-mapped. */
#define MINIHV_PV_BOOT_INFO    0x1000u
#define MINIHV_PV_SHARED_PAGE  0x2000u
#define MINIHV_PV_RESERVED_END 0x100000u

/* ELF note that marks a pv image: owner "minihv", type MINIHV_NOTE_ABI, desc = uint32_t version */
#define MINIHV_NOTE_NAME "minihv"
#define MINIHV_NOTE_ABI  1u

#define MINIHV_BOOT_MAGIC 0x5648494du /* "MIHV" */

enum minihv_device_type {
    MINIHV_DEV_CONSOLE = 1,
    MINIHV_DEV_BLOCK = 2, /* size = sectors, flags = MINIHV_BLK_F_* */
    MINIHV_DEV_CLOCK = 3,
    MINIHV_DEV_POWER = 4,
    MINIHV_DEV_NET = 5, /* ABI 2: size = MAC address (48 bits, first byte lowest), flags = F_* */
};

#define MINIHV_MAX_DEVICES 8u
#define MINIHV_CMDLINE_MAX 1024u

struct minihv_device_info {
    uint32_t type;
    uint32_t flags;
    uint64_t size;
};

struct minihv_boot_info {
    uint32_t magic;       /* MINIHV_BOOT_MAGIC */
    uint32_t abi_version; /* MINIHV_ABI_VERSION */
    uint64_t mem_size;    /* bytes of guest RAM, identity-mapped from 0 */
    uint64_t cmdline;     /* GPA of the NUL-terminated command line */
    uint32_t cmdline_len; /* without the NUL */
    uint32_t nr_vcpus;
    uint64_t shared_page; /* GPA of struct minihv_shared_page */
    uint32_t ndevices;
    uint32_t _pad;
    struct minihv_device_info devices[MINIHV_MAX_DEVICES];
};

/* Read-only to the guest; the VMM updates it under a sequence count (odd while writing). Clock:
 * wall_ns = wall_ns_base + (((tsc - tsc_base) * tsc_mul) >> 32) where tsc is `rdtsc`, so
 * reading the time costs no exit. */
struct minihv_shared_page {
    uint32_t seq;
    uint32_t events; /* MINIHV_EVENT_SHUTDOWN once a shutdown was requested */
    uint64_t tsc_base;
    uint64_t wall_ns_base; /* CLOCK_REALTIME in ns at tsc_base */
    uint64_t boot_ns_base; /* ns since the domain started, at tsc_base */
    uint64_t tsc_mul;
    uint64_t tsc_khz;
};
