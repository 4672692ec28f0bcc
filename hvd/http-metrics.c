/* GET /metrics: Prometheus text exposition of domains (state, vCPUs, memory, CPU weight and cap,
 * CPU time and throttled time, exits by reason, network frames, bytes and drops) and of the host
 * (capacity, reservation, allocation). */
#include <stdio.h>
#include <string.h>

#include "http-internal.h"

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void host_metrics(FILE *f, json_t *host)
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
    json_t *drivers = json_object_get(host, "drivers"), *v;
    const char *name;

    for (size_t i = 0; i < ELEMENTSOF(gauges); i++) {
        json_t *j = json_object_get(host, gauges[i].key);
        family(f, gauges[i].metric, "gauge", gauges[i].help);
        fprintf(f, "%s %.17g\n", gauges[i].metric, json_number_value(j) * gauges[i].scale);
    }
    family(f, "hvd_driver_available", "gauge", "1 when the driver's backend can be reached.");
    json_object_foreach (drivers, name, v)
        fprintf(f, "hvd_driver_available{driver=\"%s\"} %d\n", name,
                json_is_true(json_object_get(v, "available")));
}

/* Writes one counter sample per key of an object of counters (exits by reason, say). */
static void counter_object(FILE *f, const char *metric, const char *domain, const char *label,
                           json_t *obj)
{
    const char *key;
    json_t *v;

    json_object_foreach (obj, key, v)
        if (json_is_integer(v))
            fprintf(f, "%s{domain=\"%s\",%s=\"%s\"} %lld\n", metric, domain, label, key,
                    (long long)json_integer_value(v));
}

/* Frames, bytes and drops of each running domain's network device, each way. */
static void net_metrics(FILE *f, json_t *stats)
{
    static const struct {
        const char *metric, *help, *tx, *rx;
    } counters[] = {
        {"hvd_domain_net_frames_total", "Frames through each running domain's NIC.", "tx_frames",
         "rx_frames"},
        {"hvd_domain_net_bytes_total", "Bytes through each running domain's NIC.", "tx_bytes",
         "rx_bytes"},
        {"hvd_domain_net_dropped_total", "Frames each running domain's NIC dropped.", "tx_dropped",
         "rx_dropped"},
    };
    const char *name;
    json_t *s;

    for (size_t i = 0; i < ELEMENTSOF(counters); i++) {
        family(f, counters[i].metric, "counter", counters[i].help);
        json_object_foreach (stats, name, s) {
            json_t *net = json_object_get(s, "net");
            if (!json_is_true(json_object_get(net, "attached")))
                continue;
            fprintf(f, "%s{domain=\"%s\",direction=\"tx\"} %lld\n", counters[i].metric, name,
                    (long long)json_integer_value(json_object_get(net, counters[i].tx)));
            fprintf(f, "%s{domain=\"%s\",direction=\"rx\"} %lld\n", counters[i].metric, name,
                    (long long)json_integer_value(json_object_get(net, counters[i].rx)));
        }
    }
}

enum MHD_Result http_metrics_serve(HttpRequest *r)
{
    Manager *m = r->http->manager;
    json_t *host = manager_host_view(m), *stats = manager_stats_all(m), *s;
    char *text = NULL;
    size_t len = 0;
    const char *name;
    enum MHD_Result ret;
    FILE *f = open_memstream(&text, &len);

    if (!f) {
        json_decref(host);
        json_decref(stats);
        return MHD_NO;
    }
    host_metrics(f, host);

    family(f, "hvd_domains", "gauge", "Domains by state.");
    for (int st = 0; st < _DOMAIN_STATE_MAX; st++)
        fprintf(f, "hvd_domains{state=\"%s\"} %u\n", domain_state_to_string(st),
                m->state_counts[st]);

