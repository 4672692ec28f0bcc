/* Reading the cluster: one range over everything hvd keeps in etcd, at least every
 * CLUSTER_SCAN_US and at once when the watch on that prefix reports a change; each fresh read
 * is acted on (leadership, this host's domains, placement, waiting requests). */
#include <string.h>

#include "cluster-internal.h"
#include "log.h"

static void on_scanned(void *userdata, json_t *reply, const Error *e)
{
    Cluster *c = userdata;

    c->scan_call = NULL;
    if (!reply) {
        log_debug("Cluster: could not read the cluster: %s", e->message);
        return;
    }
    /* A lease lost while the read was in flight makes it stale: this host owns nothing now. */
    if (!c->lease || c->fenced)
        return;
    if (cluster_view_parse(&c->view, reply) < 0) {
        log_warning("Cluster: etcd's answer could not be read.");
        return;
    }
    c->view_valid = true;
    c->leader =
        c->view.leader && streq(c->view.leader, c->config.host) && c->view.leader_lease == c->lease;
    c->leader_revision = c->leader ? c->view.leader_create_revision : 0;
    cluster_persist_view(c);
    cluster_campaign(c);
    cluster_host_reconcile(c);
    cluster_snapshot_publish(c);
    if (c->leader)
        cluster_place(c);
    cluster_requests_update(c);
    /* A change reported while this read was in flight is read at once, not at the next round. */
    if (c->scan_due_us == 0)
        cluster_kick(c);
}

void cluster_scan_tick(Cluster *c)
{
    uint64_t now = cluster_now(c);

    if (!c->lease || c->scan_call || now < c->scan_due_us)
        return;
    c->scan_due_us = now + CLUSTER_SCAN_US;
    if (etcd_call(c->etcd, "/v3/kv/range", etcd_range_request(CLUSTER_PREFIX, true), on_scanned, c,
                  &c->scan_call) < 0)
        log_oom();
}

static void on_watch_message(void *userdata, json_t *message)
{
    Cluster *c = userdata;

    /* Reading again is all a change calls for (the tick does it, not this callback). */
    if (json_array_size(json_object_get(json_object_get(message, "result"), "events")) > 0)
        cluster_kick(c);
}

static void on_watch_end(void *userdata, json_t *reply, const Error *e)
{
    Cluster *c = userdata;

    c->watch_call = NULL;
    c->watch_due_us = cluster_now(c) + CLUSTER_SCAN_US;
    log_debug("Cluster: the watch ended: %s", e ? e->message : "closed");
}

void cluster_watch_tick(Cluster *c)
{
    json_t *request;

    if (!c->lease || c->watch_call || cluster_now(c) < c->watch_due_us)
        return;
    request = etcd_range_request(CLUSTER_PREFIX, true);
    if (!request || etcd_watch(c->etcd, json_pack("{s:o}", "create_request", request),
                               on_watch_message, on_watch_end, c, &c->watch_call) < 0)
        log_oom();
}
