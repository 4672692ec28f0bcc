/* What the kvm driver's files share: the driver's state, its jobs and the libvirt error
 * boundary. Not for use outside drivers/kvm. */
#pragma once

#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

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

/* Whether uri names one of libvirt's drivers that run in the calling process (test:///...),
 * whose calls never wait on another process. */
static inline bool kvm_uri_is_in_process(const char *uri)
{
    return strncmp(uri, "test:", 5) == 0;
}

static inline const KvmSettings *kvm_settings(const Driver *drv)
{
    return drv->settings;
}

/* Who libvirt runs QEMU as (its DAC label), when libvirtd is local and says so: found out with
 * KvmAccel, groups included, so that access checks on the loop never ask the user database. */
typedef struct KvmIdentity {
    bool known;
    uid_t uid;
    gid_t gid;
    gid_t groups[64]; /* gid and the supplementary groups */
    unsigned n_groups;
} KvmIdentity;

/* Whether libvirt can run kvm guests (kvm-accel.c): found out on a worker after connecting. */
typedef struct KvmAccel {
    bool known;      /* asked since hvd started */
    bool kvm_usable; /* libvirt offers kvm and its QEMU user can open /dev/kvm */
    char why[384];   /* a sentence saying how that was decided */
    KvmIdentity qemu;
} KvmAccel;

/* One connection's watch for its loss: libvirt may report it on any thread, so the callback only
 * marks its own link and wakes the loop through the driver's lost_fd. Made on the loop for each
 * connection and kept in the driver's list until the driver closes (libvirt's free callback
 * would not run for drivers without close callbacks, such as the test driver). */
typedef struct KvmLink {
    int lost_fd;
    atomic_int lost_reason; /* VIR_CONNECT_CLOSE_REASON_* + 1 once lost, 0 before */
    struct KvmLink *next;
} KvmLink;

typedef struct KvmWaiter KvmWaiter;
typedef struct KvmReboot KvmReboot;

/* The steps of hvd's reboot of a kvm domain (kvm-reboot.c), each a job on the domain's queue. */
typedef enum KvmRebootStep {
    KVM_REBOOT_NONE,    /* not a reboot job */
    KVM_REBOOT_ASK,     /* presses the guest's power button */
    KVM_REBOOT_RESET,   /* resets the guest (the timeout passed, with force) */
    KVM_REBOOT_RESTART, /* starts a new run of the guest that powered off for its reboot */
} KvmRebootStep;

typedef struct KvmDriver {
    /* The libvirt URI in use: the driver's own copy, read by worker threads too (a reload
     * changes it at the next start of hvd). */
    char *uri;
    virConnectPtr conn; /* NULL while disconnected */
    KvmLink *link;      /* conn's loss watch */
    KvmLink *links;     /* every link made, freed when the driver closes */
    int lifecycle_callback;
    int reboot_callback; /* libvirt's reboot events */
    /* Reconnection: a timer with exponential backoff that queues a connect job. */
    sd_event_source *reconnect_timer;
    unsigned backoff_s;
    int lost_fd;
    sd_event_source *lost_source;
    /* hvd's start-up waits a bounded time for the first connect job's worker to finish. */
    pthread_mutex_t startup_lock;
    pthread_cond_t startup_cond;
    bool startup_ran;
    KvmAccel accel;
    char *console_dir;
    /* Every libvirt call runs here, on worker threads: lifecycle operations one domain at a
     * time, connecting, statistics, consoles, undefining and letting go of libvirt objects. */
    WorkQueue *jobs;
    /* Domains a managed save left paused for hvd to end, by name (the value is the driver). */
    Hashmap *saved;
    /* Domains with operations in flight, by name: KvmBusy. */
    Hashmap *busy;
    /* hvd's reboots waiting for their guest to restart, by name: KvmReboot (kvm-reboot.c). */
    Hashmap *reboots;
    /* Followed consoles of running domains, by name (kvm-console.c). */
    Hashmap *consoles;
    /* What the driver knows of libvirt's domains, by UUID: KvmDomain (kvm-cache.c). */
    Hashmap *domains;
    /* Statistics refreshes (kvm-cache.c): one job at most, and who waits for it. */
    bool stats_refreshing;
    bool stats_failed;           /* the last refresh failed */
    uint64_t stats_refreshed_us; /* CLOCK_MONOTONIC of the last complete refresh, 0 if none */
    KvmWaiter *stats_waiters;
} KvmDriver;

