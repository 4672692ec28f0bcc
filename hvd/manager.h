/* The manager: owns every domain, the store, the allocator and the drivers. Surfaces (D-Bus,
 * HTTP) call only this API; every state change goes through one transition function that checks
 * it, persists it with its allocation in one transaction, and tells every listener. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "alloc.h"
#include "config.h"
#include "api-names.h"
#include "domain.h"
#include "driver.h"
#include "error.h"
#include "network.h"
#include "store.h"

/* One recorded change of a domain's state or runtime, announced once it is committed. */
typedef struct DomainChange {
    DomainState old_state;
    DomainState state;
    DomainReason reason;
    int64_t event_id;
    bool runtime_only; /* same state and reason, a new pid or start time */
    bool last;         /* d's last change in its commit: d's properties are what it made them */
    /* A starting state its start left within the same commit: the state it went on to is
     * announced after it, so the bus leaves it out (the event log keeps it). */
    bool passed;
} DomainChange;

typedef struct PendingCommit PendingCommit;

/* Observers of the manager (the bus, the HTTP event stream). Any slot may be NULL. */
typedef struct ManagerListener {
    void (*domain_new)(void *userdata, Domain *d);
    void (*domain_removed)(void *userdata, Domain *d);
    /* A committed change of d (its state, or with runtime_only its pid or start time). */
    void (*domain_changed)(void *userdata, Domain *d, const DomainChange *change);
    void (*domain_updated)(void *userdata, Domain *d);
    void (*domain_console)(void *userdata, Domain *d, ConsoleDevice device, const char *data,
                           size_t len);
    /* A progress report of d's outgoing migration (borrowed). */
    void (*domain_migration)(void *userdata, Domain *d, const json_t *progress);
    void *userdata;
} ManagerListener;

/* Completion of a pending action: e is NULL on success. d may be NULL if the domain vanished. */
typedef void (*ManagerDone)(void *userdata, Domain *d, const Error *e);

/* Completion of manager_domain_info_fresh: info is borrowed; both are NULL when the domain went
 * away or hvd is stopping. */
typedef void (*ManagerInfoDone)(void *userdata, Domain *d, json_t *info);

typedef struct InfoWait InfoWait;

struct Manager {
    sd_event *event;
    HvdConfig *config; /* owned by the caller, may be replaced by manager_reload() */
    Store *store;
    Allocator alloc;
    Driver *drivers[_DRIVER_KIND_MAX];
    Domain **domains;   /* sorted by name */
    Network **networks; /* sorted by name */
    size_t n_networks;
    size_t n_domains;
    size_t n_domains_allocated;
    struct Hashmap *domains_by_uuid; /* config.uuid -> the same domains */
    ManagerListener listeners[4];
    size_t n_listeners;
    unsigned state_counts[_DOMAIN_STATE_MAX];
    unsigned events_since_prune;
    char *last_status;
    sd_event_source *status_timer;
    sd_event_source *save_timer; /* retries recording states the store refused */
    InfoWait *info_waits;        /* manager_domain_info_fresh calls waiting for a driver */
    /* Group commit (commit.c): the open transaction and what waits for it. */
    bool batch_open;
    bool commit_each; /* the idle commit could not be scheduled */
    unsigned batch_changes;
    sd_event_source *commit_source;
    PendingCommit *pending;
    size_t n_pending;
    size_t n_pending_allocated;
    unsigned save_backoff_s;
    char caller[96]; /* who asked for what is being changed now ("" when hvd itself) */
    sd_event_source *history_timer; /* samples statistics into the histories (history-sampler.c) */
    HistorySeries *host_history;    /* the domains' totals */
    int64_t history_saved_minute;   /* the minute whose start last saved the histories */
    unsigned history_hour_step;     /* the step of the domains' hour rings ([history] memory-mib) */
    size_t history_rings;           /* how many domains' series run or hold an hour ring */
    struct Cluster *cluster;        /* the cluster membership (cluster.h), NULL without [cluster] */
    struct IncomingMigration *incoming_migrations; /* admitted, stream not arrived yet */
};

/* Creates the manager on event with config (borrowed), opens the store under the state dir and
 * loads every domain. Drivers are not opened yet. */
int manager_new(sd_event *event, HvdConfig *config, Manager **ret, Error *e);

/* Commits what waits to be recorded now and answers who waited for it (before hvd stops). */
void manager_flush(Manager *m);

