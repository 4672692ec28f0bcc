/* Shared by the minihv driver's files: the driver state and one running instance. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "console-fanout.h"
#include "driver.h"
#include "hashmap.h"
#include "minihv-cgroup.h"
#include "minihv-control.h"
#include "minihv-pool.h"
#include "minihv-spawner.h"

/* How long any control request may go unanswered (a stopped minihv never answers). */
#define CONTROL_TIMEOUT_MS 1000
/* Statistics younger than this are not asked for again. */
#define STATS_FRESH_MS 250
/* refresh_stats calls its done after this at the latest. */
#define STATS_REFRESH_WAIT_MS 250
/* Queued stats requests go 16 every 5 ms: the replies of a sampler tick over every running
 * domain come spread out instead of in one burst a start's readiness waits behind, and hvd asks
 * at most 3200 VMMs a second (with more running, each is sampled less often than once a
 * second). */
#define STATS_KICKS_PER_BATCH   16
#define STATS_BATCH_INTERVAL_US (5 * USEC_PER_MSEC)
/* Reads of VMMs' statistics pages that go in one queued request's place (minihv-stats.c). */
#define STATS_PAGE_READS_PER_KICK 16
/* Console input held for a minihv that does not read it yet; more is dropped and counted. */
#define CONSOLE_INPUT_MAX 65536

/* [minihv] resource-control: auto enforces when the cgroups can be used and says why not
 * otherwise; yes refuses to start a domain it cannot enforce; no never uses cgroups. */
enum {
    MINIHV_RESOURCES_AUTO,
    MINIHV_RESOURCES_YES,
    MINIHV_RESOURCES_NO,
};

/* The largest [minihv] warm-pool, and the memory of its guests by default (MiB): the minihv
 * program's own default. */
#define MINIHV_WARM_POOL_MAX        64u
#define MINIHV_WARM_POOL_MEMORY_MIB 32u

/* What a domain's memory limit adds to its guest RAM by default (the VMM's own memory). */
#define MINIHV_MEMORY_MARGIN_MIB 64u

/* [minihv]: the program that runs a domain, the directory of installed guests, and resource
 * enforcement: whether, the subtree's path inside each cgroup hierarchy ("auto": the
 * service's own cgroup under systemd, else /hvd), and the default memory margin. */
typedef struct MinihvSettings {
    char *binary;
    char *guest_dir;
    int resource_control;
    char *cgroup_root;
    uint64_t memory_margin_mib;
    /* The warm pool (minihv-pool.c): how many VMMs wait, for guests of which shape. */
    unsigned warm_pool;
    int warm_pool_mode; /* DomainMode */
    uint64_t warm_pool_memory_mib;
    unsigned warm_pool_vcpus;
} MinihvSettings;

typedef struct Instance Instance;
typedef struct StatsRefresh StatsRefresh;
typedef struct StatsAwait StatsAwait;
typedef struct StatsPageFetch StatsPageFetch;
typedef struct StatsPage StatsPage;

typedef struct MinihvDriver {
    Driver *drv;
    char *run_dir;           /* RUNTIME_DIR/minihv: control sockets, stats files, VMM logs */
    char *console_dir;       /* STATE_DIR/consoles: console logs (they outlive a restart) */
    Hashmap *instances;      /* domain name -> Instance */
    StatsRefresh *refreshes; /* refresh_stats calls waiting for answers (minihv-stats.c) */
    /* Instances whose sample is due for a refresh, asked a few at a time so a sampler
     * tick over every running domain does not hold the loop (minihv-stats.c). */
    Instance *stats_queue_head, *stats_queue_tail;
    sd_event_source *stats_queue_source;
    CgroupTree *cgroups;     /* NULL: resource control is off (minihv-resources.c) */
    char *cgroups_off;       /* why it is off, when it is */
    char **cgroups_leftover; /* unclaimed groups still to remove once their processes end */
    sd_event_source *leftover_timer;
    unsigned leftover_tries;
    MinihvPool *pool;       /* the warm pool (minihv-pool.c); NULL when it could not be made */
    MinihvSpawner *spawner; /* what VMMs are started through and their ends come from */
    /* Destroyed instances whose guest has stopped and whose process is still going away: their
     * destroy is reported, their process and its cgroups are not gone yet (minihv-ending.c). */
    Instance *ending;
    unsigned n_ending;
    /* Probes past PROBES_IN_FLIGHT_MAX wait here, oldest first (minihv-instance.c): a re-attach
     * of thousands asks a few VMMs at a time, so hvd answers its callers meanwhile. */
    Instance *probe_queue_head, *probe_queue_tail;
    unsigned probes_in_flight, probes_queued;
    sd_event_source *probe_queue_source; /* starts the next probes, from the loop */
} MinihvDriver;

