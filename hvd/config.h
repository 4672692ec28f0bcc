/* hvd's configuration: INI file keys, command-line overrides, defaults, reload. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cpuset.h"
#include "error.h"

typedef enum StoreSync {
    STORE_SYNC_NORMAL, /* durable against a process crash */
    STORE_SYNC_FULL,   /* durable against power loss */
    _STORE_SYNC_MAX,
    _STORE_SYNC_INVALID = -EINVAL,
} StoreSync;

DECLARE_STRING_TABLE(store_sync, StoreSync);

typedef struct HvdConfig {
    /* [daemon] */
    char *state_dir;
    char *runtime_dir;
    char *admin_group;
    StoreSync synchronous;
    unsigned shutdown_timeout_s;
    /* [allocation] */
    CpuSet reserved_cpus;
    uint64_t reserved_memory_mib;
    double cpu_overcommit;
    double memory_overcommit;
    /* [kvm] */
    bool kvm_enabled;
    char *kvm_uri;
    char *kvm_domain_type;
    unsigned kvm_workers;
    /* [minihv] */
    char *minihv_binary;
    char *minihv_guest_dir;
    /* [http] */
    char *http_listen; /* comma-separated: HOST:PORT, [V6]:PORT, unix:PATH, or "none" */
    char *http_tls_cert;
    char *http_tls_key;
    char *http_web_dir;
    unsigned http_max_body_kib;
    unsigned http_max_connections;
    unsigned http_request_timeout_s;           /* for a request's headers, and again for its body */
    unsigned http_idle_timeout_s;              /* a kept-alive connection between requests */
    unsigned http_max_connections_per_address; /* beyond loopback */
} HvdConfig;

/* Fills c with the built-in defaults. Free with config_done(). */
int config_init(HvdConfig *c);
void config_done(HvdConfig *c);

/* Reads path into c (which holds defaults or an earlier config); a missing file keeps the
 * defaults unless required. On a bad line, e says "FILE:LINE: reason" and c is unchanged. */
int config_load(HvdConfig *c, const char *path, bool required, Error *e);

/* Sets one key of section in c from its text value, as the file does. Returns 0 or a negative
 * errno with e saying what is allowed. */
int config_set(HvdConfig *c, const char *section, const char *key, const char *value, Error *e);
