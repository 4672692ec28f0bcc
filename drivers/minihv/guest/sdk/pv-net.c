/* pv flavour network device: a TX and an RX ring in guest memory, one doorbell per batch. */
#include "pv.h"

#define NET_RING_ENTRIES 128u
#define NET_BUF_SIZE     2048u
#define NET_SPIN_NS      50000u /* how long net_wait watches the RX ring before POLL */

typedef union NetRing {
    struct minihv_net_ring head;
    uint8_t
        bytes[sizeof(struct minihv_net_ring) + NET_RING_ENTRIES * sizeof(struct minihv_net_desc)];
} NetRing;

static NetRing tx_ring __attribute__((aligned(4096)));
static NetRing rx_ring __attribute__((aligned(4096)));
static uint8_t tx_bufs[NET_RING_ENTRIES][NET_BUF_SIZE] __attribute__((aligned(64)));
static uint8_t rx_bufs[NET_RING_ENTRIES][NET_BUF_SIZE] __attribute__((aligned(64)));
static int net_state; /* 0 not probed, 1 up, negative: the probe's error */
static NetInfo info;
static uint32_t tx_prod, tx_flushed, rx_seen;

static void doorbell(void)
{
    __asm__ volatile("outl %0, %w1"
                     :
                     : "a"(0), "Nd"((uint16_t)MINIHV_PORT_NET_DOORBELL)
                     : "memory");
}

static void rx_post(uint32_t slot)
{
    volatile struct minihv_net_desc *d = &rx_ring.head.desc[slot % NET_RING_ENTRIES];

    d->buf = (uintptr_t)rx_bufs[slot % NET_RING_ENTRIES];
    d->len = NET_BUF_SIZE;
    d->status = 0;
}

static int net_probe(void)
{
    struct minihv_hc_net_info hi;
    struct minihv_hc_net_setup req = {
        .tx_ring = (uintptr_t)&tx_ring,
        .rx_ring = (uintptr_t)&rx_ring,
        .entries = NET_RING_ENTRIES,
    };
    int32_t r;

    r = sdk_hypercall(MINIHV_HC_NET_INFO, &hi);
    if (r < 0)
        return r;
    r = sdk_hypercall(MINIHV_HC_NET_SETUP, &req);
    if (r < 0)
        return r;
    memcpy(info.mac, hi.mac, 6);
    info.link_up = hi.flags & MINIHV_NET_F_LINK_UP;
    info.mtu = hi.mtu;
    tx_prod = tx_flushed = tx_ring.head.prod;
    rx_seen = rx_ring.head.prod;
    for (uint32_t i = 0; i < NET_RING_ENTRIES; i++)
        rx_post(rx_seen + i);
    __atomic_store_n(&rx_ring.head.prod, rx_seen + NET_RING_ENTRIES, __ATOMIC_RELEASE);
    doorbell(); /* the VMM waits for buffers since set-up */
    return 0;
}

int net_info(NetInfo *ret)
{
    if (net_state == 0)
        net_state = net_probe() < 0 ? -SDK_ENODEV : 1;
    if (net_state < 0)
        return net_state;
    *ret = info;
    return 0;
}

void *net_tx_buffer(void)
{
    /* a slot is free again once the VMM's consumer index has passed it */
    while (tx_prod - __atomic_load_n(&tx_ring.head.cons, __ATOMIC_ACQUIRE) >= NET_RING_ENTRIES) {
        net_flush();
        cpu_relax();
    }
    return tx_bufs[tx_prod % NET_RING_ENTRIES];
}

int net_tx_submit(size_t len)
{
    volatile struct minihv_net_desc *d = &tx_ring.head.desc[tx_prod % NET_RING_ENTRIES];

    if (net_state <= 0 || len > NET_FRAME_MAX || len < 14)
        return -SDK_EINVAL;
    d->buf = (uintptr_t)tx_bufs[tx_prod % NET_RING_ENTRIES];
    d->len = (uint32_t)len;
    d->status = 1;
    tx_prod++;
    __atomic_store_n(&tx_ring.head.prod, tx_prod, __ATOMIC_RELEASE);
    return 0;
}

int net_send(const void *frame, size_t len)
{
    if (net_state <= 0 || len > NET_FRAME_MAX)
        return -SDK_EINVAL;
    memcpy(net_tx_buffer(), frame, len);
    return net_tx_submit(len);
}

void net_flush(void)
{
    if (tx_flushed == tx_prod)
        return;
    tx_flushed = tx_prod;
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* prod is visible before kick is read */
    if (__atomic_load_n(&tx_ring.head.kick, __ATOMIC_RELAXED))
        doorbell();
}

static bool rx_ready(void)
{
    return net_state > 0 && rx_seen != __atomic_load_n(&rx_ring.head.cons, __ATOMIC_ACQUIRE);
}

size_t net_recv(void *buf, size_t cap)
{
    while (rx_ready()) {
        uint32_t slot = rx_seen % NET_RING_ENTRIES;
        int32_t st = rx_ring.head.desc[slot].status;
        size_t n = st > 0 ? (size_t)st : 0;

        if (n > cap)
            n = cap;
        memcpy(buf, rx_bufs[slot], n);
        rx_post(rx_seen + NET_RING_ENTRIES); /* the same buffer, one lap later */
        rx_seen++;
        __atomic_store_n(&rx_ring.head.prod, rx_seen + NET_RING_ENTRIES, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&rx_ring.head.kick, __ATOMIC_SEQ_CST))
            doorbell();
        if (n > 0)
            return n;
    }
    return 0;
}

unsigned net_wait(uint64_t timeout_ns)
{
    uint64_t until = clock_mono_ns() + (timeout_ns < NET_SPIN_NS ? timeout_ns : NET_SPIN_NS);

    net_flush();
    while (clock_mono_ns() < until) {
        if (rx_ready())
            return SYS_EVENT_NET;
        cpu_relax();
    }
    if (rx_ready())
        return SYS_EVENT_NET;
    return sys_wait(timeout_ns) | (rx_ready() ? SYS_EVENT_NET : 0);
}
