/* Unit tests: a domain's typed counters (DriverCounters) read from a statistics object in
 * get_stats' terms, the way hvd reads drivers that keep JSON (kvm). */
#include <jansson.h>

#include "driver.h"
#include "test.h"

static void test_kvm_like(void)
{
    /* kvm's shape: no exits, block or net; its cached age and staleness */
    json_t *o = json_pack("{s:I, s:I, s:I, s:b, s:I, s:s}", "cpu_time_ns", (json_int_t)5000000000,
                          "memory_kib", (json_int_t)1048576, "stats_age_ms", (json_int_t)1500,
                          "stale", 1, "vcpus", (json_int_t)2, "name", "k1");
    DriverCounters c;

    driver_counters_from_json(o, &c);
    CHECK(c.cpu_time_ns == 5000000000u);
    CHECK(c.memory_kib == 1048576);
    CHECK(c.has_age && c.stats_age_ms == 1500);
    CHECK(c.stale);
    CHECK(!c.has_throttled);
    CHECK(c.n_exits == 0 && c.n_device_exits == 0 && c.exits_total == 0);
    CHECK(!c.net_attached && c.net_rx_bytes == 0);
    CHECK(c.disk_read_bytes == 0 && c.disk_write_bytes == 0);
    json_decref(o);
}

static void test_full(void)
{
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:{s:I, s:I, s:s, s:I}, s:{s:I}, s:{s:I, s:I}, "
        "s:{s:b, s:I, s:I, s:I, s:I, s:I, s:I}}",
        "cpu_time_ns", (json_int_t)7, "cpu_throttled_ns", (json_int_t)11, "cpu_throttled_count",
        (json_int_t)2, "exits_by_reason", "io", (json_int_t)5, "hlt", (json_int_t)-1, "odd", "x",
        "total", (json_int_t)5, "exits_by_device", "serial", (json_int_t)4, "block", "read_sectors",
        (json_int_t)2, "write_sectors", (json_int_t)4, "net", "attached", 1, "tx_frames",
        (json_int_t)1, "rx_frames", (json_int_t)2, "tx_bytes", (json_int_t)60, "rx_bytes",
        (json_int_t)120, "tx_dropped", (json_int_t)0, "rx_dropped", (json_int_t)3);
    DriverCounters c;

    CHECK(o != NULL);
    driver_counters_from_json(o, &c);
    CHECK(c.cpu_time_ns == 7 && !c.has_age && !c.stale);
    CHECK(c.has_throttled && c.cpu_throttled_ns == 11 && c.cpu_throttled_count == 2);
    /* negative and non-integer members are left out; the order stays */
    CHECK(c.n_exits == 2);
    CHECK_STREQ(c.exits[0].name, "io");
    CHECK(c.exits[0].value == 5);
    CHECK_STREQ(c.exits[1].name, "total");
    CHECK(c.exits_total == 5);
    CHECK(c.n_device_exits == 1 && c.device_exits[0].value == 4);
    CHECK(c.disk_read_bytes == 1024 && c.disk_write_bytes == 2048);
    CHECK(c.net_attached && c.net_tx_frames == 1 && c.net_rx_frames == 2);
    CHECK(c.net_tx_bytes == 60 && c.net_rx_bytes == 120);
    CHECK(c.net_tx_dropped == 0 && c.net_rx_dropped == 3);
    json_decref(o);
}

static void test_more_than_fit(void)
{
    json_t *exits = json_object(), *o = json_pack("{s:o}", "exits_by_reason", exits);
    DriverCounters c;
    char key[16];

    for (int i = 0; i < DRIVER_COUNTERS_MAX + 10; i++) {
        (void)snprintf(key, sizeof(key), "r%d", i);
        (void)json_object_set_new(exits, key, json_integer(i));
    }
    driver_counters_from_json(o, &c);
    CHECK(c.n_exits == DRIVER_COUNTERS_MAX);
    json_decref(o);

    /* nothing at all: every counter 0 */
    driver_counters_from_json(NULL, &c);
    CHECK(c.cpu_time_ns == 0 && c.n_exits == 0 && !c.stale && !c.has_age);
}

int main(void)
{
    test_kvm_like();
    test_full();
    test_more_than_fit();
    return test_summary("test-driver-counters");
}
