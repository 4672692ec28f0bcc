/* Live migration between two hvds (manager-migrate.c: the source; manager-migrate-incoming.c:
 * the target). Surfaces call these; the manager's own files call the rest. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "manager.h"

#define MANAGER_MIGRATE_DOWNTIME_MAX_MS 60000u
#define MANAGER_MIGRATE_TIMEOUT_MAX_S   86400u
#define MANAGER_MIGRATE_BANDWIDTH_MAX   1000000u
/* The one-time ticket the target hands the source for its data connection (hex characters). */
#define MIGRATE_TICKET_LENGTH 64

typedef struct ManagerMigrateRequest {
    const char *url;          /* the target hvd's HTTP API: http(s)://ADDRESS:PORT */
    const char *token;        /* the target's token (may be NULL or empty) */
    unsigned downtime_ms;     /* 0: the driver's default (10 ms) */
    unsigned timeout_s;       /* the pre-copy's limit; 0: the driver's default (60 s) */
    unsigned bandwidth_mib_s; /* the stream's limit in MiB/s; 0: none */
} ManagerMigrateRequest;

/* Moves running domain d to the hvd at req->url: d goes migrating now, and shutoff/migrated
 * once the target runs it (it stays defined here), or running again when anything fails. done
 * hears the outcome; returns 1 when done will be called, or a negative errno with e set. */
int manager_domain_migrate(Manager *m, Domain *d, const ManagerMigrateRequest *req,
                           ManagerDone done, void *userdata, Error *e);

/* Stops d's migration under way; it then ends (done hears "cancelled") with d running here. */
int manager_domain_migrate_cancel(Manager *m, Domain *d, Error *e);

/* The target's side of POST /api/v1/migrations: admits definition (the source's domain
 * settings) through this host's own checks (name and UUID, driver, network, allocation),
 * defines the domain, and listens for its data connection on local (the address the request
 * came to). *ret gets {"name", "port", "ticket"}; a refusal says why. */
int manager_migration_admit(Manager *m, const json_t *definition,
                            const struct sockaddr_storage *local, json_t **ret, Error *e);

/* For the manager's own files. */

/* A progress report of d's outgoing migration: an event on every surface. */
void manager_migration_progress(Manager *m, Domain *d, const json_t *progress);

/* The driver ended d's outgoing migration (e NULL: the target took it over). */
void manager_migration_sent(Manager *m, Domain *d, const Error *e, const json_t *result);

/* Frees d's migration (hvd is stopping; its caller hears so). */
void manager_domain_migration_free(Domain *d);

/* At start-up, after the drivers re-attached: a domain that a migration here was bringing in
 * and that does not run is removed (the source kept or resumed it); one that runs is kept. */
void manager_migrations_reconcile(Manager *m);

/* Stops listening for the data connections still expected (hvd is stopping). */
void manager_migrations_free(Manager *m);
