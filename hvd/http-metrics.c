/* GET /metrics: Prometheus text exposition of domains (state, vCPUs, memory, CPU weight and cap,
 * CPU time and throttled time, exits by reason, network frames, bytes and drops) and of the host
 * (capacity, reservation, allocation). One pass over the domains, reading each one's counters
 * as C values where the driver keeps them (no JSON per domain), each family into its own buffer. */
#include <string.h>

#include "http-internal.h"
#include "metrics-text.h"

typedef enum MetricFamily {
    FAMILY_STATE,
    FAMILY_VCPUS,
    FAMILY_MEMORY,
    FAMILY_CPU_WEIGHT,
    FAMILY_CPU_CAP,
    FAMILY_CPU_SECONDS,
    FAMILY_THROTTLED_SECONDS,
    FAMILY_THROTTLED_PERIODS,
    FAMILY_STATS_AGE,
    FAMILY_STATS_STALE,
    FAMILY_EXITS,
    FAMILY_DEVICE_EXITS,
    FAMILY_NET_FRAMES,
    FAMILY_NET_BYTES,
    FAMILY_NET_DROPPED,
    _FAMILY_MAX,
} MetricFamily;

static const struct {
    const char *name, *type, *help;
} families[_FAMILY_MAX] = {
    [FAMILY_STATE] = {"hvd_domain_state", "gauge", "1 for the state each domain is in."},
    [FAMILY_VCPUS] = {"hvd_domain_vcpus", "gauge", "vCPUs of each domain."},
    [FAMILY_MEMORY] = {"hvd_domain_memory_bytes", "gauge", "Memory of each domain."},
    [FAMILY_CPU_WEIGHT] = {"hvd_domain_cpu_weight", "gauge",
                           "CPU weight of each domain (1..10000)."},
    [FAMILY_CPU_CAP] = {"hvd_domain_cpu_cap_ratio", "gauge",
                        "CPU cap of each domain in host CPUs (0: none)."},
    [FAMILY_CPU_SECONDS] = {"hvd_domain_cpu_seconds_total", "counter",
                            "CPU time used by each running domain."},
    [FAMILY_THROTTLED_SECONDS] = {"hvd_domain_cpu_throttled_seconds_total", "counter",
                                  "Time the CPU cap held each running domain's vCPUs back "
                                  "(cgroup cpu.stat)."},
    [FAMILY_THROTTLED_PERIODS] = {"hvd_domain_cpu_throttled_periods_total", "counter",
                                  "Scheduling periods in which the CPU cap held each running "
                                  "domain back."},
    [FAMILY_STATS_AGE] = {"hvd_domain_stats_age_seconds", "gauge",
                          "How old each running domain's numbers are (hvd never waits for a "
                          "backend: it answers with what it has)."},
    [FAMILY_STATS_STALE] = {"hvd_domain_stats_stale", "gauge",
                            "1 when a domain's numbers could not be refreshed lately (its backend "
                            "does not answer)."},
    [FAMILY_EXITS] = {"hvd_domain_exits_total", "counter",
                      "Exits of each running domain to its hypervisor, by reason."},
    [FAMILY_DEVICE_EXITS] = {"hvd_domain_device_exits_total", "counter",
                             "Exits of each running domain to its hypervisor, by device."},
    [FAMILY_NET_FRAMES] = {"hvd_domain_net_frames_total", "counter",
                           "Frames through each running domain's NIC."},
    [FAMILY_NET_BYTES] = {"hvd_domain_net_bytes_total", "counter",
                          "Bytes through each running domain's NIC."},
    [FAMILY_NET_DROPPED] = {"hvd_domain_net_dropped_total", "counter",
                            "Frames each running domain's NIC dropped."},
};

typedef struct MetricsPass {
    MetricsText family[_FAMILY_MAX];
} MetricsPass;

static void family_header(MetricsText *t, const char *name, const char *type, const char *help)
{
    metrics_text_str(t, "# HELP ");
    metrics_text_str(t, name);
    metrics_text_str(t, " ");
    metrics_text_str(t, help);
    metrics_text_str(t, "\n# TYPE ");
    metrics_text_str(t, name);
    metrics_text_str(t, " ");
    metrics_text_str(t, type);
    metrics_text_str(t, "\n");
}

