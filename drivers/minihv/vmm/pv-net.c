/* pv network device: the TX and RX rings in guest memory, served by the network thread. */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "net.h"
#include "pv.h"

_Static_assert(sizeof(struct minihv_net_desc) == 16, "net descriptor layout");
_Static_assert(sizeof(struct minihv_net_ring) == 64, "net ring header layout");
_Static_assert(sizeof(struct minihv_hc_net_info) == 28, "net info layout");
_Static_assert(sizeof(struct minihv_hc_net_setup) == 24, "net setup layout");

typedef struct PvNetRing {
    uint64_t gpa;
    uint32_t cons; /* private: never read back from the guest */
    bool broken;
} PvNetRing;

typedef struct PvNet {
    pthread_mutex_t lock; /* NET_SETUP on a vCPU thread against the network thread */
    bool set;
    uint32_t entries;
    PvNetRing tx, rx;
} PvNet;

static uint64_t ring_bytes(uint32_t entries)
{
    return sizeof(struct minihv_net_ring) + (uint64_t)entries * sizeof(struct minihv_net_desc);
}

static struct minihv_net_ring *ring_ptr(Vm *vm, PvNet *p, const PvNetRing *ring)
{
    return gmem_ptr(&vm->mem, ring->gpa, ring_bytes(p->entries)); /* checked at set-up */
}

static void count_bad(Vm *vm)
{
    stats_add(&vm->stats->net_bad_descriptors, 1);
    stats_add(&vm->stats->bad_guest_requests, 1);
}

/* Marks a ring whose producer index ran more than a ring ahead. */
static void ring_break(Vm *vm, PvNetRing *ring, struct minihv_net_ring *r)
{
    ring->broken = true;
    __atomic_store_n(&r->error, MINIHV_EINVAL, __ATOMIC_RELEASE);
    gmem_mark_written(&vm->mem, ring->gpa, sizeof(*r));
    count_bad(vm);
}

/* Checks a descriptor the caller copied out of guest memory; returns its host buffer or NULL
 * with *status set. */
static void *desc_buffer(Vm *vm, const struct minihv_net_desc *d, int32_t *status)
{
    void *buf;

    if (d->len < MINIHV_NET_FRAME_MIN || d->len > MINIHV_NET_FRAME_MAX) {
        *status = MINIHV_EINVAL;
        return NULL;
    }
    buf = gmem_ptr(&vm->mem, d->buf, d->len);
    if (!buf)
        *status = MINIHV_EFAULT;
    return buf;
}

static void pv_net_tx(Net *net)
{
    Vm *vm = net->vm;
    PvNet *p = net->frontend;
    struct minihv_net_ring *r;
    uint32_t prod;

    pthread_mutex_lock(&p->lock);
    /* paused, the rings stay as a save or a migration copies them (resuming wakes us) */
    if (!p->set || p->tx.broken || vm_is_paused(vm))
        goto out;
    r = ring_ptr(vm, p, &p->tx);
    prod = __atomic_load_n(&r->prod, __ATOMIC_ACQUIRE); /* read once */
    if (prod - p->tx.cons > p->entries) {
        ring_break(vm, &p->tx, r);
        goto out;
    }
    for (;;) {
        while (p->tx.cons != prod) {
            struct minihv_net_desc *slot = &r->desc[p->tx.cons & (p->entries - 1)];
            struct minihv_net_desc d;
            int32_t status = MINIHV_OK;
            void *buf;

            memcpy(&d, slot, sizeof(d)); /* copy first: the guest may rewrite the slot */
            buf = desc_buffer(vm, &d, &status);
            if (!buf)
                count_bad(vm);
            else if (net_send(net, &(struct iovec){buf, d.len}, 1, d.len) < 0)
                status = MINIHV_EIO;
            __atomic_store_n(&slot->status, status, __ATOMIC_RELAXED);
            p->tx.cons++;
            if ((p->tx.cons & 15) == 0) /* hand slots back while the batch goes out */
                __atomic_store_n(&r->cons, p->tx.cons, __ATOMIC_RELEASE);
        }
        __atomic_store_n(&r->cons, p->tx.cons, __ATOMIC_RELEASE);
        /* idle from here on unless more came: ask for a doorbell, then look once more */
        __atomic_store_n(&r->kick, 1, __ATOMIC_SEQ_CST);
        prod = __atomic_load_n(&r->prod, __ATOMIC_SEQ_CST);
        if (prod == p->tx.cons)
            break;
        __atomic_store_n(&r->kick, 0, __ATOMIC_RELAXED);
        if (prod - p->tx.cons > p->entries) {
            ring_break(vm, &p->tx, r);
            break;
        }
    }
out:
    if (p->set)
        gmem_mark_written(&vm->mem, p->tx.gpa, ring_bytes(p->entries));
    pthread_mutex_unlock(&p->lock);
}

