/* The interface every hypervisor backend fills (one vtable, as libvirt's hypervisor drivers),
 * and the dispatcher that turns a missing slot, unknown flags or an unreachable backend into one
 * clear error. Drivers never touch SQLite, D-Bus, HTTP or netlink; they report into the manager
 * through DriverEvents and keep no durable state of their own. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-event.h>

#include "config-keys.h"
#include "domain-config.h"
#include "error.h"

typedef struct Driver Driver;

/* Changes whenever DriverOps, DriverContext or DriverEvents change, so a driver module built
 * for another hvd is refused instead of called wrongly. */
#define DRIVER_ABI \
    (5u << 16 | (unsigned)sizeof(DriverOps) << 4 | (unsigned)sizeof(DriverContext) >> 3)

/* What an operation did: finished now, or accepted with the result to come later through
 * DriverEvents.op_completed (exactly once per accepted operation). */
enum {
    DRIVER_PENDING = 0,
    DRIVER_DONE = 1,
};

/* Flags of reboot: reset the guest when it did not restart within the timeout. */
enum {
    DRIVER_REBOOT_FORCE = 1u << 0,
};

/* Flags of console_open and console_log: the paravirtual console (hvc0) instead of the serial
 * port. A driver or domain without one refuses it. */
enum {
    DRIVER_CONSOLE_VIRTIO = 1u << 0,
};

/* Flags of peek_stats: do not ask the backend for a fresher sample (a reader that the statistics
 * sampler, asking every second, keeps fresh enough: /metrics, the event stream). */
enum {
    DRIVER_PEEK_PASSIVE = 1u << 0,
};

/* Flags of save: leave the domain paused once its image is written (a managed save, which hvd
 * then ends). Without it the domain goes on as it was, running or paused (a snapshot). */
enum {
    DRIVER_SAVE_PAUSE = 1u << 0,
};

/* A snapshot's copy of the domain's disk, for drivers that keep one (kvm, of a qcow2 disk): the
 * file at the image's path with this suffix appended. hvd treats it as part of the image: it is
 * moved into place, sized, listed, and removed with it. */
#define DRIVER_IMAGE_DISK_SUFFIX ".disk.qcow2"

/* Callbacks from a driver into the manager. Called from the event loop, never from inside a
 * driver operation the manager is executing, except tap_open, which serves such an operation. */
typedef struct DriverEvents {
    /* Domain name is now in state/reason (guest powered off, crashed, an operation completed).
     * rt, when not NULL, carries new runtime data; detail is a human sentence or NULL. */
    void (*domain_state)(void *userdata, Driver *drv, const char *name, DomainState state,
                         DomainReason reason, const DomainRuntime *rt, const char *detail);
    /* An operation that returned DRIVER_PENDING finished: e is NULL on success. rt, when not
     * NULL, carries runtime data (start); observed is the state the backend reports after the
     * operation, or _DOMAIN_STATE_INVALID when it cannot say. */
    void (*op_completed)(void *userdata, Driver *drv, const char *name, DomainAction op,
                         const Error *e, const DomainRuntime *rt, DomainState observed);
    /* The backend became reachable or unreachable; why says what happened. */
    void (*availability)(void *userdata, Driver *drv, bool available, const char *why);
    /* Guest console output of a domain on one of its consoles (for live subscribers); may be
     * NULL. */
    void (*console)(void *userdata, Driver *drv, const char *name, ConsoleDevice device,
                    const char *data, size_t len);
    /* Creates the tap c->nic.tap on bridge c->nic.bridge (hvd's netlink, not the driver's)
     * and returns its descriptor in *ret_fd, the caller's to pass to its VMM and close: the
     * tap lives while someone holds it. Called from a driver operation (start, a reboot). */
    int (*tap_open)(void *userdata, Driver *drv, const DomainNic *nic, int *ret_fd, Error *e);
    /* Progress of the outgoing migration of domain name (one object of the backend's figures:
     * phase, iteration, pages_sent, bytes_sent, dirty_pages, expected_downtime_ms, ...). */
    void (*migration_progress)(void *userdata, Driver *drv, const char *name,
                               const json_t *progress);
    /* The outgoing migration that migrate_send accepted ended: e NULL means the target took the
     * domain over and the local instance is ending; otherwise the domain runs here still.
     * result carries the backend's last figures (downtime_ms, ...), or NULL. Exactly once per
     * accepted migration. */
    void (*migration_done)(void *userdata, Driver *drv, const char *name, const Error *e,
                           const json_t *result);
    void *userdata;
} DriverEvents;