static inline KvmDriver *kvm(Driver *drv)
{
    return drv->data;
}

/* A libvirt domain as the driver last saw it: from the connect job's inventory, lifecycle
 * events, operations and statistics refreshes. */
typedef struct KvmDomain {
    char *name;
    DomainState state;
    DomainReason reason;
    json_t *stats;        /* NULL until known, and while inactive */
    uint64_t stats_at_us; /* CLOCK_MONOTONIC when libvirt was asked for stats */
} KvmDomain;

/* A domain in a worker's answer: every domain (connect), every active one (statistics), or the
 * one an operation was about. */
typedef struct KvmSeen {
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *name;
    DomainState state;
    DomainReason reason;
    json_t *stats; /* active domains only */
} KvmSeen;

typedef enum KvmJobKind {
    KVM_JOB_CONNECT,       /* opens a connection and takes stock of it */
    KVM_JOB_OPERATION,     /* a lifecycle operation on one domain */
    KVM_JOB_CONSOLE,       /* opens one domain's console stream */
    KVM_JOB_UNDEFINE,      /* forgets one domain's persistent definition */
    KVM_JOB_STATS,         /* statistics of every active domain */
    KVM_JOB_RESOURCES,     /* applies one domain's CPU weight and cap and memory limit live */
    KVM_JOB_RELEASE,       /* lets go of streams and a connection */
    KVM_JOB_CLONE_DISK,    /* makes a clone's disk with qemu-img (no libvirt call) */
    KVM_JOB_MIGRATE,       /* moves one running domain to another libvirtd (kvm-migrate.c) */
    KVM_JOB_MIGRATE_ABORT, /* asks the migration under way of one domain to stop */
} KvmJobKind;

/* What a start from a saved image checks the image against (kvm-save.c). */
typedef struct KvmImageCheck {
    uint64_t memory_mib;
    unsigned vcpus;
    bool pv;
} KvmImageCheck;

/* libvirt calls prepared on the loop, run on a worker and reported on the loop. */
typedef struct KvmJob {
    Driver *drv;
    KvmJobKind kind;
    /* A reference of the job's own, dropped on the worker once the job ran; the new connection
     * (connect) or the one to close (release). */
    virConnectPtr conn;
    char name[DOMAIN_NAME_MAX + 1];
    char uuid[DOMAIN_UUID_STRING_MAX];
    DomainAction op;      /* operation */
    KvmRebootStep reboot; /* operation: which step of a reboot */
    char *xml;            /* operation: the definition to start */
    int pid;              /* operation: QEMU's process after a start, 0 when not known */
    ConsoleDevice device; /* console: which one */
    bool force;           /* console: take the console over from another session */
    bool startup;         /* connect: hvd's start-up waits for it */
    bool taken;           /* connect: its result was applied at start-up already */
    Error error;
    DomainState observed;
    DomainReason observed_reason;
    virStreamPtr console; /* operation (start), console: the domain's console; release */
    KvmSeen *seen;        /* connect, stats, operation: what libvirt reported */
    size_t n_seen;
    uint64_t seen_at_us;    /* CLOCK_MONOTONIC when libvirt was asked */
    int lifecycle_callback; /* connect, release: the event registration, or -1 */
    int reboot_callback;    /* connect, release: the reboot event registration, or -1 */
    KvmLink *link;          /* connect: the new connection's loss watch */
    KvmAccel accel;         /* connect */
    unsigned cpu_weight;    /* resources */
    unsigned cpu_cap;
    uint64_t memory_limit;
    char *image;           /* operation: the image a save writes or a start restores */
    bool save_pause;       /* save: leave the guest paused (a managed save) */
    char disk_target[8];   /* save: the disk the snapshot leaves alone ("" without one) */
    char *disk_path;       /* save: the qcow2 disk a snapshot copies; start from an image: the disk
                            * the image's disk copy goes back onto (NULL: none) */
    KvmImageCheck summary; /* start from an image: what it must match */
    char *clone_backing;   /* clone disk: the original's disk (j->image: the overlay) */
    DriverCloneDone clone_done;
    void *clone_userdata;
    char *target_uri;   /* migrate: the target's libvirt URI (j->xml: its definition there) */
    unsigned bandwidth; /* migrate: MiB/s, 0 for no limit */
    unsigned downtime_ms, timeout_s;     /* migrate: the budget and the time limit, 0 for none */
    int progress_fd;                     /* migrate: the worker's end of the progress socket */
    struct KvmMigrateProgress *progress; /* migrate: the loop's end (kvm-migrate-watch.c) */
    bool incoming;   /* start: wait for the domain an incoming migration brings */
    unsigned wait_s; /* start (incoming): how long it may take to run here */
    int stream_fd;   /* migrate, start (incoming): hvd's data connection (its end: the source's) */
} KvmJob;

