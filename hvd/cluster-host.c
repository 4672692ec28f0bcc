/* The owner's side: a cluster domain this host owns is defined here from its definition and
 * kept running; one it no longer owns is stopped and undefined; without a lease every cluster
 * domain here is stopped (self-fencing). A local domain is a cluster domain's copy when it
 * has the definition's UUID: other local domains are never touched. */
#include <string.h>

#include "cluster-internal.h"
#include "log.h"

static void local_done(void *userdata, Domain *d, const Error *e)
{
    if (e)
        log_warning("Cluster: domain %s: %s", d ? d->config.name : "(gone)", e->message);
}

Domain *cluster_local_copy(Cluster *c, const char *name, const json_t *def)
{
    const char *uuid = json_string_value(json_object_get(json_object_get(def, "settings"), "uuid"));
    Domain *d = manager_find(c->manager, name);

    if (!d || !uuid || !streq(d->config.uuid, uuid))
        return NULL;
    return d;
}

static bool stoppable(DomainState s)
{
    return s == STATE_STARTING || s == STATE_RUNNING || s == STATE_PAUSED || s == STATE_CRASHED;
}

static void stop_local(Cluster *c, Domain *d, const char *why)
{
    Error e = ERROR_NULL;

    log_notice("Cluster: stopping domain %s: %s.", d->config.name, why);
    manager_set_caller(c->manager, "the cluster");
    if (manager_domain_action(c->manager, d, ACTION_DESTROY, 0, local_done, NULL, &e) < 0)
        log_debug("Cluster: could not stop %s: %s", d->config.name, e.message);
    manager_set_caller(c->manager, NULL);
}

static void run_owned(Cluster *c, const char *name, const json_t *def)
{
    Manager *m = c->manager;
    Domain *d = manager_find(m, name);
    uint64_t now = cluster_now(c);
    Error e = ERROR_NULL;
    int r;

    if (d && !cluster_local_copy(c, name, def)) {
        const char *logged = json_string_value(json_object_get(c->refusals_logged, name));
        if (!logged || !streq(logged, "conflict"))
            log_warning("Cluster: this host owns cluster domain %s, but a local domain of that "
                        "name (another UUID) is in the way.",
                        name);
        (void)json_object_set_new(c->refusals_logged, name, json_string("conflict"));
        return;
    }
    manager_set_caller(m, "the cluster");
    if (!d) {
        r = manager_domain_create(m, json_object_get(def, "settings"), &d, &e);
        if (r < 0) {
            /* Said once per reason: it is tried again at every read of the cluster. */
            const char *logged = json_string_value(json_object_get(c->refusals_logged, name));
            if (!logged || !streq(logged, e.message))
                log_warning("Cluster: could not define domain %s here: %s", name, e.message);
            (void)json_object_set_new(c->refusals_logged, name, json_string(e.message));
            manager_set_caller(m, NULL);
            return;
        }
        log_info("Cluster: defined domain %s, which this host now owns.", name);
    }
    if (d->state == STATE_SHUTOFF &&
        now >= (uint64_t)json_integer_value(json_object_get(c->start_attempts, name)) +
                   CLUSTER_RETRY_START_US) {
        (void)json_object_set_new(c->start_attempts, name, json_integer((json_int_t)now));
        if (d->reason == REASON_DEFINED && cluster_snapshot_start(c, name, def, d)) {
            manager_set_caller(m, NULL);
            return;
        }
        r = manager_domain_action(m, d, ACTION_START, 0, local_done, NULL, &e);
        if (r < 0)
            log_warning("Cluster: could not start domain %s: %s", name, e.message);
    }
    manager_set_caller(m, NULL);
}

/* A cluster domain deleted from the cluster: its local copy stops, then goes. */
static void forget_deleted(Cluster *c)
{
    const char *name;
    json_t *uuid;

    json_object_foreach (c->persisted, name, uuid) {
        Domain *d = manager_find(c->manager, name);
        Error e = ERROR_NULL;

        if (json_object_get(c->view.domains, name) || !d ||
            !streq(d->config.uuid, json_string_value(uuid)))
            continue;
        if (stoppable(d->state)) {
            stop_local(c, d, "it was deleted from the cluster");
            continue;
        }
        if (d->state != STATE_SHUTOFF)
            continue;
        manager_set_caller(c->manager, "the cluster");
        if (manager_domain_delete(c->manager, d, &e) < 0)
            log_debug("Cluster: could not undefine %s: %s", name, e.message);
        manager_set_caller(c->manager, NULL);
    }
}

void cluster_host_reconcile(Cluster *c)
{
    const char *name;
    json_t *dom;

    json_object_foreach (c->view.domains, name, dom) {
        json_t *def = json_object_get(dom, "def");
        const char *owner = cluster_view_owner(&c->view, name);
        const char *migrating_to = json_string_value(
            json_object_get(json_object_get(c->view.owners, name), "migrating_to"));
        Domain *d;

        if (owner && streq(owner, c->config.host) && migrating_to) {
            cluster_migrate_step(c, name, cluster_local_copy(c, name, def), migrating_to);
            continue;
        }
        /* Coming in by live migration: the owner commits it here once it runs here. */
        if (migrating_to && streq(migrating_to, c->config.host))
            continue;
        if (owner && streq(owner, c->config.host)) {
            run_owned(c, name, def);
            continue;
        }
        d = cluster_local_copy(c, name, def);
        if (!d)
            continue;
        if (stoppable(d->state))
            stop_local(c, d, owner ? "another host owns it now" : "this host no longer owns it");
        else if (d->state == STATE_SHUTOFF) {
            Error e = ERROR_NULL;
            manager_set_caller(c->manager, "the cluster");
            if (manager_domain_delete(c->manager, d, &e) < 0)
                log_debug("Cluster: could not undefine %s: %s", name, e.message);
            manager_set_caller(c->manager, NULL);
        }
    }
    forget_deleted(c);
}

void cluster_host_fence(Cluster *c)
{
    const char *name;
    json_t *dom;

    json_object_foreach (c->view.domains, name, dom) {
        Domain *d = cluster_local_copy(c, name, json_object_get(dom, "def"));

        if (d && stoppable(d->state))
            stop_local(c, d, "this host has no cluster lease (self-fencing)");
    }
}
