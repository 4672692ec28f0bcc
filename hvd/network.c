/* The network model: name and subnet checks, addresses, leases and the JSON form. */
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "network.h"

bool network_name_is_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > NETWORK_NAME_MAX || streq(name, ".") || streq(name, ".."))
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

int network_parse_ipv4(const char *s, uint32_t *ret)
{
    unsigned a[4];
    char tail;

    if (strspn(s, "0123456789.") != strlen(s) ||
        sscanf(s, "%3u.%3u.%3u.%3u%c", &a[0], &a[1], &a[2], &a[3], &tail) != 4)
        return -EINVAL;
    for (size_t i = 0; i < 4; i++)
        if (a[i] > 255)
            return -EINVAL;
    *ret = a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
    return 0;
}

void network_format_ipv4(uint32_t addr, char buf[16])
{
    (void)snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
                   addr & 0xff);
}

static uint32_t prefix_mask(unsigned prefix)
{
    return prefix ? ~UINT32_C(0) << (32 - prefix) : 0;
}

/* Ranges a network of hvd's must not take: they mean something else to every host. */
static const struct {
    uint32_t addr;
    unsigned prefix;
    const char *what;
} reserved_ranges[] = {
    {0x00000000, 8, "0.0.0.0/8 (\"this network\")"}, {0x7f000000, 8, "127.0.0.0/8 (loopback)"},
    {0xa9fe0000, 16, "169.254.0.0/16 (link-local)"}, {0xe0000000, 4, "224.0.0.0/4 (multicast)"},
    {0xf0000000, 4, "240.0.0.0/4 (reserved)"},
};

int network_parse_subnet(const char *cidr, uint32_t *ret_subnet, unsigned *ret_prefix, Error *e)
{
    char addr_text[16], canonical[16];
    const char *slash = strchr(cidr, '/');
    unsigned prefix = 0;
    uint32_t addr;
    size_t n;

    n = slash ? (size_t)(slash - cidr) : 0;
    if (!slash || n == 0 || n >= sizeof(addr_text) || !slash[1] ||
        strspn(slash + 1, "0123456789") != strlen(slash + 1) || strlen(slash + 1) > 2)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'subnet' must be an IPv4 subnet A.B.C.D/N, got \"%.64s\"", cidr);
    memcpy(addr_text, cidr, n);
    addr_text[n] = 0;
    prefix = (unsigned)atoi(slash + 1);
    if (network_parse_ipv4(addr_text, &addr) < 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'subnet' must be an IPv4 subnet A.B.C.D/N, got \"%.64s\"", cidr);
    if (prefix > NETWORK_PREFIX_MAX && prefix <= 32)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'subnet' %.64s is too small: a network needs at least a /%u (the "
                          "host's address, a domain's and the broadcast address)",
                          cidr, NETWORK_PREFIX_MAX);
    if (prefix < NETWORK_PREFIX_MIN || prefix > 32)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'subnet' prefix must be /%u to /%u, got \"%.64s\"", NETWORK_PREFIX_MIN,
                          NETWORK_PREFIX_MAX, cidr);
    if (addr & ~prefix_mask(prefix)) {
        network_format_ipv4(addr & prefix_mask(prefix), canonical);
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'subnet' %.64s has host bits set; the network is %s/%u", cidr, canonical,
                          prefix);
    }
    for (size_t i = 0; i < ELEMENTSOF(reserved_ranges); i++)
        if (network_subnets_overlap(addr, prefix, reserved_ranges[i].addr,
                                    reserved_ranges[i].prefix))
            return error_setf(e, ERROR_INVALID_ARGUMENT, "'subnet' %.64s lies in %s", cidr,
                              reserved_ranges[i].what);
    *ret_subnet = addr;
    *ret_prefix = prefix;
    return 0;
}

bool network_subnets_overlap(uint32_t a, unsigned pa, uint32_t b, unsigned pb)
{
    uint32_t mask = prefix_mask(MIN(pa, pb));

    return (a & mask) == (b & mask);
}

uint32_t network_host_address(const Network *n)
{
    return n->subnet + 1;
}

uint32_t network_last_address(const Network *n)
{
    return (n->subnet | ~prefix_mask(n->prefix)) - 1;
}

uint32_t network_lease_last(const Network *n)
{
    uint32_t host = network_host_address(n), last = network_last_address(n);

    return n->dhcp ? host + (last - host) / 2 : last;
}

NetworkLease *network_lease_find(Network *n, int64_t domain_id)
{
    for (size_t i = 0; i < n->n_leases; i++)
        if (n->leases[i].domain_id == domain_id)
            return &n->leases[i];
    return NULL;
}

int network_lease_append(Network *n, const NetworkLease *l)
{
    NetworkLease *p = reallocarray(n->leases, n->n_leases + 1, sizeof(*p));

    if (!p)
        return -ENOMEM;
    n->leases = p;
    n->leases[n->n_leases++] = *l;
    return 0;
}

void network_lease_remove(Network *n, int64_t domain_id)
{
    NetworkLease *l = network_lease_find(n, domain_id);

    if (!l)
        return;
    memmove(l, l + 1, (size_t)(n->leases + n->n_leases - (l + 1)) * sizeof(*l));
    n->n_leases--;
}

int network_to_json(const Network *n, json_t *obj)
{
    char subnet[16], host[16], cidr[24];
    int r = 0;

    network_format_ipv4(n->subnet, subnet);
    network_format_ipv4(network_host_address(n), host);
    (void)snprintf(cidr, sizeof(cidr), "%s/%u", subnet, n->prefix);
    r |= json_object_set_new(obj, "name", json_string(n->name));
    r |= json_object_set_new(obj, "subnet", json_string(cidr));
    r |= json_object_set_new(obj, "bridge", json_string(n->bridge));
    r |= json_object_set_new(obj, "address", json_string(host));
    r |= json_object_set_new(obj, "nat", json_boolean(n->nat));
    r |= json_object_set_new(obj, "dhcp", json_boolean(n->dhcp));
    r |= json_object_set_new(obj, "created_us", json_integer((json_int_t)n->created_us));
    return r ? -ENOMEM : 0;
}

Network *network_free(Network *n)
{
    if (!n)
        return NULL;
    free(n->leases);
    free(n->object_path);
    free(n);
    return NULL;
}
