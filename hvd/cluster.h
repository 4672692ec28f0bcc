/* Cluster membership over etcd: this host's lease and registration, leader election, placement
 * of cluster domains by the leader, running what this host owns, HA restarts and self-fencing.
 * Everything is asynchronous on the manager's loop. */
#pragma once

#include <jansson.h>

#include "cluster-config.h"
#include "error.h"
#include "manager.h"

typedef struct Cluster Cluster;

/* Completion of a cluster request: result (borrowed) on success, else NULL with e set. Called
 * exactly once, later (never from inside the call that took it); with "hvd is stopping" when
 * the cluster is freed first. */
typedef void (*ClusterDone)(void *userdata, json_t *result, const Error *e);

/* Joins the cluster cc describes (copied) on m's loop: grants a lease, registers, and takes part
 * in the election. Being unable to reach etcd is no error here: hvd keeps trying. */
int cluster_new(Manager *m, const ClusterConfig *cc, Cluster **ret, Error *e);

/* Leaves: revokes nothing (the lease expires by itself), answers waiting requests with an
 * error, stops watching. Domains keep running. Accepts NULL; returns NULL. */
Cluster *cluster_free(Cluster *c);

/* Every registered host as a new array of objects (name, advertise, leader, resources, drivers,
 * networks, domains), read fresh from etcd. */
int cluster_hosts(Cluster *c, ClusterDone done, void *userdata, Error *e);

/* Every cluster domain (name, host, state, reason, ha, pinned_host, driver, vcpus,
 * memory_mib), read fresh from etcd. */
int cluster_domains(Cluster *c, ClusterDone done, void *userdata, Error *e);

/* Records a cluster domain: body holds a domain's settings (as for a local create) plus "ha"
 * (bool) and "host" (a host it must run on). done hears the domain's entry once its owner runs
 * it, the leader's reason when it fits nowhere, or the entry as it stands after a while.
 * Returns 0, or a negative errno with e set (done is not called). */
int cluster_create(Cluster *c, const json_t *body, ClusterDone done, void *userdata, Error *e);

/* Deletes cluster domain name: its definition and owner go from etcd (done hears {"name"}, or
 * NoSuchDomain), and its owner then stops and undefines its local copy. */
int cluster_delete(Cluster *c, const char *name, ClusterDone done, void *userdata, Error *e);

/* Moves cluster domain name to host target: refused at once when target could not take it;
 * otherwise its host stops it, then target starts it (a cold move: live migration between
 * hosts does not exist yet). done hears its entry once it runs on target. */
int cluster_move(Cluster *c, const char *name, const char *target, ClusterDone done, void *userdata,
                 Error *e);

/* With drain, marks host as being drained: nothing new is placed there, and the leader moves
 * every domain off it (except those pinned there), each stopped on host before it starts
 * elsewhere; done hears {"host", "pinned_there"} once that is so, or after a minute which
 * domains found no room. Without drain, host takes domains again (done hears {"host"}). */
int cluster_drain(Cluster *c, const char *host, bool drain, ClusterDone done, void *userdata,
                  Error *e);
