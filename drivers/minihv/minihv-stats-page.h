/* Reading a minihv VMM's statistics page (vmm/stats-page.h): a checked copy, and from it hvd's
 * statistics sample (JSON) or its typed counters. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"

typedef struct StatsPage StatsPage;

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

/* Copies the page mapped at map (map_size bytes readable, which its VMM may be writing meanwhile,
 * and may have filled with anything) into *ret, each word read once, and checks the copy: magic,
 * layout version and size, array lengths, vCPU count. Returns 0, or -EBADMSG with why (why_size
 * bytes) saying what was wrong. */
int stats_page_copy(const void *map, size_t map_size, StatsPage *ret, char *why, size_t why_size);

/* Now on the clock the page's stamps are in (CLOCK_MONOTONIC), in nanoseconds. */
uint64_t stats_page_now_ns(void);

/* How long before now_ns (CLOCK_MONOTONIC) the VMM's main loop last ticked by checked copy p (0
 * when its clock is ahead). */
uint64_t stats_page_age_ns(const StatsPage *p, uint64_t now_ns);

/* The sample of checked copy p in hvd's terms (as stats_page_sample's), a new object or NULL
 * when out of memory. */
json_t *stats_page_json(const StatsPage *p, uint64_t now_ns);

/* The counters of checked copy p as get_stats would give them (no age, staleness or cgroup
 * figures: the instance's to add); the names are static strings. */
void stats_page_counters(const StatsPage *p, DriverCounters *ret);
