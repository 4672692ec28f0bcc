/* What bounds how many more domains this host can run: hvd's file descriptors, the kernel's
 * tasks (pids and threads) and the allocator's free vCPUs, each with its use and its room. */
#pragma once

#include <jansson.h>

/* The density view: {"limits": [{"name", "limit", "used", "per_domain", "room"}...], "bound":
 * the name of the limit with the least room, "room": that room}. vcpus_capacity and
 * vcpus_allocated are the allocator's (one vCPU per domain counted). A limit that cannot be
 * read is left out. Returns a new reference, or NULL when out of memory. */
json_t *host_density_view(long long vcpus_capacity, long long vcpus_allocated);
