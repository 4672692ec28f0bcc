/* hvd's configuration: INI file keys, command-line overrides, defaults, reload. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config-keys.h"
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
    /* [http] */
    char *http_listen; /* comma-separated: HOST:PORT, [V6]:PORT, unix:PATH, or "none" */
    char *http_tls_cert;
    char *http_tls_key;
    char *http_web_dir;
    unsigned http_max_body_kib;
    unsigned http_max_connections;
    /* Every other section ([kvm], [minihv], ...) as read: each belongs to the driver of that
     * name, which parses it (hvd_drivers_parse); hvd itself knows none of their keys. */
    ConfigSection *sections;
    size_t n_sections;
    unsigned http_request_timeout_s;           /* for a request's headers, and again for its body */
    unsigned http_idle_timeout_s;              /* a kept-alive connection between requests */
    unsigned http_max_connections_per_address; /* beyond loopback */
    char *http_tls_client_ca; /* [http] tls-client-ca: clients must show a certificate it signed */
    /* [migrate]: TLS towards https:// targets (tls-relay.h): the CA that signed their
     * certificates, and the certificate and key shown to a target that asks for one */
    char *migrate_tls_ca;
    char *migrate_tls_cert;
    char *migrate_tls_key;
    /* [history]: the most memory the domains' hour of statistics history takes (MiB): with more
     * domains than fit at 1 s, their points are further apart (history.h) */
    unsigned history_memory_mib;
} HvdConfig;

/* Fills c with the built-in defaults. Free with config_done(). */
int config_init(HvdConfig *c);
void config_done(HvdConfig *c);

/* Reads path into c (which holds defaults or an earlier config); a missing file keeps the
 * defaults unless required. On a bad line, e says "FILE:LINE: reason" and c is unchanged. */
int config_load(HvdConfig *c, const char *path, bool required, Error *e);

/* Sets one key of section in c from its text value, as the file does (origin says where it came
 * from: "FILE:LINE" or an option). A key of hvd's own sections is checked now; a key of any
 * other section is kept for the driver that owns it. Returns 0 or a negative errno with e
 * saying what is allowed. */
int config_set(HvdConfig *c, const char *section, const char *key, const char *value,
               const char *origin, Error *e);

/* The section called name as read (NULL when the file has none). */
const ConfigSection *config_section(const HvdConfig *c, const char *name);

/* Prints hvd's own sections as INI text (hvd --check-config). */
void config_print(const HvdConfig *c, FILE *f);