/* How an outgoing migration may go (0: the backend's default). */
typedef struct DriverMigrateParams {
    unsigned downtime_ms;     /* the pause the stop-and-copy may take */
    unsigned timeout_s;       /* the pre-copy's time limit */
    unsigned bandwidth_mib_s; /* the most the stream may carry per second (0: no limit) */
    const json_t *target;     /* what the target's driver answered its admission with, or NULL */
} DriverMigrateParams;

/* What the manager hands every driver when it opens it. driver_new() copies the strings: the
 * driver owns its copies (they stay put across a reload, which never changes them). */
typedef struct DriverContext {
    sd_event *event;
    const char *state_dir;
    const char *runtime_dir;
    DriverEvents events;
} DriverContext;

/* Called once on the loop when a refresh_stats() that returned 0 has finished (fresh numbers
 * arrived, or the driver gave up waiting for them). */
typedef void (*DriverRefreshDone)(void *userdata);

/* Called once on the loop when a clone_disk() that returned 0 has finished: e is NULL when the
 * disk was made. */
typedef void (*DriverCloneDone)(void *userdata, const Error *e);

/* A snapshot of a domain as the backend sees it. stats is driver-specific (exits by reason,
 * balloon, ...) and owned by the caller after get_info returns; may be NULL. */
/* Statistics that could not be refreshed for longer than this are marked "stale". */
#define DRIVER_STATS_STALE_MS 2000u

typedef struct DomainInfo {
    DomainState state;
    DomainReason reason;
    uint64_t cpu_time_ns;
    uint64_t memory_kib;
    json_t *stats;
} DomainInfo;

/* Most named counters (exit reasons, devices) one DriverCounters carries of each kind. */
#define DRIVER_COUNTERS_MAX 64

/* One named counter of a domain (an exit reason, a device), name borrowed as its DriverCounters'
 * strings are. */
typedef struct DriverCounter {
    const char *name;
    uint64_t value;
} DriverCounter;

/* The numbers of an active domain that the surfaces reading every domain at once use (/metrics,
 * the statistics history, the event stream's choice of what to send), as plain C values: what
 * get_stats would give, without building it. Strings are borrowed from the driver (good until
 * the caller returns to the loop). */
typedef struct DriverCounters {
    uint64_t cpu_time_ns;
    uint64_t memory_kib;
    bool has_age;          /* stats_age_ms is known (a sample arrived) */
    uint64_t stats_age_ms; /* how old the numbers are */
    bool stale;            /* they could not be refreshed for DRIVER_STATS_STALE_MS */
    bool has_throttled;    /* the CPU cap's figures (cgroup cpu.stat) are known */
    uint64_t cpu_throttled_ns, cpu_throttled_count;
    /* Exits by reason, in the driver's order, "total" among them when it counts one; exits by
     * device. */
    size_t n_exits, n_device_exits;
    DriverCounter exits[DRIVER_COUNTERS_MAX], device_exits[DRIVER_COUNTERS_MAX];
    uint64_t exits_total;
    uint64_t disk_read_bytes, disk_write_bytes;
    bool net_attached; /* the domain has a network device the figures below count */
    uint64_t net_tx_frames, net_rx_frames, net_tx_bytes, net_rx_bytes, net_tx_dropped,
        net_rx_dropped;
} DriverCounters;

/* Fills c from a statistics object in get_stats' terms (cpu_time_ns, memory_kib, stats_age_ms,
 * stale, cpu_throttled_ns, cpu_throttled_count, exits_by_reason, exits_by_device, block's
 * read_sectors and write_sectors, net): for drivers that keep their numbers as JSON. Fields
 * stats lacks are 0 (false); negative or non-integer values count as absent. The counters'
 * names are stats' keys, borrowed. */
void driver_counters_from_json(json_t *stats, DriverCounters *c);

