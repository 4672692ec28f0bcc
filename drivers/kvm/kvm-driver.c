/* kvm driver: the operations hvd's manager calls. Lifecycle operations run on worker threads
 * (kvm-jobs.c); what runs here, on the loop, is a quick question to libvirtd. */
#include <fcntl.h>
#include <libvirt/virterror.h>
#include <string.h>
#include <sys/stat.h>

#include "kvm-driver.h"
#include "kvm-event-loop.h"
#include "kvm-internal.h"
#include "kvm-state.h"
#include "kvm-xml.h"
#include "log.h"

static void silence_libvirt(void *userdata, virErrorPtr error)
{
    /* Errors are read with virGetLastErrorMessage() where they are handled. */
}

/* "auto" is kvm when /dev/kvm can be opened, else qemu (TCG). */
static void resolve_domain_type(Driver *drv)
{
    KvmDriver *k = kvm(drv);
    const char *t = kvm_domain_type_to_string(kvm_settings(drv)->domain_type);

    if (kvm_settings(drv)->domain_type == KVM_DOMAIN_TYPE_AUTO) {
        int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        t = fd >= 0 ? "kvm" : "qemu";
        safe_close(fd);
    }
    (void)snprintf(k->domain_type, sizeof(k->domain_type), "%s", t);
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
    if (!k->busy || !k->consoles)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    k->uri = strdup(kvm_settings(drv)->uri);
    if (!k->uri)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    r = work_queue_new(drv->ctx.event, kvm_settings(drv)->workers, &k->jobs);
    if (r < 0)
        return error_set_errno(e, r, "Failed to start libvirt worker threads: %m");
    r = kvm_connection_init(drv);
    if (r < 0)
        return error_set_errno(e, r, "Failed to set up the libvirt connection watch: %m");
    resolve_domain_type(drv);
    if (asprintf(&k->console_dir, "%s/consoles", drv->ctx.state_dir) < 0) {
        k->console_dir = NULL;
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    if (mkdir(k->console_dir, 0750) < 0 && errno != EEXIST)
        return error_set_errno(e, -errno, "Failed to create %s: %m", k->console_dir);
    kvm_connection_open_now(drv);
    return 0;
}

static void kvm_close(Driver *drv)
{
    KvmDriver *k = kvm(drv);

    if (!k)
        return;
    k->jobs = work_queue_free(k->jobs, kvm_job_cancel);
    kvm_connection_done(drv);
    hashmap_free(k->busy);     /* empty: every job was done or cancelled */
    hashmap_free(k->consoles); /* empty: closed with the connection */
    free(k->console_dir);
    free(k->uri);
    free(k);
    drv->data = NULL;
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
    if (r < 0)
        return r;
    return check_path("disk", c->disk, e);
}

static int console_log_path(Driver *drv, const DomainConfig *c, char **ret)
{
    return asprintf(ret, "%s/%s.log", kvm(drv)->console_dir, c->uuid) < 0 ? -ENOMEM : 0;
}

static int kvm_start(Driver *drv, const DomainConfig *c, DomainRuntime *rt, unsigned flags,
                     Error *e)
{
    KvmDriver *k = kvm(drv);
    _cleanup_free_ char *log = NULL;
    KvmXmlOptions o = {.domain_type = k->domain_type};
    char *xml = NULL;
    int r;

    r = console_log_path(drv, c, &log);
    if (r < 0)
        return error_set_errno(e, r, "Out of memory");
    o.console_log = log;
    r = kvm_xml_build(c, &o, &xml);
    if (r < 0)
        return error_set_errno(e, r, "Out of memory");
    rt->pid = 0;
    return kvm_job_submit(drv, c, ACTION_START, xml, e);
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

static int kvm_reboot(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                      Error *e)
{
    return kvm_job_submit(drv, c, ACTION_REBOOT, NULL, e);
}

/* Returns 1 and the domain in *ret, 0 when libvirt does not know it, or a negative errno. */
static int lookup(Driver *drv, const DomainConfig *c, virDomainPtr *ret, Error *e)
{
    virDomainPtr dom;

    if (!kvm(drv)->conn)
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the kvm driver is not connected");
    dom = virDomainLookupByUUIDString(kvm(drv)->conn, c->uuid);
    if (!dom) {
        if (kvm_libvirt_error_is(VIR_ERR_NO_DOMAIN))
            return 0;
        return kvm_libvirt_error(e, "looking up domain", c->name);
    }
    *ret = dom;
    return 1;
}

/* The statistics record of one domain, without waiting for a busy domain. NULL if libvirt has
 * none to give. */
static json_t *domain_stats(virDomainPtr dom)
{
    virDomainPtr doms[] = {dom, NULL};
    virDomainStatsRecordPtr *records = NULL;
    json_t *stats = NULL;

    if (virDomainListGetStats(doms, KVM_STATS_WANTED, &records,
                              VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT) > 0)
        stats = kvm_stats_from_record(records[0]);
    if (records)
        virDomainStatsRecordListFree(records);
    return stats;
}

static int kvm_get_info(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                        DomainInfo *info, unsigned flags, Error *e)
{
    virDomainPtr dom = NULL;
    virDomainInfo vi;
    int r;

    r = lookup(drv, c, &dom, e);
    if (r <= 0)
        return r < 0 ? r : error_setf(e, ERROR_FAILED, "libvirt does not know '%s'", c->name);
    r = virDomainGetInfo(dom, &vi);
    if (r < 0)
        r = kvm_libvirt_error(e, "reading information of domain", c->name);
    else {
        kvm_state_from_libvirt(vi.state, 0, &info->state, &info->reason, NULL);
        info->cpu_time_ns = vi.cpuTime;
        info->memory_kib = vi.memory;
        info->stats = domain_stats(dom) ?: json_object();
        if (info->stats) {
            (void)json_object_set_new(info->stats, "memory_max_kib",
                                      json_integer((json_int_t)vi.maxMem));
            (void)json_object_set_new(info->stats, "vcpus", json_integer(vi.nrVirtCpu));
        }
    }
    (void)virDomainFree(dom);
    return r;
}

/* Follows the console of a running domain found on the loop (re-attachment); a domain whose
 * console cannot be opened (libvirt's test driver has none) keeps only its log. */
static void follow_console(Driver *drv, virDomainPtr dom, const char *name)
{
    virStreamPtr st;

    if (kvm_console_open_stream(dom, false, &st) < 0)
        log_debug("kvm: not following the console of %s: %s", name, virGetLastErrorMessage());
    else
        (void)kvm_console_adopt(drv, name, st);
}

/* A client of the domain's console. A console not followed yet (taken by another session, or
 * hvd could not open it) is opened now, taking it over as `virsh console --force` does. */
static int kvm_console_open(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                            int *ret_fd, unsigned flags, Error *e)
{
    virDomainPtr dom = NULL;
    virStreamPtr st;
    int r;

    if (!kvm_console_followed(drv, c->name)) {
        r = lookup(drv, c, &dom, e);
        if (r == 0)
            return error_setf(e, ERROR_INVALID_STATE, "libvirt does not run domain '%s'", c->name);
        if (r < 0)
            return r;
        r = kvm_console_open_stream(dom, true, &st);
        if (r < 0)
            r = kvm_libvirt_error(e, "opening the console of domain", c->name);
        (void)virDomainFree(dom);
        if (r < 0)
            return r;
        r = kvm_console_adopt(drv, c->name, st);
        if (r < 0)
            return error_set_errno(e, r, "Failed to follow the console of '%s': %m", c->name);
    }
    return kvm_console_connect(drv, c->name, ret_fd, e);
}

static int kvm_console_log(Driver *drv, const DomainConfig *c, char **ret_path, Error *e)
{
    int r = console_log_path(drv, c, ret_path);

    return r < 0 ? error_set_errno(e, r, "Out of memory") : 0;
}

static int kvm_get_stats(Driver *drv, json_t **ret, unsigned flags, Error *e)
{
    virDomainStatsRecordPtr *records = NULL;
    json_t *all;
    int n;

    if (!kvm(drv)->conn)
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the kvm driver is not connected");
    /* One call for every domain; a domain busy with a job answers what it can at once. */
    n = virConnectGetAllDomainStats(kvm(drv)->conn, KVM_STATS_WANTED, &records,
                                    VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE |
                                        VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
    if (n < 0)
        return kvm_libvirt_error(e, "reading statistics of", kvm(drv)->uri);
    all = json_object();
    for (int i = 0; all && i < n; i++) {
        json_t *stats = kvm_stats_from_record(records[i]);
        if (!stats || json_object_set_new(all, virDomainGetName(records[i]->dom), stats) < 0)
            all = (json_decref(all), NULL);
    }
    virDomainStatsRecordListFree(records);
    if (!all)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    *ret = all;
    return 0;
}

static int kvm_reattach(Driver *drv, const DomainConfig *c, DomainRuntime *rt,
                        DomainState *ret_state, DomainReason *ret_reason, unsigned flags, Error *e)
{
    virDomainPtr dom = NULL;
    int r, vir_state, vir_reason;

    r = lookup(drv, c, &dom, e);
    if (r < 0)
        return r;
    if (r == 0) {
        (void)error_setf(e, ERROR_FAILED, "libvirt does not know it");
        return 0;
    }
    r = virDomainGetState(dom, &vir_state, &vir_reason, 0);
    if (r < 0)
        r = kvm_libvirt_error(e, "reading the state of domain", c->name);
    else if (!kvm_console_followed(drv, c->name))
        follow_console(drv, dom, c->name);
    (void)virDomainFree(dom);
    if (r < 0)
        return r;
    kvm_state_from_libvirt(vir_state, vir_reason, ret_state, ret_reason, NULL);
    if (*ret_state == STATE_SHUTOFF) {
        (void)error_setf(e, ERROR_FAILED, "libvirt reports it shut off (%s)",
                         domain_reason_to_string(*ret_reason));
        return 0;
    }
    return 1;
}

/* hvd starts transient domains; a persistent definition with the same UUID (made by hand with
 * virsh, say) would shadow the domain, so deleting the domain removes it too. */
static int kvm_undefine(Driver *drv, const DomainConfig *c, unsigned flags, Error *e)
{
    virDomainPtr dom = NULL;
    int r;

    r = lookup(drv, c, &dom, e);
    if (r <= 0)
        return r;
    r = virDomainIsPersistent(dom) == 1 ? virDomainUndefine(dom) : 0;
    if (r < 0)
        r = kvm_libvirt_error(e, "undefining domain", c->name);
    (void)virDomainFree(dom);
    return r;
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
    .reattach = kvm_reattach,
    .undefine = kvm_undefine,
};

const DriverOps *hvd_kvm_driver(unsigned abi)
{
    return abi == DRIVER_ABI ? &kvm_driver_ops : NULL;
}
