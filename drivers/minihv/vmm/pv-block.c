/* pv block device: the request ring in guest memory, processed on doorbell or kick. */
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "macro.h"
#include "pv.h"

_Static_assert(sizeof(struct minihv_blk_desc) == 40, "descriptor layout");
_Static_assert(sizeof(struct minihv_blk_ring) == 64, "ring header layout");

struct PvBlock {
    pthread_mutex_t lock; /* one processor at a time: vCPU kicks and the main loop's doorbell */
    bool ring_set;
    bool broken;
    uint64_t ring_gpa;
    uint32_t entries;
    uint32_t req_cons; /* private: never read back from the guest */
};

int pv_block_init(Vm *vm, Error *e)
{
    PvBlock *b = calloc(1, sizeof(*b));

    if (!b)
        return error_set_errno(e, ENOMEM, "out of memory");
    pthread_mutex_init(&b->lock, NULL);
    vm->pvblk = b;
    return 0;
}

void pv_block_fini(Vm *vm)
{
    if (!vm->pvblk)
        return;
    pthread_mutex_destroy(&vm->pvblk->lock);
    vm->pvblk = mfree(vm->pvblk);
}

static uint64_t ring_bytes(uint32_t entries)
{
    return sizeof(struct minihv_blk_ring) + (uint64_t)entries * sizeof(struct minihv_blk_desc);
}

int32_t pv_block_setup(Vm *vm, uint64_t ring, uint32_t entries)
{
    PvBlock *b = vm->pvblk;
    struct minihv_blk_ring *r;
    uint32_t prod;

    if (!vm->disk || !b)
        return MINIHV_ENODEV;
    if (entries == 0 || entries > MINIHV_BLK_RING_MAX_ENTRIES || (entries & (entries - 1)))
        return MINIHV_EINVAL;
    if (ring % 4096)
        return MINIHV_EINVAL;
    r = gmem_ptr(&vm->mem, ring, ring_bytes(entries));
    if (!r)
        return MINIHV_EFAULT;
    pthread_mutex_lock(&b->lock);
    prod = __atomic_load_n(&r->req_prod, __ATOMIC_ACQUIRE);
    b->ring_gpa = ring;
    b->entries = entries;
    b->req_cons = prod; /* requests published before set-up are not ours */
    b->broken = false;
    b->ring_set = true;
    __atomic_store_n(&r->error, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&r->rsp_prod, prod, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&b->lock);
    return MINIHV_OK;
}

static bool blk_status_is_malformed(int32_t s)
{
    return s == MINIHV_EINVAL || s == MINIHV_EFAULT || s == MINIHV_ERANGE;
}

/* Performs one descriptor that the caller already copied out of guest memory. */
static int32_t pv_block_do(Vm *vm, const struct minihv_blk_desc *d)
{
    Disk *disk = vm->disk;
    uint64_t bytes;
    void *buf;
    int r;

    if (d->op == MINIHV_BLK_OP_FLUSH) {
        pthread_mutex_lock(&disk->lock);
        r = disk_flush(disk);
        pthread_mutex_unlock(&disk->lock);
        return r < 0 ? MINIHV_EIO : MINIHV_OK;
    }
    if (d->op != MINIHV_BLK_OP_READ && d->op != MINIHV_BLK_OP_WRITE)
        return MINIHV_EINVAL;
    if (d->nsectors == 0 || d->nsectors > MINIHV_BLK_MAX_SECTORS)
        return MINIHV_EINVAL;
    if (!disk_range_ok(disk, d->sector, d->nsectors))
        return MINIHV_ERANGE;
    bytes = (uint64_t)d->nsectors * MINIHV_BLK_SECTOR_SIZE;
    buf = gmem_ptr(&vm->mem, d->buf, bytes);
    if (!buf)
        return MINIHV_EFAULT;
    if (d->op == MINIHV_BLK_OP_WRITE && disk->read_only)
        return MINIHV_EROFS;
    pthread_mutex_lock(&disk->lock);
    if (d->op == MINIHV_BLK_OP_READ) {
        r = disk_read(disk, d->sector, d->nsectors, buf);
        gmem_mark_written(&vm->mem, d->buf, bytes);
    } else
        r = disk_write(disk, d->sector, d->nsectors, buf);
    pthread_mutex_unlock(&disk->lock);
    if (r < 0)
        return MINIHV_EIO;
    stats_add(d->op == MINIHV_BLK_OP_READ ? &vm->stats->blk_read_sectors
                                          : &vm->stats->blk_write_sectors,
              d->nsectors);
    return MINIHV_OK;
}

