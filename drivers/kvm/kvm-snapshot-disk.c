/* A kvm snapshot's copy of its qcow2 disk: a push-mode backup job (virDomainBackupBegin) run
 * while the guest is paused after its memory image was written, so both hold the same moment,
 * waited for on the worker; and the copy written back over the disk (qemu-img convert) before
 * a revert restores the memory image. */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kvm-internal.h"
#include "kvm-xml.h"

/* How often the worker asks libvirt whether the backup job has ended. */
#define BACKUP_POLL_US 20000u

static char *disk_copy_path(const KvmJob *j)
{
    char *p = NULL;

    return asprintf(&p, "%s%s", j->image, DRIVER_IMAGE_DISK_SUFFIX) < 0 ? NULL : p;
}

/* The backup of disk target into a new qcow2 file at path. A new string, or NULL. */
static char *backup_xml(const char *target, const char *path)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);

    if (!f)
        return NULL;
    fprintf(f,
            "<domainbackup mode='push'>\n  <disks>\n    <disk name='%s' backup='yes' "
            "type='file'>\n      <driver type='qcow2'/>\n      <target file='",
            target);
    xml_escape_to(f, path);
    fputs("'/>\n    </disk>\n  </disks>\n</domainbackup>\n", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int kvm_snapshot_disk_begin(KvmJob *j, virDomainPtr dom)
{
    _cleanup_free_ char *copy = disk_copy_path(j);
    _cleanup_free_ char *xml = copy ? backup_xml(j->disk_target, copy) : NULL;

    if (!xml)
        return error_set_errno(&j->error, -ENOMEM, "Out of memory");
    (void)unlink(copy); /* a leftover of an earlier attempt */
    if (virDomainBackupBegin(dom, xml, NULL, 0) < 0) {
        int r = error_setf(&j->error, ERROR_FAILED,
                           "snapshot of '%s' failed: copying its disk %s to %s could not start: %s",
                           j->name, j->disk_path, copy, virGetLastErrorMessage());
        (void)unlink(copy);
        return r;
    }
    return 0;
}

/* Why the backup job that just ended failed, from its completed statistics: NULL when it
 * completed, else a message (static or libvirt's, copied into buf). */
static const char *backup_failure(virDomainPtr dom, char *buf, size_t size)
{
    virTypedParameterPtr params = NULL;
    const char *msg = NULL;
    int type = VIR_DOMAIN_JOB_NONE, n = 0, operation = 0;

    if (virDomainGetJobStats(dom, &type, &params, &n, VIR_DOMAIN_JOB_STATS_COMPLETED) < 0) {
        (void)snprintf(buf, size, "%s", virGetLastErrorMessage());
        return buf;
    }
    (void)virTypedParamsGetInt(params, n, VIR_DOMAIN_JOB_OPERATION, &operation);
    if (type == VIR_DOMAIN_JOB_COMPLETED && operation == VIR_DOMAIN_JOB_OPERATION_BACKUP) {
        virTypedParamsFree(params, n);
        return NULL;
    }
    if (virTypedParamsGetString(params, n, VIR_DOMAIN_JOB_ERRMSG, &msg) <= 0 || !msg)
        msg = type == VIR_DOMAIN_JOB_FAILED      ? "the backup job failed"
              : type == VIR_DOMAIN_JOB_CANCELLED ? "the backup job was cancelled"
                                                 : "libvirt kept no word of how it ended";
    (void)snprintf(buf, size, "%s", msg);
    virTypedParamsFree(params, n);
    return buf;
}

int kvm_snapshot_disk_wait(KvmJob *j, virDomainPtr dom)
{
    _cleanup_free_ char *copy = disk_copy_path(j);
    char why[256];
    const char *failure = NULL;
    int r;

    if (!copy) {
        (void)virDomainAbortJob(dom);
        return error_set_errno(&j->error, -ENOMEM, "Out of memory");
    }
    for (;;) {
        virDomainJobInfo info;

        if (virDomainGetJobInfo(dom, &info) < 0) {
            (void)snprintf(why, sizeof(why), "%s", virGetLastErrorMessage());
            failure = why;
            break;
        }
        if (info.type == VIR_DOMAIN_JOB_NONE) {
            failure = backup_failure(dom, why, sizeof(why));
            break;
        }
        (void)usleep(BACKUP_POLL_US);
    }
    if (!failure && (r = kvm_image_sync(copy)) < 0) {
        (void)snprintf(why, sizeof(why), "syncing it: %s", strerror(-r));
        failure = why;
    }
    if (failure) {
        (void)unlink(copy);
        return error_setf(&j->error, ERROR_FAILED,
                          "snapshot of '%s' failed: copying its disk %s to %s: %s", j->name,
                          j->disk_path, copy, failure);
    }
    return 0;
}

/* Writes the qcow2 image copy over the existing disk (in place: its file, owner and backing file
 * stay), with qemu-img convert -n. */
static int write_back(const char *copy, const char *disk, Error *e)
{
    char *argv[] = {
        "qemu-img",   "convert",    "-n", "-f", "qcow2", "-O", (char *)kvm_disk_format(disk),
        (char *)copy, (char *)disk, NULL};

    return kvm_qemu_img(argv, e);
}

int kvm_snapshot_disk_restore(KvmJob *j)
{
    _cleanup_free_ char *copy = disk_copy_path(j);
    Error e = ERROR_NULL;

    if (!copy)
        return error_set_errno(&j->error, -ENOMEM, "Out of memory");
    if (access(copy, F_OK) < 0) {
        if (errno == ENOENT)
            return 0; /* the image references the disk (a managed save, a raw disk) */
        return error_set_errno(&j->error, -errno, "cannot restore '%s' from %s: %s: %m", j->name,
                               j->image, copy);
    }
    if (!j->disk_path)
        return error_setf(&j->error, ERROR_INVALID_ARGUMENT,
                          "cannot restore '%s' from %s: it holds a copy of a disk and the domain "
                          "has no disk now",
                          j->name, j->image);
    if (write_back(copy, j->disk_path, &e) < 0)
        return error_setf(&j->error, ERROR_FAILED,
                          "cannot restore '%s' from %s: writing its disk copy back over %s "
                          "failed: %s",
                          j->name, j->image, j->disk_path, e.message);
    return 0;
}
