/* The cluster membership: its creation, its periodic tick (lease, registration, reading the
 * cluster, acting on it) and the view of what etcd holds. */
#include <string.h>

#include "cluster-internal.h"
#include "domain-config.h"
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

bool cluster_state_active(const char *state)
{
    return state && (streq(state, "starting") || streq(state, "running") ||
                     streq(state, "paused") || streq(state, "stopping"));
}

void cluster_view_done(ClusterView *v)
{
    json_decref(v->hosts);
    json_decref(v->domains);
    json_decref(v->owners);
    json_decref(v->draining);
    json_decref(v->failures);
    json_decref(v->snapshots);
    free(v->leader);
    *v = (ClusterView){};
}

int cluster_view_parse(ClusterView *v, const json_t *reply)
{
    EtcdKv *kvs = NULL;
    int n;

    cluster_view_done(v);
    v->hosts = json_object();
    v->domains = json_object();
    v->owners = json_object();
    v->draining = json_object();
    v->failures = json_object();
    v->snapshots = json_object();
    if (!v->hosts || !v->domains || !v->owners || !v->draining || !v->failures || !v->snapshots)
        return -ENOMEM;
    v->revision = etcd_reply_revision(reply);
    n = etcd_reply_kvs(reply, &kvs);
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        const EtcdKv *kv = &kvs[i];
        json_t *value;

        if (streq(kv->key, CLUSTER_LEADER_KEY)) {
            free(v->leader);
            v->leader = strdup(kv->value);
            v->leader_create_revision = kv->create_revision;
            v->leader_lease = kv->lease;
        } else if (strneq(kv->key, CLUSTER_OWNERS_PREFIX, strlen(CLUSTER_OWNERS_PREFIX))) {
            const char *name = kv->key + strlen(CLUSTER_OWNERS_PREFIX);
            char *at = kv->value[0] == CLUSTER_RELEASED ? strchr(kv->value, '@') : NULL;
            char *to =
                kv->value[0] != CLUSTER_RELEASED ? strchr(kv->value, CLUSTER_MIGRATING) : NULL;
            json_t *owner;

            if (at)
                *at = 0; /* "!H@T": released by H for T (a move) */
            if (to)
                *to = 0; /* "H>T": H owns it and live-migrates it to T */
            owner =
                json_pack("{s:s,s:I}", kv->value[0] == CLUSTER_RELEASED ? "released_by" : "host",
                          kv->value + (kv->value[0] == CLUSTER_RELEASED), "rev",
                          (json_int_t)kv->mod_revision);
            if (owner && at)
                (void)json_object_set_new(owner, "target", json_string(at + 1));
            if (owner && to)
                (void)json_object_set_new(owner, "migrating_to", json_string(to + 1));
            (void)json_object_set_new(v->owners, name, owner);
        } else if (strneq(kv->key, CLUSTER_FAILED_PREFIX, strlen(CLUSTER_FAILED_PREFIX)))
            (void)json_object_set_new(
                v->failures, kv->key + strlen(CLUSTER_FAILED_PREFIX),
                json_pack("{s:s,s:I}", "reason", kv->value, "rev", (json_int_t)kv->mod_revision));
        else if (strneq(kv->key, CLUSTER_DRAIN_PREFIX, strlen(CLUSTER_DRAIN_PREFIX)))
            (void)json_object_set_new(v->draining, kv->key + strlen(CLUSTER_DRAIN_PREFIX),
                                      json_true());
        else if ((value = json_loadb(kv->value, kv->value_len, 0, NULL))) {
            if (strneq(kv->key, CLUSTER_HOSTS_PREFIX, strlen(CLUSTER_HOSTS_PREFIX)))
                (void)json_object_set_new(v->hosts, kv->key + strlen(CLUSTER_HOSTS_PREFIX),
                                          json_incref(value));
            else if (strneq(kv->key, CLUSTER_SNAPSHOTS_PREFIX, strlen(CLUSTER_SNAPSHOTS_PREFIX)))
                (void)json_object_set(v->snapshots, kv->key + strlen(CLUSTER_SNAPSHOTS_PREFIX),
                                      value);
            else if (strneq(kv->key, CLUSTER_DOMAINS_PREFIX, strlen(CLUSTER_DOMAINS_PREFIX)))
                (void)json_object_set_new(
                    v->domains, kv->key + strlen(CLUSTER_DOMAINS_PREFIX),
                    json_pack("{s:O,s:I}", "def", value, "rev", (json_int_t)kv->mod_revision));
            json_decref(value);
        }
    }
    etcd_kvs_free(kvs, n);
    return 0;
}

const char *cluster_view_owner(const ClusterView *v, const char *name)
{
    return json_string_value(json_object_get(json_object_get(v->owners, name), "host"));
}

const char *cluster_view_state(const ClusterView *v, const char *name, const char **ret_reason)
{
    const char *owner = cluster_view_owner(v, name);
    json_t *host = owner ? json_object_get(v->hosts, owner) : NULL;
    json_t *dom = json_object_get(json_object_get(host, "domains"), name);

    if (ret_reason)
        *ret_reason = json_string_value(json_object_get(dom, "reason"));
    return json_string_value(json_object_get(dom, "state"));
}

json_t *cluster_domain_entry(const ClusterView *v, const char *name)
{
    json_t *dom = json_object_get(v->domains, name), *def = json_object_get(dom, "def");
    json_t *settings = json_object_get(def, "settings");
    const char *owner = cluster_view_owner(v, name), *reason = NULL, *state;
    const char *refused = json_string_value(json_object_get(def, "refused"));
    const char *released_by =
        json_string_value(json_object_get(json_object_get(v->owners, name), "released_by"));
    bool alive = owner && json_object_get(v->hosts, owner);
    char leaving[DOMAIN_NAME_MAX + 16];

    state = cluster_view_state(v, name, &reason);
    if (refused) {
        state = "refused";
        reason = refused;
    } else if (released_by) {
        (void)snprintf(leaving, sizeof(leaving), "leaving %s", released_by);
        state = "moving";
        reason = leaving;
    } else if (!owner) {
        state = "pending";
        reason = "waiting for the leader to place it";
    } else if (!alive) {
        state = "unknown";
        reason = "its host is down";
    } else if (!state) {
        state = "pending";
        reason = "its host has not defined it yet";
    }
    DomainConfig cfg;
    Error e = ERROR_NULL;
    json_t *entry;

    if (domain_config_from_json(settings, &cfg, &e) < 0)
        domain_config_init(&cfg);
    entry = json_pack("{s:s,s:o,s:s,s:s,s:b,s:s,s:o,s:s,s:I,s:I,s:s}", "name", name, "host",
                      owner ? json_string(owner) : json_null(), "state", state, "reason",
                      strempty(reason), "ha", json_is_true(json_object_get(def, "ha")), "ha_from",
                      json_string_value(json_object_get(def, "ha_from")) ?: "definition",
                      "pinned_host", json_incref(json_object_get(def, "host")) ?: json_null(),
                      "driver", driver_kind_to_string(cfg.driver), "vcpus", (json_int_t)cfg.vcpus,
                      "memory_mib", (json_int_t)cfg.memory_mib, "uuid", cfg.uuid);
    domain_config_done(&cfg);
    return entry;
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