typedef struct DriverOps {
    const char *name; /* also the name of its configuration section */
    DriverKind kind;
    /* Parses the driver's configuration section (NULL when the file has none: the defaults)
     * into a new settings object of the driver's own, applying nothing. Unknown keys and bad
     * values fail with e = "FILE:LINE: reason". Called at start-up and at every reload, before
     * anything is applied, so a reload any driver refuses is refused as a whole. */
    int (*settings_parse)(const ConfigSection *section, void **ret, Error *e);
    /* Frees what settings_parse made. Accepts NULL. */
    void (*settings_free)(void *settings);
    /* Prints the settings as the lines of the driver's section (hvd --check-config). */
    void (*settings_print)(const void *settings, FILE *f);
    /* The settings in drv->settings were replaced at a reload; old are the previous ones (freed
     * by the caller after this returns). What takes effect when is the driver's to decide and
     * to document (say, the next start). May be NULL. */
    void (*settings_changed)(Driver *drv, const void *old);
    /* Opens the backend. May leave drv unavailable (driver_set_available(false)) and return 0:
     * the backend is then retried or reported, never fatal to hvd. */
    int (*open)(Driver *drv, Error *e);
    /* Releases the backend without touching running domains. Returns false when a backend call
     * that hangs could not be waited out (hvd is stopping): drv must then be left allocated,
     * since that call still refers to it. */
    bool (*close)(Driver *drv);
    /* Checks settings this backend cannot run (beyond the generic validation). */
    int (*validate)(Driver *drv, const DomainConfig *c, Error *e);
    /* Lifecycle. Return DRIVER_DONE, DRIVER_PENDING or a negative errno with e set. start fills
     * rt with the new instance's runtime data. */
    int (*start)(Driver *drv, const DomainConfig *c, DomainRuntime *rt, unsigned flags, Error *e);
    int (*shutdown)(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                    Error *e);
    int (*destroy)(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                   Error *e);
    int (*pause)(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                 Error *e);
    int (*resume)(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                  Error *e);
    /* Asks the guest to restart and reports success only once it did (a restart of the guest, or
     * a new run of its instance); after timeout_s it reports that the guest did not, or with
     * DRIVER_REBOOT_FORCE resets it then. Nothing of the request stays armed after a failure. */
    int (*reboot)(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned timeout_s,
                  unsigned flags, Error *e);
    /* Fills info for an active domain. Never waits on the backend: it answers from what the
     * driver knows now, and info->stats carries "stats_age_ms" (how old the numbers are) and
     * "stale": true when they could not be refreshed for DRIVER_STATS_STALE_MS. */
    int (*get_info)(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, DomainInfo *info,
                    unsigned flags, Error *e);
    /* Asks the backend for fresh statistics of c (of every active domain when c is NULL)
     * without waiting: returns 0 when a refresh is under way (done is called once, later, also
     * when the driver gives up after its own short bound), 1 when the numbers are fresh already
     * (done is not called), or a negative errno. done may be NULL. close drops the refreshes
     * still in flight without calling their done. */
    int (*refresh_stats)(Driver *drv, const DomainConfig *c, DriverRefreshDone done,
                         void *userdata);
    /* Applies c's resource settings (cpu_weight, cpu_cap, memory_limit) to its active instance
     * at once, without a restart. Returns 0 when they are in force, or a negative errno with e
     * set (the instance keeps the previous ones). A backend that must ask its daemon never
     * waits: it queues the change and returns 0 (a late refusal is logged at debug level; the
     * next start applies the settings from the definition again). */
    int (*set_resources)(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                         unsigned flags, Error *e);
    /* Returns a new fd carrying the domain's console (read: output, write: input). Never waits
     * on the backend. */
    int (*console_open)(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int *ret_fd,
                        unsigned flags, Error *e);
    /* The file the domain's console output is logged to (it may not exist yet). Returns a new
     * string in *ret_path. */
    int (*console_log)(Driver *drv, const DomainConfig *c, unsigned flags, char **ret_path,
                       Error *e);
    /* Statistics of every active domain of this backend in one call: a new JSON object keyed by
     * domain name, each value an object with at least cpu_time_ns and memory_kib, plus
     * backend-specific fields (balloon, exits by reason, ...). Answers from the driver's cache
     * as get_info does, and never waits. */
    int (*get_stats)(Driver *drv, json_t **ret, unsigned flags, Error *e);
    /* The statistics get_stats would give for c (NULL when it has none yet), as a new reference
     * the caller releases and does not change (it may be shared with the driver's cache). For
     * surfaces that want one domain's whole object at a time (the event stream) without every
     * domain's. Asks for a fresher sample as get_stats does, unless flags has
     * DRIVER_PEEK_PASSIVE; NULL on unknown flags. Never waits. Optional. */
    json_t *(*peek_stats)(Driver *drv, const DomainConfig *c, unsigned flags);
    /* Fills *ret with c's counters (what get_stats would give for it, as C values) and returns
     * 1, or 0 when it has none yet (also on unknown flags), building no JSON: the way /metrics
     * and the history sampler read every domain each second. flags as peek_stats'. Never waits.
     * Optional: without it, hvd fills the counters from peek_stats' or get_stats' objects. */
    int (*peek_counters)(Driver *drv, const DomainConfig *c, unsigned flags, DriverCounters *ret);
    /* After an hvd restart: adopts the instance recorded in rt if it still exists. On entry
     * *ret_state holds the state hvd recorded. Returns 1 and fills state/reason when it runs, 0
     * when it is gone (e says what was found). Never waits on the backend: what it can only
     * learn later it reports through DriverEvents. */
    int (*reattach)(Driver *drv, const DomainConfig *c, DomainRuntime *rt, DomainState *ret_state,
                    DomainReason *ret_reason, unsigned flags, Error *e);
    /* After every recorded domain was re-attached: ends instances that no domain claims (left
     * by an hvd that died between starting them and recording them). Returns how many. */
    unsigned (*sweep)(Driver *drv);
    /* Forgets any backend-side definition of a deleted domain. */
    int (*undefine)(Driver *drv, const DomainConfig *c, unsigned flags, Error *e);
    /* A child process exited (hvd reaps every child); returns 1 when it was this driver's. */
    int (*child_exited)(Driver *drv, int pid, int wait_status);
    /* What the driver wants the host view to show of it (merged into drivers.<name>): a new
     * JSON object, with "summary", one line for people, when it has something to say. Answers
     * from what the driver knows, and never waits. May be NULL. */
    json_t *(*host_info)(Driver *drv);
    /* Saved state (drivers that have none leave these NULL: hvd says the driver does not
     * support them). save writes the active domain's memory, vCPU and device state into a new
     * file at path (hvd's choice, under its state directory; disks are referenced, except that
     * a snapshot may also write the disk's state at that moment to path plus
     * DRIVER_IMAGE_DISK_SUFFIX, which start_image then writes back) and completes ACTION_SAVE
     * through op_completed once the file is complete and on disk (fsynced), observed being the
     * state the domain is left in. A failure leaves no promise about path (hvd removes it). */
    int (*save)(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, const char *path,
                unsigned flags, Error *e);
    /* start, continuing the domain saved in the image at path instead of booting it: the image
     * is checked (format, ABI, c's mode, memory and vCPUs) and a refusal completes ACTION_START
     * with an error saying why. path stays hvd's: the driver never removes it. */
    int (*start_image)(Driver *drv, const DomainConfig *c, DomainRuntime *rt, const char *path,
                       unsigned flags, Error *e);
    /* Returns a new fd (non-blocking, close-on-exec) connected to the active domain's graphical
     * console, an RFB (VNC) server, for the caller to speak RFB over and close. Never waits on
     * the backend: a server that takes no connection at once fails with e->errnum -EAGAIN, for
     * the caller to try again shortly. NULL: the driver's domains have no graphical console. */
    int (*graphics_open)(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int *ret_fd,
                         unsigned flags, Error *e);
    /* true when an image restores only into the domain that made it (libvirt checks the UUID):
     * clones cannot start from a snapshot. */
    bool images_per_domain;
    /* Makes the disk of a clone of the shut-off domain c without waiting: a new copy-on-write
     * image at path (hvd's choice, under its state directory) whose backing file is c's disk,
     * which must not change while a clone uses it. Returns 0 and calls done once later, or a
     * negative errno with e set (done is not called). NULL: clones share c's disk. */
    int (*clone_disk)(Driver *drv, const DomainConfig *c, const char *path, DriverCloneDone done,
                      void *userdata, Error *e);
    /* Live migration (drivers without it leave these NULL). migrate_send moves the running
     * domain to the backend at the other end of the connected stream socket fd (borrowed: the
     * driver hands its backend a copy), reporting DriverEvents.migration_progress as it goes
     * and DriverEvents.migration_done once. migrate_cancel asks the migration under way to stop
     * (it then ends in migration_done with an error). start_incoming is start, receiving the
     * domain over fd (borrowed) instead of booting it; ACTION_START completes once the guest
     * runs here, within timeout_s. */
    int (*migrate_send)(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int fd,
                        const DriverMigrateParams *params, unsigned flags, Error *e);
    int (*migrate_cancel)(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                          unsigned flags, Error *e);
    int (*start_incoming)(Driver *drv, const DomainConfig *c, DomainRuntime *rt, int fd,
                          unsigned timeout_s, unsigned flags, Error *e);
    /* What the source's driver needs besides the stream to send c here (kvm: libvirt's URI and
     * the definition c gets here), for the admission answer: a new object, or NULL (also a NULL
     * slot) when the stream carries everything. */
    json_t *(*migrate_target)(Driver *drv, const DomainConfig *c);
    /* Arms or renews the fencing watchdog of c's active instance: unless renewed within
     * timeout_ms, the backend ends the domain by itself, with or without hvd, and the driver
     * reports it shutoff/fenced (at reattach too). Never waits: a renewal the backend does not
     * take is logged at debug level, and the next one tries again. NULL: no watchdog (kvm). */
    int (*watchdog)(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                    unsigned timeout_ms, unsigned flags, Error *e);
} DriverOps;

