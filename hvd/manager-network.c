/* hvd networks in the manager: create, delete and look up networks, leases for the domains
 * attached to them, the bridges and taps on the host matched to what SQLite records, and one
 * dnsmasq per network that asks for DHCP. */
#include <ifaddrs.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/stat.h>

#include "dnsmasq.h"
#include "log.h"
#include "manager-internal.h"
#include "netlink.h"
#include "tap.h"
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

static Domain *domain_by_id(Manager *m, int64_t id)
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

static int lease_append(Network *n, const NetworkLease *l)
{
    NetworkLease *p = reallocarray(n->leases, n->n_leases + 1, sizeof(*p));

    if (!p)
        return -ENOMEM;
    n->leases = p;
    n->leases[n->n_leases++] = *l;
    return 0;
}

static void lease_remove(Network *n, int64_t domain_id)
{
    NetworkLease *l = network_lease_find(n, domain_id);

    if (!l)
        return;
    memmove(l, l + 1, (size_t)(n->leases + n->n_leases - (l + 1)) * sizeof(*l));
    n->n_leases--;
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
    return lease_append(n, &l);
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
static int bridge_setup(Network *n, Error *e)
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
        Domain *d = domain_by_id(m, n->leases[i].domain_id);
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

static void hosts_update(Manager *m, Network *n)
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

static int dnsmasq_setup(Manager *m, Network *n, Error *e)
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
    if (nat)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'nat': this hvd does not route networks out of the host yet; its "
                          "networks are host-only");
    n = calloc(1, sizeof(*n));
    if (!n)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    strcpy(n->name, name);
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
        int made = r = bridge_setup(n, e);
        if (r >= 0 && dhcp)
            r = dnsmasq_setup(m, n, e);
        if (r < 0) {
            /* Nothing half-made stays: the record goes, and the bridge if hvd made it now. */
            if (made > 0)
                (void)netlink_link_delete(n->bridge);
            (void)erase_network(m, n);
        }
    }
    if (r >= 0)
        r = network_insert(m, n);
    if (r < 0) {
        n->dnsmasq = dnsmasq_stop(n->dnsmasq);
        network_free(n);
        return r;
    }
    log_info("Network %s created (%s, bridge %s%s).", n->name, subnet, n->bridge,
             dhcp ? ", DHCP" : "");
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
    log_info("Network %s deleted.", n->name);
    network_unlink(m, n);
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
        Domain *d = domain_by_id(m, n->leases[i].domain_id);

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
    r = lease_append(n, &l);
    if (r < 0)
        return error_set_errno(e, r, "Out of memory");
    log_info("Domain %s: lease %s %s on network %s.", d->config.name, l.mac, addr, n->name);
    hosts_update(m, n);
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
        lease_remove(n, d->id);
        hosts_update(m, n);
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
        r = bridge_setup(n, e);
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
            lease_remove(m->networks[i], d->id);
            hosts_update(m, m->networks[i]);
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
    Domain *d = *end || id <= 0 ? NULL : domain_by_id(m, id);

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

        if (bridge_setup(n, &e) < 0) {
            log_warning("%s", e.message);
            continue;
        }
        if (n->dhcp && !n->dnsmasq && dnsmasq_setup(m, n, &e) < 0)
            log_warning("Network %s: %s", n->name, e.message);
    }
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

void manager_networks_free(Manager *m)
{
    for (size_t i = 0; i < m->n_networks; i++) {
        m->networks[i]->dnsmasq = dnsmasq_stop(m->networks[i]->dnsmasq);
        network_free(m->networks[i]);
    }
    m->networks = mfree(m->networks);
    m->n_networks = 0;
}
