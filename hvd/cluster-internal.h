/* Shared by the cluster files: the membership's state, the view read from etcd, and the steps
 * each file contributes to one tick. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "etcd-client.h"
#include "etcd-kv.h"

/* Where everything lives in etcd. */
#define CLUSTER_PREFIX         "/hvd/"
#define CLUSTER_HOSTS_PREFIX   "/hvd/hosts/"   /* NAME -> registration (under NAME's lease) */
#define CLUSTER_DOMAINS_PREFIX "/hvd/domains/" /* NAME -> {"settings", "ha", "host", "refused"} */
#define CLUSTER_OWNERS_PREFIX  "/hvd/owners/"  /* NAME -> the host that runs it */
#define CLUSTER_LEADER_KEY     "/hvd/leader"   /* the leader's name (under its lease) */
#define CLUSTER_DRAIN_PREFIX   "/hvd/drain/"   /* NAME -> "1": move everything off NAME */
#define CLUSTER_FAILED_PREFIX \
    "/hvd/migrate-failed/" /* NAME -> why its last live migration failed */
#define CLUSTER_SNAPSHOTS_PREFIX \
    "/hvd/snapshots/"         /* NAME -> the latest snapshot of an HA domain restarted from one */
#define CLUSTER_MIGRATING '>' /* an owner value "H>T": H owns it and live-migrates it to T */
#define CLUSTER_RELEASED  '!' /* an owner value "!H": H gives the domain up (a drain), */
                              /* "!H@T": to T (a move) */

#define CLUSTER_TICK_US        (250 * 1000ull)
#define CLUSTER_SCAN_US        (1000 * 1000ull)
#define CLUSTER_PUBLISH_US     (100 * 1000ull) /* changes are batched this long */
#define CLUSTER_RETRY_START_US (5 * 1000 * 1000ull)
#define CLUSTER_CREATE_WAIT_US (20 * 1000 * 1000ull)

/* What one read of CLUSTER_PREFIX found. */
typedef struct ClusterView {
    json_t *hosts;     /* name -> registration */
    json_t *domains;   /* name -> {"def": definition, "rev": mod_revision} */
    json_t *owners;    /* name -> {"host": name, "rev": mod_revision}, or {"released_by", "rev"}
                        * with "target" for a move */
    json_t *draining;  /* host name -> true */
    json_t *failures;  /* domain name -> {"reason", "rev"}: its last live migration's failure */
    json_t *snapshots; /* domain name -> {"uuid", "snapshot", "created_us", "path", "host"} */
    char *leader;      /* NULL: none */
    int64_t leader_create_revision;
    int64_t leader_lease;
    int64_t revision; /* of the store when it was read */
} ClusterView;

typedef struct ClusterRequest ClusterRequest;

struct Cluster {
    Manager *manager;
    sd_event *event;
    ClusterConfig config;
    EtcdClient *etcd;
    sd_event_source *tick;
    /* The lease (cluster-lease.c). */
    int64_t lease;             /* 0: none */
    uint64_t lease_renewed_us; /* when the last keepalive that etcd confirmed was sent */
    uint64_t lease_sent_us;    /* when the keepalive in flight was sent */
    EtcdCall *lease_call;
    bool fenced; /* cluster domains were stopped for want of a lease; not owning anything */
    char *lease_error;
    /* Leadership. */
    bool leader;
    int64_t leader_revision; /* create_revision of the leader key while leader */
    EtcdCall *campaign_call;
    /* The registration (cluster-publish.c). */
    bool publish_dirty;
    uint64_t publish_due_us;
    EtcdCall *publish_call;
    /* Reading the cluster (cluster-scan.c). */
    ClusterView view;
    bool view_valid;
    uint64_t scan_due_us;
    EtcdCall *scan_call;
    EtcdCall *watch_call;
    uint64_t watch_due_us;
    /* The leader's placement transactions in flight (cluster-place.c): a new round waits. */
    unsigned place_calls;
    json_t *start_attempts;  /* domain name -> time of the last local start, in us */
    json_t *refusals_logged; /* domain name -> reason last logged */
    json_t *persisted;       /* name -> uuid as last written (cluster-persist.c) */
    int64_t persisted_lease;
    int64_t stale_lease; /* the lease of hvd's previous run, revoked once registered anew */
    /* Requests of the surfaces waiting for etcd or for an outcome (cluster-api.c). */
    ClusterRequest *requests;
    /* Live migrations this host runs as the owner (cluster-migrate.c): name -> true. */
    json_t *migrations;
    /* The fencing watchdogs renewed (cluster-fence.c): name -> {"pid", "deadline", "supported"}. */
    json_t *watchdogs;
    /* The put of a snapshot record in flight (cluster-snapshot.c). */
    EtcdCall *snapshot_call;
};

/* Now on the loop's clock, in microseconds. */
uint64_t cluster_now(Cluster *c);