struct Driver {
    const DriverOps *ops;
    DriverContext ctx;
    /* The driver's settings (from settings_parse), replaced at a reload: pointers into them
     * are good until the next settings_changed; copy what must outlive that. */
    void *settings;
    bool available;
    char *unavailable_reason;
    void *data; /* backend-private */
};

/* Creates a driver for ops with ctx (copied) and settings (taken over; NULL: parsed from no
 * section, the defaults) and opens it. On an open error the driver is still returned, marked
 * unavailable with the reason, so hvd can report it. */
int driver_new(const DriverOps *ops, const DriverContext *ctx, void *settings, Driver **ret);

/* Parses ops' section (NULL: the defaults) into *ret. A driver without settings gets NULL;
 * one with none of its own refuses any key. */
int driver_settings_parse(const DriverOps *ops, const ConfigSection *section, void **ret, Error *e);

/* Frees settings made for ops. Accepts NULL. */
void driver_settings_free(const DriverOps *ops, void *settings);

/* Replaces drv's settings by settings (taken over) and tells the driver. */
void driver_settings_replace(Driver *drv, void *settings);

/* Closes and frees. Accepts NULL; returns NULL. */
Driver *driver_free(Driver *drv);

/* Marks the driver (un)available and tells the manager. why is copied. */
void driver_set_available(Driver *drv, bool available, const char *why);