struct Instance {
    MinihvDriver *md;
    DomainConfig config;
    char *guest; /* resolved guest image */
    char *control_path;
    char *stats_path;
    char *vmm_log_path;
    int pid;
    uint64_t start_ticks;
    int pidfd; /* an adopted process's while no console connection tells its end; else -EBADF */
    bool own_child; /* hvd started it: the spawner tells its end (minihv_vmm_exited) */
    int tap_fd;     /* hvd's tap for the domain's NIC until its VMM has it; -EBADF when none */
    sd_event_source *pidfd_source;
    int ready_fd;
    sd_event_source *ready_source;
    sd_event_source *ready_timer;
    bool ready;
    bool have_wait_status;
    int wait_status;
    /* The operation this instance's next readiness completes: ACTION_START for a start,
     * ACTION_REBOOT for a reboot hvd asked for, -1 after a reboot the guest asked for. */
    int completes;
    bool destroy_requested;
    bool paused;           /* as minihv last told hvd, or as hvd recorded it before an adoption */
    ControlCall *calls[8]; /* control requests in flight (pause, resume, ...) */
    DomainAction call_ops[8]; /* the operation each of them carries out */
    unsigned state_requests;  /* pause and resume requests sent, so a late answer of the
                               * check below (confirmed) does not undo one */

    /* Whether minihv confirmed (info) that it runs this domain in the state hvd knows: not yet
     * after an adoption or an unanswered pause or resume. The check in flight, and the value
     * of state_requests when it was sent. */
    bool confirmed;
    ControlCall *probe_call;
    unsigned probe_state_requests;
    bool probe_queued; /* waiting in the driver's probe queue */
    Instance *probe_queue_next;
    char *end_detail; /* why hvd ended the process itself, reported when it has ended */
    bool in_cgroup;   /* the process runs in the domain's cgroups (minihv-resources.c) */

    /* Statistics (minihv-stats.c): the last sample a stats request brought, in hvd's terms (NULL
     * when none, or once the page has newer numbers: a page is read when asked, nothing of it
     * is kept), when it came, whether inst has had a sample at all, when the numbers were taken
     * (CLOCK_MONOTONIC), whether the last refresh failed, the one in flight. */
    json_t *stats;
    uint64_t stats_request_usec;
    bool stats_sampled;
    uint64_t stats_usec;
    bool stats_failed;
    ControlCall *stats_call;
    uint64_t stats_asked_usec; /* CLOCK_MONOTONIC when stats_call (or stats_page_fetch) was sent */
    StatsAwait *stats_awaits;  /* the refreshes waiting for its next answer */
    bool stats_queued;         /* in md's stats queue */
    Instance *stats_queue_prev, *stats_queue_next;
    /* The VMM's statistics page (minihv-stats-page.c): mapped read-only (NULL until fetched),
     * the fetch in flight, whether it was refused or not offered (then samples come from stats
     * requests), no fetch before retry_usec. */
    const void *stats_page;
    StatsPageFetch *stats_page_fetch;
    bool stats_page_refused;
    uint64_t stats_page_retry_usec;
    uint64_t stats_page_heartbeat; /* the page's heartbeat_ns at that read */

