/* kvm saved state through libvirt: a domain's memory and device state written by an external,
 * memory-only snapshot (the guest stays as the save leaves it, so hvd records the image before
 * the instance ends), and a domain started from such an image by virDomainRestoreFlags once the
 * image's own definition was checked against the domain's. Disks are referenced, except that a
 * snapshot keeps a copy of a qcow2 disk beside its image (kvm-snapshot-disk.c). */
#include <fcntl.h>
#include <inttypes.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm-internal.h"
#include "kvm-xml.h"
#include "log.h"

/* The snapshot that writes the image: its memory to path, no disk touched, and nothing kept by
 * libvirt (hvd's domains are transient). A new string, or NULL when out of memory. */
static char *snapshot_xml(const char *path, const char *disk_target)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);

    if (!f)
        return NULL;
    fputs("<domainsnapshot>\n  <name>hvd-save</name>\n  <memory snapshot='external' file='", f);
    xml_escape_to(f, path);
    fputs("'/>\n", f);
    if (disk_target)
        fprintf(f, "  <disks>\n    <disk name='%s' snapshot='no'/>\n  </disks>\n", disk_target);
    fputs("</domainsnapshot>\n", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Syncs the file system that holds path (through its directory). */
static int sync_file_system_of(const char *path)
{
    _cleanup_free_ char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    int fd, r = 0;

    if (!slash)
        return -ENOMEM;
    *slash = 0;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (syncfs(fd) < 0)
        r = -errno;
    (void)close(fd);
    return r;
}

int kvm_image_sync(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int r = 0;

    if (fd < 0 && errno == EACCES)
        return sync_file_system_of(path);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        r = -errno;
    (void)close(fd);
    return r;
}

/* The end of a snapshot with a disk copy: the copy is made while the guest stays paused, and
 * the guest paused for it runs again once the copy is complete. It cannot run on while QEMU
 * copies: writing the memory image leaves the disk inactive in QEMU, and the resume that
 * activates it again fails the reads of a backup job under way (QEMU 7.2: "Bad file
 * descriptor"). A failure removes the memory image (and the copy). */
static int disk_copy_finish(KvmJob *j, virDomainPtr dom, bool suspended)
{
    int r = kvm_snapshot_disk_begin(j, dom);

    if (r >= 0)
        r = kvm_snapshot_disk_wait(j, dom);
    if (suspended && virDomainResume(dom) < 0 && r >= 0)
        r = kvm_libvirt_error(&j->error, "resuming domain", j->name);
    if (r < 0)
        (void)unlink(j->image);
    return r;
}

int kvm_save_run(KvmJob *j, virDomainPtr dom)
{
    _cleanup_free_ char *xml = snapshot_xml(j->image, j->disk_target[0] ? j->disk_target : NULL);
    virDomainSnapshotPtr snap;
    bool suspended = false;
    int state = VIR_DOMAIN_NOSTATE, reason, r;

    if (!xml)
        return error_set_errno(&j->error, -ENOMEM, "Out of memory");
    (void)unlink(j->image); /* a leftover of an earlier attempt: libvirt refuses to overwrite */
    /* A managed save leaves the guest paused: hvd ends it once the image is recorded. A snapshot
     * with a disk copy keeps it paused until the copy is made. */
    if ((j->save_pause || j->disk_path) && virDomainGetState(dom, &state, &reason, 0) == 0 &&
        state == VIR_DOMAIN_RUNNING) {
        if (virDomainSuspend(dom) < 0)
            return kvm_libvirt_error(&j->error, "pausing domain", j->name);
        suspended = true;
    }
    snap = virDomainSnapshotCreateXML(dom, xml, VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA);
    if (!snap) {
        r = kvm_libvirt_error(&j->error, "saving domain", j->name);
        if (suspended)
            (void)virDomainResume(dom); /* as it was before the save */
        return r;
    }
    (void)virDomainSnapshotFree(snap);
    if (j->disk_path) {
        r = disk_copy_finish(j, dom, suspended);
        if (r < 0)
            return r;
        suspended = false;
    }
    r = kvm_image_sync(j->image);
    if (r < 0) {
        if (suspended)
            (void)virDomainResume(dom);
        return error_set_errno(&j->error, r, "Failed to sync the image %s: %m", j->image);
    }
    return 0;
}

/* The text of element name (the first one) in xml, copied into buf; false when there is none. */
static bool element_text(const char *xml, const char *name, char *buf, size_t size)
{
    char open[64];
    const char *p, *end;

    (void)snprintf(open, sizeof(open), "<%s", name);
    for (p = strstr(xml, open); p; p = strstr(p + 1, open))
        if (p[strlen(open)] == '>' || p[strlen(open)] == ' ')
            break;
    if (!p || !(p = strchr(p, '>')) || !(end = strchr(++p, '<')) || (size_t)(end - p) >= size)
        return false;
    memcpy(buf, p, (size_t)(end - p));
    buf[end - p] = 0;
    return true;
}

/* The number that element name holds (libvirt writes memory in KiB in the images it makes). */
static bool element_number(const char *xml, const char *name, uint64_t *ret)
{
    char text[32], *end;

    if (!element_text(xml, name, text, sizeof(text)))
        return false;
    errno = 0;
    *ret = strtoull(text, &end, 10);
    return errno == 0 && end != text && *end == 0;
}

/* What the image's own definition says against c: the same domain, memory, vCPUs and mode. */
static int image_check(KvmJob *j, const char *image_xml, const KvmImageCheck *c)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    uint64_t memory_kib = 0, vcpus = 0;
    bool pv = strstr(image_xml, "<memballoon model='virtio'") != NULL;

    if (!element_text(image_xml, "uuid", uuid, sizeof(uuid)) ||
        !element_number(image_xml, "memory", &memory_kib) ||
        !element_number(image_xml, "vcpu", &vcpus))
        return error_setf(
            &j->error, ERROR_INVALID_ARGUMENT,
            "cannot restore '%s' from %s: it holds no domain definition libvirt wrote", j->name,
            j->image);
    if (strcasecmp(uuid, j->uuid) != 0)
        return error_setf(&j->error, ERROR_INVALID_ARGUMENT,
                          "cannot restore '%s' from %s: it is the image of another domain (UUID "
                          "%s)",
                          j->name, j->image, uuid);
    if (memory_kib != c->memory_mib * 1024 || vcpus != c->vcpus)
        return error_setf(&j->error, ERROR_INVALID_ARGUMENT,
                          "cannot restore '%s' from %s: the image holds %" PRIu64
                          " MiB of memory and %" PRIu64 " vCPU(s), the domain has %" PRIu64
                          " MiB and %u (start it with --fresh to boot anew)",
                          j->name, j->image, memory_kib / 1024, vcpus, c->memory_mib, c->vcpus);
    if (pv != c->pv)
        return error_setf(&j->error, ERROR_INVALID_ARGUMENT,
                          "cannot restore '%s' from %s: the image was made in %s mode, the domain "
                          "runs in %s mode (start it with --fresh to boot anew)",
                          j->name, j->image, pv ? "pv" : "full", c->pv ? "pv" : "full");
    return 0;
}