/* Whether a posted buffer waits; when none does, asks for a doorbell and looks once more, so a
 * buffer posted meanwhile is not missed. */
static bool rx_has_buffer(struct minihv_net_ring *r, uint32_t cons, uint32_t *prod)
{
    *prod = __atomic_load_n(&r->prod, __ATOMIC_ACQUIRE);
    if (*prod != cons) {
        if (__atomic_load_n(&r->kick, __ATOMIC_RELAXED))
            __atomic_store_n(&r->kick, 0, __ATOMIC_RELAXED);
        return true;
    }
    __atomic_store_n(&r->kick, 1, __ATOMIC_SEQ_CST);
    *prod = __atomic_load_n(&r->prod, __ATOMIC_SEQ_CST);
    if (*prod == cons)
        return false;
    __atomic_store_n(&r->kick, 0, __ATOMIC_RELAXED);
    return true;
}

static bool pv_net_rx(Net *net)
{
    Vm *vm = net->vm;
    PvNet *p = net->frontend;
    struct minihv_net_ring *r;
    unsigned delivered = 0;
    bool keep_watching = true;
    uint32_t prod;

    pthread_mutex_lock(&p->lock);
    if (p->set && vm_is_paused(vm)) {
        keep_watching = false; /* frames wait on the tap; resuming wakes us */
        goto out;
    }
    if (!p->set || p->rx.broken) {
        while (net_drop_one(net)) /* no ring: the frames have nowhere to go */
            ;
        goto out;
    }
    r = ring_ptr(vm, p, &p->rx);
    for (;;) {
        struct minihv_net_desc *slot;
        struct minihv_net_desc d;
        int32_t status = MINIHV_OK;
        struct iovec iov[2];
        ssize_t n;
        void *buf;

        if (!rx_has_buffer(r, p->rx.cons, &prod)) {
            keep_watching = false; /* frames stay queued on the tap until the doorbell */
            break;
        }
        if (prod - p->rx.cons > p->entries) {
            ring_break(vm, &p->rx, r);
            break;
        }
        slot = &r->desc[p->rx.cons & (p->entries - 1)];
        memcpy(&d, slot, sizeof(d));
        buf = desc_buffer(vm, &d, &status);
        if (buf) {
            /* the second vector catches frames longer than the buffer, so they can be told */
            iov[0] = (struct iovec){buf, d.len};
            iov[1] = (struct iovec){net->scratch, sizeof(net->scratch)};
            n = readv(net->tap_fd, iov, 2);
            if (n <= 0)
                break; /* the tap is empty */
            if ((size_t)n > d.len) {
                stats_add(&vm->stats->net_rx_dropped, 1); /* the buffer is kept for the next */
                continue;
            }
            status = (int32_t)n;
            gmem_mark_written(&vm->mem, d.buf, (uint64_t)n);
            stats_add(&vm->stats->net_rx_frames, 1);
            stats_add(&vm->stats->net_rx_bytes, (uint64_t)n);
            delivered++;
        } else
            count_bad(vm);
        __atomic_store_n(&slot->status, status, __ATOMIC_RELAXED);
        p->rx.cons++;
        __atomic_store_n(&r->cons, p->rx.cons, __ATOMIC_RELEASE);
    }
out:
    if (p->set)
        gmem_mark_written(&vm->mem, p->rx.gpa, ring_bytes(p->entries));
    pthread_mutex_unlock(&p->lock);
    if (delivered)
        net_signal_rx(vm);
    return keep_watching;
}

static const NetFrontendOps pv_net_ops = {
    .rx = pv_net_rx,
    .tx = pv_net_tx,
};

