/* hvd networks in the manager: create, delete, look up and load networks, their bridges, and
 * one dnsmasq per network that asks for DHCP (leases: network-lease.c; the host's links matched
 * to the records: network-reconcile.c). */
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/stat.h>

#include "dnsmasq.h"
#include "log.h"
#include "manager-internal.h"
#include "netlink.h"
#include "network-nat.h"
#include "time-util.h"

Network *manager_network_find(Manager *m, const char *name)
{
    for (size_t i = 0; i < m->n_networks; i++)
        if (streq(m->networks[i]->name, name))
            return m->networks[i];
    return NULL;
}

int manager_network_get(Manager *m, const char *name, Network **ret, Error *e)
{
    Network *n = manager_network_find(m, name);

    if (!n)
        return error_setf(e, ERROR_NO_SUCH_NETWORK, "no network named '%.64s'", name);
    *ret = n;
    return 0;
}

static Network *network_by_id(Manager *m, int64_t id)
{
    for (size_t i = 0; i < m->n_networks; i++)
        if (m->networks[i]->id == id)
            return m->networks[i];
    return NULL;
}

Domain *manager_domain_by_id(Manager *m, int64_t id)
{
    for (size_t i = 0; i < m->n_domains; i++)
        if (m->domains[i]->id == id)
            return m->domains[i];
    return NULL;
}

/* Adds n to the manager's networks, kept sorted by name. */
static int network_insert(Manager *m, Network *n)
{
    size_t i = 0;
    Network **p = reallocarray(m->networks, m->n_networks + 1, sizeof(*p));

    if (!p)
        return -ENOMEM;
    m->networks = p;
    while (i < m->n_networks && strcmp(m->networks[i]->name, n->name) < 0)
        i++;
    memmove(m->networks + i + 1, m->networks + i, (m->n_networks - i) * sizeof(*m->networks));
    m->networks[i] = n;
    m->n_networks++;
    n->manager = m;
    return 0;
}

static void network_unlink(Manager *m, Network *n)
{
    for (size_t i = 0; i < m->n_networks; i++)
        if (m->networks[i] == n) {
            memmove(m->networks + i, m->networks + i + 1,
                    (m->n_networks - i - 1) * sizeof(*m->networks));
            m->n_networks--;
            return;
        }
}

static int load_network(const StoredNetwork *sn, void *userdata)
{
    Manager *m = userdata;
    Network *n;
    int r;

    if (strlen(sn->name) > NETWORK_NAME_MAX || strlen(sn->bridge) > DOMAIN_IFNAME_MAX)
        return -EBADMSG;
    n = calloc(1, sizeof(*n));
    if (!n)
        return -ENOMEM;
    n->id = sn->id;
    strcpy(n->name, sn->name);
    strcpy(n->bridge, sn->bridge);
    n->prefix = sn->prefix;
    n->nat = sn->nat;
    n->dhcp = sn->dhcp;
    n->created_us = sn->created_us;
    r = network_parse_ipv4(sn->subnet, &n->subnet);
    if (r >= 0)
        r = network_insert(m, n);
    if (r < 0)
        network_free(n);
    return r < 0 ? (r == -EINVAL ? -EBADMSG : r) : 0;
}

static int load_lease(const StoredLease *sl, void *userdata)
{
    Manager *m = userdata;
    Network *n = network_by_id(m, sl->network_id);
    NetworkLease l = {.domain_id = sl->domain_id};

    if (!n || strlen(sl->mac) >= sizeof(l.mac) || network_parse_ipv4(sl->ipv4, &l.ipv4) < 0)
        return -EBADMSG;
    strcpy(l.mac, sl->mac);
    return network_lease_append(n, &l);
}

int manager_networks_load(Manager *m)
{
    int r = store_networks_load(m->store, load_network, m);

    if (r >= 0)
        r = store_leases_load(m->store, load_lease, m);
    /* A domain adopted after a restart reboots onto its network again. */
    for (size_t i = 0; r >= 0 && i < m->n_domains; i++)
        manager_network_fill_nic(m, &m->domains[i]->config, m->domains[i]->id);
    return r;
}

/* The bridge of n as recorded: there, up, with the host's address. Returns 1 when it was made
 * now, 0 when it was there. */
int manager_network_bridge_setup(Network *n, Error *e)
{
    int made = netlink_bridge_create(n->bridge), r = made;

    if (r >= 0)
        r = netlink_address_set(n->bridge, network_host_address(n), n->prefix);
    if (r >= 0)
        r = netlink_link_up(n->bridge, NULL);
    if (r >= 0)
        return made;
    if (made > 0)
        (void)netlink_link_delete(n->bridge);
    return error_set_errno(e, r, "Failed to set up bridge %s of network %s: %m%s", n->bridge,
                           n->name,
                           r == -EPERM    ? " (creating bridges needs CAP_NET_ADMIN)"
                           : r == -EEXIST ? " (a link of another kind has that name)"
                                          : "");
}

