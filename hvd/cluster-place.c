/* The leader's placement: each cluster domain without an owner (new, or HA whose host's lease
 * expired) goes to the host with the most free memory among those that satisfy its
 * constraints (pinned host, driver, network, free vCPUs and memory, no other domain of that
 * name), by a transaction that holds only while this host is still the leader and the owner
 * key is as read, so no domain ever has two owners. A new domain that fits nowhere is marked
 * refused with the reason. */
#include <inttypes.h>
#include <string.h>

#include "cluster-internal.h"
#include "domain-config.h"
#include "log.h"

typedef struct Candidate {
    const char *name;
    json_t *reg;
    int64_t memory_free_mib;
    int64_t vcpus_free;
    bool draining;
} Candidate;

static int candidate_compare(const void *a, const void *b)
{
    return strcmp(((const Candidate *)a)->name, ((const Candidate *)b)->name);
}

static int name_compare(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void settings_resources(const json_t *def, DomainConfig *cfg)
{
    Error e = ERROR_NULL;

    if (domain_config_from_json(json_object_get(def, "settings"), cfg, &e) < 0)
        domain_config_init(cfg);
}

/* The live hosts, sorted by name, with what is free on each once the cluster domains already
 * given to it but not yet running there are counted. */
static Candidate *candidates_new(Cluster *c, size_t *ret_n)
{
    const ClusterView *v = &c->view;
    size_t n = json_object_size(v->hosts), i = 0;
    Candidate *list = calloc(MAX(n, (size_t)1), sizeof(*list));
    const char *name;
    json_t *reg, *dom;

    if (!list)
        return NULL;
    json_object_foreach (v->hosts, name, reg) {
        json_t *res = json_object_get(reg, "resources");
        list[i++] = (Candidate){
            .name = name,
            .reg = reg,
            .memory_free_mib = json_integer_value(json_object_get(res, "memory_free_mib")),
            .vcpus_free = json_integer_value(json_object_get(res, "vcpus_free")),
            .draining = json_object_get(v->draining, name) != NULL,
        };
    }
    qsort(list, n, sizeof(*list), candidate_compare);
    json_object_foreach (v->domains, name, dom) {
        const char *owner = cluster_view_owner(v, name);
        Candidate key = {.name = owner}, *h;
        DomainConfig cfg;

        if (!owner || !(h = bsearch(&key, list, n, sizeof(*list), candidate_compare)))
            continue;
        if (cluster_state_active(cluster_view_state(v, name, NULL)))
            continue; /* already counted by the host itself */
        settings_resources(json_object_get(dom, "def"), &cfg);
        h->memory_free_mib -= (int64_t)cfg.memory_mib;
        h->vcpus_free -= (int64_t)cfg.vcpus;
        domain_config_done(&cfg);
    }
    *ret_n = n;
    return list;
}

/* Why host h cannot run the domain (NULL: it can); the sentence goes into why. */
static bool host_fits(const Candidate *h, const char *name, const json_t *def,
                      const DomainConfig *cfg, char *why, size_t len)
{
    const char *pinned = json_string_value(json_object_get(def, "host"));
    const char *driver = driver_kind_to_string(cfg->driver);
    json_t *other = json_object_get(json_object_get(h->reg, "domains"), name), *net;
    bool has_network = !cfg->network;
    size_t i;

    if (pinned && !streq(pinned, h->name))
        return snprintf(why, len, "%s: the domain is pinned to %s", h->name, pinned), false;
    if (h->draining)
        return snprintf(why, len, "%s: it is being drained", h->name), false;
    if (!json_is_true(json_object_get(json_object_get(h->reg, "drivers"), driver)))
        return snprintf(why, len, "%s: no %s driver available", h->name, driver), false;
    json_array_foreach (json_object_get(h->reg, "networks"), i, net)
        has_network |= cfg->network && streq(json_string_value(net) ?: "", cfg->network);
    if (!has_network)
        return snprintf(why, len, "%s: no network '%s'", h->name, cfg->network), false;
    if (other && !streq(json_string_value(json_object_get(other, "uuid")) ?: "", cfg->uuid))
        return snprintf(why, len, "%s: a local domain named %s exists there", h->name, name), false;
    if ((int64_t)cfg->vcpus > h->vcpus_free)
        return snprintf(why, len, "%s: not enough vCPUs (requested %u, %" PRId64 " free)", h->name,
                        cfg->vcpus, MAX(h->vcpus_free, (int64_t)0)),
               false;
    if ((int64_t)cfg->memory_mib > h->memory_free_mib)
        return snprintf(why, len,
                        "%s: not enough memory (requested %" PRIu64 " MiB, %" PRId64 " MiB free)",
                        h->name, cfg->memory_mib, MAX(h->memory_free_mib, (int64_t)0)),
               false;
    return true;
}

static void on_placed(void *userdata, json_t *reply, const Error *e)
{
    Cluster *c = userdata;

    c->place_calls--;
    if (!reply)
        log_warning("Cluster: a placement failed: %s", e->message);
    else if (!json_is_true(json_object_get(reply, "succeeded")))
        log_debug("Cluster: a placement lost a race; placing again.");
    if (c->place_calls == 0)
        cluster_kick(c);
}

/* Commits puts (an array of request_* objects) while this host leads and key_compare holds. */
static void leader_txn(Cluster *c, json_t *key_compare, json_t *requests)
{
    json_t *compares = json_pack(
        "[o,o]", etcd_compare(CLUSTER_LEADER_KEY, "CREATE", "EQUAL", c->leader_revision, NULL),
        key_compare);

    if (etcd_call(c->etcd, "/v3/kv/txn", etcd_txn_request(compares, requests, NULL), on_placed, c,
                  NULL) < 0)
        log_oom();
    else
        c->place_calls++;
}

static void assign(Cluster *c, const char *name, Candidate *h, const DomainConfig *cfg,
                   int64_t owner_rev)
{
    _cleanup_free_ char *key = cluster_key(CLUSTER_OWNERS_PREFIX, name);

    if (!key)
        return (void)log_oom();
    log_info("Cluster: placing domain %s on %s.", name, h->name);
    h->memory_free_mib -= (int64_t)cfg->memory_mib;
    h->vcpus_free -= (int64_t)cfg->vcpus;
    leader_txn(c,
               owner_rev ? etcd_compare(key, "MOD", "EQUAL", owner_rev, NULL)
                         : etcd_compare(key, "CREATE", "EQUAL", 0, NULL),
               json_pack("[{s:o}]", "request_put", etcd_put_request(key, h->name, 0)));
}

static void refuse(Cluster *c, const char *name, const json_t *dom, const char *reason)
{
    _cleanup_free_ char *key = cluster_key(CLUSTER_DOMAINS_PREFIX, name), *text = NULL;
    json_t *def = json_deep_copy(json_object_get(dom, "def"));

    if (!key || !def || json_object_set_new(def, "refused", json_string(reason)) < 0 ||
        !(text = json_dumps(def, JSON_COMPACT))) {
        json_decref(def);
        return (void)log_oom();
    }
    json_decref(def);
    log_notice("Cluster: refusing domain %s: %s", name, reason);
    leader_txn(
        c, etcd_compare(key, "MOD", "EQUAL", json_integer_value(json_object_get(dom, "rev")), NULL),
        json_pack("[{s:o}]", "request_put", etcd_put_request(key, text, 0)));
}

/* Whether domain name is active on host (as its registration says), a live host. */
static bool still_runs_on(Cluster *c, const char *host, const char *name)
{
    json_t *reg = json_object_get(c->view.hosts, host);
    json_t *dom = json_object_get(json_object_get(reg, "domains"), name);

    return reg && cluster_state_active(json_string_value(json_object_get(dom, "state")));
}

static void place_one(Cluster *c, Candidate *hosts, size_t n, const char *name, json_t *dom)
{
    json_t *def = json_object_get(dom, "def"), *owner = json_object_get(c->view.owners, name);
    const char *owner_host = json_string_value(json_object_get(owner, "host"));
    const char *released_by = json_string_value(json_object_get(owner, "released_by"));
    const char *target = json_string_value(json_object_get(owner, "target"));
    char reason[1024] = "", why[256];
    Candidate *best = NULL, *wanted = NULL;
    DomainConfig cfg;

    if (json_object_get(def, "refused"))
        return;
    /* Given up by a host being drained: placed once it no longer runs there (or is gone). */
    if (released_by && still_runs_on(c, released_by, name))
        return;
    if (owner_host &&
        (json_object_get(c->view.hosts, owner_host) || !json_is_true(json_object_get(def, "ha"))))
        return; /* owned by a live host, or not HA: it stays where it is */
    settings_resources(def, &cfg);
    for (size_t i = 0; i < n; i++) {
        if (!host_fits(&hosts[i], name, def, &cfg, why, sizeof(why))) {
            size_t used = strlen(reason);
            (void)snprintf(reason + used, sizeof(reason) - used, "%s%s", used ? "; " : "", why);
            continue;
        }
        if (!best || hosts[i].memory_free_mib > best->memory_free_mib)
            best = &hosts[i];
        if (target && streq(hosts[i].name, target))
            wanted = &hosts[i];
    }
    /* A move goes where it was asked to, when that host can take it; elsewhere otherwise. */
    if (wanted)
        best = wanted;
    else if (target && best)
        log_warning("Cluster: domain %s cannot move to %s (%s); placing it on %s.", name, target,
                    reason, best->name);
    if (best) {
        if (owner_host)
            log_notice("Cluster: host %s is gone; restarting HA domain %s elsewhere.", owner_host,
                       name);
        else if (released_by)
            log_notice("Cluster: moving domain %s from %s%s.", name, released_by,
                       target ? "" : ", which is being drained");
        assign(c, name, best, &cfg, owner ? json_integer_value(json_object_get(owner, "rev")) : 0);
        (void)json_object_del(c->refusals_logged, name);
    } else {
        char full[1200];
        (void)snprintf(full, sizeof(full), "no host can run domain %s: %s", name,
                       n ? reason : "no host is registered");
        if (!owner)
            refuse(c, name, dom, full);
        else if (!streq(json_string_value(json_object_get(c->refusals_logged, name)) ?: "", full)) {
            log_warning("Cluster: domain %s waits for room: %s", name, full);
            (void)json_object_set_new(c->refusals_logged, name, json_string(full));
        }
    }
    domain_config_done(&cfg);
}

bool cluster_host_can_take(Cluster *c, const char *host, const char *name, char *why, size_t len)
{
    json_t *def = json_object_get(json_object_get(c->view.domains, name), "def");
    size_t n = 0;
    Candidate *hosts = candidates_new(c, &n), key = {.name = host}, *h;
    DomainConfig cfg;
    bool fits;

    if (!hosts)
        return snprintf(why, len, "out of memory"), false;
    h = bsearch(&key, hosts, n, sizeof(*hosts), candidate_compare);
    if (!h) {
        free(hosts);
        return snprintf(why, len, "no host named %s is in the cluster", host), false;
    }
    settings_resources(def, &cfg);
    fits = host_fits(h, name, def, &cfg, why, len);
    domain_config_done(&cfg);
    free(hosts);
    return fits;
}

#define CLUSTER_DRAIN_LIVE_MAX 2 /* live migrations off one drained host at a time */

/* The live migrations under way off host. */
static unsigned migrations_off(Cluster *c, const char *host)
{
    const char *name;
    json_t *owner;
    unsigned n = 0;

    json_object_foreach (c->view.owners, name, owner) {
        const char *h = json_string_value(json_object_get(owner, "host"));
        n += h && streq(h, host) && json_object_get(owner, "migrating_to");
    }
    return n;
}

/* Where domain name could go live off a drained host: the host with the most free memory that
 * can take it and advertises its URL, or NULL. */
static Candidate *live_target(Cluster *c, Candidate *hosts, size_t n, const char *name,
                              const json_t *def)
{
    Candidate *best = NULL;
    char why[256];
    DomainConfig cfg;

    settings_resources(def, &cfg);
    for (size_t i = 0; i < n; i++)
        if (json_is_string(json_object_get(hosts[i].reg, "advertise")) &&
            host_fits(&hosts[i], name, def, &cfg, why, sizeof(why)) &&
            (!best || hosts[i].memory_free_mib > best->memory_free_mib))
            best = &hosts[i];
    if (best) {
        best->memory_free_mib -= (int64_t)cfg.memory_mib;
        best->vcpus_free -= (int64_t)cfg.vcpus;
    }
    domain_config_done(&cfg);
    return best;
}

/* A domain of a host being drained (unless pinned there) moves off: by live migration to the
 * host with the most room when its driver can (a few at a time) and its last live migration
 * did not fail; otherwise it is released: its host stops it, then it is placed elsewhere
 * (place_one). */
static void release_drained(Cluster *c, Candidate *hosts, size_t n, const char *name)
{
    json_t *owner = json_object_get(c->view.owners, name);
    json_t *def = json_object_get(json_object_get(c->view.domains, name), "def");
    const char *host = json_string_value(json_object_get(owner, "host"));
    const char *pinned = json_string_value(json_object_get(def, "host"));
    _cleanup_free_ char *key = NULL, *value = NULL;
    Candidate *to = NULL;

    if (!host || !json_object_get(c->view.draining, host) || (pinned && streq(pinned, host)) ||
        json_object_get(owner, "migrating_to"))
        return;
    if (cluster_migrate_supported(c, def) && !json_object_get(c->view.failures, name) &&
        cluster_state_active(cluster_view_state(&c->view, name, NULL))) {
        if (migrations_off(c, host) >= CLUSTER_DRAIN_LIVE_MAX)
            return; /* its turn comes when one of those ends */
        to = live_target(c, hosts, n, name, def);
    }
    key = cluster_key(CLUSTER_OWNERS_PREFIX, name);
    if (!key || (to ? asprintf(&value, "%s%c%s", host, CLUSTER_MIGRATING, to->name)
                    : asprintf(&value, "%c%s", CLUSTER_RELEASED, host)) < 0)
        return (void)log_oom();
    if (to)
        log_notice("Cluster: %s is being drained; live-migrating domain %s to %s.", host, name,
                   to->name);
    else
        log_notice("Cluster: %s is being drained; releasing domain %s.", host, name);
    leader_txn(
        c,
        etcd_compare(key, "MOD", "EQUAL", json_integer_value(json_object_get(owner, "rev")), NULL),
        json_pack("[{s:o}]", "request_put", etcd_put_request(key, value, 0)));
}

void cluster_place(Cluster *c)
{
    const char **names;
    Candidate *hosts;
    size_t n = 0, n_names = 0;
    const char *name;
    json_t *dom;

    if (c->place_calls > 0)
        return;
    hosts = candidates_new(c, &n);
    names = calloc(json_object_size(c->view.domains) + 1, sizeof(*names));
    if (!hosts || !names) {
        free(hosts);
        free(names);
        return (void)log_oom();
    }
    /* By name, so placement does not depend on the order of a hash table. */
    json_object_foreach (c->view.domains, name, dom)
        names[n_names++] = name;
    qsort(names, n_names, sizeof(*names), name_compare);
    for (size_t i = 0; i < n_names; i++)
        place_one(c, hosts, n, names[i], json_object_get(c->view.domains, names[i]));
    for (size_t i = 0; i < n_names; i++)
        release_drained(c, hosts, n, names[i]);
    free(names);
    free(hosts);
}
