/* Reading a minihv VMM's statistics page (vmm/stats-page.h) as hvd's statistics sample. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The sample in hvd's terms (the shape of a `stats` reply turned into hvd's: "sampled_from":
 * "page", cpu_time_ns, memory_kib, exits_by_reason, exits_by_device, memory, bad_requests, console,
 * block, uptime_ns, net) from the page mapped at map (map_size bytes readable), which its VMM may
 * be writing meanwhile, and may have filled with anything. Each word is read once into a copy that
 * is checked before use: magic, layout version and size, array lengths, vCPU count. Sets
 * *ret_age_ns to how long ago (by now_ns, CLOCK_MONOTONIC) the VMM's main loop last ticked (0
 * when its clock is ahead). Returns a new object, or NULL with why (why_size bytes) saying what
 * was wrong, or NULL with why "" when out of memory. */
json_t *stats_page_sample(const void *map, size_t map_size, uint64_t now_ns, uint64_t *ret_age_ns,
                          char *why, size_t why_size);