/* A new job of kind for drv (conn and names unset). NULL when out of memory. */
KvmJob *kvm_job_new(Driver *drv, KvmJobKind kind);

/* Queues j under key (the domain's UUID, so one domain's jobs run in order, or the kind's own),
 * taking a reference to the current connection for kinds that use it. Cancels j (see
 * kvm_job_cancel) and returns a negative errno when it cannot (not connected, out of memory). */
int kvm_job_queue(KvmJob *j, const char *key);

/* Frees a job, letting go inline of any libvirt object it still holds: for a job that will not
 * be reported (hvd is stopping, or it could not be queued). */
void kvm_job_cancel(void *job);

/* Queues a lifecycle operation for c on a worker, taking ownership of xml; the result comes
 * back through op_completed. Returns DRIVER_PENDING or a negative errno with e set. */
int kvm_job_submit(Driver *drv, const DomainConfig *c, DomainAction op, char *xml, Error *e);

/* Queues the live change of c's resource settings (virDomainSetSchedulerParameters and
 * virDomainSetMemoryParameters); libvirt refusing it is logged at debug level. */
int kvm_job_submit_resources(Driver *drv, const DomainConfig *c, Error *e);

/* Queues step of a reboot of c (taking ownership of xml, the definition of a new run); the
 * result goes to kvm_reboot_job_done(). Returns DRIVER_PENDING or a negative errno with e set. */
int kvm_job_submit_reboot(Driver *drv, const DomainConfig *c, KvmRebootStep step, char *xml,
                          Error *e);

/* Queues a save of c into the image at path (DRIVER_SAVE_PAUSE in flags: a managed save that
 * leaves the guest paused), or a start of c from the image at path, taking ownership of xml;
 * results come back through op_completed. Returns DRIVER_PENDING or a negative errno with e
 * set. */
int kvm_job_submit_save(Driver *drv, const DomainConfig *c, const char *path, unsigned flags,
                        Error *e);
int kvm_job_submit_restore(Driver *drv, const DomainConfig *c, char *xml, const char *path,
                           Error *e);

/* Queues the forgetting of c's persistent definition (if libvirt has one). */
int kvm_job_submit_undefine(Driver *drv, const DomainConfig *c, Error *e);

/* Queues the opening of domain name's console device; the stream goes to kvm_console_adopt(), a
 * failure to kvm_console_failed(). */
int kvm_job_submit_console(Driver *drv, const char *name, const char *uuid, ConsoleDevice device,
                           bool force);