/* dnsmasq's host file for n: one "MAC,ADDRESS[,NAME]" line per lease (a domain name that is
 * not a valid host name is left out of its line). */
static char *hosts_text(Manager *m, Network *n)
{
    char *text = NULL, addr[16];
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);

    if (!f)
        return NULL;
    for (size_t i = 0; i < n->n_leases; i++) {
        Domain *d = manager_domain_by_id(m, n->leases[i].domain_id);
        const char *name = d ? d->config.name : "";

        network_format_ipv4(n->leases[i].ipv4, addr);
        fprintf(f, "%s,%s", n->leases[i].mac, addr);
        if (name[0] && strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789-") == strlen(name))
            fprintf(f, ",%s", name);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

void manager_network_hosts_update(Manager *m, Network *n)
{
    _cleanup_free_ char *text = NULL;
    int r;

    if (!n->dnsmasq)
        return;
    text = hosts_text(m, n);
    r = text ? dnsmasq_set_hosts(n->dnsmasq, text) : -ENOMEM;
    if (r < 0)
        log_warning_errno(r, "Network %s: failed to update dnsmasq's host entries: %m", n->name);
}

int manager_network_dnsmasq_setup(Manager *m, Network *n, Error *e)
{
    _cleanup_free_ char *dir = NULL, *text = NULL;
    char host[16], first[16], last[16], mask[16];

    if (asprintf(&dir, "%s/networks", m->config->runtime_dir) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return error_set_errno(e, -errno, "Failed to create %s: %m", dir);
    text = hosts_text(m, n);
    if (!text)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    network_format_ipv4(network_host_address(n), host);
    network_format_ipv4(network_lease_last(n) + 1, first);
    network_format_ipv4(network_last_address(n), last);
    network_format_ipv4(~UINT32_C(0) << (32 - n->prefix), mask);
    DnsmasqSetup setup = {
        .network = n->name,
        .bridge = n->bridge,
        .host = host,
        .range_first = first,
        .range_last = last,
        .netmask = mask,
        .dir = dir,
    };
    return dnsmasq_start(m->event, &setup, text, &n->dnsmasq, e);
}

/* The directory of hvd's network files (dnsmasq's, NAT's), made when missing. */
static int networks_dir(Manager *m, char **ret, Error *e)
{
    _cleanup_free_ char *dir = NULL;

    if (asprintf(&dir, "%s/networks", m->config->runtime_dir) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return error_set_errno(e, -errno, "Failed to create %s: %m", dir);
    *ret = TAKE_PTR(dir);
    return 0;
}

int manager_network_nat_apply(Manager *m, Error *e)
{
    _cleanup_free_ char *dir = NULL;
    int r = networks_dir(m, &dir, e);

    return r < 0 ? r : network_nat_apply(m->networks, m->n_networks, dir, e);
}

/* Refuses a subnet that overlaps another network's or an address of the host's own
 * interfaces (other than hvd's bridges). */
static int check_subnet_free(Manager *m, const char *cidr, uint32_t subnet, unsigned prefix,
                             Error *e)
{
    struct ifaddrs *ifs = NULL;
    int r = 0;

    for (size_t i = 0; i < m->n_networks; i++) {
        Network *o = m->networks[i];
        char addr[16];

        if (!network_subnets_overlap(subnet, prefix, o->subnet, o->prefix))
            continue;
        network_format_ipv4(o->subnet, addr);
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'subnet' %.64s overlaps network '%s' (%s/%u)",
                          cidr, o->name, addr, o->prefix);
    }
    if (getifaddrs(&ifs) < 0)
        return 0;
    for (struct ifaddrs *i = ifs; i && r == 0; i = i->ifa_next) {
        struct sockaddr_in *sin = (struct sockaddr_in *)i->ifa_addr;
        uint32_t a;

        if (!sin || sin->sin_family != AF_INET ||
            strneq(i->ifa_name, NETWORK_BRIDGE_PREFIX, strlen(NETWORK_BRIDGE_PREFIX)))
            continue;
        a = ntohl(sin->sin_addr.s_addr);
        if (network_subnets_overlap(subnet, prefix, a, 32)) {
            char text[16];
            network_format_ipv4(a, text);
            r = error_setf(e, ERROR_INVALID_ARGUMENT,
                           "'subnet' %.64s holds %s, an address of the host's interface %s", cidr,
                           text, i->ifa_name);
        }
    }
    freeifaddrs(ifs);
    return r;
}

/* The first bridge name hvd's networks do not use: hvdbr0, hvdbr1, ... */
static void pick_bridge(Manager *m, char out[DOMAIN_IFNAME_MAX + 1])
{
    for (unsigned k = 0;; k++) {
        bool used = false;

        (void)snprintf(out, DOMAIN_IFNAME_MAX + 1, NETWORK_BRIDGE_PREFIX "%u", k);
        for (size_t i = 0; i < m->n_networks && !used; i++)
            used = streq(m->networks[i]->bridge, out);
        if (!used)
            return;
    }
}

/* Reads the create settings: name and subnet (required), nat and dhcp (booleans). */
static int read_settings(const json_t *settings, const char **ret_name, const char **ret_subnet,
                         bool *ret_nat, bool *ret_dhcp, Error *e)
{
    const char *key;
    json_t *v;

    if (!json_is_object(settings))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "network settings must be an object");
    json_object_foreach ((json_t *)settings, key, v) {
        if (streq(key, "name") || streq(key, "subnet")) {
            if (!json_is_string(v))
                return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s' must be a string", key);
        } else if (streq(key, "nat") || streq(key, "dhcp")) {
            if (!json_is_boolean(v))
                return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s' must be a boolean", key);
        } else
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "unknown network setting '%.64s' (known: name, subnet, nat, dhcp)",
                              key);
    }
    *ret_name = json_string_value(json_object_get(settings, "name"));
    *ret_subnet = json_string_value(json_object_get(settings, "subnet"));
    *ret_nat = json_is_true(json_object_get(settings, "nat"));
    *ret_dhcp = json_is_true(json_object_get(settings, "dhcp"));
    if (!*ret_name)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'name' is required");
    if (!*ret_subnet)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'subnet' is required (A.B.C.D/N)");
    return 0;
}

static int record_network(Manager *m, Network *n, Error *e)
{
    char subnet[16];
    StoredNetwork sn = {
        .name = n->name,
        .bridge = n->bridge,
        .subnet = subnet,
        .prefix = n->prefix,
        .nat = n->nat,
        .dhcp = n->dhcp,
        .created_us = n->created_us,
    };
    json_t *detail;
    int r;

    network_format_ipv4(n->subnet, subnet);
    detail = json_object();
    (void)network_to_json(n, detail);
    manager_commit(m); /* changes before this one are recorded first, in their own commit */
    r = store_begin(m->store);
    if (r >= 0)
        r = store_network_insert(m->store, &sn, &n->id);
    if (r >= 0)
        r = manager_log_event(m, NULL, "network-created", detail, NULL);
    if (r >= 0)
        r = store_commit(m->store);
    json_decref(detail);
    if (r < 0) {
        (void)error_set_errno(e, r, "Failed to record network %s: %s", n->name,
                              store_last_error(m->store));
        store_rollback(m->store);
    }
    return r;
}

static int erase_network(Manager *m, Network *n)
{
    json_t *detail = json_pack("{s:s}", "name", n->name);
    int r;

    manager_commit(m);
    r = store_begin(m->store);
    if (r >= 0)
        r = store_network_delete(m->store, n->id);
    if (r >= 0)
        r = manager_log_event(m, NULL, "network-deleted", detail, NULL);
    if (r >= 0)
        r = store_commit(m->store);
    json_decref(detail);
    if (r < 0)
        store_rollback(m->store);
    return r;
}

int manager_network_create(Manager *m, const json_t *settings, Network **ret, Error *e)
{
    const char *name = NULL, *subnet = NULL;
    bool nat = false, dhcp = false;
    Network *n;
    int r;

    r = read_settings(settings, &name, &subnet, &nat, &dhcp, e);
    if (r < 0)
        return r;
    if (!network_name_is_valid(name))
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'name' must be 1..%u characters of A-Z a-z 0-9 _ . - (not . or ..), "
                          "got \"%.64s\"",
                          NETWORK_NAME_MAX, name);
    if (manager_network_find(m, name))
        return error_setf(e, ERROR_NETWORK_EXISTS, "a network named '%s' already exists", name);
    n = calloc(1, sizeof(*n));
    if (!n)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    strcpy(n->name, name);
    n->nat = nat;
    n->dhcp = dhcp;
    n->created_us = now_usec(CLOCK_REALTIME);
    r = network_parse_subnet(subnet, &n->subnet, &n->prefix, e);
    if (r >= 0 && dhcp && n->prefix > NETWORK_DHCP_PREFIX_MAX)
        r = error_setf(e, ERROR_INVALID_ARGUMENT,
                       "'subnet' %.64s is too small for DHCP: a network with dnsmasq needs at "
                       "least a /%u (its lower half is leased to domains, its upper half to "
                       "DHCP clients)",
                       subnet, NETWORK_DHCP_PREFIX_MAX);
    if (r >= 0)
        r = check_subnet_free(m, subnet, n->subnet, n->prefix, e);
    if (r < 0) {
        network_free(n);
        return r;
    }
    pick_bridge(m, n->bridge);

    r = record_network(m, n, e);
    if (r >= 0) {
        int made = r = manager_network_bridge_setup(n, e);
        if (r >= 0 && dhcp)
            r = manager_network_dnsmasq_setup(m, n, e);
        if (r >= 0)
            r = network_insert(m, n);
        if (r >= 0 && nat && (r = manager_network_nat_apply(m, e)) < 0) {
            network_unlink(m, n);
            (void)manager_network_nat_apply(m, NULL);
        }
        if (r < 0) {
            /* Nothing half-made stays: the record goes, and the bridge if hvd made it now. */
            if (made > 0)
                (void)netlink_link_delete(n->bridge);
            (void)erase_network(m, n);
        }
    }
    if (r < 0) {
        n->dnsmasq = dnsmasq_stop(n->dnsmasq);
        network_free(n);
        return r;
    }
    log_info("Network %s created (%s, bridge %s%s%s).", n->name, subnet, n->bridge,
             dhcp ? ", DHCP" : "", nat ? ", NAT" : "");
    if (ret)
        *ret = n;
    return 0;
}

