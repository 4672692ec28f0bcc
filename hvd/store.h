/* hvd's durable state in SQLite: domains, allocations, the event log, networks and leases. Only
 * this module touches sqlite3; its functions return negative errno and keep SQLite's message for
 * logs. */
#pragma once

#include <stdint.h>

#include "config.h"
#include "domain-config.h"
#include "error.h"

typedef struct Store Store;

typedef struct StoredDomain {
    int64_t id;
    DomainConfig config;
    DomainState state;
    DomainReason reason;
    DomainRuntime runtime;
    uint64_t created_us;
    uint64_t state_changed_us;
} StoredDomain;

typedef struct StoredEvent {
    int64_t id;
    uint64_t time_us;
    const char *domain; /* NULL for host events */
    const char *event;
    const char *detail; /* JSON text or NULL */
} StoredEvent;

/* A network row; strings are borrowed (from the caller, or from the statement while loading). */
typedef struct StoredNetwork {
    int64_t id;
    const char *name;
    const char *bridge;
    const char *subnet; /* the network address, "A.B.C.D" */
    unsigned prefix;
    bool nat;
    bool dhcp;
    uint64_t created_us;
} StoredNetwork;

/* A lease: the MAC and address of one domain on one network. */
typedef struct StoredLease {
    int64_t network_id;
    int64_t domain_id;
    const char *mac;
    const char *ipv4;
} StoredLease;

/* Opens (creating if needed) the database at path in WAL mode with foreign keys on, applies the
 * embedded migrations and prepares statements. A database from a newer schema is refused with a
 * message in e. */
int store_open(const char *path, StoreSync sync, Store **ret, Error *e);

/* Closes the database (checkpointing the WAL). Accepts NULL; returns NULL. */
Store *store_free(Store *s);

/* The schema version the database is at, and the newest this build knows. */
unsigned store_schema_version(Store *s);
unsigned store_schema_latest(void);

/* SQLite's message for the last failed call. */
const char *store_last_error(Store *s);

/* Transactions: every multi-row change goes between begin and commit; rollback undoes it. */
int store_begin(Store *s);
int store_commit(Store *s);
void store_rollback(Store *s);

/* Whether a transaction is open. */
bool store_in_transaction(Store *s);

/* One change inside an open transaction (several commit together): store_savepoint starts it,
 * store_release keeps it, store_rollback_to undoes just it. */
int store_savepoint(Store *s);
int store_release(Store *s);
void store_rollback_to(Store *s);

/* Inserts a new domain row; *ret_id receives its row id. -EEXIST if the name or UUID is taken. */
int store_domain_insert(Store *s, const DomainConfig *c, DomainState state, DomainReason reason,
                        uint64_t now_us, int64_t *ret_id);

/* Rewrites the definition columns of domain id. */
int store_domain_update_config(Store *s, int64_t id, const DomainConfig *c);

/* Records a new state, reason and runtime for domain id. */
int store_domain_set_state(Store *s, int64_t id, DomainState state, DomainReason reason,
                           const DomainRuntime *rt, uint64_t now_us);

/* Deletes domain id (its allocation goes with it). */
int store_domain_delete(Store *s, int64_t id);

/* Sets or clears the allocation row of domain id. */
int store_allocation_set(Store *s, int64_t id, unsigned vcpus, uint64_t memory_mib,
                         const char *cpuset);
int store_allocation_clear(Store *s, int64_t id);

/* Appends an event; *ret_id (may be NULL) receives its id. */
int store_event_append(Store *s, uint64_t now_us, const char *domain, const char *event,
                       const char *detail, int64_t *ret_id);

/* Deletes all but the newest keep events. */
int store_events_prune(Store *s, unsigned keep);

/* The id of the newest event, 0 when there is none. */
int store_events_last_id(Store *s, int64_t *ret);

/* Calls cb for every event with id > after_id, oldest first, at most limit of them. Stops early
 * when cb returns non-zero (which is then returned). */
int store_events_since(Store *s, int64_t after_id, unsigned limit,
                       int (*cb)(const StoredEvent *ev, void *userdata), void *userdata);

/* Which events store_events_query reads: each field narrows it (0 and NULL do not). */
typedef struct StoreEventFilter {
    int64_t after_id;   /* only ids above this */
    uint64_t since_us;  /* only events at or after this time */
    const char *domain; /* only this domain's events */
    const char *event;  /* only this kind ("created", "state-changed", ...) */
    unsigned limit;     /* at most this many */
    bool newest;        /* the newest limit of them, newest first (else oldest first) */
} StoreEventFilter;

/* Calls cb for every event f selects, in f's order. Stops early when cb returns non-zero (which
 * is then returned). */
int store_events_query(Store *s, const StoreEventFilter *f,
                       int (*cb)(const StoredEvent *ev, void *userdata), void *userdata);

/* Calls cb for every stored domain, by name; the StoredDomain is valid only during the call
 * (cb may take its config strings by copying). Stops early when cb returns negative. */
int store_domains_load(Store *s, int (*cb)(StoredDomain *d, void *userdata), void *userdata);

/* Inserts network n (its id is ignored); *ret_id receives the new row id. -EEXIST if its name or
 * bridge is taken. */
int store_network_insert(Store *s, const StoredNetwork *n, int64_t *ret_id);

/* Deletes network id and its leases. */
int store_network_delete(Store *s, int64_t id);

/* Calls cb for every network by name; strings are valid only during the call. Stops early when
 * cb returns negative. */
int store_networks_load(Store *s, int (*cb)(const StoredNetwork *n, void *userdata),
                        void *userdata);

/* Records lease l. -EEXIST if the domain has one on that network, or its MAC or address is
 * taken. */
int store_lease_insert(Store *s, const StoredLease *l);

/* Deletes the lease of domain_id on network_id (none is not an error). */
int store_lease_delete(Store *s, int64_t network_id, int64_t domain_id);

/* Calls cb for every lease; strings are valid only during the call. Stops early when cb returns
 * negative. */
int store_leases_load(Store *s, int (*cb)(const StoredLease *l, void *userdata), void *userdata);

/* A saved image of a domain (schema/0007-images.sql); strings are borrowed (from the caller, or
 * from the statement while loading). kind is "managed-save" or "snapshot"; contents says what the
 * file holds ("memory+vcpu+devices"); disk is the disk the image references (never copied), or
 * NULL. */
typedef struct StoredImage {
    int64_t id;
    const char *domain_uuid;
    const char *kind;
    const char *name;
    uint64_t created_us;
    uint64_t size_bytes;
    const char *contents;
    const char *disk;
    const char *path;
} StoredImage;

/* Records an image (inside the caller's transaction); -EEXIST when the domain has one of that
 * kind and name already. */
int store_image_insert(Store *s, const StoredImage *img, int64_t *ret_id);

/* Forgets one image, or every image of a domain. */
int store_image_delete(Store *s, int64_t id);
int store_images_delete_domain(Store *s, const char *domain_uuid);

/* Calls cb for every image of domain_uuid (NULL: of every domain), oldest first. */
int store_images_load(Store *s, const char *domain_uuid,
                      int (*cb)(const StoredImage *img, void *userdata), void *userdata);
