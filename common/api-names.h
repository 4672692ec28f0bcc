/* Names and limits that every surface shares (hvd's D-Bus and HTTP, hvctl, the benchmarks):
 * defined once, so the daemon and its clients cannot drift apart. */
#pragma once

/* D-Bus. */
#define HVD_BUS_NAME              "org.hvd1"
#define HVD_BUS_MANAGER_PATH      "/org/hvd1"
#define HVD_BUS_MANAGER_INTERFACE "org.hvd1.Manager"
#define HVD_BUS_DOMAIN_PREFIX     "/org/hvd1/domain"
#define HVD_BUS_DOMAIN_INTERFACE  "org.hvd1.Domain"
#define HVD_BUS_NETWORK_PREFIX    "/org/hvd1/network"
#define HVD_BUS_NETWORK_INTERFACE "org.hvd1.Network"
#define HVD_BUS_ERROR_PREFIX      "org.hvd1.Error."

/* polkit actions (polkit/org.hvd1.policy): changing domains, changing networks. */
#define HVD_POLKIT_MANAGE_DOMAINS  "org.hvd1.manage-domains"
#define HVD_POLKIT_MANAGE_NETWORKS "org.hvd1.manage-networks"

/* A shutdown's own timeout: 0 (the configured default) up to this. */
#define HVD_SHUTDOWN_TIMEOUT_MAX_S 86400u
/* How long a reboot waits for the guest to restart when the caller does not say. */
#define HVD_REBOOT_TIMEOUT_DEFAULT_S 60u

/* The most console log a tail request returns. */
#define HVD_CONSOLE_TAIL_MAX (1024u * 1024u)

/* How long a client waits for any one answer (a start or a shutdown may take this long). */
#define HVD_CALL_TIMEOUT_S 120u
