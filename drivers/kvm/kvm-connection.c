/* The kvm driver's connection to libvirt: opening it, noticing its loss (libvirt may report that
 * on any thread), reconnecting with exponential backoff, and the lifecycle events it carries. */
#include <libvirt/virterror.h>
#include <sys/eventfd.h>

#include "kvm-internal.h"
#include "kvm-state.h"
#include "time-util.h"

#define RECONNECT_MIN_S      1u
#define RECONNECT_MAX_S      30u
#define KEEPALIVE_INTERVAL_S 5
#define KEEPALIVE_COUNT      3u

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    Driver *drv = opaque;
    int vir_state, vir_reason;
    DomainState state;
    DomainReason reason;
    const char *why = NULL;

    if (event == VIR_DOMAIN_EVENT_DEFINED || event == VIR_DOMAIN_EVENT_UNDEFINED)
        return 0;
    /* Events can be stale by the time they arrive: report what libvirt says now. A transient
     * domain that stopped is gone, and then the event itself says why. */
    if (virDomainGetState(dom, &vir_state, &vir_reason, 0) >= 0)
        kvm_state_from_libvirt(vir_state, vir_reason, &state, &reason, &why);
    else if (!kvm_state_from_event(event, detail, &state, &reason))
        return 0;
    kvm_domain_changed(drv, virDomainGetName(dom), state, reason, why);
    return 0;
}

/* May run on any thread (whichever noticed the loss): only hands the news to the loop. */
static void on_connection_closed(virConnectPtr conn, int reason, void *opaque)
{
    KvmDriver *k = opaque;
    uint64_t one = 1;

    atomic_store(&k->lost_reason, reason);
    (void)write(k->lost_fd, &one, sizeof(one));
}

static void disconnect(Driver *drv)
{
    KvmDriver *k = kvm(drv);

    if (!k->conn)
        return;
    kvm_consoles_close(drv); /* their streams belong to the connection */
    if (k->lifecycle_callback >= 0)
        (void)virConnectDomainEventDeregisterAny(k->conn, k->lifecycle_callback);
    k->lifecycle_callback = -1;
    (void)virConnectUnregisterCloseCallback(k->conn, on_connection_closed);
    (void)virConnectClose(k->conn);
    k->conn = NULL;
}

static unsigned schedule_reconnect(Driver *drv);

static int on_reconnect_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    Driver *drv = userdata;
    KvmDriver *k = kvm(drv);

    k->reconnect_timer = sd_event_source_disable_unref(k->reconnect_timer);
    /* The job's completion arms the next attempt if this one fails. */
    if (kvm_job_submit_connect(drv) < 0)
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

static int on_connection_lost(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    Driver *drv = userdata;
    KvmDriver *k = kvm(drv);
    char why[256];
    uint64_t n;

    (void)read(fd, &n, sizeof(n));
    if (!k->conn)
        return 0;
    disconnect(drv);
    k->backoff_s = 0;
    (void)snprintf(why, sizeof(why), "%s; reconnecting in %u s",
                   close_reason(atomic_load(&k->lost_reason)), schedule_reconnect(drv));
    driver_set_available(drv, false, why);
    return 0;
}

static int install(Driver *drv, virConnectPtr conn, Error *e)
{
    KvmDriver *k = kvm(drv);

    if (virConnectRegisterCloseCallback(conn, on_connection_closed, k, NULL) < 0)
        return kvm_libvirt_error(e, "watching the connection to", kvm(drv)->uri);
    k->lifecycle_callback =
        virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), drv, NULL);
    if (k->lifecycle_callback < 0) {
        (void)virConnectUnregisterCloseCallback(conn, on_connection_closed);
        return kvm_libvirt_error(e, "subscribing to domain events of", kvm(drv)->uri);
    }
    /* A libvirtd that hangs is noticed too, not only one that exits. */
    (void)virConnectSetKeepAlive(conn, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT);
    k->conn = conn;
    return 0;
}

void kvm_connection_opened(Driver *drv, virConnectPtr conn, const Error *error)
{
    KvmDriver *k = kvm(drv);
    Error e = ERROR_NULL;
    char why[sizeof(e.message) + 64];

    if (!conn) {
        e = *error;
    } else if (install(drv, conn, &e) < 0) {
        (void)virConnectClose(conn);
    } else {
        k->backoff_s = 0;
        driver_set_available(drv, true, NULL);
        return;
    }
    (void)snprintf(why, sizeof(why), "%s; retrying in %u s", e.message, schedule_reconnect(drv));
    driver_set_available(drv, false, why);
}

void kvm_connection_open_now(Driver *drv)
{
    virConnectPtr conn = virConnectOpen(kvm(drv)->uri);
    Error e = ERROR_NULL;

    if (!conn)
        (void)error_setf(&e, ERROR_DRIVER_UNAVAILABLE, "cannot connect to %s: %s", kvm(drv)->uri,
                         virGetLastErrorMessage());
    kvm_connection_opened(drv, conn, &e);
}

int kvm_connection_init(Driver *drv)
{
    KvmDriver *k = kvm(drv);

    k->lifecycle_callback = -1;
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
    k->lost_source = sd_event_source_disable_unref(k->lost_source);
    k->lost_fd = safe_close(k->lost_fd);
    disconnect(drv);
}
