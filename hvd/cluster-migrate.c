/* Live migration of a cluster domain, the owner's side: an owner value "H>T" makes H migrate
 * its running copy to T's advertised URL (with [cluster] migrate-token); only once T runs it is
 * the owner set to T, in one transaction that holds while the value is still "H>T", so no
 * moment has two owners. A failure puts the owner back to H with the reason. */
#include <string.h>

#include "cluster-internal.h"
#include "log.h"
#include "manager-migrate.h"

typedef struct MigrateOp {
    Cluster *cluster;
    char name[DOMAIN_NAME_MAX + 1];
    char target[DOMAIN_NAME_MAX + 1];
} MigrateOp;

bool cluster_migrate_supported(Cluster *c, const json_t *def)
{
    const char *driver =
        json_string_value(json_object_get(json_object_get(def, "settings"), "driver"));
    DriverKind kind = driver_kind_from_string(driver ?: "minihv");
    Driver *drv = kind >= 0 && (size_t)kind < _DRIVER_KIND_MAX ? c->manager->drivers[kind] : NULL;

    return drv && drv->ops->migrate_send;
}

static void on_committed(void *userdata, json_t *reply, const Error *e)
{
    MigrateOp *op = userdata;

    if (!reply)
        log_warning("Cluster: could not record the end of the live migration of %s: %s", op->name,
                    e->message);
    /* Only now may a read of the cluster that still shows "this host > target" act on it. */
    (void)json_object_del(op->cluster->migrations, op->name);
    cluster_kick(op->cluster);
    free(op);
}

/* Sets the owner of op's domain from "this host > target" to owner, with failure recorded (or
 * the last failure removed) in the same transaction; op is freed once etcd answered. */
static void commit_op(MigrateOp *op, const char *owner, const char *failure)
{
    Cluster *c = op->cluster;
    const char *name = op->name, *target = op->target;
    _cleanup_free_ char *key = cluster_key(CLUSTER_OWNERS_PREFIX, name);
    _cleanup_free_ char *failed = cluster_key(CLUSTER_FAILED_PREFIX, name), *value = NULL;
    json_t *compare, *ops;

    if (!key || !failed ||
        asprintf(&value, "%s%c%s", c->config.host, CLUSTER_MIGRATING, target) < 0) {
        (void)json_object_del(c->migrations, name);
        free(op);
        return (void)log_oom();
    }
    compare = json_pack("[o]", etcd_compare(key, "VALUE", "EQUAL", 0, value));
    ops = json_pack("[{s:o},{s:o}]", "request_put", etcd_put_request(key, owner, 0),
                    failure ? "request_put" : "request_delete_range",
                    failure ? etcd_put_request(failed, failure, 0) : etcd_delete_request(failed));
    if (etcd_call(c->etcd, "/v3/kv/txn", etcd_txn_request(compare, ops, NULL), on_committed, op,
                  NULL) < 0) {
        (void)json_object_del(c->migrations, name);
        free(op);
        log_oom();
    }
}

/* commit_op for name's migration to target, begun in an earlier run or found not to start. */
static void commit_owner(Cluster *c, const char *name, const char *target, const char *owner,
                         const char *failure)
{
    MigrateOp *op = calloc(1, sizeof(*op));

    if (!op || json_object_set_new(c->migrations, name, json_true()) < 0) {
        free(op);
        return (void)log_oom();
    }
    *op = (MigrateOp){.cluster = c};
    (void)snprintf(op->name, sizeof(op->name), "%s", name);
    (void)snprintf(op->target, sizeof(op->target), "%s", target);
    commit_op(op, owner, failure);
}

static void on_migrated(void *userdata, Domain *d, const Error *e)
{
    MigrateOp *op = userdata;

    if (e) {
        log_warning("Cluster: the live migration of %s to %s failed: %s", op->name, op->target,
                    e->message);
        commit_op(op, op->cluster->config.host, e->message);
    } else {
        log_info("Cluster: domain %s runs on %s now (live migration).", op->name, op->target);
        commit_op(op, op->target, NULL);
    }
}

void cluster_migrate_step(Cluster *c, const char *name, Domain *d, const char *target)
{
    json_t *reg = json_object_get(c->view.hosts, target);
    const char *url = json_string_value(json_object_get(reg, "advertise"));
    const char *there = json_string_value(
        json_object_get(json_object_get(json_object_get(reg, "domains"), name), "state"));
    ManagerMigrateRequest req = {.url = url, .token = c->config.migrate_token};
    Error e = ERROR_NULL;
    MigrateOp *op;
    int r;

    if (json_object_get(c->migrations, name))
        return; /* under way in this run, or its end being recorded */
    if (d && d->state == STATE_SHUTOFF && d->reason == REASON_MIGRATED) {
        /* Sent in an earlier run of hvd: the target is the owner once it shows it runs it;
         * only a target gone from the cluster gives it back here. */
        if (there && streq(there, "running"))
            commit_owner(c, name, target, target, NULL);
        else if (!reg)
            commit_owner(c, name, target, c->config.host, "the target host left the cluster");
        return;
    }
    if (!d || d->state != STATE_RUNNING) {
        commit_owner(c, name, target, c->config.host,
                     d ? "the domain is not running on its host" : "its host has no copy of it");
        return;
    }
    if (!reg || !url) {
        commit_owner(c, name, target, c->config.host,
                     reg ? "the target host advertises no URL ([cluster] advertise)"
                         : "the target host left the cluster");
        return;
    }
    op = calloc(1, sizeof(*op));
    if (!op || json_object_set_new(c->migrations, name, json_true()) < 0) {
        free(op);
        return (void)log_oom();
    }
    *op = (MigrateOp){.cluster = c};
    (void)snprintf(op->name, sizeof(op->name), "%s", name);
    (void)snprintf(op->target, sizeof(op->target), "%s", target);
    log_info("Cluster: live-migrating domain %s to %s (%s).", name, target, url);
    manager_set_caller(c->manager, "the cluster");
    r = manager_domain_migrate(c->manager, d, &req, on_migrated, op, &e);
    manager_set_caller(c->manager, NULL);
    if (r < 0) {
        (void)json_object_del(c->migrations, name);
        free(op);
        commit_owner(c, name, target, c->config.host, e.message);
    }
}
