/* A domain's counters (DriverCounters) from a statistics object in get_stats' terms, for drivers
 * that keep their numbers as JSON. */
#include <string.h>

#include "driver.h"

#define SECTOR_BYTES 512u

/* o[key] when it is a non-negative integer; otherwise 0, and *present false when given. */
static uint64_t counter(json_t *o, const char *key, bool *present)
{
    json_t *v = json_object_get(o, key);
    bool ok = json_is_integer(v) && json_integer_value(v) >= 0;

    if (present)
        *present = ok;
    return ok ? (uint64_t)json_integer_value(v) : 0;
}

/* The integer members of obj, in its order, into out (at most DRIVER_COUNTERS_MAX). */
static size_t named_counters(json_t *obj, DriverCounter *out)
{
    const char *k;
    json_t *v;
    size_t n = 0;

    json_object_foreach (obj, k, v)
        if (n < DRIVER_COUNTERS_MAX && json_is_integer(v) && json_integer_value(v) >= 0)
            out[n++] = (DriverCounter){.name = k, .value = (uint64_t)json_integer_value(v)};
    return n;
}

void driver_counters_from_json(json_t *stats, DriverCounters *c)
{
    json_t *exits = json_object_get(stats, "exits_by_reason");
    json_t *block = json_object_get(stats, "block"), *net = json_object_get(stats, "net");
    bool throttled_ns, throttled_count;

    memset(c, 0, sizeof(*c));
    c->cpu_time_ns = counter(stats, "cpu_time_ns", NULL);
    c->memory_kib = counter(stats, "memory_kib", NULL);
    c->stats_age_ms = counter(stats, "stats_age_ms", &c->has_age);
    c->stale = json_is_true(json_object_get(stats, "stale"));
    c->cpu_throttled_ns = counter(stats, "cpu_throttled_ns", &throttled_ns);
    c->cpu_throttled_count = counter(stats, "cpu_throttled_count", &throttled_count);
    c->has_throttled = throttled_ns && throttled_count;
    c->n_exits = named_counters(exits, c->exits);
    c->n_device_exits = named_counters(json_object_get(stats, "exits_by_device"), c->device_exits);
    c->exits_total = counter(exits, "total", NULL);
    c->disk_read_bytes = counter(block, "read_sectors", NULL) * SECTOR_BYTES;
    c->disk_write_bytes = counter(block, "write_sectors", NULL) * SECTOR_BYTES;
    c->net_attached = json_is_true(json_object_get(net, "attached"));
    c->net_tx_frames = counter(net, "tx_frames", NULL);
    c->net_rx_frames = counter(net, "rx_frames", NULL);
    c->net_tx_bytes = counter(net, "tx_bytes", NULL);
    c->net_rx_bytes = counter(net, "rx_bytes", NULL);
    c->net_tx_dropped = counter(net, "tx_dropped", NULL);
    c->net_rx_dropped = counter(net, "rx_dropped", NULL);
}
