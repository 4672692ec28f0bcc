/* Saving a paused domain: the state sections, the header with its checksum, then memory. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "devices.h"
#include "disk.h"
#include "macro.h"
#include "net.h"
#include "pv.h"
#include "snapshot.h"

typedef struct StateBuffer {
    uint8_t *data;
    size_t len;
    size_t cap;
} StateBuffer;

/* Appends one section with room for size bytes (zeroed); returns the payload or NULL. */
static void *state_add(StateBuffer *b, SnapshotTag tag, uint32_t size)
{
    size_t padded = ((size_t)size + 7) & ~(size_t)7, need = sizeof(SnapshotSection) + padded;
    SnapshotSection sec = {.tag = tag, .len = size};
    uint8_t *p;

    if (b->len + need > b->cap) {
        size_t cap = MAX(b->cap * 2, b->len + need);
        uint8_t *q = realloc(b->data, cap);
        if (!q)
            return NULL;
        b->data = q;
        b->cap = cap;
    }
    p = b->data + b->len;
    memcpy(p, &sec, sizeof(sec));
    memset(p + sizeof(sec), 0, padded);
    b->len += need;
    return p + sizeof(sec);
}

#define STATE_ADD(b, tag, type) ((type *)state_add((b), (tag), sizeof(type)))

static int save_devices(Vm *vm, StateBuffer *b)
{
    SnapVm *svm = STATE_ADD(b, SNAP_TAG_VM, SnapVm);
    SnapConsole *con;

    if (!svm)
        return -ENOMEM;
    pthread_mutex_lock(&vm->lock);
    *svm = (SnapVm){
        .entry = vm->entry,
        .boot_arg = vm->boot_arg,
        .events = vm->events,
        .blk_events = vm->blk_events,
        .net_events = vm->net_events,
    };
    pthread_mutex_unlock(&vm->lock);
    con = STATE_ADD(b, SNAP_TAG_CONSOLE, SnapConsole);
    if (!con)
        return -ENOMEM;
    console_save(vm, con);
    if (vm->cfg.mode == VM_MODE_PV) {
        SnapPvBlock *blk = STATE_ADD(b, SNAP_TAG_PV_BLOCK, SnapPvBlock);
        SnapPvNet *net = vm->net ? STATE_ADD(b, SNAP_TAG_PV_NET, SnapPvNet) : NULL;

        if (!blk || (vm->net && !net))
            return -ENOMEM;
        pv_block_save(vm, blk);
        if (net)
            pv_net_save(vm, net);
        return 0;
    }
    SnapUart *uart = STATE_ADD(b, SNAP_TAG_UART, SnapUart);
    if (uart)
        uart_save(vm, uart);
    SnapRtc *rtc = uart ? STATE_ADD(b, SNAP_TAG_RTC, SnapRtc) : NULL;
    if (rtc)
        rtc_save(vm, rtc);
    SnapPower *power = rtc ? STATE_ADD(b, SNAP_TAG_POWER, SnapPower) : NULL;
    if (!power)
        return -ENOMEM;
    power_save(vm, power);
    if (vm->ata) {
        SnapAta *ata = STATE_ADD(b, SNAP_TAG_ATA, SnapAta);
        if (!ata)
            return -ENOMEM;
        ata_save(vm, ata);
    }
    if (vm->ne2000) {
        SnapNe2000 *ne = STATE_ADD(b, SNAP_TAG_NE2000, SnapNe2000);
        if (!ne)
            return -ENOMEM;
        ne2000_save(vm, ne);
    }
    return 0;
}

static int save_state(Vm *vm, StateBuffer *b, Error *e)
{
    int r;

    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        Vcpu *v = vm->vcpus[i];
        SnapVcpu *sv;

        if (v->up && !v->regs_ready)
            return error_set_errno(e, EAGAIN, "vCPU %u is starting; try again", i);
        sv = STATE_ADD(b, SNAP_TAG_VCPU, SnapVcpu);
        if (!sv)
            return error_set_errno(e, ENOMEM, "out of memory");
        r = snapshot_vcpu_save(v, sv);
        if (r < 0)
            return error_set_errno(e, r, "cannot read the state of vCPU %u: %m", i);
    }
    r = save_devices(vm, b);
    if (r < 0)
        return error_set_errno(e, r, "out of memory");
    if (b->len > SNAPSHOT_STATE_MAX)
        return error_set_errno(e, EFBIG, "the device state exceeds %u bytes", SNAPSHOT_STATE_MAX);
    return 0;
}