/* j->xml with the domain type of the image (a change of the kvm driver's domain-type since the
 * save would otherwise fail libvirt's ABI check). A new string, or NULL when out of memory. */
static char *xml_with_type_of(const char *xml, const char *image_xml)
{
    const char *prefix = "<domain type='", *type, *rest, *end;
    char *out = NULL;

    if (strncmp(xml, prefix, strlen(prefix)) != 0 || !(type = strstr(image_xml, prefix)) ||
        !(end = strchr(type + strlen(prefix), '\'')) ||
        !(rest = strchr(xml + strlen(prefix), '\'')))
        return strdup(xml);
    type += strlen(prefix);
    return asprintf(&out, "%s%.*s%s", prefix, (int)(end - type), type, rest) < 0 ? NULL : out;
}

virDomainPtr kvm_restore_run(KvmJob *j)
{
    _cleanup_free_ char *dxml = NULL;
    char *image_xml;
    virDomainPtr dom = NULL;
    int r;

    image_xml = virDomainSaveImageGetXMLDesc(j->conn, j->image, 0);
    if (!image_xml) {
        (void)error_setf(&j->error, ERROR_INVALID_ARGUMENT,
                         "cannot restore '%s' from %s: libvirt does not read it as a saved image "
                         "(corrupt or truncated?): %s",
                         j->name, j->image, virGetLastErrorMessage());
        return NULL;
    }
    r = image_check(j, image_xml, &j->summary);
    if (r >= 0 && !(dxml = xml_with_type_of(j->xml, image_xml)))
        r = error_set_errno(&j->error, -ENOMEM, "Out of memory");
    free(image_xml);
    if (r >= 0)
        r = kvm_snapshot_disk_restore(j); /* the disk as it was when the image was made */
    if (r < 0)
        return NULL;
    /* Running, whatever the image says: a start ends running. */
    r = virDomainRestoreFlags(j->conn, j->image, dxml, VIR_DOMAIN_SAVE_RUNNING);
    for (unsigned i = 0; r < 0 && i < KVM_START_REMOVING_RETRIES && kvm_being_removed(); i++) {
        (void)usleep(KVM_START_REMOVING_WAIT_US);
        r = virDomainRestoreFlags(j->conn, j->image, dxml, VIR_DOMAIN_SAVE_RUNNING);
    }
    if (r < 0 && (kvm_libvirt_error_is(VIR_ERR_OPERATION_INVALID) ||
                  kvm_libvirt_error_is(VIR_ERR_DOM_EXIST))) {
        /* libvirt still runs an instance of the domain: the image is not to blame. */
        (void)error_setf(&j->error, ERROR_INVALID_STATE, "cannot restore '%s' from %s: %s", j->name,
                         j->image, virGetLastErrorMessage());
        return NULL;
    }
    if (r < 0) {
        (void)error_setf(&j->error, ERROR_FAILED,
                         "cannot restore '%s' from %s (corrupt or truncated?): %s", j->name,
                         j->image, virGetLastErrorMessage());
        return NULL;
    }
    dom = virDomainLookupByUUIDString(j->conn, j->uuid);
    if (!dom)
        (void)kvm_libvirt_error(&j->error, "looking up restored domain", j->name);
    else
        j->pid = kvm_qemu_pid(kvm(j->drv)->uri, j->uuid);
    return dom;
}
