/* Guest memory: one anonymous mapping, reached only through overflow-checked accessors. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

/* Guest-physical memory [0, size) backed by host memory at base. Guest-supplied buffers must
 * lie in [owned_start, size): in pv mode the VMM owns everything below owned_start (boot
 * structures, page tables), so a guest can never make the VMM write there. */
typedef struct GuestMem {
    uint8_t *base;
    uint64_t size;
    uint64_t owned_start;
    /* While a migration runs: one bit per page the VMM itself wrote (KVM's dirty log sees only
     * the guest's writes), set atomically by any thread; NULL otherwise. */
    uint64_t *vmm_written;
} GuestMem;

/* Records that the VMM wrote [gpa, gpa + len) (clamped to memory), for a running migration.
 * Thread-safe; a no-op when no migration tracks writes. */
static inline void gmem_mark_written(const GuestMem *gm, uint64_t gpa, uint64_t len)
{
    uint64_t *bits = __atomic_load_n(&gm->vmm_written, __ATOMIC_ACQUIRE);
    uint64_t end;

    if (!bits || len == 0 || gpa >= gm->size)
        return;
    if (__builtin_add_overflow(gpa, len, &end) || end > gm->size)
        end = gm->size;
    for (uint64_t page = gpa / 4096; page <= (end - 1) / 4096; page++)
        __atomic_fetch_or(&bits[page / 64], 1ull << (page % 64), __ATOMIC_RELAXED);
}

/* Whether [gpa, gpa + len) lies in guest-owned memory, computed without overflow. len 0 is
 * accepted at any gpa <= size. */
static inline bool gmem_range_ok(const GuestMem *gm, uint64_t gpa, uint64_t len)
{
    uint64_t end;

    if (__builtin_add_overflow(gpa, len, &end))
        return false;
    return gpa >= gm->owned_start && end <= gm->size;
}

/* Host pointer for a checked guest range, or NULL when the range is not guest-owned. The
 * pointer is valid for len bytes; the guest may change the bytes at any time, so callers copy
 * what they validate (gmem_read) instead of reading twice. */
static inline void *gmem_ptr(const GuestMem *gm, uint64_t gpa, uint64_t len)
{
    if (!gmem_range_ok(gm, gpa, len))
        return NULL;
    return gm->base + gpa;
}

/* Copies len bytes from guest-owned memory at gpa to dst. Returns 0 or -EFAULT. */
static inline int gmem_read(const GuestMem *gm, uint64_t gpa, void *dst, uint64_t len)
{
    void *p = gmem_ptr(gm, gpa, len);

    if (!p)
        return -EFAULT;
    memcpy(dst, p, len);
    return 0;
}

/* Copies len bytes from src to guest-owned memory at gpa. Returns 0 or -EFAULT. */
static inline int gmem_write(const GuestMem *gm, uint64_t gpa, const void *src, uint64_t len)
{
    void *p = gmem_ptr(gm, gpa, len);

    if (!p)
        return -EFAULT;
    memcpy(p, src, len);
    gmem_mark_written(gm, gpa, len);
    return 0;
}

/* Host pointer for VMM-owned structures anywhere in [0, size) (boot info, page tables), for the
 * VMM's own use only; NULL when out of range. */
static inline void *gmem_vmm_ptr(const GuestMem *gm, uint64_t gpa, uint64_t len)
{
    uint64_t end;

    if (__builtin_add_overflow(gpa, len, &end) || end > gm->size)
        return NULL;
    return gm->base + gpa;
}
