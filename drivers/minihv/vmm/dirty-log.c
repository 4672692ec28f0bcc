/* KVM's dirty page log over guest memory: start logging, then collect and clear counts. */
#include <stdlib.h>
#include <sys/ioctl.h>

#include "dirty-log.h"

#define DIRTY_PAGE_SIZE 4096u

static uint64_t dirty_bitmap_words(const Vm *vm)
{
    uint64_t pages = vm->mem.size / DIRTY_PAGE_SIZE;
    return (pages + 63) / 64;
}

static int dirty_log_set_slot(Vm *vm, uint32_t flags)
{
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .flags = flags,
        .guest_phys_addr = 0,
        .memory_size = vm->mem.size,
        .userspace_addr = (uint64_t)(uintptr_t)vm->mem.base,
    };

    return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0 ? -errno : 0;
}

int dirty_log_start(Vm *vm)
{
    uint64_t *bitmap;
    int r;

    if (vm->dirty_bitmap)
        return -EALREADY;
    if (vm->vm_fd < 0)
        return -EBADF;
    bitmap = calloc(dirty_bitmap_words(vm), sizeof(uint64_t));
    if (!bitmap)
        return -ENOMEM;
    r = dirty_log_set_slot(vm, KVM_MEM_LOG_DIRTY_PAGES);
    if (r < 0) {
        free(bitmap);
        return r;
    }
    vm->dirty_bitmap = bitmap;
    return 0;
}

int dirty_log_collect(Vm *vm, uint64_t *dirty)
{
    struct kvm_dirty_log log = {.slot = 0, .dirty_bitmap = vm->dirty_bitmap};
    uint64_t words = dirty_bitmap_words(vm), n = 0;

    if (!vm->dirty_bitmap)
        return -ENOTCONN;
    if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
        return -errno;
    for (uint64_t i = 0; i < words; i++)
        n += (uint64_t)__builtin_popcountll(vm->dirty_bitmap[i]);
    *dirty = n;
    return 0;
}

int dirty_log_stop(Vm *vm)
{
    int r;

    if (!vm->dirty_bitmap)
        return -ENOTCONN;
    r = dirty_log_set_slot(vm, 0);
    if (r < 0)
        return r;
    free(vm->dirty_bitmap);
    vm->dirty_bitmap = NULL;
    return 0;
}
