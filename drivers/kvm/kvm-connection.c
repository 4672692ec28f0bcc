/* The kvm driver's connection to libvirt: opened on a worker (with its event subscription, an
 * inventory of libvirt's domains and whether kvm is usable), its loss noticed (libvirt may report
 * that on any thread), reconnected with exponential backoff, and the lifecycle events it
 * carries. */
#include <libvirt/virterror.h>
#include <sys/eventfd.h>
#include <time.h>

#include "kvm-internal.h"
#include "kvm-state.h"
#include "time-util.h"

#define RECONNECT_MIN_S      1u
#define RECONNECT_MAX_S      30u
#define KEEPALIVE_INTERVAL_S 5
#define KEEPALIVE_COUNT      6u /* 30 s without a word, as virsh allows */
/* How long hvd's start-up waits for libvirtd before it goes on with the driver unavailable. */
#define STARTUP_WAIT_S  5u
#define CONNECT_JOB_KEY "connect"

/* libvirt calls this on the loop with the event's data in hand. The state comes from the event
 * itself: asking libvirtd for the domain's state now would be a round trip on the loop (and a
 * transient domain that stopped cannot be asked anyway). Events arrive in order, so the last
 * one says where the domain is. */
static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    Driver *drv = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    DomainState state;
    DomainReason reason;
    const char *why = NULL;

    if (!kvm_state_from_event(event, detail, &state, &reason, &why))
        return 0;
    if (virDomainGetUUIDString(dom, uuid) == 0)
        kvm_domain_set_state(drv, uuid, virDomainGetName(dom), state, reason);
    if (kvm_reboot_intercept(drv, virDomainGetName(dom), state, reason))
        return 0;
    kvm_domain_changed(drv, virDomainGetName(dom), state, reason, why);
    return 0;
}

/* The guest restarted (it reset itself, or was reset): QEMU runs on, the guest boots again. */
static void on_reboot(virConnectPtr conn, virDomainPtr dom, void *opaque)
{
    kvm_reboot_seen(opaque, virDomainGetName(dom));
}

/* May run on any thread (whichever noticed the loss): only marks the link and wakes the loop. */
static void on_connection_closed(virConnectPtr conn, int reason, void *opaque)
{
    KvmLink *link = opaque;
    uint64_t one = 1;

    atomic_store(&link->lost_reason, reason + 1);
    (void)write(link->lost_fd, &one, sizeof(one));
}

void kvm_connection_close(virConnectPtr conn, int callback, int reboot_callback)
{
    if (callback >= 0)
        (void)virConnectDomainEventDeregisterAny(conn, callback);
    if (reboot_callback >= 0)
        (void)virConnectDomainEventDeregisterAny(conn, reboot_callback);
    /* No loss callback runs after this. */
    (void)virConnectUnregisterCloseCallback(conn, on_connection_closed);
    (void)virConnectClose(conn);
}

/* Gives the connection up: its consoles and the connection itself are let go on a worker. */
static void disconnect(Driver *drv)
{
    KvmDriver *k = kvm(drv);

    if (!k->conn)
        return;
    kvm_consoles_close(drv); /* their streams belong to the connection */
    kvm_release(drv, NULL, TAKE_PTR(k->conn), k->lifecycle_callback, k->reboot_callback);
    k->lifecycle_callback = -1;
    k->reboot_callback = -1;
    k->link = NULL;
}

static unsigned schedule_reconnect(Driver *drv);

static int submit_connect(Driver *drv, bool startup, KvmJob **ret)
{
    KvmJob *j = kvm_job_new(drv, KVM_JOB_CONNECT);
    int r;

    if (!j)
        return -ENOMEM;
    j->link = calloc(1, sizeof(*j->link));
    if (!j->link) {
        kvm_job_cancel(j);
        return -ENOMEM;
    }
    j->link->lost_fd = kvm(drv)->lost_fd;
    j->link->next = kvm(drv)->links;
    kvm(drv)->links = j->link;
    j->startup = startup;
    r = kvm_job_queue(j, CONNECT_JOB_KEY);
    if (r >= 0 && ret)
        *ret = j;
    return r;
}

static int on_reconnect_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    Driver *drv = userdata;
    KvmDriver *k = kvm(drv);

    k->reconnect_timer = sd_event_source_disable_unref(k->reconnect_timer);
    /* The job's completion arms the next attempt if this one fails. */
    if (submit_connect(drv, false, NULL) < 0)
        (void)schedule_reconnect(drv);
    return 0;
}

