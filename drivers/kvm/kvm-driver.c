/* kvm driver: the operations hvd's manager calls. None of them waits on libvirtd: whatever
 * talks to it runs on worker threads (kvm-jobs.c), and questions are answered from what the
 * driver knows (kvm-cache.c). */
#include <libvirt/virterror.h>
#include <string.h>
#include <sys/stat.h>

#include "kvm-driver.h"
#include "kvm-event-loop.h"
#include "kvm-internal.h"
#include "kvm-xml.h"
#include "log.h"

/* How long stopping hvd waits for libvirt calls in flight (a hung libvirtd answers none). */
#define CLOSE_WAIT_MS 3000u

static void silence_libvirt(void *userdata, virErrorPtr error)
{
    /* Errors are read with virGetLastErrorMessage() where they are handled. */
}

static int kvm_open(Driver *drv, Error *e)
{
    KvmDriver *k;
    int r;

    r = kvm_event_loop_register(drv->ctx.event);
    if (r == -EBUSY)
        return error_set_errno(e, r, "libvirt's event loop is bound to another loop");
    if (r < 0)
        return error_set_errno(e, r, "Failed to set up libvirt's event loop: %m");
    if (virInitialize() < 0)
        return error_setf(e, ERROR_FAILED, "libvirt failed to initialise: %s",
                          virGetLastErrorMessage());
    virSetErrorFunc(NULL, silence_libvirt);

    k = calloc(1, sizeof(*k));
    if (!k)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    k->lost_fd = -EBADF;
    drv->data = k;
    k->busy = hashmap_new();
    k->consoles = hashmap_new();
    k->domains = hashmap_new();
    k->reboots = hashmap_new();
    k->saved = hashmap_new();
    if (!k->busy || !k->consoles || !k->domains || !k->reboots || !k->saved)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    k->uri = strdup(kvm_settings(drv)->uri);
    if (!k->uri)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    /* libvirt's test driver runs inside hvd: no other process to wait for, so its calls are made
     * on the loop (after the operation that queued them) instead of handed to a thread. */
    r = work_queue_new(drv->ctx.event,
                       kvm_uri_is_in_process(k->uri) ? 0 : kvm_settings(drv)->workers, &k->jobs);
    if (r < 0)
        return error_set_errno(e, r, "Failed to start libvirt worker threads: %m");
    r = kvm_connection_init(drv);
    if (r < 0)
        return error_set_errno(e, r, "Failed to set up the libvirt connection watch: %m");
    if (asprintf(&k->console_dir, "%s/consoles", drv->ctx.state_dir) < 0) {
        k->console_dir = NULL;
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    if (mkdir(k->console_dir, 0750) < 0 && errno != EEXIST)
        return error_set_errno(e, -errno, "Failed to create %s: %m", k->console_dir);
    r = kvm_graphics_init(drv, e);
    if (r < 0)
        return r;
    kvm_connection_start(drv);
    return 0;
}

static bool kvm_close(Driver *drv)
{
    KvmDriver *k = kvm(drv);

    if (!k)
        return true;
    if (!work_queue_stop(k->jobs, CLOSE_WAIT_MS)) {
        log_warning("libvirt did not answer within %u ms; stopping with its calls unfinished.",
                    CLOSE_WAIT_MS);
        return false;
    }
    k->jobs = work_queue_free(k->jobs, kvm_job_cancel);
    kvm_connection_done(drv);
    kvm_cache_done(drv);
    kvm_reboots_done(drv);
    hashmap_free(k->busy);     /* empty: every job was done or cancelled */
    hashmap_free(k->consoles); /* empty: closed with the connection */
    hashmap_free(k->domains);
    hashmap_free(k->saved);
    free(k->console_dir);
    free(k->uri);
    free(k);
    drv->data = NULL;
    return true;
}

static int check_path(const char *key, const char *path, Error *e)
{
    if (path && path[0] != '/')
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'%s' must be an absolute path for the kvm driver (libvirtd opens it), "
                          "got \"%.64s\"",
                          key, path);
    return 0;
}

static int kvm_validate(Driver *drv, const DomainConfig *c, Error *e)
{
    const struct {
        const char *key;
        const char *value;
    } texts[] = {
        {"kernel", c->kernel},   {"initrd", c->initrd},   {"disk", c->disk},
        {"cmdline", c->cmdline}, {"network", c->network},
    };
    int r;

    for (size_t i = 0; i < ELEMENTSOF(texts); i++)
        if (texts[i].value && !kvm_xml_text_is_valid(texts[i].value))
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "'%s' contains characters that libvirt's domain XML cannot carry",
                              texts[i].key);
    if (c->initrd && !c->kernel)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'initrd' needs 'kernel': an initial ramdisk is booted with a kernel");
    r = check_path("kernel", c->kernel, e);
    if (r >= 0)
        r = check_path("initrd", c->initrd, e);
    if (r >= 0)
        r = check_path("disk", c->disk, e);
    if (r < 0)
        return r;
    return kvm_graphics_validate(drv, c, e);
}