/* Lets go of st (may be NULL) and, when conn is not NULL, of the connection with its event
 * registrations (lifecycle and reboot callbacks, -1 for none) and loss watch, on a worker
 * (inline once the workers are gone, or when out of memory). Takes ownership of both. */
void kvm_release(Driver *drv, virStreamPtr st, virConnectPtr conn, int callback,
                 int reboot_callback);

/* Reports a change libvirt announced for domain name to the manager. While an operation on the
 * domain is in flight its completion speaks first (a destroy of a crashed guest must not read
 * as a plain destroy because libvirt's event overtook it); the last change seen meanwhile is
 * reported right after it. */
void kvm_domain_changed(Driver *drv, const char *name, DomainState state, DomainReason reason,
                        const char *detail);

/* Saved state (kvm-save.c), on a worker. */

/* Writes dom's memory and device state into j->image (an external, memory-only snapshot that
 * touches no disk and leaves no metadata), pausing a running guest first when j->save_pause,
 * and syncs the file. Returns 0, or a negative errno with j->error set (a guest it paused runs
 * again). */
int kvm_save_run(KvmJob *j, virDomainPtr dom);

/* Makes what libvirt wrote at path durable (libvirt closes it without a sync). A file hvd may
 * not open (libvirtd made it for QEMU's user) is synced with the whole file system it is on.
 * Returns 0 or a negative errno (kvm-save.c). */
int kvm_image_sync(const char *path);

/* A snapshot's copy of its qcow2 disk (kvm-snapshot-disk.c), on a worker. begin starts a
 * push-mode backup of j->disk_path's disk of dom (paused, so the copy holds the disk as the
 * memory image does, and kept paused until the job ended) into j->image plus
 * DRIVER_IMAGE_DISK_SUFFIX; wait waits for that job to end and syncs the copy; both return 0,
 * or a negative errno with j->error set and no copy left. restore writes the copy of image
 * j->image, when it has one, back over j->disk_path (qemu-img convert); 0 when there is none. */
int kvm_snapshot_disk_begin(KvmJob *j, virDomainPtr dom);
int kvm_snapshot_disk_wait(KvmJob *j, virDomainPtr dom);
int kvm_snapshot_disk_restore(KvmJob *j);

/* Checks the image j->image against j->summary and j->uuid and starts the domain from it
 * (running) with j->xml as its definition. Returns the domain, or NULL with j->error set and
 * nothing started. */
virDomainPtr kvm_restore_run(KvmJob *j);

/* Clones' disks (kvm-clone.c): the clone_disk slot, and the worker and loop sides of its job. */
int kvm_clone_disk(Driver *drv, const DomainConfig *c, const char *path, DriverCloneDone done,
                   void *userdata, Error *e);
void kvm_clone_disk_run(KvmJob *j);
void kvm_clone_disk_done(KvmJob *j);

/* Live migration (kvm-migrate.c): the DriverOps slots, and the workers' and the loop's halves
 * of the jobs. kvm_incoming_wait() waits on a worker, for at most j->wait_s, until libvirt runs
 * the domain with j's UUID (a migration from another libvirtd brings it) and returns it, or
 * NULL with j->error set. */
int kvm_migrate_send(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int fd,
                     const DriverMigrateParams *params, unsigned flags, Error *e);
int kvm_migrate_cancel(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                       Error *e);
int kvm_start_incoming(Driver *drv, const DomainConfig *c, DomainRuntime *rt, int fd,
                       unsigned timeout_s, unsigned flags, Error *e);
json_t *kvm_migrate_target(Driver *drv, const DomainConfig *c);
void kvm_migrate_run(KvmJob *j);
void kvm_migrate_done(KvmJob *j);
virDomainPtr kvm_incoming_wait(KvmJob *j);

/* Queues the start of c by an incoming migration (see kvm_incoming_wait; a copy of fd, the data
 * connection, tells when the source gave up), completing ACTION_START
 * through op_completed. Returns DRIVER_PENDING or a negative errno with e set. */