    /* Console (minihv-console.c): one connection to minihv, its clients, input not sent yet. */
    int console_fd;
    sd_event_source *console_source;
    ControlCall *console_call;
    ConsoleFanout *console_clients;
    char *console_in;
    size_t console_in_len;
    uint64_t console_in_dropped;

    /* Saved state (minihv-snapshot.c): the image the next process continues instead of booting
     * the guest (a restore; a reboot afterwards boots afresh), and a save in flight. */
    char *restore_path;
    ControlCall *save_call;

    /* Live migration (minihv-migrate.c): the stream the next process receives the guest from
     * (-EBADF: none), how long its readiness may take (0: the usual bound), and the outgoing
     * migration in flight. */
    int incoming_fd;
    uint64_t ready_timeout_us;
    ControlCall *migrate_call;
    bool migrate_ending; /* it failed while a destroy was under way: reported once it ended */

    ControlCall *watchdog_call; /* the watchdog's renewal in flight (minihv-watchdog.c) */
    /* A destroy completed when the guest stopped (minihv-ending.c): this instance is in
     * md->ending until its process is gone; the domain's next instance, started meanwhile,
     * waits for that (deferred, its predecessor this one) before it spawns. */
    bool ending;
    Instance *ending_next;
    Instance *successor;
    Instance *predecessor;
};

static inline MinihvDriver *minihv(Driver *drv)
{
    return drv->data;
}

static inline const MinihvSettings *minihv_settings(const Driver *drv)
{
    return drv->settings;
}

/* The settings slots (minihv-settings.c). */
int minihv_settings_parse(const ConfigSection *section, void **ret, Error *e);
void minihv_settings_free(void *settings);
void minihv_settings_print(const void *settings, FILE *f);

/* Resolves the guest image of c: an absolute path, or a bare name such as "hello" that names
 * an installed guest (<guest-dir>/<name>-<mode>.elf). e lists the installed guests when the
 * name is unknown. */
int minihv_resolve_guest(Driver *drv, const DomainConfig *c, char **ret, Error *e);

/* Starts `minihv run` for c. The instance reports readiness and its end through the driver's
 * events. Returns the new instance (registered under the domain's name). */
int instance_spawn(MinihvDriver *md, const DomainConfig *c, int completes, Instance **ret,
                   Error *e);

/* As instance_spawn, continuing the domain saved in the image at restore_path (NULL: booting
 * the guest). */
int instance_spawn_from(MinihvDriver *md, const DomainConfig *c, const char *restore_path,
                        int completes, Instance **ret, Error *e);

/* As instance_spawn for ACTION_START, receiving the guest over the migration stream fd (taken
 * over) instead of booting it; its readiness (the guest runs here) may take ready_timeout_us. */
int instance_spawn_incoming(MinihvDriver *md, const DomainConfig *c, int fd,
                            uint64_t ready_timeout_us, Instance **ret, Error *e);

/* The save and start_image slots (minihv-snapshot.c). */
int minihv_save(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, const char *path,
                unsigned flags, Error *e);
int minihv_start_image(Driver *drv, const DomainConfig *c, DomainRuntime *rt, const char *path,
                       unsigned flags, Error *e);

/* The migration slots (minihv-migrate.c). */
int minihv_migrate_send(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int fd,
                        const DriverMigrateParams *params, unsigned flags, Error *e);
int minihv_migrate_cancel(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                          unsigned flags, Error *e);
int minihv_start_incoming(Driver *drv, const DomainConfig *c, DomainRuntime *rt, int fd,
                          unsigned timeout_s, unsigned flags, Error *e);

/* The process of inst ended (exit status, -1 when not known) during an outgoing migration: it
 * completes, as done when the status says migrated and as failed otherwise. */
