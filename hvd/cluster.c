/* The cluster membership: its creation, its periodic tick (lease, registration, reading the
 * cluster, acting on it) and the view of what etcd holds. */
#include <string.h>

#include "cluster-internal.h"
#include "log.h"

uint64_t cluster_now(Cluster *c)
{
    uint64_t now = 0;

    (void)sd_event_now(c->event, CLOCK_MONOTONIC, &now);
    return now;
}

char *cluster_key(const char *prefix, const char *name)
{
    char *key = NULL;

    if (asprintf(&key, "%s%s", prefix, name) < 0)
        return NULL;
    return key;
}

void cluster_error_from_etcd(Error *dst, const Error *etcd)
{
    (void)error_setf(dst, ERROR_DRIVER_UNAVAILABLE, "the cluster is unavailable: %s",
                     etcd->message);
}

void cluster_kick(Cluster *c)
{
    c->scan_due_us = 0;
    (void)sd_event_source_set_time(c->tick, cluster_now(c));
    (void)sd_event_source_set_enabled(c->tick, SD_EVENT_ON);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
    Cluster *c = userdata;

    cluster_lease_tick(c);
    cluster_fence_tick(c);
    cluster_publish_tick(c);
    cluster_watch_tick(c);
    cluster_scan_tick(c);
    cluster_requests_update(c);
    (void)sd_event_source_set_time(s, cluster_now(c) + CLUSTER_TICK_US);
    return 0;
}

static void on_domain(void *userdata, Domain *d)
{
    Cluster *c = userdata;

    uint64_t next = 0;

    if (c->publish_dirty)
        return;
    c->publish_dirty = true;
    c->publish_due_us = cluster_now(c) + CLUSTER_PUBLISH_US;
    /* The tick that publishes comes when the batch is due, not at its next round. */
    if (sd_event_source_get_time(c->tick, &next) >= 0 && next > c->publish_due_us)
        (void)sd_event_source_set_time(c->tick, c->publish_due_us);
}

static void on_domain_changed(void *userdata, Domain *d, const DomainChange *change)
{
    on_domain(userdata, d);
}

int cluster_new(Manager *m, const ClusterConfig *cc, Cluster **ret, Error *e)
{
    static const ManagerListener listener_template = {
        .domain_new = on_domain,
        .domain_removed = on_domain,
        .domain_changed = on_domain_changed,
        .domain_updated = on_domain,
    };
    ManagerListener listener = listener_template;
    Cluster *c = calloc(1, sizeof(*c));
    int r;

    if (!c)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    c->manager = m;
    c->event = sd_event_ref(m->event);
    c->config = *cc;
    c->config.etcd = strdup(cc->etcd);
    c->config.host = strdup(cc->host);
    c->config.advertise = cc->advertise ? strdup(cc->advertise) : NULL;
    c->start_attempts = json_object();
    c->refusals_logged = json_object();
    c->migrations = json_object();
    c->config.migrate_token = cc->migrate_token ? strdup(cc->migrate_token) : NULL;
    c->publish_dirty = true;
    if (!c->config.etcd || !c->config.host || (cc->advertise && !c->config.advertise) ||
        (cc->migrate_token && !c->config.migrate_token) || !c->start_attempts ||
        !c->refusals_logged || !c->migrations) {
        cluster_free(c);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    c->view.hosts = json_object();
    c->view.domains = json_object();
    c->view.owners = json_object();
    c->view.draining = json_object();
    c->view.failures = json_object();
    c->view.snapshots = json_object();
    if (!c->view.hosts || !c->view.domains || !c->view.owners || !c->view.draining ||
        !c->view.failures || !c->view.snapshots) {
        cluster_free(c);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    cluster_persist_load(c);
    EtcdTls tls = {.ca = cc->etcd_ca, .cert = cc->etcd_cert, .key = cc->etcd_key};
    r = etcd_client_new(c->event, cc->etcd, cc->request_timeout_ms, &tls, &c->etcd, e);
    /* The client keeps its own copies of the TLS files' names. */
    c->config.etcd_ca = c->config.etcd_cert = c->config.etcd_key = NULL;
    if (r < 0) {
        cluster_free(c);
        return r;
    }
    r = sd_event_add_time(c->event, &c->tick, CLOCK_MONOTONIC, 0, 10 * 1000, on_tick, c);
    if (r >= 0)
        r = sd_event_source_set_enabled(c->tick, SD_EVENT_ON);
    listener.userdata = c;
    if (r >= 0)
        r = manager_add_listener(m, &listener);
    if (r < 0) {
        cluster_free(c);
        return error_set_errno(e, r, "Failed to set up the cluster membership: %m");
    }
    log_info("Joining the cluster as %s through etcd at %s (lease %u s, fencing after %u s, "
             "watchdogs of HA domains after %u s).",
             cc->host, cc->etcd, cc->lease_ttl_s, cc->fence_s, cc->watchdog_s);
    *ret = c;
    return 0;
}

Cluster *cluster_free(Cluster *c)
{
    if (!c)
        return NULL;
    cluster_requests_free(c);
    cluster_snapshot_free(c);
    manager_remove_listener(c->manager, c);
    c->etcd = etcd_client_free(c->etcd);
    (void)sd_event_source_disable_unref(c->tick);
    cluster_view_done(&c->view);
    json_decref(c->start_attempts);
    json_decref(c->refusals_logged);
    json_decref(c->migrations);
    json_decref(c->watchdogs);
    json_decref(c->persisted);
    free(c->lease_error);
    free(c->config.etcd);
    free(c->config.host);
    free(c->config.advertise);
    free(c->config.migrate_token);
    sd_event_unref(c->event);
    free(c);
    return NULL;
}
