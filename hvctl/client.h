/* hvctl's view of hvd: the same operations over D-Bus (client-bus.c) or HTTP (client-http.c),
 * all speaking JSON objects with the stable field names of hvctl --json. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>

#include "error.h"

typedef struct Client Client;

/* Called for each event by client_follow_events(); returning non-zero stops following. */
typedef int (*ClientEventHandler)(json_t *event, void *userdata);

typedef struct ClientOps {
    void (*free)(Client *c);
    /* Every domain: name, driver, mode, state, reason, vcpus, memory_mib. */
    int (*list)(Client *c, json_t **ret, Error *e);
    /* One domain's definition, state and statistics. */
    int (*info)(Client *c, const char *name, json_t **ret, Error *e);
    int (*create)(Client *c, json_t *settings, Error *e);
    int (*update)(Client *c, const char *name, json_t *settings, Error *e);
    int (*delete)(Client *c, const char *name, Error *e);
    /* action: start, shutdown, destroy, pause, resume, reboot. timeout_s bounds a shutdown or a
     * reboot (0: hvd's default); force makes a reboot that timed out reset the guest. */
    int (*action)(Client *c, const char *name, const char *action, unsigned timeout_s, bool force,
                  Error *e);
    int (*host)(Client *c, json_t **ret, Error *e);
    /* The last max_bytes of the log of a domain's console device ("ttyS0" or "hvc0"), the bytes
     * as the guest wrote them: a new buffer in *ret (NUL-terminated for convenience) of *ret_len
     * bytes. */
    int (*console_tail)(Client *c, const char *name, const char *device, size_t max_bytes,
                        char **ret, size_t *ret_len, Error *e);
    /* Attaches to a domain's console device: connected(userdata) is called once hvd gave the
     * console, then output goes to out_fd, input comes from in_fd, until in_fd yields the escape
     * byte (or ends) or the console closes. Returns 1 when the console closed (the domain stopped),
     * 0 when the user detached. */
    int (*console_attach)(Client *c, const char *name, const char *device, int in_fd, int out_fd,
                          char escape, void (*connected)(void *userdata), void *userdata, Error *e);
    /* Calls handler for every event ({"event", "domain", "state", "reason", "time_us"}) until
     * it returns non-zero, the connection ends, or timeout_us passes (0: no limit). Returns 0 on
     * timeout or stop, negative on error. */
    int (*follow)(Client *c, ClientEventHandler handler, void *userdata, uint64_t timeout_us,
                  Error *e);
    /* One page of the event log: at most limit events (oldest first, as a new array in *ret)
     * after since (an event id or a time, as hvd reads it), of domain and of kind (NULL: any);
     * *ret_more says whether more follow. */
    int (*events_log)(Client *c, const char *since, const char *domain, const char *kind,
                      unsigned limit, json_t **ret, bool *ret_more, Error *e);
    /* Every network: name, subnet, bridge, nat, dhcp. */
    int (*network_list)(Client *c, json_t **ret, Error *e);
    /* One network: its fields, the domains that name it, its leases. */
    int (*network_info)(Client *c, const char *name, json_t **ret, Error *e);
    /* settings: {"name", "subnet", "nat", "dhcp"}. */
    int (*network_create)(Client *c, json_t *settings, Error *e);
    int (*network_delete)(Client *c, const char *name, Error *e);
    /* Saved state of domain name: op is "save", "start-fresh", "snapshot-create",
     * "snapshot-list", "snapshot-revert", "snapshot-delete" or "clone"; args carries what op
     * needs ({"snapshot"}, or {"name", "snapshot", "count"} for a clone; may be NULL). *ret, when
     * not NULL, gets a new value: the array of snapshots, or the array of the clones' names. */
    int (*saved_state)(Client *c, const char *name, const char *op, json_t *args, json_t **ret,
                       Error *e);
    /* The cluster (hvctl --cluster): its hosts and its domains as new arrays, and the creation
     * of a cluster domain from settings plus "ha" and "host" (*ret: its entry). NULL where the
     * transport does not serve the cluster. */
    int (*cluster_hosts)(Client *c, json_t **ret, Error *e);
    int (*cluster_domains)(Client *c, json_t **ret, Error *e);
    int (*cluster_create)(Client *c, json_t *settings, json_t **ret, Error *e);
    int (*cluster_delete)(Client *c, const char *name, Error *e);
    /* drain false: the host takes domains again. *ret: {"host", "pinned_there"}. */
    int (*cluster_drain)(Client *c, const char *host, bool drain, json_t **ret, Error *e);
    /* A cold move of domain name to host; *ret: its entry. */
    int (*cluster_move)(Client *c, const char *name, const char *host, json_t **ret, Error *e);
} ClientOps;

struct Client {
    const ClientOps *ops;
    void *data;
};

/* Connects over D-Bus to address (NULL: the system bus, honouring DBUS_SYSTEM_BUS_ADDRESS).
 * An unreachable daemon is -ECONNREFUSED with e saying so. */
int client_bus_new(const char *address, Client **ret, Error *e);

/* Connects to hvd's HTTP API at url (http://HOST:PORT, https://..., or unix:PATH). The bearer
 * token comes from token_file, else $HVD_TOKEN_FILE, else /var/lib/hvd/http-token. */
int client_http_new(const char *url, const char *token_file, Client **ret, Error *e);

/* Set by a signal handler to end a follow() early. */
extern volatile sig_atomic_t client_interrupted;

/* Frees c. Accepts NULL; returns NULL. */
Client *client_free(Client *c);