void instance_migrate_ended(Instance *inst, int status);

/* Whether the last process of c ended migrated (its statistics file says so). */
bool minihv_ended_migrated(MinihvDriver *md, const DomainConfig *c);

/* Drops the outgoing migration's call without reporting (the instance is being freed). */
void instance_migrate_stop(Instance *inst);

/* The process of inst ended during a save: the save fails, saying so. */
void instance_save_abort(Instance *inst);

/* A new instance of c, not started nor registered (minihv-instance.c). */
int instance_new(MinihvDriver *md, const DomainConfig *c, Instance **ret, Error *e);

/* Reports a state of inst hvd did not ask for, through DriverEvents.domain_state. */
void instance_report_state(Instance *inst, DomainState state, DomainReason reason,
                           const char *detail);

/* The rest is minihv-adopt.c's.
 * Adopts the minihv process recorded in rt after an hvd restart, when its pid still runs and
 * started when recorded. Never waits: returns 1 at once, assuming the state hvd recorded
 * (recorded: paused stays paused, anything else is running), or 0 when the process is gone (e
 * says what was found). minihv's own account (info) is asked for without waiting: a paused or
 * running state other than the recorded one is reported through DriverEvents.domain_state, a
 * process answering for another domain or not serving its socket at all is killed (its end is
 * reported as shutoff/daemon), and one that does not answer in time stays adopted and is asked
 * again with its next statistics. */
int instance_adopt(MinihvDriver *md, const DomainConfig *c, const DomainRuntime *rt,
                   DomainState recorded, Error *e);

/* Until minihv confirmed an instance (adopted, or after an unanswered pause or resume): asks it
 * (info) without waiting, unless asked already; a state other than the one hvd knows is reported
 * through DriverEvents.domain_state. A socket nobody serves any more ends the process as one
 * answering for another domain does. */
void instance_probe(Instance *inst);

/* Drops the probes still queued and the source that starts them (the driver's close). */
void minihv_probes_drop(MinihvDriver *md);

/* Takes inst's probe out of the queue, or cancels it in flight (its instance is going). */
void instance_probe_cancel(Instance *inst);

/* minihv answered a request: finishes what waited for it to answer (the adoption check, the
 * console connection). */
void instance_answers(Instance *inst);

/* The running instance of a domain, or NULL. */
Instance *instance_find(MinihvDriver *md, const char *name);

/* Sends a control request for op on the event loop; the reply completes op. */
int instance_control(Instance *inst, DomainAction op, json_t *request, Error *e);

/* Forcibly ends the process (SIGKILL through a pidfd opened for it, when its pid still names the
 * process hvd knows). */
void instance_kill(Instance *inst);

/* Makes sure hvd learns at once when the process of inst ends, holding at most one descriptor:
 * for hvd's own VMM, the spawner tells (nothing held); for an adopted process, the failure of a
 * connection being made to it (the probe, the console) or the console connection's hang-up once
 * open, else a pidfd (opened here, dropped once the console is connected). Call when one of
 * those connections opened, failed, was answered or was lost. */
void instance_watch_end(Instance *inst);

/* Handles the end of the process (wait status known for hvd's own children). */
void instance_exited(Instance *inst);

/* The spawner's callbacks (minihv-driver.c): a VMM's end (wait_status < 0: not known), and the
 * spawner's own end. userdata is the MinihvDriver. */
void minihv_vmm_exited(void *userdata, int pid, int wait_status);
void minihv_spawner_lost(void *userdata);

/* Frees an instance that has ended, unregistering it. */
void instance_free(Instance *inst);

/* Spawns the process of an instance that waited for its predecessor's to be gone; a failure
 * fails the operation it was to complete and frees it. */
void instance_start_deferred(Instance *inst);

/* Drops an instance still waiting for its predecessor (a destroy before it spawned): the
 * operation it was to complete fails, and it is freed. */