void pv_block_process(Vm *vm)
{
    PvBlock *b = vm->pvblk;
    struct minihv_blk_ring *r;
    uint32_t prod, done = 0;

    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    if (!b->ring_set || b->broken) {
        pthread_mutex_unlock(&b->lock);
        return;
    }
    r = gmem_ptr(&vm->mem, b->ring_gpa, ring_bytes(b->entries)); /* checked at set-up */
    prod = __atomic_load_n(&r->req_prod, __ATOMIC_ACQUIRE);      /* read once */
    if (prod - b->req_cons > b->entries) {
        /* more requests than slots: the guest's producer index is garbage */
        b->broken = true;
        __atomic_store_n(&r->error, MINIHV_EINVAL, __ATOMIC_RELEASE);
        gmem_mark_written(&vm->mem, b->ring_gpa, sizeof(*r));
        stats_add(&vm->stats->bad_guest_requests, 1);
        pthread_mutex_unlock(&b->lock);
        vm_notify(vm);
        return;
    }
    while (b->req_cons != prod) {
        struct minihv_blk_desc *slot = &r->desc[b->req_cons & (b->entries - 1)];
        struct minihv_blk_desc d;
        int32_t status;

        memcpy(&d, slot, sizeof(d)); /* copy first: the guest may rewrite the slot meanwhile */
        status = pv_block_do(vm, &d);
        if (blk_status_is_malformed(status))
            stats_add(&vm->stats->bad_guest_requests, 1);
        __atomic_store_n(&slot->status, status, __ATOMIC_RELAXED);
        b->req_cons++;
        done++;
    }
    __atomic_store_n(&r->rsp_prod, b->req_cons, __ATOMIC_RELEASE);
    gmem_mark_written(&vm->mem, b->ring_gpa, ring_bytes(b->entries));
    pthread_mutex_unlock(&b->lock);
    if (done) {
        pthread_mutex_lock(&vm->lock);
        vm->blk_events |= MINIHV_EVENT_BLK;
        pthread_cond_broadcast(&vm->cond);
        pthread_mutex_unlock(&vm->lock);
    }
}

void pv_block_save(Vm *vm, SnapPvBlock *out)
{
    PvBlock *b = vm->pvblk;

    pthread_mutex_lock(&b->lock);
    *out = (SnapPvBlock){
        .ring_set = b->ring_set,
        .broken = b->broken,
        .entries = b->entries,
        .req_cons = b->req_cons,
        .ring_gpa = b->ring_gpa,
    };
    pthread_mutex_unlock(&b->lock);
}

int pv_block_load(Vm *vm, const SnapPvBlock *in)
{
    PvBlock *b = vm->pvblk;

    if (in->ring_set) {
        /* the same checks as BLK_SETUP: the ring is dereferenced later without them */
        if (!vm->disk || in->entries == 0 || in->entries > MINIHV_BLK_RING_MAX_ENTRIES ||
            (in->entries & (in->entries - 1)) || in->ring_gpa % 4096 ||
            !gmem_ptr(&vm->mem, in->ring_gpa, ring_bytes(in->entries)))
            return -EINVAL;
    }
    pthread_mutex_lock(&b->lock);
    b->ring_set = in->ring_set;
    b->broken = in->broken;
    b->entries = in->ring_set ? in->entries : 0;
    b->req_cons = in->req_cons;
    b->ring_gpa = in->ring_set ? in->ring_gpa : 0;
    pthread_mutex_unlock(&b->lock);
    return 0;
}
