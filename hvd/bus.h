/* hvd on D-Bus: org.hvd1 with the Manager object and one object per domain. */
#pragma once

#include <systemd/sd-bus.h>

#include "api-names.h"
#include "manager.h"

#define BUS_CREDS_CACHE_SIZE 64

/* A caller's credentials as the bus recorded them when it connected, by unique bus name. Unique
 * names are never reused on a bus, so an entry stays true for the connection's life. */
typedef struct BusCredsEntry {
    char *sender;
    uid_t uid;
    gid_t *gids; /* supplementary groups and the primary one */
    int n_gids;
} BusCredsEntry;

typedef struct BusAuthQuery BusAuthQuery;

typedef struct Bus {
    sd_bus *bus;
    Manager *manager;
    char *admin_group;
    BusCredsEntry creds_cache[BUS_CREDS_CACHE_SIZE];
    unsigned creds_next;
    BusAuthQuery *auth_queries; /* mutating calls waiting for their verdict */
    sd_bus_slot *polkit_watch;  /* NameOwnerChanged of polkit's name */
    bool polkit_running;
} Bus;

/* Connects to the bus at address (NULL: the system bus, honouring DBUS_SYSTEM_BUS_ADDRESS),
 * registers the objects, attaches to the manager's event loop and takes the name org.hvd1. */
int bus_new(Manager *m, const char *address, const char *admin_group, Bus **ret, Error *e);

/* Releases the name and the connection. Accepts NULL; returns NULL. */
Bus *bus_free(Bus *b);

/* Changes the group whose members may mutate (on config reload). */
int bus_set_admin_group(Bus *b, const char *group);

/* Decides whether the sender of m may perform the polkit action (HVD_POLKIT_*); what names it
 * for messages ("start domains"). Root always may; where polkit runs it decides, else (or when
 * it does not answer) the members of the admin group may. Returns 1 when the caller may, a
 * negative errno with error set to org.hvd1.Error.AccessDenied when it may not, and 0 when the
 * verdict is not in yet: the method handler then returns 1 without replying and is called again
 * with the same message once it is (machined's bus_verify_polkit_async()). The loop never
 * waits: the caller's credentials and polkit's verdict are asked for asynchronously. */
int bus_verify_manage(Bus *b, sd_bus_message *m, const char *action, const char *what,
                      sd_bus_error *error);

/* Names the sender of m (by uid, as its credentials were verified) to the manager as who asks
 * for the change the handler makes next; the handler clears it (manager_set_caller(NULL)) once
 * the manager call returns. */
void bus_name_caller(Bus *b, sd_bus_message *m);

/* Watches whether polkit runs (and starts it where it is activated on demand). Called by
 * bus_new once the connection is up. */
int bus_auth_start(Bus *b);

/* Drops pending verdicts, cached credentials and the polkit watch. */
void bus_auth_done(Bus *b);

/* Writes which authorization is in force into buf: "polkit", or "admin group G (polkit
 * unreachable)". */
void bus_auth_describe(Bus *b, char *buf, size_t size);

/* Sets error to the org.hvd1.Error.<Kind> named after e, with e's message. Returns -errno. */
int bus_error_from(sd_bus_error *error, const Error *e);

/* The object path of domain d (cached in d). NULL on allocation failure. */
const char *bus_domain_path(Domain *d);

/* Reads an a{sv} of domain settings from m into a new JSON object, checking every key is a
 * known setting with the right D-Bus type; e names the offending key. */
int bus_read_settings(sd_bus_message *m, json_t **ret, Error *e);

/* Appends a JSON object as a{sv}: known settings with their declared types, other integers as
 * 't' (or 'x' when negative), reals 'd', strings 's', booleans 'b', objects 'a{sv}', arrays
 * 'av'; null values are left out. */
int bus_append_json_dict(sd_bus_message *m, json_t *obj);

/* The vtables (bus-manager.c and bus-domain.c). */
extern const sd_bus_vtable bus_manager_vtable[];
extern const sd_bus_vtable bus_domain_vtable[];
int bus_domain_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                    void **found, sd_bus_error *error);
int bus_domain_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                         sd_bus_error *error);

/* Networks (bus-network.c): the Manager's methods, the object path of n (cached in n), and
 * org.hvd1.Network's vtable, finder and enumerator. */
const char *bus_network_path(Network *n);
int bus_method_create_network(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_get_network(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_list_networks(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_delete_network(sd_bus_message *m, void *userdata, sd_bus_error *error);
extern const sd_bus_vtable bus_network_vtable[];
int bus_network_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                     void **found, sd_bus_error *error);
int bus_network_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                          sd_bus_error *error);

/* org.hvd1.Domain's saved-state methods (bus-snapshot.c), a vtable of their own on the domains'
 * fallback path. */
extern const sd_bus_vtable bus_snapshot_vtable[];

/* The Manager's cluster methods (bus-cluster.c). */
int bus_method_cluster_create_domain(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_cluster_create_ha_domain(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_cluster_delete_domain(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_cluster_drain_host(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_cluster_move_domain(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_cluster_list_domains(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_cluster_list_hosts(sd_bus_message *m, void *userdata, sd_bus_error *error);
/* org.hvd1.Domain's live migration methods and signal (bus-migrate.c), a vtable of their own on
 * the domains' fallback path, and the listener slot that emits MigrationProgress. */
extern const sd_bus_vtable bus_migrate_vtable[];
void bus_migration_progress(void *userdata, Domain *d, const json_t *progress);

/* Emits the signals and PropertiesChanged for manager events (bus-signals.c). */
extern const ManagerListener bus_manager_listener;
