/* Restoring a domain: memory mapped copy-on-write from the image, then vCPU and device state. */
#include <string.h>
#include <sys/mman.h>

#include "console.h"
#include "devices.h"
#include "disk.h"
#include "macro.h"
#include "net.h"
#include "pv.h"
#include "snapshot.h"
#include "vcpu.h"

int snapshot_map_memory(Vm *vm, const Snapshot *s, Error *e)
{
    const SnapshotHeader *h = &s->header;
    void *at = vm->mem.base;
    void *p;

    /* A warm-pool VM has its memory already, of this size and known to KVM: the image goes
     * over it at the same address, and KVM's memory slot follows. */
    if (at && vm->mem.size != h->mem_size)
        return error_set_errno(e, EINVAL, "the image holds %llu MiB of memory, the VM %llu",
                               (unsigned long long)(h->mem_size >> 20),
                               (unsigned long long)(vm->mem.size >> 20));
    /* MAP_PRIVATE: pages are read from the image when first touched and copied when first
     * written, so restoring costs no time per byte and domains restored from one image share
     * every page they have not written. The image itself never changes. */
    p = mmap(at, h->mem_size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_NORESERVE | (at ? MAP_FIXED : 0), s->fd, (off_t)h->mem_offset);
    if (p == MAP_FAILED)
        return error_set_errno(e, errno, "cannot map the saved memory: %m");
    (void)madvise(p, h->mem_size, MADV_DONTDUMP);
    vm->mem = (GuestMem){
        .base = p,
        .size = h->mem_size,
        .owned_start = h->mode == VM_MODE_PV ? MINIHV_PV_RESERVED_END : 0,
    };
    return 0;
}

/* The MAC in the pv boot info follows --mac, so a clone that reads it again sees its own. */
static void restore_boot_info_mac(Vm *vm)
{
    struct minihv_boot_info *bi = gmem_vmm_ptr(&vm->mem, MINIHV_PV_BOOT_INFO, sizeof(*bi));
    uint64_t mac = 0;

    for (unsigned i = 0; i < 6; i++)
        mac |= (uint64_t)vm->cfg.mac[i] << (8 * i);
    for (unsigned i = 0; bi && i < bi->ndevices && i < MINIHV_MAX_DEVICES; i++)
        if (bi->devices[i].type == MINIHV_DEV_NET && bi->devices[i].size != mac)
            bi->devices[i].size = mac;
}

static int restore_devices(Vm *vm, const Snapshot *s)
{
    int r = console_load(vm, s->console);

    if (r >= 0 && vm->cfg.mode == VM_MODE_PV) {
        r = pv_block_load(vm, s->pv_block);
        if (r >= 0 && s->pv_net)
            r = pv_net_load(vm, s->pv_net);
        return r;
    }
    if (r >= 0)
        r = uart_load(vm, s->uart);
    if (r >= 0)
        r = rtc_load(vm, s->rtc);
    if (r >= 0)
        r = power_load(vm, s->power);
    if (r >= 0 && s->ata)
        r = ata_load(vm, s->ata);
    if (r >= 0 && s->ne2000)
        r = ne2000_load(vm, s->ne2000);
    return r;
}

int snapshot_restore(Vm *vm, const Snapshot *s, Error *e)
{
    const SnapshotHeader *h = &s->header;
    int r;

    if ((h->flags & SNAPSHOT_F_DISK) && vm->disk->sectors != h->disk_sectors)
        return error_set_errno(e, EINVAL, "disk %s has %llu sectors, the saved domain's had %llu",
                               vm->cfg.disk_path, (unsigned long long)vm->disk->sectors,
                               (unsigned long long)h->disk_sectors);
    vm->entry = s->vm->entry;
    vm->boot_arg = s->vm->boot_arg;
    vm->events = s->vm->events & MINIHV_EVENT_SHUTDOWN;
    vm->blk_events = s->vm->blk_events & MINIHV_EVENT_BLK;
    vm->net_events = s->vm->net_events & MINIHV_EVENT_NET;
    vm->guest_size = h->guest_size;
    vm->guest_hash = h->guest_hash;
    vm->image_dev = s->dev;
    vm->image_ino = s->ino;
    vm->restored_from_image = true;
    r = restore_devices(vm, s);
    if (r < 0)
        return error_set_errno(e, r, "impossible device state");
    vm->vcpus_up = 0;
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        Vcpu *v = vm->vcpus[i];

        v->up = s->vcpus[i]->up;
        v->regs_ready = v->up;
        vm->vcpus_up += v->up;
        if (v->fd < 0)
            continue;
        r = snapshot_vcpu_load(v, s->vcpus[i]);
        if (r < 0)
            return error_set_errno(e, r, "cannot load the state of vCPU %u: %m", i);
    }
    /* Guest monotonic time continues from the save point (the time spent saved is not seen);
     * the wall clock is the host's. Unsigned arithmetic wraps correctly when the saved guest
     * uptime exceeds the host's. */
    vm->start_mono_ns = now_mono_ns() - h->guest_boot_ns;
    if (vm->cfg.mode == VM_MODE_PV) {
        if (vm->net)
            restore_boot_info_mac(vm);
        pv_shared_update(vm);
    }
    return 0;
}