/* Frees the manager; running domains are left running. Accepts NULL; returns NULL. */
Manager *manager_free(Manager *m);

/* Opens one driver per backend with ops (indexed by DriverKind; NULL slots are left out), each
 * taking over its settings (the slots become NULL as they are taken). */
int manager_open_drivers(Manager *m, const DriverOps *const ops[_DRIVER_KIND_MAX],
                         void *settings[_DRIVER_KIND_MAX]);

/* Reconciles every active domain with its driver (re-attach or mark shutoff/daemon), then starts
 * autostart domains once per boot. */
void manager_reconcile_all(Manager *m);

/* Applies a reloaded config (allocation policy, timeouts) and hands each driver its new
 * settings (taken over; the slots become NULL). */
void manager_reload(Manager *m, HvdConfig *config, void *settings[_DRIVER_KIND_MAX]);

/* Registers an observer. */
int manager_add_listener(Manager *m, const ManagerListener *l);

/* Removes every observer registered with userdata. */
void manager_remove_listener(Manager *m, void *userdata);

/* Lookup by name; NULL when absent. */
Domain *manager_find(Manager *m, const char *name);

/* The domain whose UUID is uuid, or NULL. */
Domain *manager_find_uuid(Manager *m, const char *uuid);

/* Lookup that fills e with NoSuchDomain when absent. */
int manager_get(Manager *m, const char *name, Domain **ret, Error *e);

/* Creates a domain from a settings object (see domain_config_from_json); it starts shutoff. */
int manager_domain_create(Manager *m, const json_t *settings, Domain **ret, Error *e);

/* Changes settings of an existing domain (immutable and live rules apply). */
int manager_domain_update(Manager *m, Domain *d, const json_t *settings, Error *e);

/* Deletes a shut-off domain. d is freed on success. */
int manager_domain_delete(Manager *m, Domain *d, Error *e);

/* Runs an action. Returns 0 when it completed, 1 when it is pending (done is called later,
 * exactly once), or a negative errno with e set (done is not called). timeout_s applies to
 * ACTION_SHUTDOWN (0 = the configured default) and to ACTION_REBOOT (0 = MANAGER_REBOOT_TIMEOUT_S).
 */
int manager_domain_action(Manager *m, Domain *d, DomainAction action, unsigned timeout_s,
                          ManagerDone done, void *userdata, Error *e);

#define MANAGER_REBOOT_TIMEOUT_S HVD_REBOOT_TIMEOUT_DEFAULT_S

/* Reboots d: done hears success only once the guest restarted. After timeout_s (0: the
 * default) it hears that the guest did not, unless force, which resets the guest then.
 * Returns as manager_domain_action. */
int manager_domain_reboot(Manager *m, Domain *d, unsigned timeout_s, bool force, ManagerDone done,
                          void *userdata, Error *e);

/* Asks the driver for live information; returns a new JSON object with the domain's fields plus
 * "stats" (driver-specific) when active. */
int manager_domain_info(Manager *m, Domain *d, json_t **ret, Error *e);

/* manager_domain_info with numbers as fresh as the driver can get them without waiting long:
 * calls done at once and returns 0 when they are fresh already (or d is not running), returns
 * 1 when done follows the driver's refresh (which the driver bounds itself), or a negative
 * errno with e set (done is not called). */
int manager_domain_info_fresh(Manager *m, Domain *d, ManagerInfoDone done, void *userdata,
                              Error *e);

/* The last max bytes of the console log of the domain's device (empty when nothing was logged
 * yet); *ret is a new NUL-terminated buffer of *ret_len bytes, as the guest wrote them. */
int manager_domain_console_tail(Manager *m, Domain *d, ConsoleDevice device, size_t max, char **ret,
                                size_t *ret_len, Error *e);

/* Writes input to the domain's console device (a new console connection for the write). */
int manager_domain_console_write(Manager *m, Domain *d, ConsoleDevice device, const char *data,
                                 size_t len, Error *e);

/* Opens the domain's console device through its driver. */
int manager_domain_console(Manager *m, Domain *d, ConsoleDevice device, int *ret_fd, Error *e);

/* Connects to the graphical console (an RFB server) of the running or paused domain through
 * its driver (manager-graphics.c): a new non-blocking fd in *ret_fd, the caller's to close. A
 * domain that is not active, or whose driver has no graphical consoles, is refused with e
 * saying so. Never waits. */
int manager_domain_graphics(Manager *m, Domain *d, int *ret_fd, Error *e);

