/* [cluster]: its keys, their defaults and checks (the fencing time must end before the lease
 * can expire, so a host cut off stops its domains before another host may start them). */
#include <string.h>

#include "cluster-config.h"
#include "domain-types.h"
#include "etcd-client.h"
#include "tls-files.h"

static int check_host(const char *value, Error *e)
{
    if (!domain_name_is_valid(value))
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "host must be 1-64 characters of A-Z, a-z, 0-9, '_', '.' and '-', "
                          "got '%s'",
                          value);
    return 0;
}

static int check_advertise(const char *value, Error *e)
{
    if (!strneq(value, "http://", 7) && !strneq(value, "https://", 8))
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "advertise must be an http:// or https:// URL, got '%s'", value);
    return 0;
}

#define KEY(k, t, field, lo, hi, chk)                                                        \
    {                                                                                        \
        .section = "cluster", .key = k, .type = t, .offset = offsetof(ClusterConfig, field), \
        .min = lo, .max = hi, .check = chk                                                   \
    }

static const ConfigKey cluster_keys[] = {
    KEY("etcd", CONFIG_STRING, etcd, 0, 0, etcd_endpoints_check),
    KEY("host", CONFIG_STRING, host, 0, 0, check_host),
    KEY("advertise", CONFIG_STRING, advertise, 0, 0, check_advertise),
    KEY("lease-ttl", CONFIG_UINT, lease_ttl_s, 2, 3600, NULL),
    KEY("fence-time", CONFIG_UINT, fence_s, 1, 3599, NULL),
    KEY("request-timeout-ms", CONFIG_UINT, request_timeout_ms, 100, 60000, NULL),
    KEY("etcd-ca", CONFIG_PATH, etcd_ca, 0, 0, NULL),
    KEY("etcd-cert", CONFIG_PATH, etcd_cert, 0, 0, NULL),
    KEY("etcd-key", CONFIG_PATH, etcd_key, 0, 0, NULL),
    {.section = "cluster",
     .key = "migrate-token",
     .type = CONFIG_STRING,
     .offset = offsetof(ClusterConfig, migrate_token),
     .secret = true},
    KEY("fence-watchdog", CONFIG_UINT, watchdog_s, 1, 3599, NULL),
};

void cluster_config_done(ClusterConfig *cc)
{
    config_keys_free_strings(cluster_keys, ELEMENTSOF(cluster_keys), cc);
    *cc = (ClusterConfig){};
}

int cluster_config_parse(const HvdConfig *c, ClusterConfig *ret, Error *e)
{
    const ConfigSection *s = config_section(c, "cluster");
    ClusterConfig cc = {.lease_ttl_s = 10, .request_timeout_ms = 2000};
    bool fence_set = false, watchdog_set = false;
    int r;

    *ret = (ClusterConfig){};
    if (!s)
        return 0;
    r = config_keys_set_section(cluster_keys, ELEMENTSOF(cluster_keys), &cc, s, e);
    if (r < 0) {
        cluster_config_done(&cc);
        return r;
    }
    for (size_t i = 0; i < s->n_lines; i++) {
        fence_set |= streq(s->lines[i].key, "fence-time");
        watchdog_set |= streq(s->lines[i].key, "fence-watchdog");
    }
    if (!fence_set)
        cc.fence_s = cc.lease_ttl_s / 2;
    if (!watchdog_set)
        cc.watchdog_s = MAX(cc.fence_s, cc.lease_ttl_s - 1);
    if (!cc.etcd || !cc.host) {
        const char *missing = cc.etcd ? "host = NAME" : "etcd = URL[,URL...]";
        cluster_config_done(&cc);
        return error_setf(e, ERROR_INVALID_ARGUMENT, "%s: [cluster] needs %s", s->origin, missing);
    }
    if (!cc.etcd_cert != !cc.etcd_key) {
        cluster_config_done(&cc);
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "%s: etcd-cert and etcd-key go together (a client certificate and its "
                          "key)",
                          s->origin);
    }
    if ((cc.etcd_ca || cc.etcd_cert) && strstr(cc.etcd, "http://")) {
        cluster_config_done(&cc);
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "%s: etcd-ca, etcd-cert and etcd-key need https:// etcd endpoints",
                          s->origin);
    }
    /* The lease outlives the fencing time by a keepalive's timeout at least: a host that stops
     * hearing from etcd stops its domains before etcd lets the lease go. */
    if (cc.fence_s * 1000ull + cc.request_timeout_ms > cc.lease_ttl_s * 1000ull) {
        unsigned ttl = cc.lease_ttl_s, fence = cc.fence_s, timeout = cc.request_timeout_ms;
        cluster_config_done(&cc);
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "%s: fence-time (%u s) plus request-timeout-ms (%u ms) must be shorter "
                          "than lease-ttl (%u s), so a host cut off from etcd stops its domains "
                          "before its lease expires",
                          s->origin, fence, timeout, ttl);
    }
    /* The VMMs of HA domains end their guests by themselves once hvd stops renewing their
     * watchdogs (hvd stopped, hung): after hvd's own fencing, and before the lease expires. */
    if (cc.watchdog_s < cc.fence_s || cc.watchdog_s >= cc.lease_ttl_s) {
        unsigned ttl = cc.lease_ttl_s, fence = cc.fence_s, watchdog = cc.watchdog_s;
        cluster_config_done(&cc);
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "%s: fence-watchdog (%u s) must be at least fence-time (%u s) and "
                          "shorter than lease-ttl (%u s), so the domains of a host whose hvd "
                          "stopped end before another host may start them",
                          s->origin, watchdog, fence, ttl);
    }
    *ret = cc;
    return 1;
}

int cluster_config_check_files(const ClusterConfig *cc, Error *e)
{
    return tls_files_check(
        &(TlsFiles){.ca = cc->etcd_ca, .cert = cc->etcd_cert, .key = cc->etcd_key}, "[cluster]", e);
}

void cluster_config_print(const ClusterConfig *cc, FILE *f)
{
    if (!cc->etcd)
        return;
    fprintf(f, "\n[cluster]\n");
    config_keys_print(cluster_keys, ELEMENTSOF(cluster_keys), cc, "cluster", f);
}
