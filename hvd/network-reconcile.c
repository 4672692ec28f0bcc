/* The host's links matched to hvd's records after a restart: recorded bridges made again,
 * taps of running domains put back on their bridges, hvd's bridges and taps that no record
 * claims deleted, and NAT's table as the records ask. */
#include <string.h>

#include "log.h"
#include "manager-internal.h"
#include "netlink.h"

/* Links of hvd's own (by prefix and kind) that no record claims, collected during a dump and
 * deleted after it. */
typedef struct Unclaimed {
    Manager *m;
    char names[64][DOMAIN_IFNAME_MAX + 1];
    size_t n;
} Unclaimed;

static bool has_prefix(const char *s, const char *prefix)
{
    return strneq(s, prefix, strlen(prefix));
}

static int collect_bridge(const NetlinkLink *link, void *userdata)
{
    Unclaimed *u = userdata;

    if (!streq(link->kind, "bridge") || !has_prefix(link->name, NETWORK_BRIDGE_PREFIX))
        return 0;
    for (size_t i = 0; i < u->m->n_networks; i++)
        if (streq(u->m->networks[i]->bridge, link->name))
            return 0;
    if (u->n < ELEMENTSOF(u->names))
        (void)snprintf(u->names[u->n++], sizeof(u->names[0]), "%s", link->name);
    return 0;
}

/* The network an active domain's tap belongs on, or NULL when no record claims the tap. */
static Network *tap_owner(Manager *m, const char *tap)
{
    char *end;
    long long id = strtoll(tap + strlen(NETWORK_TAP_PREFIX), &end, 10);
    Domain *d = *end || id <= 0 ? NULL : manager_domain_by_id(m, id);

    if (!d || !domain_state_is_active(d->state) || !d->config.network)
        return NULL;
    return manager_network_find(m, d->config.network);
}

static int collect_tap(const NetlinkLink *link, void *userdata)
{
    Unclaimed *u = userdata;
    Network *n;
    int r;

    if (!streq(link->kind, "tun") || !has_prefix(link->name, NETWORK_TAP_PREFIX))
        return 0;
    n = tap_owner(u->m, link->name);
    if (n && streq(link->master, n->bridge))
        return 0;
    if (n) {
        r = netlink_link_up(link->name, n->bridge);
        if (r < 0)
            log_warning_errno(r, "Failed to put tap %s back on bridge %s: %m", link->name,
                              n->bridge);
        else
            log_info("Tap %s is on bridge %s again.", link->name, n->bridge);
        return 0;
    }
    if (u->n < ELEMENTSOF(u->names))
        (void)snprintf(u->names[u->n++], sizeof(u->names[0]), "%s", link->name);
    return 0;
}

static void delete_unclaimed(Unclaimed *u, const char *what)
{
    for (size_t i = 0; i < u->n; i++) {
        int r = netlink_link_delete(u->names[i]);
        if (r < 0 && r != -ENODEV)
            log_warning_errno(r, "Failed to delete %s %s that no network claims: %m", what,
                              u->names[i]);
        else
            log_notice("Deleted %s %s: no record of hvd's claims it any more.", what, u->names[i]);
    }
}

void manager_networks_reconcile_bridges(Manager *m)
{
    Unclaimed u = {.m = m};
    int r;

    for (size_t i = 0; i < m->n_networks; i++) {
        Network *n = m->networks[i];
        Error e = ERROR_NULL;

        if (manager_network_bridge_setup(n, &e) < 0) {
            log_warning("%s", e.message);
            continue;
        }
        if (n->dhcp && !n->dnsmasq && manager_network_dnsmasq_setup(m, n, &e) < 0)
            log_warning("Network %s: %s", n->name, e.message);
    }
    /* NAT as recorded: table ip hvd made again, or removed when no network asks for it. */
    Error nat_error = ERROR_NULL;
    if (manager_network_nat_apply(m, &nat_error) < 0)
        log_warning("Networks: %s", nat_error.message);
    r = netlink_links_foreach(collect_bridge, &u);
    if (r < 0) {
        log_warning_errno(r, "Failed to list the host's links: %m");
        return;
    }
    delete_unclaimed(&u, "bridge");
}

void manager_networks_reconcile_taps(Manager *m)
{
    Unclaimed u = {.m = m};
    int r;

    r = netlink_links_foreach(collect_tap, &u);
    if (r < 0) {
        log_warning_errno(r, "Failed to list the host's links: %m");
        return;
    }
    delete_unclaimed(&u, "tap");
}
