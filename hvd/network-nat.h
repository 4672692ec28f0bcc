/* NAT for hvd networks: one nftables table of hvd's own (table ip hvd) that masquerades each NAT
 * network's subnet out of the host, and IPv4 forwarding while a NAT network exists. */
#pragma once

#include <stddef.h>

#include "error.h"
#include "network.h"

/* The nftables table hvd writes; nothing outside it is ever changed. */
#define NETWORK_NAT_TABLE "hvd"

/* The nft script that makes table ip hvd match networks: with at least one NAT network, the
 * table made afresh (its chains: forward, which lets frames bridged within a network pass, each
 * NAT network's own subnet out and its replies back in, and drops any other routed traffic of
 * hvd's bridges; postrouting, which
 * masquerades the NAT subnets when they leave for a link that is not hvd's); without one, the
 * table deleted. One nft transaction either way, so it is applied whole or not at all and can be
 * applied again at any time with the same result. Returns a string the caller frees, or NULL
 * when out of memory. */
char *network_nat_ruleset(Network *const *networks, size_t n_networks);

/* Whether any of networks asks for NAT. */
bool network_nat_wanted(Network *const *networks, size_t n_networks);

/* Applies network_nat_ruleset(networks) through libnftables, then IPv4 forwarding: turned on
 * while a NAT network exists (its previous value kept in dir/ip_forward.saved when hvd turned
 * it on) and put back to that value when the last NAT network goes. Returns 0, or negative
 * errno with e set (nft's own message in it). */
int network_nat_apply(Network *const *networks, size_t n_networks, const char *dir, Error *e);
