/* Reading a saved image: header and state checks, section index, settings for the restore. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "snapshot.h"

typedef struct SectionKind {
    uint32_t size;
    size_t offset; /* of the pointer in Snapshot */
} SectionKind;

static const SectionKind section_kinds[_SNAP_TAG_MAX] = {
    [SNAP_TAG_VM] = {sizeof(SnapVm), offsetof(Snapshot, vm)},
    [SNAP_TAG_VCPU] = {sizeof(SnapVcpu), 0},
    [SNAP_TAG_CONSOLE] = {sizeof(SnapConsole), offsetof(Snapshot, console)},
    [SNAP_TAG_UART] = {sizeof(SnapUart), offsetof(Snapshot, uart)},
    [SNAP_TAG_ATA] = {sizeof(SnapAta), offsetof(Snapshot, ata)},
    [SNAP_TAG_RTC] = {sizeof(SnapRtc), offsetof(Snapshot, rtc)},
    [SNAP_TAG_POWER] = {sizeof(SnapPower), offsetof(Snapshot, power)},
    [SNAP_TAG_PV_BLOCK] = {sizeof(SnapPvBlock), offsetof(Snapshot, pv_block)},
    [SNAP_TAG_PV_NET] = {sizeof(SnapPvNet), offsetof(Snapshot, pv_net)},
    [SNAP_TAG_NE2000] = {sizeof(SnapNe2000), offsetof(Snapshot, ne2000)},
};

static const void **section_slot(Snapshot *s, uint32_t tag)
{
    return (const void **)((uint8_t *)s + section_kinds[tag].offset);
}

/* Whether a domain with this header has (true) or lacks (false) the section tag. */
static bool section_expected(const SnapshotHeader *h, uint32_t tag)
{
    bool pv = h->mode == VM_MODE_PV, disk = h->flags & SNAPSHOT_F_DISK,
         net = h->flags & SNAPSHOT_F_NET;

    switch (tag) {
    case SNAP_TAG_UART:
    case SNAP_TAG_RTC:
    case SNAP_TAG_POWER:
        return !pv;
    case SNAP_TAG_ATA:
        return !pv && disk;
    case SNAP_TAG_NE2000:
        return !pv && net;
    case SNAP_TAG_PV_BLOCK:
        return pv;
    case SNAP_TAG_PV_NET:
        return pv && net;
    default:
        return true;
    }
}

static bool string_terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

int snapshot_check_header(const SnapshotHeader *h, size_t len, uint64_t file_size, Error *e)
{
    uint64_t state_end, mem_end;

    if (memcmp(h->magic, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_LEN) != 0)
        return error_set_errno(e, EINVAL, "not a minihv saved image (bad magic)");
    if (h->format_version != SNAPSHOT_FORMAT_VERSION)
        return error_set_errno(e, EINVAL, "image format version %u, this minihv reads version %u",
                               h->format_version, SNAPSHOT_FORMAT_VERSION);
    if (h->abi_version != MINIHV_ABI_VERSION)
        return error_set_errno(e, EINVAL,
                               "the image was saved with guest ABI %u, this minihv speaks ABI %u",
                               h->abi_version, MINIHV_ABI_VERSION);
    if (h->header_size != SNAPSHOT_HEADER_SIZE)
        return error_set_errno(e, EINVAL, "bad header size %u", h->header_size);
    if (h->mode >= _VM_MODE_MAX || h->vcpus == 0 || h->vcpus > VM_MAX_VCPUS ||
        (h->mode == VM_MODE_FULL && h->vcpus != 1))
        return error_set_errno(e, EINVAL, "impossible settings: mode %u with %u vCPUs", h->mode,
                               h->vcpus);
    if (h->mem_size % (1u << 20) || h->mem_size < (uint64_t)VM_MIN_MEMORY_MIB << 20 ||
        h->mem_size > (uint64_t)VM_MAX_MEMORY_MIB << 20)
        return error_set_errno(e, EINVAL, "impossible memory size %llu bytes",
                               (unsigned long long)h->mem_size);
    if (h->flags & ~(SNAPSHOT_F_DISK | SNAPSHOT_F_NET))
        return error_set_errno(e, EINVAL, "unknown flags 0x%x", h->flags);
    if (!string_terminated(h->guest_path, sizeof(h->guest_path)) ||
        !string_terminated(h->disk_path, sizeof(h->disk_path)) ||
        ((h->flags & SNAPSHOT_F_DISK) && h->disk_path[0] != '/'))
        return error_set_errno(e, EINVAL, "bad guest or disk path in the header");
    if (h->state_offset != SNAPSHOT_HEADER_SIZE || h->state_size > SNAPSHOT_STATE_MAX)
        return error_set_errno(e, EINVAL, "bad state area (offset %llu, %llu bytes)",
                               (unsigned long long)h->state_offset,
                               (unsigned long long)h->state_size);
    state_end = h->state_offset + h->state_size; /* both bounded above: no overflow */
    if (h->mem_offset % SNAPSHOT_PAGE_SIZE || h->mem_offset < state_end ||
        __builtin_add_overflow(h->mem_offset, h->mem_size, &mem_end))
        return error_set_errno(e, EINVAL, "bad memory offset %llu",
                               (unsigned long long)h->mem_offset);
    if (len < state_end || file_size < mem_end)
        return error_set_errno(e, EINVAL,
                               "truncated: the file has %llu bytes, the image needs %llu",
                               (unsigned long long)file_size, (unsigned long long)mem_end);
    return 0;
}

