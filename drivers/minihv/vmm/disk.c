/* Disk backend: a regular file accessed with pread/pwrite in 512-byte sectors. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk.h"
#include "macro.h"

/* Wraps an open fd (taken over on success) in a Disk of its size in whole sectors. */
static int disk_new_fd(int fd, bool read_only, Disk **ret)
{
    struct stat st;
    Disk *d;

    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return -EINVAL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->fd = fd;
    d->read_only = read_only;
    if (S_ISBLK(st.st_mode)) {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end < 0) {
            free(d);
            return -errno;
        }
        d->sectors = (uint64_t)end / DISK_SECTOR_SIZE;
    } else
        d->sectors = (uint64_t)st.st_size / DISK_SECTOR_SIZE;
    pthread_mutex_init(&d->lock, NULL);
    *ret = d;
    return 0;
}

static Disk *disk_free(Disk *d)
{
    if (!d)
        return NULL;
    d->fd = safe_close(d->fd);
    pthread_mutex_destroy(&d->lock);
    return mfree(d);
}

int disk_init(Vm *vm, Error *e)
{
    const char *path = vm->cfg.disk_path;
    bool read_only = false;
    int fd, r;

    if (!path)
        return 0;
    fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
        read_only = true;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    }
    if (fd < 0)
        return error_set_errno(e, errno, "cannot open disk %s: %m", path);
    r = disk_new_fd(fd, read_only, &vm->disk);
    if (r < 0) {
        (void)close(fd);
        if (r == -EINVAL)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "disk %s is neither a regular file nor a block device", path);
        return error_set_errno(e, r, "cannot use disk %s: %m", path);
    }
    return 0;
}

void disk_fini(Vm *vm)
{
    vm->disk = disk_free(vm->disk);
}

bool disk_range_ok(const Disk *d, uint64_t sector, uint64_t n)
{
    uint64_t end;

    return !__builtin_add_overflow(sector, n, &end) && end <= d->sectors;
}

int disk_read(Disk *d, uint64_t sector, uint32_t n, void *buf)
{
    size_t len = (size_t)n * DISK_SECTOR_SIZE, done = 0;
    off_t off = (off_t)(sector * DISK_SECTOR_SIZE);

    while (done < len) {
        ssize_t k = pread(d->fd, (uint8_t *)buf + done, len - done, off + (off_t)done);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -EIO; /* the file shrank under us */
        done += (size_t)k;
    }
    return 0;
}

int disk_write(Disk *d, uint64_t sector, uint32_t n, const void *buf)
{
    size_t len = (size_t)n * DISK_SECTOR_SIZE, done = 0;
    off_t off = (off_t)(sector * DISK_SECTOR_SIZE);

    if (d->read_only)
        return -EROFS;
    while (done < len) {
        ssize_t k = pwrite(d->fd, (const uint8_t *)buf + done, len - done, off + (off_t)done);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -EIO;
        done += (size_t)k;
    }
    return 0;
}

int disk_flush(Disk *d)
{
    if (d->read_only)
        return 0;
    return fdatasync(d->fd) < 0 ? -errno : 0;
}
