/* Unit tests: the minihv statistics page's layout and hvd's checks of it (a VMM may write
 * anything there), and the sample hvd builds from a good one. */
#include <jansson.h>
#include <stdalign.h>

#include "minihv-stats-page.h"
#include "stats-page.h"
#include "test.h"

#define NOW_NS UINT64_C(500000000000)

static alignas(4096) unsigned char map[STATS_PAGE_SIZE];

static StatsPage *good_page(void)
{
    StatsPage *p = (StatsPage *)map;

    memset(map, 0, sizeof(map));
    *p = (StatsPage){
        .magic = STATS_PAGE_MAGIC,
        .version = STATS_PAGE_VERSION,
        .size = sizeof(StatsPage),
        .n_exit_reasons = _EXIT_REASON_MAX,
        .n_devices = _STAT_DEV_MAX,
        .nr_vcpus = 2,
        .flags = STATS_PAGE_NET_ATTACHED,
        .heartbeat_ns = NOW_NS - 300000000,
        .start_mono_ns = NOW_NS - 7000000000,
        .tsc_khz = 2000000,
        .memory = {.guest_bytes = 2 << 20, .guest_resident_bytes = 1 << 20},
        .vcpu_run_ns = {100, 200, 999999}, /* the third vCPU is not counted */
        .vcpu_up = {1, 1},
    };
    p->stats.exits[EXIT_REASON_IO] = 5;
    p->stats.exits[EXIT_REASON_HLT] = 7;
    p->stats.devices[STAT_DEV_HC_CONSOLE] = 3;
    p->stats.console_out_bytes = 42;
    p->stats.net_tx_frames = 4;
    p->stats.devices[STAT_DEV_HC_NET] = 2;
    return p;
}

static json_int_t at(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    return json_integer_value(b ? json_object_get(v, b) : v);
}

static void test_layout(void)
{
    /* The header's fields stay where version 1 put them: hvd and VMMs of other builds agree. */
    CHECK(offsetof(StatsPage, magic) == 0);
    CHECK(offsetof(StatsPage, version) == 8);
    CHECK(offsetof(StatsPage, size) == 12);
    CHECK(offsetof(StatsPage, nr_vcpus) == 24);
    CHECK(offsetof(StatsPage, heartbeat_ns) == 32);
    CHECK(offsetof(StatsPage, memory_seq) % 8 == 0);
    CHECK(offsetof(StatsPage, stats) % 8 == 0);
    CHECK(sizeof(StatsPage) <= STATS_PAGE_SIZE);
    CHECK(memcmp(&(uint64_t){STATS_PAGE_MAGIC}, "MMVTSPG1", 8) == 0);
}

static void test_good_page(void)
{
    char why[160] = "unset";
    uint64_t age = 0;
    json_t *o;

    good_page();
    o = stats_page_sample(map, sizeof(map), NOW_NS, &age, why, sizeof(why));
    CHECK(o != NULL);
    CHECK_STREQ(why, "");
    CHECK(age == 300000000);
    CHECK_STREQ(json_string_value(json_object_get(o, "sampled_from")), "page");
    CHECK(at(o, "cpu_time_ns", NULL) == 300);
    CHECK(at(o, "memory_kib", NULL) == 1024);
    CHECK(at(o, "memory", "guest_bytes") == 2 << 20);
    CHECK(at(o, "exits_by_reason", "io") == 5);
    CHECK(at(o, "exits_by_reason", "total") == 12);
    CHECK(at(o, "exits_by_device", "hypercall:console") == 3);
    CHECK(at(o, "console", "out_bytes") == 42);
    CHECK(at(o, "uptime_ns", NULL) == 7000000000);
    CHECK(json_is_true(json_object_get(json_object_get(o, "net"), "attached")));
    CHECK(at(o, "net", "exits") == 2);
    CHECK(json_real_value(json_object_get(json_object_get(o, "net"), "exits_per_frame")) == 0.5);
    json_decref(o);

    /* A heartbeat ahead of hvd's clock is no age at all, not a huge one. */
    ((StatsPage *)map)->heartbeat_ns = NOW_NS + 1000;
    o = stats_page_sample(map, sizeof(map), NOW_NS, &age, why, sizeof(why));
    CHECK(o != NULL && age == 0);
    json_decref(o);

    /* Counters near 2^64 come out as the largest integer JSON holds, not negative. */
    ((StatsPage *)map)->stats.console_in_bytes = UINT64_MAX;
    o = stats_page_sample(map, sizeof(map), NOW_NS, &age, why, sizeof(why));
    CHECK(o && at(o, "console", "in_bytes") == INT64_MAX);
    json_decref(o);
}

/* The typed counters of a page are the numbers its JSON sample carries, as /metrics and the
 * history read them: the same through either path. */
