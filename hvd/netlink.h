/* The few rtnetlink requests hvd's networks need (libmnl): bridges, links, addresses. Each call
 * opens its own socket and waits only for the kernel's answer. Returns negative errno. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Creates a bridge named name; an existing bridge of that name is not an error (1 is returned
 * when it was created, 0 when it was there), an existing link of another kind is -EEXIST. */
int netlink_bridge_create(const char *name);

/* Brings link name up and, when master is not NULL, enslaves it to the link named master. */
int netlink_link_up(const char *name, const char *master);

/* Gives link name the IPv4 address addr/prefix (host byte order), replacing the same one. */
int netlink_address_set(const char *name, uint32_t addr, unsigned prefix);

/* Deletes link name; one that does not exist is -ENODEV. */
int netlink_link_delete(const char *name);

/* One link of a dump: its name, its kind ("bridge", "tun", or "" when it has none), and the
 * name of its master ("" when it has none). */
typedef struct NetlinkLink {
    const char *name;
    const char *kind;
    const char *master;
} NetlinkLink;

/* Calls cb for every link of the network namespace hvd runs in. Stops early when cb returns
 * negative (that is returned). */
int netlink_links_foreach(int (*cb)(const NetlinkLink *link, void *userdata), void *userdata);