/* Arms the next attempt: 1 s after a loss, doubling up to RECONNECT_MAX_S while it fails. */
static unsigned schedule_reconnect(Driver *drv)
{
    KvmDriver *k = kvm(drv);

    k->backoff_s = k->backoff_s ? MIN(k->backoff_s * 2, RECONNECT_MAX_S) : RECONNECT_MIN_S;
    k->reconnect_timer = sd_event_source_disable_unref(k->reconnect_timer);
    (void)sd_event_add_time_relative(drv->ctx.event, &k->reconnect_timer, CLOCK_MONOTONIC,
                                     (uint64_t)k->backoff_s * USEC_PER_SEC, 0, on_reconnect_timer,
                                     drv);
    return k->backoff_s;
}

static const char *close_reason(int reason)
{
    switch (reason) {
    case VIR_CONNECT_CLOSE_REASON_ERROR:
        return "lost the connection to libvirt (I/O error)";
    case VIR_CONNECT_CLOSE_REASON_EOF:
        return "lost the connection to libvirt (libvirtd went away)";
    case VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
        return "lost the connection to libvirt (libvirtd stopped answering)";
    default:
        return "lost the connection to libvirt";
    }
}

/* The current connection's link says it is lost: give it up and try again soon. */
static void connection_lost(Driver *drv)
{
    KvmDriver *k = kvm(drv);
    int reason = atomic_load(&k->link->lost_reason) - 1;
    char why[256];

    disconnect(drv);
    k->backoff_s = 0;
    (void)snprintf(why, sizeof(why), "%s; reconnecting in %u s", close_reason(reason),
                   schedule_reconnect(drv));
    driver_set_available(drv, false, why);
}

static int on_connection_lost(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    Driver *drv = userdata;
    KvmDriver *k = kvm(drv);
    uint64_t n;

    (void)read(fd, &n, sizeof(n));
    /* A connection that is being let go may still report its end: only the current one counts. */
    if (k->conn && atomic_load(&k->link->lost_reason) != 0)
        connection_lost(drv);
    return 0;
}

/* Worker side: the connection is useful once it carries events and says what runs. */
static int connect_setup(KvmJob *j)
{
    KvmDriver *k = kvm(j->drv);
    virDomainStatsRecordPtr *records = NULL;
    int n, r;

    if (virConnectRegisterCloseCallback(j->conn, on_connection_closed, j->link, NULL) < 0) {
        j->link = NULL;
        return kvm_libvirt_error(&j->error, "watching the connection to", k->uri);
    }
    j->lifecycle_callback =
        virConnectDomainEventRegisterAny(j->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), j->drv, NULL);
    if (j->lifecycle_callback < 0)
        return kvm_libvirt_error(&j->error, "subscribing to domain events of", k->uri);
    j->reboot_callback =
        virConnectDomainEventRegisterAny(j->conn, NULL, VIR_DOMAIN_EVENT_ID_REBOOT,
                                         VIR_DOMAIN_EVENT_CALLBACK(on_reboot), j->drv, NULL);
    if (j->reboot_callback < 0)
        return kvm_libvirt_error(&j->error, "subscribing to reboot events of", k->uri);
    /* A libvirtd that hangs is noticed too, not only one that exits. */
    (void)virConnectSetKeepAlive(j->conn, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT);

    /* Every domain with its state (and the statistics of the active ones), in one call: what
     * re-attaching answers from. */
    j->seen_at_us = now_usec(CLOCK_MONOTONIC);
    n = virConnectGetAllDomainStats(j->conn, KVM_STATS_WANTED, &records,
                                    VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
    if (n < 0)
        return kvm_libvirt_error(&j->error, "listing the domains of", k->uri);
    r = kvm_seen_from_records(records, n, &j->seen, &j->n_seen);
    virDomainStatsRecordListFree(records);
    if (r < 0)
        return error_set_errno(&j->error, r, "Out of memory");
    kvm_accel_probe(j->conn, k->uri, &j->accel);
    return 0;
}