void instance_cancel_deferred(Instance *inst);

/* minihv-ending.c */

/* A destroy's control call saw the guest stopped (its vCPUs joined): reports the destroy done
 * and keeps inst in md->ending until its process is gone. Returns false (nothing done: the
 * destroy completes when the process ends) while a save or a migration is under way. */
bool instance_end_early(Instance *inst);

/* Whether a destroy may complete when the guest stops, rather than when the process ends. */
bool instance_may_end_early(const Instance *inst);

/* The ending instance of a domain, or NULL. */
Instance *minihv_ending_find(MinihvDriver *md, const char *name);

/* When inst is ending: its process is gone, so its cgroups go, its successor (if any) is
 * spawned and inst is freed; returns true. Returns false for any other instance. */
bool instance_ending_exited(Instance *inst);

/* Takes inst out of md->ending and unties it from its successor or predecessor (instance_free
 * calls it). */
void instance_ending_forget(Instance *inst);

/* Forgets every ending instance (their processes finish on their own): at driver shutdown. */
void minihv_ending_free_all(MinihvDriver *md);

/* The paths of a domain's files, as new strings. */
char *minihv_path(MinihvDriver *md, const DomainConfig *c, const char *suffix);

/* Statistics (minihv-stats.c). Asks minihv for a fresh sample unless one is on its way; the
 * answer (or a failure, or no answer within CONTROL_TIMEOUT_MS) lands in the cache. */
void instance_stats_kick(Instance *inst);

/* Forgets the cache and the request in flight (the process ended or is replaced); refreshes
 * waiting for it stop waiting. */
void instance_stats_stop(Instance *inst);

/* The statistics of inst as a new object (built now from its page, or the last request's
 * sample), with "stats_age_ms" (absent before the first sample), "stale" and
 * "console_input_dropped_bytes"; asks for a fresh sample when the numbers are older than
 * STATS_FRESH_MS. Never waits. NULL when out of memory. */
json_t *instance_stats_json(Instance *inst);

/* As instance_stats_json, but NULL before the first sample; with refresh false, asks for no
 * fresher one. */
json_t *instance_stats_sample(Instance *inst, bool refresh);

/* The peek_stats slot. */
json_t *minihv_peek_stats(Driver *drv, const DomainConfig *c, unsigned flags);

/* The peek_counters slot: the page's numbers read now into ret, or the last request's sample's. */
int minihv_peek_counters(Driver *drv, const DomainConfig *c, unsigned flags, DriverCounters *ret);

/* The refresh_stats slot. */
int minihv_refresh_stats(Driver *drv, const DomainConfig *c, DriverRefreshDone done,
                         void *userdata);

/* Drops every refresh still waiting, without calling its done, and stops sending queued stats
 * requests (the driver is closing). */
void minihv_refreshes_drop(MinihvDriver *md);

/* A fetch of inst's statistics page ended (mapped or not): the sample it was for is taken from
 * the page, or asked for. */
void instance_stats_page_done(Instance *inst);

/* Statistics page (minihv-stats-page.c). Asks inst's VMM for its page ({"cmd":"stats-page"},
 * the memfd as SCM_RIGHTS) without waiting, unless it is mapped, being fetched, refused, or a
 * failed fetch is younger than a few seconds. Returns whether a fetch is in flight; its end
 * calls instance_stats_page_done. The descriptor is closed once mapped. */
bool instance_stats_page_fetch(Instance *inst);

/* Reads inst's page now into *ret (a checked copy; ret may be NULL) and notes how old its
 * numbers are: as old as the read while the VMM's main loop ticks (each second), ageing from its
 * tick's due time once that is overdue (a wedged VMM turns stale). Returns false when inst has
 * no page, or when the page is refused now: that is logged once, the page unmapped, and inst's
 * samples come from stats requests from then on. */
bool instance_stats_page_read(Instance *inst, StatsPage *ret);

