/* What the kvm driver's files share: the driver's state, its jobs and the libvirt error
 * boundary. Not for use outside drivers/kvm. */
#pragma once

#include <libvirt/libvirt.h>
#include <stdatomic.h>

#include "driver.h"
#include "hashmap.h"
#include "work-queue.h"

typedef enum KvmDomainType {
    KVM_DOMAIN_TYPE_AUTO,
    KVM_DOMAIN_TYPE_KVM,
    KVM_DOMAIN_TYPE_QEMU,
    _KVM_DOMAIN_TYPE_MAX,
    _KVM_DOMAIN_TYPE_INVALID = -EINVAL,
} KvmDomainType;

/* [kvm] (kvm-settings.c). */
typedef struct KvmSettings {
    char *uri;
    KvmDomainType domain_type;
    unsigned workers;
} KvmSettings;

int kvm_settings_parse(const ConfigSection *section, void **ret, Error *e);
void kvm_settings_free(void *settings);
void kvm_settings_print(const void *settings, FILE *f);
const char *kvm_domain_type_to_string(KvmDomainType t);

static inline const KvmSettings *kvm_settings(const Driver *drv)
{
    return drv->settings;
}

typedef struct KvmDriver {
    /* The libvirt URI in use: the driver's own copy, read by worker threads too (a reload
     * changes it at the next start of hvd). */
    char *uri;
    virConnectPtr conn; /* NULL while disconnected */
    int lifecycle_callback;
    /* Reconnection: a timer with exponential backoff that queues a connect job. */
    sd_event_source *reconnect_timer;
    unsigned backoff_s;
    /* libvirt may report a lost connection on any thread: it sets lost_reason and writes lost_fd,
     * and the loop takes it from there. */
    int lost_fd;
    sd_event_source *lost_source;
    atomic_int lost_reason;
    char domain_type[8];
    char *console_dir;
    /* libvirt calls that can take long (starting QEMU, connecting) run here, one domain at a
     * time. */
    WorkQueue *jobs;
    /* Domains with operations in flight, by name: KvmBusy. */
    Hashmap *busy;
    /* Followed consoles of running domains, by name (kvm-console.c). */
    Hashmap *consoles;
} KvmDriver;

static inline KvmDriver *kvm(Driver *drv)
{
    return drv->data;
}

/* One libvirt call prepared on the loop, run on a worker and reported on the loop: a lifecycle
 * operation on a domain, or (connect) opening the connection. */
typedef struct KvmJob {
    Driver *drv;
    virConnectPtr conn; /* a reference of the job's own; the new connection for connect */
    bool connect;
    DomainAction op;
    char name[DOMAIN_NAME_MAX + 1];
    char uuid[DOMAIN_UUID_STRING_MAX];
    char *xml;
    Error error;
    DomainState observed;
    virStreamPtr console; /* a started domain's console, opened on the worker */
} KvmJob;

/* Queues a lifecycle operation for c on a worker, taking ownership of xml; the result comes
 * back through op_completed. Returns DRIVER_PENDING or a negative errno with e set. */
int kvm_job_submit(Driver *drv, const DomainConfig *c, DomainAction op, char *xml, Error *e);

/* Queues the opening of a new connection; done() hands it to kvm_connection_opened(). */
int kvm_job_submit_connect(Driver *drv);

/* Frees a job that will not be reported (hvd is stopping), closing its connection reference. */
void kvm_job_cancel(void *job);

/* Reports a change libvirt announced for domain name to the manager. While an operation on the
 * domain is in flight its completion speaks first (a destroy of a crashed guest must not read
 * as a plain destroy because libvirt's event overtook it); the last change seen meanwhile is
 * reported right after it. */
void kvm_domain_changed(Driver *drv, const char *name, DomainState state, DomainReason reason,
                        const char *detail);

/* Opens the connection now, on the loop (hvd's start-up: the first state of the driver is
 * known before hvd says it is ready). Leaves the driver available, or unavailable with a
 * reconnection scheduled. */
void kvm_connection_open_now(Driver *drv);

/* Takes over conn opened by a connect job (NULL when it failed, error saying why): registers
 * for events and marks the driver available, or schedules the next attempt. */
void kvm_connection_opened(Driver *drv, virConnectPtr conn, const Error *error);

/* Sets up the loss notification; returns 0 or a negative errno. */
int kvm_connection_init(Driver *drv);

/* Drops the connection and every timer and source of the connection logic. */
void kvm_connection_done(Driver *drv);

/* Consoles (kvm-console.c): each running domain's serial console is followed through one
 * libvirt stream, for hvd's live event stream and for console_open's clients. */

/* Opens a non-blocking console stream of dom (any thread); force takes the console over from
 * another session (virsh console). Returns 0, or -1 with libvirt's error set. */
int kvm_console_open_stream(virDomainPtr dom, bool force, virStreamPtr *ret);

/* Follows domain name's console through st (on the loop), taking ownership of st and
 * replacing any stream followed before. Returns 0 or a negative errno. */
int kvm_console_adopt(Driver *drv, const char *name, virStreamPtr st);

/* Whether domain name's console is followed. */
bool kvm_console_followed(Driver *drv, const char *name);

/* Connects a new client to the followed console of name: *ret_fd is a socket that reads the
 * guest's output from now on and writes its input. Returns 0 or a negative errno with e set. */
int kvm_console_connect(Driver *drv, const char *name, int *ret_fd, Error *e);

/* Stops following every console; their clients see the end of their sockets. */
void kvm_consoles_close(Driver *drv);

/* Sets e from the calling thread's last libvirt error, as "WHAT 'NAME' failed: MESSAGE", with
 * the error kind that matches libvirt's error code. Returns the negative errno. */
int kvm_libvirt_error(Error *e, const char *what, const char *name);

/* Whether the calling thread's last libvirt error is code. */
bool kvm_libvirt_error_is(int code);

/* libvirt statistics wanted for every domain. */
#define KVM_STATS_WANTED                                                              \
    (VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_BALLOON | \
     VIR_DOMAIN_STATS_VCPU)

/* A new JSON object of one domain's statistics record in hvd's field names: cpu_time_ns and
 * memory_kib always, then cpu_user_ns, cpu_system_ns, vcpus, balloon_* as libvirt reports
 * them. NULL when out of memory. */
json_t *kvm_stats_from_record(const virDomainStatsRecord *rec);