int kvm_job_submit_incoming(Driver *drv, const DomainConfig *c, unsigned wait_s, int fd, Error *e);

/* Queues the live migration of c to the libvirtd at target_uri, defined there as target_xml
 * (bandwidth: MiB/s, 0 for no
 * limit), holding libvirt's news of c and a copy of fd (the data connection, whose end tells
 * the target) until it ended; the end goes to migration_done. Returns 0
 * or a negative errno with e set. */
int kvm_job_submit_migrate(Driver *drv, const DomainConfig *c, const char *target_uri,
                           const char *target_xml, const DriverMigrateParams *params, int fd,
                           Error *e);

/* A migration's progress and limits (kvm-migrate-watch.c). On the loop: a socket whose worker
 * end (*ret_fd, the caller's) takes one JSON progress object per datagram, each handed to
 * migration_progress for domain name; freeing it with flush hands on what is still queued. On
 * the migration's worker: a thread that, until stopped, polls dom's job statistics every half
 * second and sends them to progress_fd (-1: none), sets the downtime budget once the job runs
 * (0: libvirt's) and aborts the job once timeout_s passed (0: no limit); stopping it says
 * whether it aborted the job for that. */
typedef struct KvmMigrateProgress KvmMigrateProgress;
int kvm_migrate_progress_new(Driver *drv, const char *name, int *ret_fd, KvmMigrateProgress **ret);
KvmMigrateProgress *kvm_migrate_progress_free(KvmMigrateProgress *p, bool flush);

typedef struct KvmMigrateWatch {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop, running, downtime_set, timed_out;
    virDomainPtr dom; /* a reference of the watch's own */
    unsigned downtime_ms, timeout_s;
    int progress_fd;
    uint64_t started_us;
    uint64_t iteration, remaining; /* the last figures seen */
} KvmMigrateWatch;
int kvm_migrate_watch_start(KvmMigrateWatch *w, virDomainPtr dom, unsigned downtime_ms,
                            unsigned timeout_s, int progress_fd);
bool kvm_migrate_watch_stop(KvmMigrateWatch *w);

/* On a worker: runs qemu-img with argv (argv[0] "qemu-img", found on PATH) and waits for it.
 * Returns 0 when it succeeded, or a negative errno with e set to what it said (kvm-qemu-img.c). */
int kvm_qemu_img(char *const argv[], Error *e);

/* How long a start waits for libvirt to finish removing the domain's previous run, and whether
 * the calling thread's last libvirt error says it is still being removed (kvm-jobs.c). */
#define KVM_START_REMOVING_RETRIES 100u
#define KVM_START_REMOVING_WAIT_US 50000u
bool kvm_being_removed(void);

/* Names of domains whose instance a managed save left paused for hvd to end: libvirt's news of
 * them running or paused is stale until their next start (kvm-jobs.c). */
void kvm_saved_forget(Driver *drv, const char *name);

/* The definition libvirt starts c from (kvm-driver.c): a new string in *ret. */
int kvm_domain_xml(Driver *drv, const DomainConfig *c, char **ret);

/* The graphical console (kvm-graphics.c). kvm_graphics_init() makes the directory of the VNC
 * sockets (at open); kvm_graphics_socket_path() returns c's socket path in *ret (new string;
 * -ENAMETOOLONG when it would not fit a unix socket address); kvm_graphics_prepare() readies
 * c's socket directory for QEMU before a start and returns the path in *ret, or fails (the
 * domain then starts without a display, and its graphics_open says why); kvm_graphics_validate()
 * refuses a definition whose socket path would not fit; kvm_graphics_open() is the driver's
 * graphics_open. */
int kvm_graphics_init(Driver *drv, Error *e);
int kvm_graphics_socket_path(Driver *drv, const DomainConfig *c, char **ret);
int kvm_graphics_prepare(Driver *drv, const DomainConfig *c, char **ret);
/* Removes what is left of c's socket directory (c was deleted). */
void kvm_graphics_forget(Driver *drv, const DomainConfig *c);
int kvm_graphics_validate(Driver *drv, const DomainConfig *c, Error *e);
int kvm_graphics_open(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int *ret_fd,
                      unsigned flags, Error *e);