/* Unmaps inst's page and drops a fetch in flight (the process ended or is replaced). */
void instance_stats_page_drop(Instance *inst);

/* Console (minihv-console.c). Opens the connection to minihv's console without waiting, unless
 * it is open or being opened, or inst is an adopted process not confirmed yet (its probe opens
 * it); its output goes to the event stream and to every client. */
void instance_console_attach(Instance *inst);

/* Takes fd, a console connection minihv switched to the stream (early: output that came with its
 * reply), as inst's console. */
void instance_console_opened(Instance *inst, int fd, const char *early, size_t early_len);

/* Closes the connection to minihv (the process ended); input not sent yet is dropped and
 * counted. Clients stay connected, for the next process of a reboot. */
void instance_console_detach(Instance *inst);

/* Connects a new console client: *ret_fd reads the guest's output from now on and writes its
 * input (held, up to CONSOLE_INPUT_MAX, while minihv does not take it). Never waits. */
int instance_console_connect(Instance *inst, int *ret_fd, Error *e);

/* Resource enforcement (minihv-resources.c). Opens the cgroup subtree the settings name; when
 * that fails the driver runs without (auto) or refuses starts (yes), and says why. */
void minihv_resources_open(MinihvDriver *md);

/* Frees what minihv_resources_open made; the groups of running domains stay. */
void minihv_resources_close(MinihvDriver *md);

/* Creates inst's groups with its settings and adds the --cgroup and --vcpu-cgroup arguments to
 * argv (n entries used, room for 2 x VM_CGROUP_FILES_MAX x 2 more); the strings belong to the
 * new *ret_files (free with cgroup_strv_free). Nothing when resource control is off. */
int instance_cgroup_prepare(Instance *inst, char **argv, size_t *n, char ***ret_files, Error *e);

/* An adopted instance: its groups, when they exist, get the settings of its definition. */
void instance_cgroup_adopt(Instance *inst);

/* After the process ended: whether the kernel killed it for its memory limit (detail then says
 * so, naming the limit). */
bool instance_cgroup_oom(Instance *inst, char *detail, size_t n);

/* Removes the groups of an instance whose process ended for good (a reboot keeps them). */
void instance_cgroup_remove(Instance *inst);

/* Adds the cgroup numbers (vCPU CPU time, throttling, memory and its limit) to stats. */
void instance_cgroup_stats(Instance *inst, json_t *stats);

/* The set_resources slot. */
int minihv_set_resources(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                         unsigned flags, Error *e);

/* Removes the groups no running domain claims (ending the processes left in them). */
unsigned minihv_resources_sweep(MinihvDriver *md);

/* The host_info slot: how resources are enforced. */
json_t *minihv_host_info(Driver *drv);

/* Detaches and disconnects every client (each sees the end of its socket). */
void instance_console_free(Instance *inst);

/* Host limits (minihv-limits.c). Appends to text (n bytes in all) which host limit err (a
 * failed fork, exec, pipe, thread or KVM creation) means, as `hvctl host` names it: "file
 * descriptors" (EMFILE, ENFILE), "tasks" (EAGAIN), "host memory" (ENOMEM). Nothing for other
 * errors. */
void minihv_name_host_limit_errno(char *text, size_t n, int err);

/* As minihv_name_host_limit_errno for an error given as text (a VMM's last line). */
void minihv_name_host_limit_text(char *text, size_t n);

/* The watchdog slot (minihv-watchdog.c): renews the VMM's fencing watchdog. */
int minihv_watchdog(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                    unsigned timeout_ms, unsigned flags, Error *e);

/* Drops the renewal in flight without waiting for it (the instance is being freed). */
void instance_watchdog_stop(Instance *inst);

/* Whether the last process of c ended by its watchdog (its statistics file says so). */
bool minihv_ended_fenced(MinihvDriver *md, const DomainConfig *c);