static int parse_sections(Snapshot *s, Error *e)
{
    const SnapshotHeader *h = &s->header;
    unsigned nvcpus = 0;
    uint64_t at = 0;

    while (at < h->state_size) {
        SnapshotSection sec;
        uint64_t padded;

        if (h->state_size - at < sizeof(sec))
            return error_set_errno(e, EINVAL, "truncated state section header");
        memcpy(&sec, s->state + at, sizeof(sec));
        at += sizeof(sec);
        if (sec.tag == 0 || sec.tag >= _SNAP_TAG_MAX)
            return error_set_errno(e, EINVAL, "unknown state section %u", sec.tag);
        if (sec.len != section_kinds[sec.tag].size)
            return error_set_errno(e, EINVAL, "state section %u has %u bytes, expected %u", sec.tag,
                                   sec.len, section_kinds[sec.tag].size);
        padded = ((uint64_t)sec.len + 7) & ~7ull;
        if (h->state_size - at < padded)
            return error_set_errno(e, EINVAL, "truncated state section %u", sec.tag);
        if (!section_expected(h, sec.tag))
            return error_set_errno(e, EINVAL, "state section %u does not fit the settings",
                                   sec.tag);
        if (sec.tag == SNAP_TAG_VCPU) {
            const SnapVcpu *v = (const SnapVcpu *)(s->state + at);
            if (nvcpus >= h->vcpus || snapshot_vcpu_check(v, nvcpus) < 0)
                return error_set_errno(e, EINVAL, "bad state of vCPU %u", nvcpus);
            s->vcpus[nvcpus++] = v;
        } else {
            const void **slot = section_slot(s, sec.tag);
            if (*slot)
                return error_set_errno(e, EINVAL, "state section %u appears twice", sec.tag);
            *slot = s->state + at;
        }
        at += padded;
    }
    if (nvcpus != h->vcpus)
        return error_set_errno(e, EINVAL, "state of %u vCPUs for %u", nvcpus, h->vcpus);
    for (uint32_t tag = 1; tag < _SNAP_TAG_MAX; tag++)
        if (tag != SNAP_TAG_VCPU && section_expected(h, tag) && !*section_slot(s, tag))
            return error_set_errno(e, EINVAL, "state section %u is missing", tag);
    if (!s->vcpus[0]->up)
        return error_set_errno(e, EINVAL, "vCPU 0 was not running");
    return 0;
}

int snapshot_parse(const uint8_t *buf, size_t len, uint64_t file_size, Snapshot **ret, Error *e)
{
    _cleanup_free_ Snapshot *s = NULL;
    SnapshotHeader h;
    uint64_t sum, saved_sum;
    int r;

    if (len < SNAPSHOT_HEADER_SIZE || file_size < SNAPSHOT_HEADER_SIZE)
        return error_set_errno(e, EINVAL, "truncated: shorter than the %u-byte header",
                               SNAPSHOT_HEADER_SIZE);
    memcpy(&h, buf, sizeof(h));
    r = snapshot_check_header(&h, len, file_size, e);
    if (r < 0)
        return r;
    saved_sum = h.checksum;
    h.checksum = 0;
    sum = snapshot_fnv1a(SNAPSHOT_FNV_OFFSET, &h, sizeof(h));
    sum = snapshot_fnv1a(sum, buf + sizeof(h), SNAPSHOT_HEADER_SIZE - sizeof(h));
    sum = snapshot_fnv1a(sum, buf + h.state_offset, h.state_size);
    if (sum != saved_sum)
        return error_set_errno(e, EINVAL, "checksum mismatch: the header or state is corrupt");
    h.checksum = saved_sum;

    s = calloc(1, sizeof(*s));
    if (!s)
        return error_set_errno(e, ENOMEM, "out of memory");
    s->fd = -EBADF;
    s->header = h;
    s->state = malloc(h.state_size ? h.state_size : 1);
    if (!s->state)
        return error_set_errno(e, ENOMEM, "out of memory");
    memcpy(s->state, buf + h.state_offset, h.state_size);
    r = parse_sections(s, e);
    if (r < 0) {
        free(s->state);
        return r;
    }
    *ret = TAKE_PTR(s);
    return 0;
}