    family(f, "hvd_domain_state", "gauge", "1 for the state each domain is in.");
    for (size_t i = 0; i < m->n_domains; i++) {
        Domain *d = m->domains[i];
        fprintf(f, "hvd_domain_state{domain=\"%s\",driver=\"%s\",mode=\"%s\",state=\"%s\"} 1\n",
                d->config.name, driver_kind_to_string(d->config.driver),
                domain_mode_to_string(d->config.mode), domain_state_to_string(d->state));
    }
    family(f, "hvd_domain_vcpus", "gauge", "vCPUs of each domain.");
    for (size_t i = 0; i < m->n_domains; i++)
        fprintf(f, "hvd_domain_vcpus{domain=\"%s\"} %u\n", m->domains[i]->config.name,
                m->domains[i]->config.vcpus);
    family(f, "hvd_domain_memory_bytes", "gauge", "Memory of each domain.");
    for (size_t i = 0; i < m->n_domains; i++)
        fprintf(f, "hvd_domain_memory_bytes{domain=\"%s\"} %llu\n", m->domains[i]->config.name,
                (unsigned long long)m->domains[i]->config.memory_mib * 1048576ULL);

    family(f, "hvd_domain_cpu_weight", "gauge", "CPU weight of each domain (1..10000).");
    for (size_t i = 0; i < m->n_domains; i++)
        fprintf(f, "hvd_domain_cpu_weight{domain=\"%s\"} %u\n", m->domains[i]->config.name,
                m->domains[i]->config.cpu_weight);
    family(f, "hvd_domain_cpu_cap_ratio", "gauge",
           "CPU cap of each domain in host CPUs (0: none).");
    for (size_t i = 0; i < m->n_domains; i++)
        fprintf(f, "hvd_domain_cpu_cap_ratio{domain=\"%s\"} %.2f\n", m->domains[i]->config.name,
                m->domains[i]->config.cpu_cap / 100.0);

    family(f, "hvd_domain_cpu_seconds_total", "counter", "CPU time used by each running domain.");
    json_object_foreach (stats, name, s)
        fprintf(f, "hvd_domain_cpu_seconds_total{domain=\"%s\"} %.9f\n", name,
                (double)json_integer_value(json_object_get(s, "cpu_time_ns")) / 1e9);
    family(f, "hvd_domain_cpu_throttled_seconds_total", "counter",
           "Time the CPU cap held each running domain's vCPUs back (cgroup cpu.stat).");
    json_object_foreach (stats, name, s)
        if (json_is_integer(json_object_get(s, "cpu_throttled_ns")))
            fprintf(f, "hvd_domain_cpu_throttled_seconds_total{domain=\"%s\"} %.9f\n", name,
                    (double)json_integer_value(json_object_get(s, "cpu_throttled_ns")) / 1e9);
    family(f, "hvd_domain_cpu_throttled_periods_total", "counter",
           "Scheduling periods in which the CPU cap held each running domain back.");
    json_object_foreach (stats, name, s)
        if (json_is_integer(json_object_get(s, "cpu_throttled_count")))
            fprintf(f, "hvd_domain_cpu_throttled_periods_total{domain=\"%s\"} %lld\n", name,
                    (long long)json_integer_value(json_object_get(s, "cpu_throttled_count")));
    family(f, "hvd_domain_stats_age_seconds", "gauge",
           "How old each running domain's numbers are (hvd never waits for a backend: it "
           "answers with what it has).");
    json_object_foreach (stats, name, s)
        if (json_is_integer(json_object_get(s, "stats_age_ms")))
            fprintf(f, "hvd_domain_stats_age_seconds{domain=\"%s\"} %.3f\n", name,
                    (double)json_integer_value(json_object_get(s, "stats_age_ms")) / 1e3);
    family(
        f, "hvd_domain_stats_stale", "gauge",
        "1 when a domain's numbers could not be refreshed lately (its backend does not answer).");
    json_object_foreach (stats, name, s)
        fprintf(f, "hvd_domain_stats_stale{domain=\"%s\"} %d\n", name,
                json_is_true(json_object_get(s, "stale")));
    family(f, "hvd_domain_exits_total", "counter",
           "Exits of each running domain to its hypervisor, by reason.");
    json_object_foreach (stats, name, s)
        counter_object(f, "hvd_domain_exits_total", name, "reason",
                       json_object_get(s, "exits_by_reason"));
    family(f, "hvd_domain_device_exits_total", "counter",
           "Exits of each running domain to its hypervisor, by device.");
    json_object_foreach (stats, name, s)
        counter_object(f, "hvd_domain_device_exits_total", name, "device",
                       json_object_get(s, "exits_by_device"));

    net_metrics(f, stats);

    json_decref(host);
    json_decref(stats);
    if (fclose(f) != 0) {
        free(text);
        return MHD_NO;
    }
    ret = http_reply_text(r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
    return ret;
}