void kvm_connect_run(KvmJob *j)
{
    KvmDriver *k = kvm(j->drv);

    j->conn = virConnectOpen(k->uri);
    if (!j->conn)
        (void)error_setf(&j->error, ERROR_DRIVER_UNAVAILABLE, "cannot connect to %s: %s", k->uri,
                         virGetLastErrorMessage());
    else if (connect_setup(j) < 0) {
        kvm_connection_close(TAKE_PTR(j->conn), j->lifecycle_callback, j->reboot_callback);
        j->lifecycle_callback = -1;
        j->reboot_callback = -1;
        j->link = NULL;
    }
    if (j->startup) {
        (void)pthread_mutex_lock(&k->startup_lock);
        k->startup_ran = true;
        (void)pthread_cond_signal(&k->startup_cond);
        (void)pthread_mutex_unlock(&k->startup_lock);
    }
}

void kvm_connect_done(KvmJob *j)
{
    Driver *drv = j->drv;
    KvmDriver *k = kvm(drv);
    char why[sizeof(j->error.message) + 64];

    if (!j->conn) {
        (void)snprintf(why, sizeof(why), "%s; retrying in %u s", j->error.message,
                       schedule_reconnect(drv));
        driver_set_available(drv, false, why);
        return;
    }
    k->conn = TAKE_PTR(j->conn);
    k->link = TAKE_PTR(j->link);
    k->lifecycle_callback = j->lifecycle_callback;
    j->lifecycle_callback = -1;
    k->reboot_callback = j->reboot_callback;
    j->reboot_callback = -1;
    k->accel = j->accel;
    kvm_domains_replace(drv, j->seen, j->n_seen, j->seen_at_us);
    k->backoff_s = 0;
    /* Lost before it was taken over here: the loss was not this connection's yet then. */
    if (atomic_load(&k->link->lost_reason) != 0) {
        connection_lost(drv);
        return;
    }
    driver_set_available(drv, true, NULL);
}

void kvm_connection_start(Driver *drv)
{
    KvmDriver *k = kvm(drv);
    struct timespec deadline;
    char why[256];
    KvmJob *j;
    bool ran = false;
    int r;

    r = submit_connect(drv, true, &j);
    if (r < 0) {
        (void)snprintf(why, sizeof(why), "cannot connect to %s: %s; retrying in %u s", k->uri,
                       strerror(-r), schedule_reconnect(drv));
        driver_set_available(drv, false, why);
        return;
    }
    if (kvm_uri_is_in_process(k->uri)) {
        /* Nothing to wait for: the connection is made here and now. */
        work_queue_run_now(k->jobs);
        return;
    }
    (void)clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += STARTUP_WAIT_S;
    (void)pthread_mutex_lock(&k->startup_lock);
    while (!k->startup_ran &&
           pthread_cond_timedwait(&k->startup_cond, &k->startup_lock, &deadline) != ETIMEDOUT)
        ;
    ran = k->startup_ran;
    (void)pthread_mutex_unlock(&k->startup_lock);
    if (ran) {
        /* The worker is done with the job; its completion on the loop finds it taken. */
        kvm_connect_done(j);
        j->taken = true;
        return;
    }
    (void)snprintf(why, sizeof(why), "libvirtd at %s has not answered for %u s; still waiting",
                   k->uri, STARTUP_WAIT_S);
    driver_set_available(drv, false, why);
}

int kvm_connection_init(Driver *drv)
{
    KvmDriver *k = kvm(drv);
    pthread_condattr_t attr;
    int r;

    k->lifecycle_callback = -1;
    k->reboot_callback = -1;
    (void)pthread_mutex_init(&k->startup_lock, NULL);
    r = -pthread_condattr_init(&attr);
    if (r >= 0)
        r = -pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (r >= 0)
        r = -pthread_cond_init(&k->startup_cond, &attr);
    (void)pthread_condattr_destroy(&attr);
    if (r < 0)
        return r;
    k->lost_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (k->lost_fd < 0)
        return -errno;
    return sd_event_add_io(drv->ctx.event, &k->lost_source, k->lost_fd, EPOLLIN, on_connection_lost,
                           drv);
}

void kvm_connection_done(Driver *drv)
{
    KvmDriver *k = kvm(drv);

    k->reconnect_timer = sd_event_source_disable_unref(k->reconnect_timer);
    disconnect(drv); /* inline now: the workers are gone */
    k->lost_source = sd_event_source_disable_unref(k->lost_source);
    k->lost_fd = safe_close(k->lost_fd);
    (void)pthread_cond_destroy(&k->startup_cond);
    (void)pthread_mutex_destroy(&k->startup_lock);
    /* Every connection is closed now: no loss callback can run any more. */
    while (k->links) {
        KvmLink *next = k->links->next;
        free(k->links);
        k->links = next;
    }
}