/* Calls cb for every logged event with id > after_id, oldest first, at most limit of them. */
int manager_events_since(Manager *m, int64_t after_id, unsigned limit,
                         int (*cb)(const StoredEvent *ev, void *userdata), void *userdata);

/* Calls cb for every logged event f selects, in f's order (store_events_query). */
int manager_events_query(Manager *m, const StoreEventFilter *f,
                         int (*cb)(const StoredEvent *ev, void *userdata), void *userdata);

/* Names who asked for the changes made from now on (caller is copied: "uid 1000 over D-Bus",
 * "127.0.0.1 over HTTP"); every event logged meanwhile carries it in its detail as "caller".
 * A surface names the caller just before it calls the manager and clears it (NULL) just after:
 * what follows later (a start completing) is hvd's own doing. */
void manager_set_caller(Manager *m, const char *caller);

/* The id of the newest logged event (0 when there is none). */
int64_t manager_events_last_id(Manager *m);

/* Statistics of every active domain: a new JSON object keyed by domain name (one call per
 * driver where the driver can, one per domain otherwise). */
json_t *manager_stats_all(Manager *m);

/* Called with each domain in name order and its statistics (NULL when it has none: not active,
 * or no sample yet), borrowed for the call: read them, never keep or change them. */
typedef void (*ManagerStatsVisit)(void *userdata, Domain *d, json_t *stats);

/* Calls visit for every domain, without copying anyone's statistics where the driver can lend
 * them (what /metrics and the history sampler read each time). flags: 0, or
 * DRIVER_PEEK_PASSIVE for a reader that asks for no fresher samples (the sampler does, each
 * second). Never waits. */
void manager_stats_foreach(Manager *m, unsigned flags, ManagerStatsVisit visit, void *userdata);

/* Whether visit wants d's statistics at all (manager_stats_foreach_wanted). */
typedef bool (*ManagerStatsWant)(void *userdata, Domain *d);

/* As manager_stats_foreach, but visits only the domains want takes (every one when want is
 * NULL), and asks the drivers for no other domain's statistics. */
void manager_stats_foreach_wanted(Manager *m, unsigned flags, ManagerStatsWant want,
                                  ManagerStatsVisit visit, void *userdata);

/* Called with each domain in name order and its counters (NULL when it has none: not active, or
 * no sample yet), borrowed for the call. */
typedef void (*ManagerCountersVisit)(void *userdata, Domain *d, const DriverCounters *c);

/* Calls visit for every domain with its counters as C values (the driver's peek_counters, or its
 * statistics objects read into counters): what /metrics and the history sampler read each time.
 * flags as manager_stats_foreach's. Never waits. */
void manager_counters_foreach(Manager *m, unsigned flags, ManagerCountersVisit visit,
                              void *userdata);

/* d's statistics history over range as a new object (history_series_json): 1 s points for the
 * last hour (further apart with many domains: [history] memory-mib), 1 min for the day, 10 min
 * for the month. */
json_t *manager_domain_history(Manager *m, Domain *d, HistoryRange range);

/* The same for the host: the totals over its domains (memory: resident, summed). */
json_t *manager_host_history(Manager *m, HistoryRange range);

/* The host view (capacity, reservation, allocation, free, per-driver availability, counts). */
json_t *manager_host_view(Manager *m);

/* The one-line summary used for sd_notify STATUS ("3 running, 5 defined"). */
void manager_status_line(Manager *m, char *buf, size_t n);

/* A child process ended; offered to each driver. */
void manager_child_exited(Manager *m, int pid, int wait_status);

/* The driver that runs d (NULL when its backend is not built in). */
Driver *manager_driver(Manager *m, const Domain *d);

/* Network lookup by name; NULL when absent. */
Network *manager_network_find(Manager *m, const char *name);

/* Network lookup that fills e with NoSuchNetwork when absent. */
int manager_network_get(Manager *m, const char *name, Network **ret, Error *e);

/* Creates a network from {"name", "subnet", "nat", "dhcp"}: records it, makes its bridge (up,
 * with the subnet's first address), starts dnsmasq when dhcp is true and masquerades the subnet
 * out of the host (table ip hvd, IPv4 forwarding) when nat is true. Bad names and subnets, and a
 * subnet that overlaps another network or an address of the host, are refused with e saying
 * why; nothing half-made is left behind on failure. */
int manager_network_create(Manager *m, const json_t *settings, Network **ret, Error *e);