/* Dispatchers: check the slot, the flags and availability, then call the backend. */
int driver_validate(Driver *drv, const DomainConfig *c, Error *e);
int driver_start(Driver *drv, const DomainConfig *c, DomainRuntime *rt, unsigned flags, Error *e);
int driver_shutdown(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                    Error *e);
int driver_destroy(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                   Error *e);
int driver_pause(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                 Error *e);
int driver_resume(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned flags,
                  Error *e);
int driver_reboot(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, unsigned timeout_s,
                  unsigned flags, Error *e);
int driver_get_info(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, DomainInfo *info,
                    unsigned flags, Error *e);
/* A driver without the slot refuses resource changes of active domains as unsupported. */
int driver_set_resources(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                         unsigned flags, Error *e);
int driver_console_open(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int *ret_fd,
                        unsigned flags, Error *e);
int driver_console_log(Driver *drv, const DomainConfig *c, unsigned flags, char **ret_path,
                       Error *e);
int driver_get_stats(Driver *drv, json_t **ret, unsigned flags, Error *e);
int driver_refresh_stats(Driver *drv, const DomainConfig *c, DriverRefreshDone done,
                         void *userdata);
int driver_reattach(Driver *drv, const DomainConfig *c, DomainRuntime *rt, DomainState *ret_state,
                    DomainReason *ret_reason, unsigned flags, Error *e);
int driver_undefine(Driver *drv, const DomainConfig *c, unsigned flags, Error *e);
int driver_child_exited(Driver *drv, int pid, int wait_status);
/* Saved state: a driver without the slot refuses as unsupported. */
int driver_save(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, const char *path,
                unsigned flags, Error *e);
int driver_start_image(Driver *drv, const DomainConfig *c, DomainRuntime *rt, const char *path,
                       unsigned flags, Error *e);
/* A driver without the slot answers that c has no graphical console. */
int driver_graphics_open(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int *ret_fd,
                         unsigned flags, Error *e);
/* A driver without the slot refuses as unsupported; check driver_has_clone_disk() first. */
int driver_clone_disk(Driver *drv, const DomainConfig *c, const char *path, DriverCloneDone done,
                      void *userdata, Error *e);
static inline bool driver_has_clone_disk(const Driver *drv)
{
    return drv->ops->clone_disk != NULL;
}
/* Live migration: a driver without the slots refuses as unsupported. */
int driver_migrate_send(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int fd,
                        const DriverMigrateParams *params, unsigned flags, Error *e);
int driver_watchdog(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                    unsigned timeout_ms, unsigned flags, Error *e);
int driver_migrate_cancel(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                          unsigned flags, Error *e);
int driver_start_incoming(Driver *drv, const DomainConfig *c, DomainRuntime *rt, int fd,
                          unsigned timeout_s, unsigned flags, Error *e);
/* The driver's part of the host view (a new object, or NULL when it has none to give). */
json_t *driver_host_info(Driver *drv);
