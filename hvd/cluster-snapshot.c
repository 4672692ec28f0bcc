/* HA restarts from the latest snapshot (a cluster domain created with ha_from "snapshot"): its
 * owner records in etcd, under /hvd/snapshots/NAME, the image of its latest snapshot and that it
 * runs the domain; when that host dies, the host the leader gives the domain to starts it from
 * that image, if it can read it there (the image stays where it was written: the hosts must see
 * each other's state directories at the same paths, as shared storage mounted alike does), and
 * from its definition otherwise, saying why. Moves and drains, whose source is alive, start from
 * the definition as ever. */
#include <string.h>
#include <unistd.h>

#include "cluster-internal.h"
#include "log.h"

int cluster_ha_from_check(const json_t *body, bool *ret_snapshot, Error *e)
{
    const json_t *v = json_object_get(body, "ha_from");
    const char *s = json_string_value(v);

    *ret_snapshot = false;
    if (!v)
        return 0;
    if (!s || (!streq(s, "definition") && !streq(s, "snapshot")))
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'ha_from' must be \"definition\" or \"snapshot\"");
    if (streq(s, "snapshot") && !json_is_true(json_object_get(body, "ha")))
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'ha_from': \"snapshot\" is for HA domains (\"ha\": true)");
    *ret_snapshot = streq(s, "snapshot");
    return 0;
}

static bool from_snapshot(const json_t *def)
{
    return json_is_true(json_object_get(def, "ha")) &&
           streq(json_string_value(json_object_get(def, "ha_from")) ?: "", "snapshot");
}

static const char *def_uuid(const json_t *def)
{
    return json_string_value(json_object_get(json_object_get(def, "settings"), "uuid"));
}

/* The record of domain name in the view, when it is of this definition (the same UUID). */
static json_t *recorded(Cluster *c, const char *name, const json_t *def)
{
    json_t *rec = json_object_get(c->view.snapshots, name);
    const char *uuid = json_string_value(json_object_get(rec, "uuid"));

    return uuid && def_uuid(def) && streq(uuid, def_uuid(def)) ? rec : NULL;
}

static void on_put(void *userdata, json_t *reply, const Error *e)
{
    Cluster *c = userdata;

    c->snapshot_call = NULL;
    if (!reply)
        log_debug("Cluster: could not record a snapshot: %s", e->message);
    else
        cluster_kick(c);
}

/* Puts the record of name while its definition is still there. */
static void put_record(Cluster *c, const char *name, json_t *record)
{
    _cleanup_free_ char *key = cluster_key(CLUSTER_SNAPSHOTS_PREFIX, name);
    _cleanup_free_ char *def_key = cluster_key(CLUSTER_DOMAINS_PREFIX, name);
    _cleanup_free_ char *text = json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *compare, *put;

    if (!key || !def_key || !text)
        return (void)log_oom();
    compare = json_pack("[o]", etcd_compare(def_key, "VERSION", "GREATER", 0, NULL));
    put = json_pack("[{s:o}]", "request_put", etcd_put_request(key, text, 0));
    if (etcd_call(c->etcd, "/v3/kv/txn", etcd_txn_request(compare, put, NULL), on_put, c,
                  &c->snapshot_call) < 0)
        log_oom();
}

/* The record this host should have for name, which it runs as d (a new object), or NULL. */
static json_t *wanted_record(Cluster *c, const json_t *old, Domain *d)
{
    json_t *latest = NULL, *rec;
    Error e = ERROR_NULL;

    if (manager_snapshot_latest(c->manager, d, &latest, &e) < 0) {
        log_debug("Cluster: %s", e.message);
        return NULL;
    }
    if (latest && (!old || json_integer_value(json_object_get(latest, "created_us")) >=
                               json_integer_value(json_object_get(old, "created_us"))))
        rec = json_pack("{s:s,s:O,s:O,s:O}", "uuid", d->config.uuid, "snapshot",
                        json_object_get(latest, "name"), "created_us",
                        json_object_get(latest, "created_us"), "path",
                        json_object_get(latest, "path"));
    else if (old)
        rec = json_deep_copy(old);
    else
        rec = NULL;
    json_decref(latest);
    if (rec)
        (void)json_object_set_new(rec, "host", json_string(c->config.host));
    return rec;
}

void cluster_snapshot_publish(Cluster *c)
{
    const char *name;
    json_t *dom;

    if (c->snapshot_call)
        return; /* one at a time; the next fresh view goes on */
    json_object_foreach (c->view.domains, name, dom) {
        const json_t *def = json_object_get(dom, "def");
        const char *owner = cluster_view_owner(&c->view, name);
        Domain *d = cluster_local_copy(c, name, def);
        json_t *old, *rec;

        if (!from_snapshot(def) || !owner || !streq(owner, c->config.host) || !d ||
            (d->state != STATE_RUNNING && d->state != STATE_PAUSED))
            continue;
        old = recorded(c, name, def);
        rec = wanted_record(c, old, d);
        if (rec && !json_equal(rec, old)) {
            put_record(c, name, rec);
            json_decref(rec);
            return;
        }
        json_decref(rec);
    }
}

static void on_started(void *userdata, Domain *d, const Error *e)
{
    if (e)
        log_warning("Cluster: domain %s did not start from its snapshot: %s",
                    d ? d->config.name : "(gone)", e->message);
}

bool cluster_snapshot_start(Cluster *c, const char *name, const json_t *def, Domain *d)
{
    json_t *rec = recorded(c, name, def);
    const char *host = json_string_value(json_object_get(rec, "host"));
    const char *path = json_string_value(json_object_get(rec, "path"));
    const char *snapshot = json_string_value(json_object_get(rec, "snapshot"));
    Error e = ERROR_NULL;

    if (!from_snapshot(def))
        return false;
    if (!rec || !host || !path || !snapshot) {
        log_notice("Cluster: starting HA domain %s from its definition: no snapshot of it is "
                   "recorded.",
                   name);
        return false;
    }
    if (streq(host, c->config.host) || json_object_get(c->view.hosts, host))
        return false; /* a move or a drain: its last host stopped it */
    if (access(path, R_OK) < 0) {
        log_warning("Cluster: restarting HA domain %s from its definition: the image of its "
                    "latest snapshot %s (run on %s) cannot be read here: %s: %m.",
                    name, snapshot, host, path);
        return false;
    }
    log_notice("Cluster: restarting HA domain %s from its latest snapshot %s (%s), as its host %s "
               "is gone.",
               name, snapshot, path, host);
    if (manager_domain_start_image(c->manager, d, path, on_started, NULL, &e) < 0) {
        log_warning("Cluster: restarting HA domain %s from its definition: its snapshot %s "
                    "cannot be started: %s",
                    name, snapshot, e.message);
        return false;
    }
    return true;
}

void cluster_snapshot_free(Cluster *c)
{
    etcd_call_cancel(c->snapshot_call);
    c->snapshot_call = NULL;
}