/* Makes the next tick come at once (something changed). */
void cluster_kick(Cluster *c);

/* A parse of a range answer over CLUSTER_PREFIX into v (emptied first). */
int cluster_view_parse(ClusterView *v, const json_t *reply);
void cluster_view_done(ClusterView *v);

/* The owner of domain name in v, or NULL. */
const char *cluster_view_owner(const ClusterView *v, const char *name);

/* The state of domain name as its owner publishes it ("running"...), or NULL. */
const char *cluster_view_state(const ClusterView *v, const char *name, const char **ret_reason);

/* One tick's steps. */
void cluster_lease_tick(Cluster *c);   /* grant, keep alive, fence (cluster-lease.c) */
void cluster_campaign(Cluster *c);     /* become leader when there is none (cluster-lease.c) */
void cluster_publish_tick(Cluster *c); /* put the registration when it changed */
void cluster_scan_tick(Cluster *c);    /* read the cluster, then act on what was read */
void cluster_watch_tick(Cluster *c);   /* keep a watch open on CLUSTER_PREFIX */

/* With a fresh view: run what this host owns, stop what it does not (cluster-host.c). */
void cluster_host_reconcile(Cluster *c);

/* Stops every local domain that is a cluster domain (the lease is lost or about to be). */
void cluster_host_fence(Cluster *c);

/* With a fresh view, as leader: place what has no live owner (cluster-place.c). */
void cluster_place(Cluster *c);

/* Whether host could take cluster domain name now, as the leader would judge it; why says why
 * not ("HOST: not enough memory (...)"). */
bool cluster_host_can_take(Cluster *c, const char *host, const char *name, char *why, size_t len);

/* The requests of the surfaces that wait for an outcome, after a fresh view (cluster-api.c). */
void cluster_requests_update(Cluster *c);
void cluster_requests_free(Cluster *c);

/* The cluster domains this host may have to fence, kept across restarts (cluster-persist.c):
 * written after a fresh view when they changed, touched at each confirmed keepalive, and loaded
 * into the view at start with the time of the last keepalive as lease_renewed_us. */
void cluster_persist_view(Cluster *c);
void cluster_persist_touch(Cluster *c);
void cluster_persist_load(Cluster *c);

/* The registration of this host as a new object (cluster-publish.c). */
json_t *cluster_registration(Cluster *c);

/* The list entry of cluster domain name in v (a new object). */
json_t *cluster_domain_entry(const ClusterView *v, const char *name);

/* Whether a published state is one that holds resources and runs somewhere. */
bool cluster_state_active(const char *state);

/* The etcd key of prefix + name (a new string). */
char *cluster_key(const char *prefix, const char *name);

/* Turns a failed etcd call into the Error of a cluster request: the etcd text, said as the
 * cluster being unavailable. */
void cluster_error_from_etcd(Error *dst, const Error *etcd);

/* Whether cluster domain def can move live (its driver has live migration). */
bool cluster_migrate_supported(Cluster *c, const json_t *def);

/* The owner's step for domain name whose owner value says "this host > target": starts the
 * live migration of local copy d to target's advertised URL, and once it ends commits the
 * owner as target (it runs there) or back to this host with the reason (cluster-migrate.c). */
void cluster_migrate_step(Cluster *c, const char *name, Domain *d, const char *target);

/* The local copy of cluster domain name (a local domain with def's UUID), or NULL
 * (cluster-host.c). */
Domain *cluster_local_copy(Cluster *c, const char *name, const json_t *def);

/* Renews the fencing watchdogs of the running HA domains this host owns to end
 * config.watchdog_s after the last keepalive etcd confirmed, when that moved or an instance is
 * new (cluster-fence.c). */
void cluster_fence_tick(Cluster *c);

/* Reads body's "ha_from" ("definition", the default, or "snapshot", which needs "ha": true) into
 * *ret_snapshot; a bad value fails with e saying so (cluster-snapshot.c). */
int cluster_ha_from_check(const json_t *body, bool *ret_snapshot, Error *e);

/* With a fresh view, as the owner of HA domains restarted from their latest snapshot: records in
 * etcd the latest snapshot of each (this host's newest, or the one recorded before) with this
 * host as the one that runs it (cluster-snapshot.c). */
void cluster_snapshot_publish(Cluster *c);

/* The first start here of d, this host's new copy of cluster domain name: when its definition
 * says ha_from "snapshot" and the host that ran it last is gone, starts it from its recorded
 * latest snapshot if that image can be read here, and returns true; false (with the reason
 * logged) leaves the start from the definition to the caller (cluster-snapshot.c). */
bool cluster_snapshot_start(Cluster *c, const char *name, const json_t *def, Domain *d);

/* Drops the put in flight (the cluster is freed). */
void cluster_snapshot_free(Cluster *c);