/* Reboots (kvm-reboot.c). */

/* Asks c's guest to reboot (the power button, on a worker) and waits up to timeout_s for its
 * restart; force resets it after that. Takes ownership of xml (what a new run starts from).
 * The result goes to op_completed. Returns DRIVER_PENDING or a negative errno with e set. */
int kvm_reboot_request(Driver *drv, const DomainConfig *c, unsigned timeout_s, bool force,
                       char *xml, Error *e);

/* A reboot job of domain name finished: error is NULL on success; pid is QEMU's process after
 * a new run. */
void kvm_reboot_job_done(Driver *drv, const char *name, KvmRebootStep step, const Error *error,
                         int pid);

/* A change libvirt announced for domain name while hvd reboots it: returns true when it is a
 * step of the reboot (the guest shutting down, powering off, the new run starting) that is not
 * reported; a stop or crash ends the reboot as failed and is reported (false). */
bool kvm_reboot_intercept(Driver *drv, const char *name, DomainState state, DomainReason reason);

/* libvirt's reboot event of domain name: completes hvd's reboot of it, or reports a restart the
 * guest made by itself. */
void kvm_reboot_seen(Driver *drv, const char *name);

/* Forgets every reboot without reporting it (hvd is stopping) and frees the table. */
void kvm_reboots_done(Driver *drv);

/* On a worker: QEMU's process of the domain with uuid when libvirtd runs on this host (found by
 * the -uuid of its command line), or 0. */
int kvm_qemu_pid(const char *uri, const char *uuid);

/* The connection (kvm-connection.c). */

/* Queues the first connect job and waits a bounded time for its worker (hvd's start-up: the
 * first state of the driver is known before hvd says it is ready, unless libvirtd does not
 * answer). Leaves the driver available, or unavailable with the reason. */
void kvm_connection_start(Driver *drv);

/* Worker side of a connect job: opens the connection, subscribes to its events, takes stock of
 * every domain and asks whether kvm is usable. */
void kvm_connect_run(KvmJob *j);

/* Loop side of a connect job: takes over the connection (or schedules the next attempt). */
void kvm_connect_done(KvmJob *j);

/* On a worker (or when hvd is stopping): ends conn's event registrations (lifecycle and reboot,
 * each unless -1) and loss watch, and closes it. */
void kvm_connection_close(virConnectPtr conn, int callback, int reboot_callback);

/* Sets up the loss notification; returns 0 or a negative errno. */
int kvm_connection_init(Driver *drv);

/* Drops the connection and every timer and source of the connection logic. */
void kvm_connection_done(Driver *drv);

/* Whether kvm is usable (kvm-accel.c). */

/* On a worker: whether libvirt at uri can run kvm guests: its domain capabilities offer kvm,
 * and the user libvirt runs QEMU as can open /dev/kvm (checked when libvirtd is on this host;
 * libvirt's own domain capabilities are probed with more privileges than its guests get). */
void kvm_accel_probe(virConnectPtr conn, const char *uri, KvmAccel *ret);

/* Whether a process of identity id without capabilities (as libvirt runs QEMU) may access path
 * as mode (R_OK, W_OK, X_OK) by its mode bits; uid 0 may. Asks no user database. Returns 0 or
 * a negative errno. */
int kvm_identity_access(const KvmIdentity *id, const char *path, int mode);

/* The domain type the next start uses: the setting, or for "auto" what kvm_accel_probe found
 * (qemu while nothing is known). */
const char *kvm_domain_type(Driver *drv);

/* What the host view shows of the driver: domain type and why, plus a one-line summary. */
json_t *kvm_host_info(Driver *drv);

/* What the driver knows without asking (kvm-cache.c). */