/* Starts a sample of family f for domain: `name{domain="domain"` (the caller adds more labels,
 * then closes it with sample_value_*). */
static MetricsText *sample_start(MetricsPass *p, MetricFamily f, const char *domain)
{
    MetricsText *t = &p->family[f];

    metrics_text_str(t, families[f].name);
    metrics_text_str(t, "{domain=\"");
    metrics_text_str(t, domain);
    metrics_text_add(t, "\"", 1);
    return t;
}

static void label(MetricsText *t, const char *key, const char *value)
{
    metrics_text_add(t, ",", 1);
    metrics_text_str(t, key);
    metrics_text_add(t, "=\"", 2);
    metrics_text_str(t, value);
    metrics_text_add(t, "\"", 1);
}

static void end_i64(MetricsText *t, int64_t v)
{
    metrics_text_add(t, "} ", 2);
    metrics_text_i64(t, v);
    metrics_text_add(t, "\n", 1);
}

static void end_scaled(MetricsText *t, int64_t v, unsigned decimals)
{
    metrics_text_add(t, "} ", 2);
    metrics_text_scaled(t, v, decimals);
    metrics_text_add(t, "\n", 1);
}

static void host_metrics(MetricsText *t, Manager *m)
{
    static const struct {
        const char *metric, *key, *help;
        double scale;
    } gauges[] = {
        {"hvd_host_cpus", "cpus", "Online CPUs of the host.", 1},
        {"hvd_host_cpus_available", "cpus_available", "CPUs not reserved for DOM0.", 1},
        {"hvd_host_vcpus_capacity", "vcpus_capacity", "vCPUs that may be allocated.", 1},
        {"hvd_host_vcpus_allocated", "vcpus_allocated", "vCPUs held by domains.", 1},
        {"hvd_host_memory_bytes", "memory_mib", "Memory of the host.", 1048576},
        {"hvd_host_memory_reserved_bytes", "memory_reserved_mib", "Memory kept for DOM0.", 1048576},
        {"hvd_host_memory_capacity_bytes", "memory_capacity_mib", "Memory that may be allocated.",
         1048576},
        {"hvd_host_memory_allocated_bytes", "memory_allocated_mib", "Memory held by domains.",
         1048576},
        {"hvd_host_cpu_overcommit_ratio", "cpu_overcommit", "vCPUs allowed per available CPU.", 1},
        {"hvd_host_memory_overcommit_ratio", "memory_overcommit",
         "Guest memory allowed per available byte.", 1},
    };
    /* The allocator's totals only: the host view's per-domain list and density are not needed. */
    json_t *host = alloc_host_view(&m->alloc);

    for (size_t i = 0; i < ELEMENTSOF(gauges); i++) {
        family_header(t, gauges[i].metric, "gauge", gauges[i].help);
        metrics_text_str(t, gauges[i].metric);
        metrics_text_add(t, " ", 1);
        metrics_text_double(t, json_number_value(json_object_get(host, gauges[i].key)) *
                                   gauges[i].scale);
        metrics_text_add(t, "\n", 1);
    }
    json_decref(host);
    family_header(t, "hvd_driver_available", "gauge",
                  "1 when the driver's backend can be reached.");
    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++) {
        if (!m->drivers[i])
            continue;
        metrics_text_str(t, "hvd_driver_available{driver=\"");
        metrics_text_str(t, driver_kind_to_string((DriverKind)i));
        metrics_text_add(t, "\"} ", 3);
        metrics_text_i64(t, m->drivers[i]->available);
        metrics_text_add(t, "\n", 1);
    }
    family_header(t, "hvd_domains", "gauge", "Domains by state.");
    for (int st = 0; st < _DOMAIN_STATE_MAX; st++) {
        metrics_text_str(t, "hvd_domains{state=\"");
        metrics_text_str(t, domain_state_to_string(st));
        metrics_text_add(t, "\"} ", 3);
        metrics_text_u64(t, m->state_counts[st]);
        metrics_text_add(t, "\n", 1);
    }
}