/* Deletes a network no domain names (refused, naming them, otherwise): its record and leases,
 * its dnsmasq and its bridge. n is freed on success. */
int manager_network_delete(Manager *m, Network *n, Error *e);

/* The network as a new JSON object: its fields, the domains that name it, its leases (domain,
 * mac, ipv4) and dnsmasq's pid when DHCP is on. */
int manager_network_info(Manager *m, Network *n, json_t **ret, Error *e);

/* d's network interfaces as a new JSON array: none, or one object with network, plus mac and
 * ipv4 once the domain holds a lease and bridge when the network is hvd's (absent otherwise, the
 * same on every surface: D-Bus cannot carry null). */
json_t *manager_domain_interfaces(Manager *m, Domain *d);

/* Saved state (manager-snapshot.c). Images live under STATE_DIR/images/UUID/ and are recorded in
 * the store; they hold guest memory, vCPU and device state, and reference the domain's disk
 * without copying it. */

/* Largest --count of one clone request. */
#define MANAGER_CLONE_COUNT_MAX 100u

/* A managed save of a running or paused domain: its state is written into an image, recorded,
 * and the domain ends shutoff/saved; the next start resumes from the image (which is then
 * deleted). Returns as manager_domain_action (done hears once the save is recorded). */
int manager_domain_save(Manager *m, Domain *d, ManagerDone done, void *userdata, Error *e);

/* Starts d; with fresh, a managed save it has is discarded first and the guest boots anew.
 * Returns as manager_domain_action. */
int manager_domain_start(Manager *m, Domain *d, bool fresh, ManagerDone done, void *userdata,
                         Error *e);

/* Writes a named snapshot of a running or paused domain, which goes on as it was. name follows
 * the domain name rules. Returns as manager_domain_action. */
int manager_snapshot_create(Manager *m, Domain *d, const char *name, ManagerDone done,
                            void *userdata, Error *e);

/* d's snapshots as a new array, oldest first: name, created_us, size_bytes, contents, disk. */
int manager_snapshot_list(Manager *m, Domain *d, json_t **ret, Error *e);

/* Makes d run the state of its snapshot name: an active domain is destroyed first, a managed
 * save is discarded. done hears once it runs. Returns as manager_domain_action. */
int manager_snapshot_revert(Manager *m, Domain *d, const char *name, ManagerDone done,
                            void *userdata, Error *e);

/* Deletes d's snapshot name (its file and its row); clones running from it keep running. */
int manager_snapshot_delete(Manager *m, Domain *d, const char *name, Error *e);

/* Completion of manager_domain_clone: names is the array of the clones' names (borrowed), e the
 * first failure (a clone that failed to start stays defined, shut off). */
typedef void (*ManagerCloneDone)(void *userdata, json_t *names, const Error *e);

/* Defines count clones of d named new_name (count 1) or new_name-1..new_name-N, each with a new
 * UUID (and a new MAC from its own lease); with snapshot, each is started from that snapshot of
 * d, sharing its pages until it writes. Names are checked first: nothing is created when one is
 * bad or taken. Returns 0 when done (no snapshot; *ret_names set), 1 when done follows, or a
 * negative errno with e set. */
int manager_domain_clone(Manager *m, Domain *d, const char *new_name, const char *snapshot,
                         unsigned count, ManagerCloneDone done, void *userdata, json_t **ret_names,
                         Error *e);

/* Arms or renews d's fencing watchdog (manager-watchdog.c): unless renewed within timeout_ms its
 * backend ends it by itself, hvd running or not (the domain then ends shutoff/fenced). Returns
 * 1 when the renewal went to the backend (never waited for), 0 when d's driver has no watchdog,
 * or a negative errno with e set (d is not running, its backend cannot take it now). */
int manager_domain_watchdog(Manager *m, Domain *d, unsigned timeout_ms, Error *e);

/* d's latest snapshot as a new object {"name", "created_us", "path"} in *ret, NULL when it has
 * none (manager-image-start.c). */
int manager_snapshot_latest(Manager *m, Domain *d, json_t **ret, Error *e);

/* Starts shut-off d (without a managed save) from the image file at path, which need not be one
 * of d's own (the cluster's restart of an HA domain from another host's snapshot): as
 * manager_domain_action(ACTION_START), the image checked by the driver; path stays the
 * caller's. */
int manager_domain_start_image(Manager *m, Domain *d, const char *path, ManagerDone done,
                               void *userdata, Error *e);