int manager_network_delete(Manager *m, Network *n, Error *e)
{
    char users[256] = "";
    size_t count = 0, len = 0;
    int r;

    for (size_t i = 0; i < m->n_domains; i++) {
        const char *net = m->domains[i]->config.network;
        if (!net || !streq(net, n->name))
            continue;
        if (len < sizeof(users))
            len += (size_t)snprintf(users + len, sizeof(users) - len, "%s'%s'", count ? ", " : "",
                                    m->domains[i]->config.name);
        count++;
    }
    if (count)
        return error_setf(e, ERROR_INVALID_STATE,
                          "network '%s' is used by %s %s; delete %s or give %s another network "
                          "first",
                          n->name, count == 1 ? "domain" : "domains", users,
                          count == 1 ? "it" : "them", count == 1 ? "it" : "them");
    r = erase_network(m, n);
    if (r < 0)
        return error_set_errno(e, r, "Failed to record the deletion of network %s: %s", n->name,
                               store_last_error(m->store));
    n->dnsmasq = dnsmasq_stop(n->dnsmasq);
    r = netlink_link_delete(n->bridge);
    if (r < 0 && r != -ENODEV)
        log_warning_errno(r, "Network %s: failed to delete bridge %s: %m", n->name, n->bridge);
    network_unlink(m, n);
    if (n->nat) {
        Error nat_error = ERROR_NULL;
        if (manager_network_nat_apply(m, &nat_error) < 0)
            log_warning("Network %s: %s", n->name, nat_error.message);
    }
    log_info("Network %s deleted.", n->name);
    network_free(n);
    return 0;
}