/* Replaces everything known by a connect job's inventory taken at at_us. Takes the stats. */
void kvm_domains_replace(Driver *drv, KvmSeen *seen, size_t n, uint64_t at_us);

/* Records that domain uuid (named name) is in state/reason now. */
void kvm_domain_set_state(Driver *drv, const char *uuid, const char *name, DomainState state,
                          DomainReason reason);

/* Takes over the statistics of one domain read after an operation (seen, or none when it is
 * gone). */
void kvm_domain_set_stats(Driver *drv, const char *uuid, KvmSeen *seen, uint64_t at_us);

/* What the driver knows of domain uuid, or NULL. */
KvmDomain *kvm_domain_find(Driver *drv, const char *uuid);

/* Worker and loop sides of a statistics job. */
void kvm_stats_run(KvmJob *j);
void kvm_stats_done(KvmJob *j);

/* get_info, get_stats and refresh_stats: answers from the cache, refreshed on workers. */
int kvm_get_info(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, DomainInfo *info,
                 unsigned flags, Error *e);
int kvm_get_stats(Driver *drv, json_t **ret, unsigned flags, Error *e);
int kvm_refresh_stats(Driver *drv, const DomainConfig *c, DriverRefreshDone done, void *userdata);

/* Forgets everything known and drops whoever waits for statistics (hvd is stopping). */
void kvm_cache_done(Driver *drv);

/* Frees n records of seen. Accepts NULL. */
void kvm_seen_free(KvmSeen *seen, size_t n);

/* On a worker: the domains in records as KvmSeen (statistics of the active ones). Returns 0 or
 * -ENOMEM. */
int kvm_seen_from_records(virDomainStatsRecordPtr *records, int n, KvmSeen **ret, size_t *ret_n);

/* Consoles (kvm-console.c): each running domain's serial console is followed through one
 * libvirt stream, for hvd's live event stream and for console_open's clients; a pv domain's
 * virtio console (hvc0) is followed the same way once a client asks for it. A console being
 * opened on a worker already takes clients; they are bridged once the stream arrives. */

/* Opens a non-blocking stream of dom's console device (on a worker); force takes the console
 * over from another session (virsh console). Returns 0, or -1 with libvirt's error set. */
int kvm_console_open_stream(virDomainPtr dom, ConsoleDevice device, bool force, virStreamPtr *ret);

/* Starts following domain name's console device unless it is followed or being opened: opens
 * it on a worker. Returns 0 or a negative errno with e set. */
int kvm_console_follow(Driver *drv, const char *name, const char *uuid, ConsoleDevice device,
                       bool force, Error *e);

/* Follows the console device of domain name (UUID uuid) through st (on the loop), taking
 * ownership of st and replacing any stream followed before; clients waiting for it are bridged
 * now. Returns 0 or a negative errno. */
int kvm_console_adopt(Driver *drv, const char *name, const char *uuid, ConsoleDevice device,
                      virStreamPtr st);

/* Opening domain name's console device failed (error says why): tried again taking it over
 * when clients wait and force was not set, else those clients hear why and are disconnected. */
void kvm_console_failed(Driver *drv, const char *name, ConsoleDevice device, bool force,
                        const Error *error);

/* Connects a new client to the followed console device of name: *ret_fd is a socket that reads
 * the guest's output from now on and writes its input. Returns 0 or a negative errno with e
 * set. */
int kvm_console_connect(Driver *drv, const char *name, ConsoleDevice device, int *ret_fd, Error *e);

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
 * memory_kib always, then cpu_user_ns, cpu_system_ns, vcpus, memory_max_kib, balloon_* as
 * libvirt reports them. NULL when out of memory. */
json_t *kvm_stats_from_record(const virDomainStatsRecord *rec);

/* libvirt's state and reason in a statistics record (when it has VIR_DOMAIN_STATS_STATE).
 * Returns false when the record has none. */
bool kvm_stats_record_state(const virDomainStatsRecord *rec, DomainState *ret_state,
                            DomainReason *ret_reason);
