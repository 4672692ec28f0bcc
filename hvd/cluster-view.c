/* The view of what etcd holds for the cluster: a range answer over CLUSTER_PREFIX read into
 * hosts, domains, owners, drains, failures, snapshots and the leader, and what a surface shows of
 * one domain. Only JSON in and out (no loop, no etcd connection): every value came from another
 * host, so none is trusted to have any shape. */
#include <string.h>

#include "cluster-internal.h"
#include "domain-config.h"

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
            else if (strneq(kv->key, CLUSTER_SNAPSHOTS_PREFIX, strlen(CLUSTER_SNAPSHOTS_PREFIX)) &&
                     json_is_object(value))
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
