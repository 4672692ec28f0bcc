/* The [cluster] section: the etcd endpoints, this host's name and advertised URL, the lease
 * TTL and the fencing time. Without the section hvd is a single host. */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "error.h"

typedef struct ClusterConfig {
    char *etcd;      /* "http://H:P[,http://H:P...]" */
    char *host;      /* this host's name in the cluster */
    char *advertise; /* the URL of this host's HTTP API, as others reach it (may be NULL) */
    unsigned lease_ttl_s;
    unsigned fence_s; /* without a renewed lease for this long, cluster domains are stopped */
    unsigned request_timeout_ms;
    char *etcd_ca;   /* TLS to etcd (https:// endpoints): the CAs, and this host's certificate */
    char *etcd_cert; /* and key for etcd's --client-cert-auth; each may be NULL */
    char *etcd_key;
    char *migrate_token; /* the HTTP token of the other hosts, for live migrations (may be NULL) */
    unsigned watchdog_s; /* an HA domain's VMM not renewed by hvd for this long ends its guest */
} ClusterConfig;

/* Parses the [cluster] section of c into *ret. Returns 1 when there is one (etcd and host are
 * then set), 0 when there is none (*ret is zeroed), or a negative errno with e saying
 * "ORIGIN: reason". Free with cluster_config_done(). */
int cluster_config_parse(const HvdConfig *c, ClusterConfig *ret, Error *e);
void cluster_config_done(ClusterConfig *cc);

/* Checks that the etcd-ca, etcd-cert and etcd-key files can be read, parse and match (at
 * start-up, at reload and in --check-config); e names the file and the fault. */
int cluster_config_check_files(const ClusterConfig *cc, Error *e);

/* Prints the section as INI text (hvd --check-config); nothing when there is none. */
void cluster_config_print(const ClusterConfig *cc, FILE *f);