/* The serial console's log is <uuid>.log, the virtio console's <uuid>.hvc0.log. */
static int console_log_path(Driver *drv, const DomainConfig *c, ConsoleDevice device, char **ret)
{
    return asprintf(ret, "%s/%s%s.log", kvm(drv)->console_dir, c->uuid,
                    device == CONSOLE_VIRTIO ? ".hvc0" : "") < 0
               ? -ENOMEM
               : 0;
}

/* The console flags name: the virtio console only for pv domains, which have one. */
static int console_device(const DomainConfig *c, unsigned flags, ConsoleDevice *ret, Error *e)
{
    *ret = flags & DRIVER_CONSOLE_VIRTIO ? CONSOLE_VIRTIO : CONSOLE_SERIAL;
    if (*ret == CONSOLE_VIRTIO && c->mode != MODE_PV)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "domain '%s' runs in full mode: it has a serial console (ttyS0) and no "
                          "virtio console (hvc0)",
                          c->name);
    return 0;
}

int kvm_domain_xml(Driver *drv, const DomainConfig *c, char **ret)
{
    _cleanup_free_ char *log = NULL, *virtio_log = NULL, *vnc_socket = NULL;
    KvmXmlOptions o = {.domain_type = kvm_domain_type(drv)};
    int r;

    r = console_log_path(drv, c, CONSOLE_SERIAL, &log);
    if (r >= 0)
        r = console_log_path(drv, c, CONSOLE_VIRTIO, &virtio_log);
    if (r < 0)
        return r;
    /* Without its socket directory (QEMU's user cannot reach it, say) the domain starts with no
     * display, as before hvd gave kvm domains one: its display then says why. */
    if (kvm_graphics_prepare(drv, c, &vnc_socket) >= 0)
        o.vnc_socket = vnc_socket;
    o.console_log = log;
    o.virtio_log = virtio_log;
    return kvm_xml_build(c, &o, ret);
}

static int kvm_start(Driver *drv, const DomainConfig *c, DomainRuntime *rt, unsigned flags,
                     Error *e)
{
    char *xml = NULL;
    int r;

    r = kvm_domain_xml(drv, c, &xml);
    if (r < 0)
        return error_set_errno(e, r, "Out of memory");
    rt->pid = 0; /* QEMU's process comes with the start's completion */
    kvm_saved_forget(drv, c->name);
    return kvm_job_submit(drv, c, ACTION_START, xml, e);
}

/* A managed save or a snapshot, on a worker (kvm-save.c). */
static int kvm_save(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, const char *path,
                    unsigned flags, Error *e)
{
    if (kvm_uri_is_in_process(kvm(drv)->uri))
        return error_setf(e, ERROR_FAILED,
                          "the kvm driver cannot save a domain's state on libvirt's test driver "
                          "(%s): it writes no images",
                          kvm(drv)->uri);
    if (path[0] != '/')
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "the image path must be absolute for libvirtd, got %s", path);
    return kvm_job_submit_save(drv, c, path, flags, e);
}

/* A start from a saved image, checked on the worker before libvirt restores it. */
static int kvm_start_image(Driver *drv, const DomainConfig *c, DomainRuntime *rt, const char *path,
                           unsigned flags, Error *e)
{
    char *xml = NULL;
    int r;

    r = kvm_domain_xml(drv, c, &xml);
    if (r < 0)
        return error_set_errno(e, r, "Out of memory");
    rt->pid = 0;
    kvm_saved_forget(drv, c->name);
    return kvm_job_submit_restore(drv, c, xml, path, e);
}

static int kvm_shutdown(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                        Error *e)
{
    return kvm_job_submit(drv, c, ACTION_SHUTDOWN, NULL, e);
}

static int kvm_destroy(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                       Error *e)
{
    return kvm_job_submit(drv, c, ACTION_DESTROY, NULL, e);
}

static int kvm_pause(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                     Error *e)
{
    return kvm_job_submit(drv, c, ACTION_PAUSE, NULL, e);
}

static int kvm_resume(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                      Error *e)
{
    return kvm_job_submit(drv, c, ACTION_RESUME, NULL, e);
}

