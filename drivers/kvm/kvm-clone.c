/* The disk of a kvm clone: a qcow2 overlay whose backing file is the original's disk, made by
 * qemu-img on a worker (the original is then read, never written, by the clone). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm-internal.h"
#include "kvm-xml.h"

static int sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        r = -errno;
    (void)close(fd);
    return r;
}

/* Syncs path and the directory that holds it, so the clone recorded next finds its disk after
 * a crash. Returns 0 or a negative errno. */
static int sync_file_and_dir(const char *path)
{
    _cleanup_free_ char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    int r;

    if (!slash)
        return -ENOMEM;
    *slash = 0;
    r = sync_path(path);
    return r < 0 ? r : sync_path(dir);
}

void kvm_clone_disk_run(KvmJob *j)
{
    char *format = (char *)kvm_disk_format(j->clone_backing);
    char *argv[] = {"qemu-img",       "create", "-q",   "-f",     "qcow2", "-b",
                    j->clone_backing, "-F",     format, j->image, NULL};
    int r;

    if (access(j->clone_backing, R_OK) < 0) {
        (void)error_set_errno(&j->error, -errno, "the disk %s of '%s' cannot be read: %m",
                              j->clone_backing, j->name);
        return;
    }
    if (kvm_qemu_img(argv, &j->error) < 0) {
        (void)unlink(j->image);
        return;
    }
    r = sync_file_and_dir(j->image);
    if (r < 0) {
        (void)error_set_errno(&j->error, r, "Failed to sync %s: %m", j->image);
        (void)unlink(j->image);
    }
}

void kvm_clone_disk_done(KvmJob *j)
{
    j->clone_done(j->clone_userdata, error_is_set(&j->error) ? &j->error : NULL);
}

int kvm_clone_disk(Driver *drv, const DomainConfig *c, const char *path, DriverCloneDone done,
                   void *userdata, Error *e)
{
    KvmJob *j;
    int r;

    if (!c->disk)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "domain '%s' has no disk to clone", c->name);
    if (path[0] != '/')
        return error_setf(e, ERROR_INVALID_ARGUMENT, "the clone's disk must be an absolute path");
    j = kvm_job_new(drv, KVM_JOB_CLONE_DISK);
    if (!j || !(j->image = strdup(path)) || !(j->clone_backing = strdup(c->disk))) {
        kvm_job_cancel(j);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    (void)snprintf(j->name, sizeof(j->name), "%s", c->name);
    (void)snprintf(j->uuid, sizeof(j->uuid), "%s", c->uuid);
    j->clone_done = done;
    j->clone_userdata = userdata;
    /* Under the original's key: behind whatever else is queued for it. */
    r = kvm_job_queue(j, c->uuid);
    return r < 0 ? error_set_errno(e, r, "Failed to queue the making of a clone's disk: %m") : 0;
}