/* Clamps a counter to the exposition's signed integers (as the JSON objects did). */
static int64_t i64(uint64_t v)
{
    return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* One sample per named counter (exits by reason, say), but none for a counter that is still 0
 * other than "total": most of 30 reasons and devices never count, and writing them all was two
 * thirds of /metrics (2.4 KiB per running domain). */
static void named_counters(MetricsPass *p, MetricFamily f, const char *domain, const char *key,
                           const DriverCounter *counters, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (counters[i].value != 0 || streq(counters[i].name, "total")) {
            MetricsText *t = sample_start(p, f, domain);
            label(t, key, counters[i].name);
            end_i64(t, i64(counters[i].value));
        }
}

/* Frames, bytes and drops of a domain's network device, each way, when it has one. */
static void net_metrics(MetricsPass *p, const char *domain, const DriverCounters *c)
{
    const struct {
        MetricFamily family;
        uint64_t tx, rx;
    } counters[] = {
        {FAMILY_NET_FRAMES, c->net_tx_frames, c->net_rx_frames},
        {FAMILY_NET_BYTES, c->net_tx_bytes, c->net_rx_bytes},
        {FAMILY_NET_DROPPED, c->net_tx_dropped, c->net_rx_dropped},
    };

    if (!c->net_attached)
        return;
    for (size_t i = 0; i < ELEMENTSOF(counters); i++) {
        MetricsText *t = sample_start(p, counters[i].family, domain);
        label(t, "direction", "tx");
        end_i64(t, i64(counters[i].tx));
        t = sample_start(p, counters[i].family, domain);
        label(t, "direction", "rx");
        end_i64(t, i64(counters[i].rx));
    }
}

static void domain_metrics(void *userdata, Domain *d, const DriverCounters *c)
{
    MetricsPass *p = userdata;
    const char *name = d->config.name;
    MetricsText *t;

    t = sample_start(p, FAMILY_STATE, name);
    label(t, "driver", driver_kind_to_string(d->config.driver));
    label(t, "mode", domain_mode_to_string(d->config.mode));
    label(t, "state", domain_state_to_string(d->state));
    end_i64(t, 1);
    end_i64(sample_start(p, FAMILY_VCPUS, name), d->config.vcpus);
    end_i64(sample_start(p, FAMILY_MEMORY, name), (int64_t)d->config.memory_mib * 1048576);
    end_i64(sample_start(p, FAMILY_CPU_WEIGHT, name), d->config.cpu_weight);
    end_scaled(sample_start(p, FAMILY_CPU_CAP, name), d->config.cpu_cap, 2);
    if (!c)
        return;
    end_scaled(sample_start(p, FAMILY_CPU_SECONDS, name), i64(c->cpu_time_ns), 9);
    if (c->has_throttled) {
        end_scaled(sample_start(p, FAMILY_THROTTLED_SECONDS, name), i64(c->cpu_throttled_ns), 9);
        end_i64(sample_start(p, FAMILY_THROTTLED_PERIODS, name), i64(c->cpu_throttled_count));
    }
    if (c->has_age)
        end_scaled(sample_start(p, FAMILY_STATS_AGE, name), i64(c->stats_age_ms), 3);
    end_i64(sample_start(p, FAMILY_STATS_STALE, name), c->stale);
    named_counters(p, FAMILY_EXITS, name, "reason", c->exits, c->n_exits);
    named_counters(p, FAMILY_DEVICE_EXITS, name, "device", c->device_exits, c->n_device_exits);
    net_metrics(p, name, c);
}

enum MHD_Result http_metrics_serve(HttpRequest *r)
{
    Manager *m = r->http->manager;
    MetricsPass pass = {};
    MetricsText out = {};

    host_metrics(&out, m);
    /* What the sampler keeps fresh: a scrape does not set off a request to every VMM. */
    manager_counters_foreach(m, DRIVER_PEEK_PASSIVE, domain_metrics, &pass);
    for (size_t f = 0; f < _FAMILY_MAX; f++) {
        family_header(&out, families[f].name, families[f].type, families[f].help);
        metrics_text_append(&out, &pass.family[f]);
        metrics_text_done(&pass.family[f]);
    }
    if (out.failed || !out.data) {
        metrics_text_done(&out);
        return MHD_NO;
    }
    return http_reply_owned_text(r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                                 out.data, out.len);
}