static int read_full(int fd, uint8_t *buf, size_t len, uint64_t offset)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (int)(done == len);
}

int snapshot_open(const char *path, Snapshot **ret, Error *e)
{
    _cleanup_free_ uint8_t *buf = NULL;
    _cleanup_close_ int fd = -EBADF;
    SnapshotHeader h;
    Snapshot *s;
    struct stat st;
    size_t len;
    int r;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return error_set_errno(e, errno, "cannot open: %m");
    if (fstat(fd, &st) < 0)
        return error_set_errno(e, errno, "cannot stat: %m");
    if (!S_ISREG(st.st_mode))
        return error_set_errno(e, EINVAL, "not a regular file");
    /* the header says how much state follows; parse checks it again on the whole */
    r = read_full(fd, (uint8_t *)&h, sizeof(h), 0);
    if (r < 0)
        return error_set_errno(e, -r, "cannot read: %m");
    len = SNAPSHOT_HEADER_SIZE;
    if (r > 0 && h.state_offset == SNAPSHOT_HEADER_SIZE && h.state_size <= SNAPSHOT_STATE_MAX)
        len += (size_t)h.state_size;
    if ((uint64_t)st.st_size < len)
        len = (size_t)st.st_size;
    buf = malloc(len ? len : 1);
    if (!buf)
        return error_set_errno(e, ENOMEM, "out of memory");
    r = read_full(fd, buf, len, 0);
    if (r < 0)
        return error_set_errno(e, -r, "cannot read: %m");
    r = snapshot_parse(buf, r > 0 ? len : 0, (uint64_t)st.st_size, &s, e);
    if (r < 0)
        return r;
    s->fd = TAKE_FD(fd);
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    *ret = s;
    return 0;
}

Snapshot *snapshot_free(Snapshot *s)
{
    if (!s)
        return NULL;
    safe_close(s->fd);
    free(s->state);
    return mfree(s);
}

int snapshot_apply_config(const Snapshot *s, VmConfig *cfg, unsigned given, bool mac_given,
                          Error *e)
{
    const SnapshotHeader *h = &s->header;

    if ((given & SNAPSHOT_GIVEN_MODE) && cfg->mode != (VmMode)h->mode)
        return error_set_errno(e, EINVAL, "the image is of a %s-mode domain, not %s",
                               vm_mode_to_string((VmMode)h->mode), vm_mode_to_string(cfg->mode));
    if ((given & SNAPSHOT_GIVEN_MEMORY) && cfg->mem_size != h->mem_size)
        return error_set_errno(e, EINVAL, "the image holds %llu MiB of memory, not %llu",
                               (unsigned long long)(h->mem_size >> 20),
                               (unsigned long long)(cfg->mem_size >> 20));
    if ((given & SNAPSHOT_GIVEN_VCPUS) && cfg->vcpus != h->vcpus)
        return error_set_errno(e, EINVAL, "the image holds %u vCPUs, not %u", h->vcpus, cfg->vcpus);
    if (!(h->flags & SNAPSHOT_F_DISK) && cfg->disk_path)
        return error_set_errno(e, EINVAL, "the saved domain had no disk: --disk is not allowed");
    if ((h->flags & SNAPSHOT_F_NET) && cfg->net_fd < 0)
        return error_set_errno(e, EINVAL, "the saved domain had a network device: give --net-fd");
    if (!(h->flags & SNAPSHOT_F_NET) && cfg->net_fd >= 0)
        return error_set_errno(e, EINVAL, "the saved domain had no network device");
    cfg->mode = (VmMode)h->mode;
    cfg->mem_size = h->mem_size;
    cfg->vcpus = h->vcpus;
    cfg->guest_path = h->guest_path;
    if ((h->flags & SNAPSHOT_F_DISK) && !cfg->disk_path)
        cfg->disk_path = h->disk_path;
    if ((h->flags & SNAPSHOT_F_NET) && !mac_given)
        memcpy(cfg->mac, h->mac, sizeof(cfg->mac));
    cfg->restore = s;
    return 0;
}
