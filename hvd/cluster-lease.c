/* This host's lease: granted, kept alive, and given up when etcd stops confirming it, in which
 * case every cluster domain here is stopped (self-fencing) before the lease can expire; and the
 * leader election, one transaction on the leader key under the lease. */
#include <inttypes.h>
#include <string.h>

#include "cluster-internal.h"
#include "log.h"

/* Keepalives come this often: three of them fit in the fencing time. */
static uint64_t keepalive_interval_us(const Cluster *c)
{
    uint64_t ttl = c->config.lease_ttl_s * 1000000ull / 3,
             fence = c->config.fence_s * 1000000ull / 3;
    uint64_t interval = MIN(ttl, fence);

    return MAX(interval, 100 * 1000ull);
}

static void lease_error_set(Cluster *c, const char *message)
{
    if (c->lease_error && streq(c->lease_error, message))
        return;
    log_warning("Cluster: %s", message);
    free(c->lease_error);
    c->lease_error = strdup(message);
}

static void lease_lost(Cluster *c, const char *why)
{
    if (c->lease)
        log_warning("Cluster: lost lease %" PRIx64 " (%s); stopping the cluster domains of this "
                    "host before another host may take them over.",
                    (uint64_t)c->lease, why);
    c->lease = 0;
    c->leader = false;
    c->fenced = true;
    c->view_valid = false;
    etcd_call_cancel(c->watch_call);
    c->watch_call = NULL;
    cluster_host_fence(c);
}

static void on_granted(void *userdata, json_t *reply, const Error *e)
{
    Cluster *c = userdata;
    int64_t id = reply ? etcd_int64(json_object_get(reply, "ID")) : 0;

    c->lease_call = NULL;
    if (!reply || id == 0) {
        lease_error_set(c, e ? e->message : "etcd granted no lease");
        return;
    }
    c->lease = id;
    c->lease_renewed_us = c->lease_sent_us;
    c->fenced = false;
    c->publish_dirty = true;
    c->publish_due_us = 0;
    free(c->lease_error);
    c->lease_error = NULL;
    log_info("Cluster: registered as %s with lease %" PRIx64 " (%u s).", c->config.host,
             (uint64_t)id, c->config.lease_ttl_s);
    cluster_kick(c);
}

static void on_kept_alive(void *userdata, json_t *reply, const Error *e)
{
    Cluster *c = userdata;
    json_t *result = json_object_get(reply, "result");

    c->lease_call = NULL;
    if (!reply) {
        lease_error_set(c, e->message);
        return;
    }
    if (etcd_int64(json_object_get(result, "TTL")) <= 0) {
        lease_lost(c, "etcd says it expired");
        return;
    }
    c->lease_renewed_us = c->lease_sent_us;
    cluster_persist_touch(c);
    if (c->lease_error) {
        log_info("Cluster: etcd answers again.");
        free(c->lease_error);
        c->lease_error = NULL;
    }
}

void cluster_lease_tick(Cluster *c)
{
    uint64_t now = cluster_now(c);
    char id[32];

    if (c->lease && now >= c->lease_renewed_us + c->config.fence_s * 1000000ull) {
        char why[128];
        (void)snprintf(why, sizeof(why), "no keepalive confirmed for %u s", c->config.fence_s);
        etcd_call_cancel(c->lease_call);
        c->lease_call = NULL;
        lease_lost(c, why);
    }
    /* Without a lease since it was lost, or since the fencing time after the last one etcd
     * confirmed (before a restart, too), whatever cluster domain still runs here stops. */
    if (!c->lease && (c->fenced || now >= c->lease_renewed_us + c->config.fence_s * 1000000ull))
        cluster_host_fence(c);
    if (c->lease_call)
        return;
    c->lease_sent_us = now;
    if (!c->lease) {
        if (etcd_call(c->etcd, "/v3/lease/grant",
                      json_pack("{s:I}", "TTL", (json_int_t)c->config.lease_ttl_s), on_granted, c,
                      &c->lease_call) < 0)
            log_oom();
        return;
    }
    if (now < c->lease_renewed_us + keepalive_interval_us(c))
        return;
    (void)snprintf(id, sizeof(id), "%" PRId64, c->lease);
    if (etcd_call(c->etcd, "/v3/lease/keepalive", json_pack("{s:s}", "ID", id), on_kept_alive, c,
                  &c->lease_call) < 0)
        log_oom();
}

static void on_campaigned(void *userdata, json_t *reply, const Error *e)
{
    Cluster *c = userdata;

    c->campaign_call = NULL;
    if (reply && json_is_true(json_object_get(reply, "succeeded"))) {
        log_info("Cluster: %s is the leader.", c->config.host);
        cluster_kick(c);
    }
}

void cluster_campaign(Cluster *c)
{
    json_t *compare, *put;

    if (!c->lease || c->campaign_call || c->view.leader)
        return;
    compare = json_pack("[o]", etcd_compare(CLUSTER_LEADER_KEY, "CREATE", "EQUAL", 0, NULL));
    put = json_pack("[{s:o}]", "request_put",
                    etcd_put_request(CLUSTER_LEADER_KEY, c->config.host, c->lease));
    if (etcd_call(c->etcd, "/v3/kv/txn", etcd_txn_request(compare, put, NULL), on_campaigned, c,
                  &c->campaign_call) < 0)
        log_oom();
}
