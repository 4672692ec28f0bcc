/* dnsmasq for one hvd network: DHCP and DNS bound only to its bridge, with a static host entry
 * per lease, started and supervised by hvd (restarted when it dies, stopped with the network). */
#pragma once

#include <systemd/sd-event.h>

#include "error.h"

typedef struct Dnsmasq Dnsmasq;

/* What dnsmasq serves: the bridge, the host's address on it (where DNS listens), the range
 * DHCP hands out, and the netmask. Strings are copied. */
typedef struct DnsmasqSetup {
    const char *network; /* for logs and file names */
    const char *bridge;
    const char *host;
    const char *range_first;
    const char *range_last;
    const char *netmask;
    const char *dir; /* where its host, lease, pid and log files live */
} DnsmasqSetup;

/* Starts dnsmasq for setup on event, or adopts the one a previous hvd left running for the same
 * network (found by its pid file). hosts is the content of the host file (lines of
 * "MAC,ADDRESS[,NAME]"). Returns negative errno with e set when it cannot be run at all. */
int dnsmasq_start(sd_event *event, const DnsmasqSetup *setup, const char *hosts, Dnsmasq **ret,
                  Error *e);

/* Rewrites the host file and tells dnsmasq to read it again (SIGHUP). */
int dnsmasq_set_hosts(Dnsmasq *d, const char *hosts);

/* The pid of the running dnsmasq, 0 while it is being restarted. */
int dnsmasq_pid(const Dnsmasq *d);

/* Stops dnsmasq (SIGTERM) and frees d; the process is reaped by hvd's SIGCHLD handler. Accepts
 * NULL; returns NULL. */
Dnsmasq *dnsmasq_stop(Dnsmasq *d);
