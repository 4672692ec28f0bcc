/* Leases of the domains on hvd networks: a stable MAC and an address given at a domain's start,
 * the attachment drivers get in DomainConfig.nic, the taps hvd opens for them, and the
 * interfaces a domain shows. */
#include <inttypes.h>
#include <string.h>

#include "log.h"
#include "manager-internal.h"
#include "tap.h"

json_t *manager_domain_interfaces(Manager *m, Domain *d)
{
    json_t *list = json_array();
    Network *n = d->config.network ? manager_network_find(m, d->config.network) : NULL;
    NetworkLease *l = n ? network_lease_find(n, d->id) : NULL;
    char addr[16];

    if (!list || !d->config.network)
        return list;
    if (l)
        network_format_ipv4(l->ipv4, addr);
    (void)json_array_append_new(list, json_pack("{s:s, s:s*, s:s*, s:s*}", "network",
                                                d->config.network, "mac", l ? l->mac : NULL, "ipv4",
                                                l ? addr : NULL, "bridge", n ? n->bridge : NULL));
    return list;
}

/* FNV-1a over the domain's UUID, the network's name and the attempt: a MAC that stays the
 * domain's on that network, locally administered and unicast. */
static void derive_mac(const Domain *d, const Network *n, unsigned attempt, char out[18])
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char *parts[] = {d->config.uuid, n->name};

    for (size_t p = 0; p < ELEMENTSOF(parts); p++)
        for (const char *s = parts[p]; *s; s++)
            h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    h = (h ^ attempt) * 0x100000001b3ull;
    (void)snprintf(out, 18, "02:%02x:%02x:%02x:%02x:%02x", (unsigned)(h >> 32) & 0xff,
                   (unsigned)(h >> 24) & 0xff, (unsigned)(h >> 16) & 0xff,
                   (unsigned)(h >> 8) & 0xff, (unsigned)h & 0xff);
}

static bool mac_taken(Manager *m, const char *mac)
{
    for (size_t i = 0; i < m->n_networks; i++)
        for (size_t j = 0; j < m->networks[i]->n_leases; j++)
            if (streq(m->networks[i]->leases[j].mac, mac))
                return true;
    return false;
}

static bool address_taken(const Network *n, uint32_t a)
{
    for (size_t i = 0; i < n->n_leases; i++)
        if (n->leases[i].ipv4 == a)
            return true;
    return false;
}

static int lease_allocate(Manager *m, Network *n, Domain *d, Error *e)
{
    NetworkLease l = {.domain_id = d->id};
    char addr[16];
    uint32_t a;
    int r;

    for (unsigned attempt = 0;; attempt++) {
        derive_mac(d, n, attempt, l.mac);
        if (!mac_taken(m, l.mac))
            break;
    }
    for (a = network_host_address(n) + 1; a <= network_lease_last(n); a++)
        if (!address_taken(n, a))
            break;
    if (a > network_lease_last(n))
        return error_setf(e, ERROR_INSUFFICIENT_RESOURCES,
                          "network '%s' has no free address left for '%s' (%zu leases)", n->name,
                          d->config.name, n->n_leases);
    l.ipv4 = a;
    network_format_ipv4(a, addr);
    manager_commit(m);
    r = store_begin(m->store);
    if (r >= 0)
        r = store_lease_insert(
            m->store,
            &(StoredLease){.network_id = n->id, .domain_id = d->id, .mac = l.mac, .ipv4 = addr});
    if (r >= 0)
        r = store_commit(m->store);
    if (r < 0) {
        (void)error_set_errno(e, r, "Failed to record the lease of '%s' on network %s: %s",
                              d->config.name, n->name, store_last_error(m->store));
        store_rollback(m->store);
        return r;
    }
    r = network_lease_append(n, &l);
    if (r < 0)
        return error_set_errno(e, r, "Out of memory");
    log_info("Domain %s: lease %s %s on network %s.", d->config.name, l.mac, addr, n->name);
    manager_network_hosts_update(m, n);
    return 0;
}

/* Drops d's leases on every network but keep (it names another network now). */
static void leases_drop_others(Manager *m, Domain *d, Network *keep)
{
    for (size_t i = 0; i < m->n_networks; i++) {
        Network *n = m->networks[i];

        if (n == keep || !network_lease_find(n, d->id))
            continue;
        manager_commit(m);
        if (store_begin(m->store) < 0 || store_lease_delete(m->store, n->id, d->id) < 0 ||
            store_commit(m->store) < 0) {
            store_rollback(m->store);
            continue; /* kept, and dropped at the next start */
        }
        network_lease_remove(n, d->id);
        manager_network_hosts_update(m, n);
    }
}

void manager_network_fill_nic(Manager *m, DomainConfig *c, int64_t domain_id)
{
    Network *n = c->network ? manager_network_find(m, c->network) : NULL;
    NetworkLease *l = n && domain_id > 0 ? network_lease_find(n, domain_id) : NULL;

    c->nic = (DomainNic){};
    if (!n)
        return;
    (void)snprintf(c->nic.bridge, sizeof(c->nic.bridge), "%s", n->bridge);
    if (domain_id > 0) {
        char tap[32];
        (void)snprintf(tap, sizeof(tap), NETWORK_TAP_PREFIX "%" PRId64, domain_id);
        if (strlen(tap) <= DOMAIN_IFNAME_MAX) /* ids beyond 10^9 get no tap */
            strcpy(c->nic.tap, tap);
    }
    c->nic.prefix = n->prefix;
    if (l) {
        (void)snprintf(c->nic.mac, sizeof(c->nic.mac), "%s", l->mac);
        network_format_ipv4(l->ipv4, c->nic.ipv4);
    }
}

int manager_network_attach(Manager *m, Domain *d, Error *e)
{
    Network *n = d->config.network ? manager_network_find(m, d->config.network) : NULL;
    int r;

    leases_drop_others(m, d, n);
    if (n) {
        /* The bridge may have been deleted behind hvd's back: made again. */
        r = manager_network_bridge_setup(n, e);
        if (r < 0)
            return r;
        if (!network_lease_find(n, d->id)) {
            r = lease_allocate(m, n, d, e);
            if (r < 0)
                return r;
        }
    }
    manager_network_fill_nic(m, &d->config, d->id);
    return 0;
}

void manager_network_domain_deleted(Manager *m, Domain *d)
{
    /* The store dropped the leases with the domain. */
    for (size_t i = 0; i < m->n_networks; i++)
        if (network_lease_find(m->networks[i], d->id)) {
            network_lease_remove(m->networks[i], d->id);
            manager_network_hosts_update(m, m->networks[i]);
        }
}

int manager_network_open_tap(Manager *m, const DomainNic *nic, int *ret_fd, Error *e)
{
    int r;

    if (!nic->tap[0] || !nic->bridge[0])
        return error_setf(e, ERROR_INVALID_ARGUMENT, "the domain is not on an hvd network");
    r = tap_open(nic->tap, nic->bridge, ret_fd);
    if (r < 0)
        return error_set_errno(e, r, "Failed to create tap %s on bridge %s: %m", nic->tap,
                               nic->bridge);
    return 0;
}