static void test_counters(void)
{
    char why[160];
    uint64_t age;
    DriverCounters typed, from_json;
    StatsPage copy;
    json_t *o;

    good_page();
    ((StatsPage *)map)->stats.blk_read_sectors = 3;
    ((StatsPage *)map)->stats.net_rx_bytes = 1500;
    ((StatsPage *)map)->stats.net_tx_dropped = UINT64_MAX;
    CHECK(stats_page_copy(map, sizeof(map), &copy, why, sizeof(why)) == 0);
    stats_page_counters(&copy, &typed);
    o = stats_page_sample(map, sizeof(map), NOW_NS, &age, why, sizeof(why));
    CHECK(o != NULL);
    driver_counters_from_json(o, &from_json);
    CHECK(typed.cpu_time_ns == 300 && typed.cpu_time_ns == from_json.cpu_time_ns);
    CHECK(typed.memory_kib == 1024 && typed.memory_kib == from_json.memory_kib);
    CHECK(typed.exits_total == 12 && from_json.exits_total == 12);
    CHECK(typed.disk_read_bytes == 3 * 512 && from_json.disk_read_bytes == 3 * 512);
    CHECK(typed.net_attached && from_json.net_attached);
    CHECK(typed.net_rx_bytes == 1500 && from_json.net_rx_bytes == 1500);
    CHECK(typed.net_tx_frames == 4 && from_json.net_tx_frames == 4);
    CHECK(typed.net_tx_dropped == INT64_MAX && from_json.net_tx_dropped == INT64_MAX);
    /* the same names and values in the same order: /metrics writes the same lines */
    CHECK(typed.n_exits == _EXIT_REASON_MAX + 1 && typed.n_exits == from_json.n_exits);
    for (size_t i = 0; i < typed.n_exits && i < from_json.n_exits; i++) {
        CHECK_STREQ(typed.exits[i].name, from_json.exits[i].name);
        CHECK(typed.exits[i].value == from_json.exits[i].value);
    }
    CHECK_STREQ(typed.exits[typed.n_exits - 1].name, "total");
    CHECK(typed.n_device_exits == _STAT_DEV_MAX &&
          typed.n_device_exits == from_json.n_device_exits);
    for (size_t i = 0; i < typed.n_device_exits && i < from_json.n_device_exits; i++) {
        CHECK_STREQ(typed.device_exits[i].name, from_json.device_exits[i].name);
        CHECK(typed.device_exits[i].value == from_json.device_exits[i].value);
    }
    /* age, staleness and the cgroup's figures are the instance's to add */
    CHECK(!typed.has_age && !typed.stale && !typed.has_throttled);
    CHECK(stats_page_age_ns(&copy, NOW_NS) == 300000000);
    json_decref(o);

    /* a copy that fails its checks is refused as the sample is */
    ((StatsPage *)map)->nr_vcpus = 0;
    CHECK(stats_page_copy(map, sizeof(map), &copy, why, sizeof(why)) == -EBADMSG);
    CHECK_CONTAINS(why, "0 vCPUs");
}

/* Applies bad to a good page: the sample is refused and why names what was wrong. */
static void refused(void (*bad)(StatsPage *p), size_t map_size, const char *expect)
{
    char why[160] = "";
    uint64_t age = 12345;
    json_t *o;

    bad(good_page());
    o = stats_page_sample(map, map_size, NOW_NS, &age, why, sizeof(why));
    CHECK(o == NULL);
    CHECK_CONTAINS(why, expect);
    CHECK(age == 12345);
    json_decref(o);
}

static void no_change(StatsPage *p)
{
}
static void bad_magic(StatsPage *p)
{
    p->magic = 0x4141414141414141;
}
static void bad_version(StatsPage *p)
{
    p->version = 2;
}
static void bad_size(StatsPage *p)
{
    p->size = 64;
}
static void bad_reasons(StatsPage *p)
{
    p->n_exit_reasons = 1000;
}
static void bad_devices(StatsPage *p)
{
    p->n_devices = 0;
}
static void no_vcpus(StatsPage *p)
{
    p->nr_vcpus = 0;
}
static void too_many_vcpus(StatsPage *p)
{
    p->nr_vcpus = 0xffffffffu;
}
static void garbage(StatsPage *p)
{
    memset(p, 0xff, STATS_PAGE_SIZE);
}

int main(void)
{
    test_layout();
    test_good_page();
    test_counters();
    refused(no_change, sizeof(StatsPage) - 8, "the layout needs");
    refused(no_change, 0, "0 bytes");
    refused(bad_magic, sizeof(map), "bad magic 0x4141414141414141");
    refused(bad_version, sizeof(map), "layout version 2, hvd reads 1");
    refused(bad_size, sizeof(map), "layout of 64 bytes");
    refused(bad_reasons, sizeof(map), "1000 exit reasons");
    refused(bad_devices, sizeof(map), "and 0 devices");
    refused(no_vcpus, sizeof(map), "0 vCPUs (1 to 8)");
    refused(too_many_vcpus, sizeof(map), "4294967295 vCPUs");
    refused(garbage, sizeof(map), "bad magic 0xffffffffffffffff");
    return test_summary("test-minihv-stats-page");
}