void snapshot_fill_header(Vm *vm, size_t state_size, SnapshotHeader *h)
{
    uint64_t state_end = SNAPSHOT_HEADER_SIZE + state_size;

    memset(h, 0, sizeof(*h));
    memcpy(h->magic, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_LEN);
    h->format_version = SNAPSHOT_FORMAT_VERSION;
    h->abi_version = MINIHV_ABI_VERSION;
    h->header_size = SNAPSHOT_HEADER_SIZE;
    h->mode = vm->cfg.mode;
    h->vcpus = vm->nr_vcpus;
    h->flags = (vm->disk ? SNAPSHOT_F_DISK : 0) | (vm->net ? SNAPSHOT_F_NET : 0);
    h->mem_size = vm->mem.size;
    h->state_offset = SNAPSHOT_HEADER_SIZE;
    h->state_size = state_size;
    h->mem_offset = (state_end + SNAPSHOT_PAGE_SIZE - 1) / SNAPSHOT_PAGE_SIZE * SNAPSHOT_PAGE_SIZE;
    h->saved_realtime_ns = now_realtime_ns();
    h->guest_boot_ns = now_mono_ns() - vm->start_mono_ns;
    h->guest_size = vm->guest_size;
    h->guest_hash = vm->guest_hash;
    if (vm->disk) {
        h->disk_sectors = vm->disk->sectors;
        (void)snprintf(h->disk_path, sizeof(h->disk_path), "%s", vm->cfg.disk_path);
    }
    if (vm->net)
        memcpy(h->mac, vm->cfg.mac, sizeof(h->mac));
    if (vm->cfg.guest_path)
        (void)snprintf(h->guest_path, sizeof(h->guest_path), "%s", vm->cfg.guest_path);
}

static int write_full(int fd, const void *p, size_t len, uint64_t offset)
{
    const uint8_t *b = p;

    while (len > 0) {
        ssize_t n = pwrite(fd, b, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        b += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

static bool page_is_zero(const uint8_t *p)
{
    static const uint8_t zero[SNAPSHOT_PAGE_SIZE];
    return memcmp(p, zero, SNAPSHOT_PAGE_SIZE) == 0;
}

/* Writes memory in runs of non-zero pages; zero pages stay holes of the sparse file. */
static int write_memory(Vm *vm, int fd, uint64_t mem_offset, uint64_t *written)
{
    uint64_t run = 0, at = 0, size = vm->mem.size;
    int r;

    for (; at <= size; at += SNAPSHOT_PAGE_SIZE) {
        bool data = at < size && !page_is_zero(vm->mem.base + at);

        if (data)
            continue;
        if (at > run) {
            r = write_full(fd, vm->mem.base + run, at - run, mem_offset + run);
            if (r < 0)
                return r;
            *written += at - run;
        }
        run = at + SNAPSHOT_PAGE_SIZE;
    }
    return 0;
}

/* A regular file open for writing at any offset, and neither the image this domain runs from
 * nor its disk. */
static int target_check(Vm *vm, int fd, Error *e)
{
    struct stat st, disk;
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fstat(fd, &st) < 0)
        return error_set_errno(e, errno, "cannot inspect the target: %m");
    if (!S_ISREG(st.st_mode))
        return error_set_errno(e, EINVAL, "the target is not a regular file");
    if ((flags & O_ACCMODE) == O_RDONLY || (flags & O_APPEND))
        return error_set_errno(e, EBADF, "the target is open read-only or for appending");
    if (vm->restored_from_image && st.st_dev == vm->image_dev && st.st_ino == vm->image_ino)
        return error_set_errno(e, EBUSY,
                               "the target is the image this domain runs from; save elsewhere");
    if (vm->disk && fstat(vm->disk->fd, &disk) == 0 && st.st_dev == disk.st_dev &&
        st.st_ino == disk.st_ino)
        return error_set_errno(e, EBUSY, "the target is the domain's disk");
    return 0;
}

int snapshot_state_image(Vm *vm, uint8_t **ret, size_t *ret_len, Error *e)
{
    StateBuffer b = {0};
    SnapshotHeader *h;
    uint8_t *image;
    uint64_t sum;
    int r;

    r = save_state(vm, &b, e);
    if (r < 0) {
        free(b.data);
        return r;
    }
    image = calloc(1, SNAPSHOT_HEADER_SIZE + b.len);
    if (!image) {
        free(b.data);
        return error_set_errno(e, ENOMEM, "out of memory");
    }
    memcpy(image + SNAPSHOT_HEADER_SIZE, b.data, b.len);
    free(b.data);
    h = (SnapshotHeader *)image;
    snapshot_fill_header(vm, b.len, h);
    sum = snapshot_fnv1a(SNAPSHOT_FNV_OFFSET, image, SNAPSHOT_HEADER_SIZE);
    h->checksum = snapshot_fnv1a(sum, image + SNAPSHOT_HEADER_SIZE, b.len);
    *ret = image;
    *ret_len = SNAPSHOT_HEADER_SIZE + b.len;
    return 0;
}

int snapshot_save(Vm *vm, int fd, SnapshotSaveInfo *info, Error *e)
{
    _cleanup_free_ uint8_t *image = NULL;
    uint64_t t0 = now_mono_ns();
    const SnapshotHeader *h;
    size_t len;
    int r;

    *info = (SnapshotSaveInfo){0};
    r = target_check(vm, fd, e);
    if (r < 0)
        return r;
    r = snapshot_state_image(vm, &image, &len, e);
    if (r < 0)
        return r;
    h = (const SnapshotHeader *)image;
    info->file_size = h->mem_offset + h->mem_size;
    if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)info->file_size) < 0)
        return error_set_errno(e, errno, "cannot size the image: %m");
    r = write_full(fd, image, len, 0);
    info->written_bytes = len;
    if (r >= 0)
        r = write_memory(vm, fd, h->mem_offset, &info->written_bytes);
    if (r >= 0 && fdatasync(fd) < 0)
        r = -errno;
    if (r < 0)
        return error_set_errno(e, r, "cannot write the image: %m");
    info->duration_ns = now_mono_ns() - t0;
    return 0;
}