int pv_net_init(Vm *vm, Error *e)
{
    PvNet *p = calloc(1, sizeof(*p));

    if (!p)
        return error_set_errno(e, ENOMEM, "out of memory");
    pthread_mutex_init(&p->lock, NULL);
    vm->net->ops = &pv_net_ops;
    vm->net->frontend = p;
    return 0;
}

void pv_net_fini(Vm *vm)
{
    PvNet *p;

    if (!vm->net || vm->net->ops != &pv_net_ops)
        return;
    p = vm->net->frontend;
    pthread_mutex_destroy(&p->lock);
    vm->net->frontend = mfree(p);
}

static bool ranges_overlap(uint64_t a, uint64_t b, uint64_t len)
{
    return a < b + len && b < a + len; /* both ranges were checked against guest memory */
}

int32_t pv_net_setup(Vm *vm, uint64_t tx, uint64_t rx, uint32_t entries)
{
    struct minihv_net_ring *tr, *rr;
    PvNet *p;

    if (!vm->net || vm->net->ops != &pv_net_ops)
        return MINIHV_ENODEV;
    p = vm->net->frontend;
    if (entries == 0 || entries > MINIHV_NET_RING_MAX_ENTRIES || (entries & (entries - 1)))
        return MINIHV_EINVAL;
    if (tx % 4096 || rx % 4096)
        return MINIHV_EINVAL;
    tr = gmem_ptr(&vm->mem, tx, ring_bytes(entries));
    rr = gmem_ptr(&vm->mem, rx, ring_bytes(entries));
    if (!tr || !rr)
        return MINIHV_EFAULT;
    if (ranges_overlap(tx, rx, ring_bytes(entries)))
        return MINIHV_EINVAL;
    pthread_mutex_lock(&p->lock);
    p->entries = entries;
    /* frames and buffers published before set-up are not ours */
    p->tx = (PvNetRing){.gpa = tx, .cons = __atomic_load_n(&tr->prod, __ATOMIC_ACQUIRE)};
    p->rx = (PvNetRing){.gpa = rx, .cons = __atomic_load_n(&rr->prod, __ATOMIC_ACQUIRE)};
    p->set = true;
    __atomic_store_n(&tr->error, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&rr->error, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&tr->kick, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&rr->kick, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&tr->cons, p->tx.cons, __ATOMIC_RELEASE);
    __atomic_store_n(&rr->cons, p->rx.cons, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&p->lock);
    net_wake(vm->net);
    return MINIHV_OK;
}

static SnapPvNetRing ring_save(const PvNetRing *r)
{
    return (SnapPvNetRing){.gpa = r->gpa, .cons = r->cons, .broken = r->broken};
}

void pv_net_save(Vm *vm, SnapPvNet *out)
{
    PvNet *p = vm->net->frontend;

    pthread_mutex_lock(&p->lock);
    *out = (SnapPvNet){
        .set = p->set,
        .entries = p->entries,
        .tx = ring_save(&p->tx),
        .rx = ring_save(&p->rx),
    };
    pthread_mutex_unlock(&p->lock);
}

int pv_net_load(Vm *vm, const SnapPvNet *in)
{
    PvNet *p;

    if (!vm->net || vm->net->ops != &pv_net_ops)
        return -EINVAL;
    p = vm->net->frontend;
    if (in->set) {
        /* the same checks as NET_SETUP: the rings are dereferenced later without them */
        if (in->entries == 0 || in->entries > MINIHV_NET_RING_MAX_ENTRIES ||
            (in->entries & (in->entries - 1)) || in->tx.gpa % 4096 || in->rx.gpa % 4096 ||
            !gmem_ptr(&vm->mem, in->tx.gpa, ring_bytes(in->entries)) ||
            !gmem_ptr(&vm->mem, in->rx.gpa, ring_bytes(in->entries)) ||
            ranges_overlap(in->tx.gpa, in->rx.gpa, ring_bytes(in->entries)))
            return -EINVAL;
    }
    pthread_mutex_lock(&p->lock);
    p->set = in->set;
    p->entries = in->set ? in->entries : 0;
    p->tx = (PvNetRing){.gpa = in->tx.gpa, .cons = in->tx.cons, .broken = in->tx.broken};
    p->rx = (PvNetRing){.gpa = in->rx.gpa, .cons = in->rx.cons, .broken = in->rx.broken};
    pthread_mutex_unlock(&p->lock);
    net_wake(vm->net);
    return 0;
}
