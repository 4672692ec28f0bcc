/* What bounds how many more domains this host can run: hvd's file descriptors, the kernel's
 * tasks (pids and threads), the allocator's free vCPUs and the host memory a domain costs
 * beyond its guest RAM, each with its use and its room. */
#pragma once

#include <jansson.h>

/* The density view: {"limits": [{"name", "limit", "used", "per_domain", "room", "warm_pool"
 * [, "unit"]}...] (host memory is in KiB; the others count),
 * "bound": the name of the limit with the least room, "room": that room, "warm_pool": the VMMs
 * the drivers' warm pools hold}. host is the host view so far: its vcpus_capacity and
 * vcpus_allocated (one vCPU per domain counted) and drivers.*.warm_pool ("waiting" and
 * "starting" VMMs; each limit's "warm_pool" is what of its "used" they hold, already counted).
 * A limit that cannot be read is left out. Returns a new reference, or NULL when out of
 * memory. */
json_t *host_density_view(json_t *host);