int manager_network_info(Manager *m, Network *n, json_t **ret, Error *e)
{
    json_t *obj = json_object(), *domains = json_array(), *leases = json_array();
    char addr[16];

    if (!obj || !domains || !leases || network_to_json(n, obj) < 0) {
        json_decref(obj);
        json_decref(domains);
        json_decref(leases);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    for (size_t i = 0; i < m->n_domains; i++)
        if (m->domains[i]->config.network && streq(m->domains[i]->config.network, n->name))
            (void)json_array_append_new(domains, json_string(m->domains[i]->config.name));
    for (size_t i = 0; i < n->n_leases; i++) {
        Domain *d = manager_domain_by_id(m, n->leases[i].domain_id);

        network_format_ipv4(n->leases[i].ipv4, addr);
        (void)json_array_append_new(leases, json_pack("{s:s?, s:s, s:s}", "domain",
                                                      d ? d->config.name : NULL, "mac",
                                                      n->leases[i].mac, "ipv4", addr));
    }
    (void)json_object_set_new(obj, "domains", domains);
    (void)json_object_set_new(obj, "leases", leases);
    if (n->dnsmasq)
        (void)json_object_set_new(obj, "dnsmasq_pid", json_integer(dnsmasq_pid(n->dnsmasq)));
    *ret = obj;
    return 0;
}

void manager_networks_free(Manager *m)
{
    for (size_t i = 0; i < m->n_networks; i++) {
        m->networks[i]->dnsmasq = dnsmasq_stop(m->networks[i]->dnsmasq);
        network_free(m->networks[i]);
    }
    m->networks = mfree(m->networks);
    m->n_networks = 0;
}