static int kvm_reboot(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                      unsigned timeout_s, unsigned flags, Error *e)
{
    char *xml = NULL;
    int r;

    if (!kvm(drv)->conn)
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the kvm driver is not connected");
    r = kvm_domain_xml(drv, c, &xml);
    if (r < 0)
        return error_set_errno(e, r, "Out of memory");
    return kvm_reboot_request(drv, c, timeout_s, flags & DRIVER_REBOOT_FORCE, xml, e);
}

/* A client of the domain's console. A console not followed yet (taken by another session, or
 * hvd could not open it) is opened on a worker, taking it over as `virsh console --force` does;
 * the client's socket is handed over at once and bridged when the console is there. */
static int kvm_console_open(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                            int *ret_fd, unsigned flags, Error *e)
{
    KvmDomain *d = kvm_domain_find(drv, c->uuid);
    ConsoleDevice device;
    int r;

    r = console_device(c, flags, &device, e);
    if (r < 0)
        return r;
    if (!d || !domain_state_is_active(d->state))
        return error_setf(e, ERROR_INVALID_STATE, "libvirt does not run domain '%s'", c->name);
    r = kvm_console_follow(drv, c->name, c->uuid, device, true, e);
    if (r < 0)
        return r;
    return kvm_console_connect(drv, c->name, device, ret_fd, e);
}

static int kvm_console_log(Driver *drv, const DomainConfig *c, unsigned flags, char **ret_path,
                           Error *e)
{
    ConsoleDevice device;
    int r = console_device(c, flags, &device, e);

    if (r < 0)
        return r;
    r = console_log_path(drv, c, device, ret_path);
    return r < 0 ? error_set_errno(e, r, "Out of memory") : 0;
}

/* Answers from the connect job's inventory as events kept it since; the console of a running
 * domain is followed again (opened on a worker). */
static int kvm_reattach(Driver *drv, const DomainConfig *c, DomainRuntime *rt,
                        DomainState *ret_state, DomainReason *ret_reason, unsigned flags, Error *e)
{
    KvmDomain *d = kvm_domain_find(drv, c->uuid);
    Error follow_error = ERROR_NULL;

    if (!d) {
        (void)error_setf(e, ERROR_FAILED, "libvirt does not know it");
        return 0;
    }
    *ret_state = d->state;
    *ret_reason = d->reason;
    if (d->state == STATE_SHUTOFF) {
        (void)error_setf(e, ERROR_FAILED, "libvirt reports it shut off (%s)",
                         domain_reason_to_string(d->reason));
        return 0;
    }
    if (kvm_console_follow(drv, c->name, c->uuid, CONSOLE_SERIAL, false, &follow_error) < 0)
        log_debug("kvm: not following the console of %s: %s", c->name, follow_error.message);
    return 1;
}

/* On a worker: the domain is deleted meanwhile (a failure is only worth a debug line). */
static int kvm_undefine(Driver *drv, const DomainConfig *c, unsigned flags, Error *e)
{
    kvm_graphics_forget(drv, c);
    return kvm_job_submit_undefine(drv, c, e);
}

static int kvm_set_resources(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                             unsigned flags, Error *e)
{
    return kvm_job_submit_resources(drv, c, e);
}

const DriverOps kvm_driver_ops = {
    .name = "kvm",
    .kind = DRIVER_KVM,
    .settings_parse = kvm_settings_parse,
    .settings_free = kvm_settings_free,
    .settings_print = kvm_settings_print,
    .open = kvm_open,
    .close = kvm_close,
    .validate = kvm_validate,
    .start = kvm_start,
    .shutdown = kvm_shutdown,
    .destroy = kvm_destroy,
    .pause = kvm_pause,
    .resume = kvm_resume,
    .reboot = kvm_reboot,
    .get_info = kvm_get_info,
    .console_open = kvm_console_open,
    .console_log = kvm_console_log,
    .get_stats = kvm_get_stats,
    .refresh_stats = kvm_refresh_stats,
    .reattach = kvm_reattach,
    .undefine = kvm_undefine,
    .set_resources = kvm_set_resources,
    .host_info = kvm_host_info,
    .graphics_open = kvm_graphics_open,
    .save = kvm_save,
    .start_image = kvm_start_image,
    .images_per_domain = true,
    .clone_disk = kvm_clone_disk,
    .migrate_send = kvm_migrate_send,
    .migrate_cancel = kvm_migrate_cancel,
    .start_incoming = kvm_start_incoming,
    .migrate_target = kvm_migrate_target,
};

const DriverOps *hvd_kvm_driver(unsigned abi)
{
    return abi == DRIVER_ABI ? &kvm_driver_ops : NULL;
}
