/* This host's registration under its lease: capacity and allocation, drivers, networks and the
 * states of its domains, put again when they change (batched, at most every
 * CLUSTER_PUBLISH_US). */
#include <inttypes.h>
#include <string.h>

#include "build-config.h"
#include "cluster-internal.h"
#include "log.h"

json_t *cluster_registration(Cluster *c)
{
    Manager *m = c->manager;
    json_t *reg, *host = manager_host_view(m), *drivers = json_object(), *networks = json_array(),
                 *domains = json_object();

    for (size_t i = 0; drivers && i < _DRIVER_KIND_MAX; i++)
        if (m->drivers[i])
            (void)json_object_set_new(drivers, driver_kind_to_string((DriverKind)i),
                                      json_boolean(m->drivers[i]->available));
    for (size_t i = 0; networks && i < m->n_networks; i++)
        (void)json_array_append_new(networks, json_string(m->networks[i]->name));
    for (size_t i = 0; domains && i < m->n_domains; i++) {
        const Domain *d = m->domains[i];
        (void)json_object_set_new(
            domains, d->config.name,
            json_pack("{s:s,s:s,s:s,s:I,s:I}", "state", domain_state_to_string(d->state), "reason",
                      domain_reason_to_string(d->reason), "uuid", d->config.uuid, "vcpus",
                      (json_int_t)d->config.vcpus, "memory_mib", (json_int_t)d->config.memory_mib));
    }
    /* "resources": the host view every surface shows (capacity, allocated, free). */
    reg = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:s}", "name", c->config.host, "advertise",
                    c->config.advertise ? json_string(c->config.advertise) : json_null(),
                    "resources", host, "drivers", drivers, "networks", networks, "domains", domains,
                    "version", HVD_VERSION);
    return reg;
}

static void on_revoked(void *userdata, json_t *reply, const Error *e)
{
    if (!reply)
        log_debug("Cluster: could not revoke the previous lease: %s", e->message);
    else
        log_info("Cluster: revoked the lease of hvd's previous run.");
}

/* The previous run's lease goes once this host is registered under the new one (its
 * registration moved to the new lease with the put): what else it held, the leader key, is
 * released at once instead of at its expiry. */
static void revoke_stale_lease(Cluster *c)
{
    char id[32];

    if (!c->stale_lease || c->stale_lease == c->lease)
        return;
    (void)snprintf(id, sizeof(id), "%" PRId64, c->stale_lease);
    c->stale_lease = 0;
    if (etcd_call(c->etcd, "/v3/lease/revoke", json_pack("{s:s}", "ID", id), on_revoked, NULL,
                  NULL) < 0)
        log_oom();
}

static void on_published(void *userdata, json_t *reply, const Error *e)
{
    Cluster *c = userdata;

    c->publish_call = NULL;
    if (reply)
        revoke_stale_lease(c);
    if (!reply) {
        log_debug("Cluster: could not publish this host: %s", e->message);
        c->publish_dirty = true;
        c->publish_due_us = cluster_now(c) + CLUSTER_SCAN_US;
    }
}

void cluster_publish_tick(Cluster *c)
{
    _cleanup_free_ char *key = NULL, *text = NULL;
    json_t *reg;

    if (!c->lease || !c->publish_dirty || c->publish_call || cluster_now(c) < c->publish_due_us)
        return;
    reg = cluster_registration(c);
    text = reg ? json_dumps(reg, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(reg);
    key = cluster_key(CLUSTER_HOSTS_PREFIX, c->config.host);
    if (!text || !key) {
        log_oom();
        return;
    }
    c->publish_dirty = false;
    if (etcd_call(c->etcd, "/v3/kv/put", etcd_put_request(key, text, c->lease), on_published, c,
                  &c->publish_call) < 0)
        log_oom();
}
