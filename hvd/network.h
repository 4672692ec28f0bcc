/* An hvd network as hvd holds it in memory: name, bridge, subnet, options and leases, and the
 * checks every surface's input goes through (names, subnets, overlaps). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "domain-config.h"
#include "error.h"

#define NETWORK_NAME_MAX        64u
#define NETWORK_PREFIX_MIN      8u
#define NETWORK_PREFIX_MAX      30u /* the host's address, one domain's and the broadcast address */
#define NETWORK_DHCP_PREFIX_MAX 29u /* room for leases and a dynamic range */
/* Bridges and taps hvd makes carry these prefixes; any other link is never touched. */
#define NETWORK_BRIDGE_PREFIX "hvdbr"
#define NETWORK_TAP_PREFIX    "hvdtap"

typedef struct Manager Manager;
typedef struct Dnsmasq Dnsmasq;

typedef struct NetworkLease {
    int64_t domain_id;
    char mac[18];
    uint32_t ipv4; /* host byte order */
} NetworkLease;

typedef struct Network {
    Manager *manager;
    int64_t id; /* row id in the store */
    char name[NETWORK_NAME_MAX + 1];
    char bridge[DOMAIN_IFNAME_MAX + 1];
    uint32_t subnet; /* network address, host byte order */
    unsigned prefix;
    bool nat;
    bool dhcp;
    uint64_t created_us;
    NetworkLease *leases;
    size_t n_leases;
    Dnsmasq *dnsmasq;  /* when dhcp is on */
    char *object_path; /* D-Bus object path, computed once */
} Network;

/* Whether name is a valid network name ([A-Za-z0-9_.-]{1,64}, not "." or ".."). */
bool network_name_is_valid(const char *name);

/* Parses "A.B.C.D/N" into the network address and prefix. Refuses, with e saying why, a prefix
 * outside NETWORK_PREFIX_MIN..NETWORK_PREFIX_MAX, an address with host bits set (naming the
 * network address meant), and loopback, link-local, multicast and reserved ranges. */
int network_parse_subnet(const char *cidr, uint32_t *ret_subnet, unsigned *ret_prefix, Error *e);

/* Whether subnets a/pa and b/pb share any address. */
bool network_subnets_overlap(uint32_t a, unsigned pa, uint32_t b, unsigned pb);

/* The host's address on n: the first of the subnet. */
uint32_t network_host_address(const Network *n);

/* The last address of n's subnet before the broadcast address. */
uint32_t network_last_address(const Network *n);

/* The last address hvd leases to a domain on n: the last address, or with DHCP the end of the
 * lower half of the subnet (dnsmasq hands out the upper half to clients hvd does not know). */
uint32_t network_lease_last(const Network *n);

/* Formats addr (host byte order) as "A.B.C.D" into buf. */
void network_format_ipv4(uint32_t addr, char buf[16]);

/* Parses "A.B.C.D" (host byte order). Returns 0 or -EINVAL. */
int network_parse_ipv4(const char *s, uint32_t *ret);

/* The lease of domain_id on n, or NULL. */
NetworkLease *network_lease_find(Network *n, int64_t domain_id);

/* Appends lease l to n's leases. Returns 0 or -ENOMEM. */
int network_lease_append(Network *n, const NetworkLease *l);

/* Removes the lease of domain_id from n's leases (none: nothing happens). */
void network_lease_remove(Network *n, int64_t domain_id);

/* Adds n's own fields (name, bridge, subnet, address, prefix, nat, dhcp, created_us) to obj.
 * Returns 0 or -ENOMEM. */
int network_to_json(const Network *n, json_t *obj);

/* Frees n and what it holds (not its dnsmasq, which the caller stops first). Accepts NULL;
 * returns NULL. */
Network *network_free(Network *n);
