/* Live migration: the source's pre-copy sender and the target's receiver (migrate-format.h). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "loop.h"
#include "migrate-format.h"
#include "snapshot.h"
#include "vm.h"

#define MIGRATE_DOWNTIME_DEFAULT_MS 10u
#define MIGRATE_TIMEOUT_DEFAULT_S   60.0
#define MIGRATE_ITERATIONS_DEFAULT  30u
#define MIGRATE_CONFIRM_TIMEOUT_S                                                    \
    10.0                         /* from the STATE record to the target's READY, and \
                                  * from READY to the source's word on the target */
#define MIGRATE_RECV_IDLE_S 30.0 /* the target gives up on a source silent this long */

/* What the pre-copy may do: a downtime budget, limits, and what to do at a limit. */
typedef struct MigrateOptions {
    double downtime_ms;      /* stop and copy once the rest is expected to take at most this */
    double timeout_s;        /* the whole migration, up to the target's confirmation */
    unsigned max_iterations; /* dirty-page passes after the first full one */
    bool stop_at_limit;      /* at a limit: stop and copy anyway (true) or fail (false) */
    double bandwidth_mib_s;  /* 0: unlimited */
} MigrateOptions;

typedef struct MigrateSend MigrateSend;

/* How a migration ended: r 0 (migrated: the caller ends the domain with status "migrated") or
 * a negative errno with message saying why (the guest runs again). result holds the figures
 * (borrowed). Called once, on the main thread. */
typedef void (*MigrateDoneFn)(void *userdata, int r, const char *message, json_t *result);

/* Progress and end events, {"event":"migration",...} (borrowed). */
typedef void (*MigrateEventFn)(void *userdata, json_t *event);

/* migrate-send.c */

/* Starts migrating the running domain over fd (a connected stream socket, now owned) on the
 * main loop: HELLO, the target's ACCEPT, then pre-copy passes over KVM's dirty log, then
 * stop-and-copy and the wait for the target's READY, which the source answers by closing the
 * connection (the target runs the guest; done(0)). Returns 0 (done is called later) or a
 * negative errno with e set (nothing started, fd closed). */
int migrate_send_start(Vm *vm, Loop *loop, int fd, const MigrateOptions *opts, MigrateDoneFn done,
                       MigrateEventFn event, void *userdata, MigrateSend **ret, Error *e);

/* Aborts a migration in flight: the target is told, the guest resumes, done is called with
 * -ECANCELED and reason. No-op once it ended. */
void migrate_send_cancel(MigrateSend *ms, const char *reason);

/* Whether the migration still runs (done not called yet). */
bool migrate_send_active(const MigrateSend *ms);

/* Cancels if active (without calling done), closes the socket. Accepts NULL, returns NULL. */
MigrateSend *migrate_send_free(MigrateSend *ms);

/* migrate-recv.c */

/* Where the receiver reads from: the socket (with an idle timeout), or a buffer (fuzzer). */
typedef struct MigrateReader {
    int fd;              /* -EBADF: read from buf */
    const uint8_t *buf;  /* with fd < 0 */
    size_t len;          /* with fd < 0 */
    size_t at;           /* with fd < 0 */
    uint64_t idle_ms;    /* with fd >= 0: longest wait for bytes */
    uint64_t bytes_read; /* so far */
} MigrateReader;

/* Reads the HELLO record and checks it: magic, stream format, guest ABI and the settings
 * (like a saved image's header). Returns 0 or a negative errno with e set. */
int migrate_read_hello(MigrateReader *rd, MigrateHello *out, Error *e);

/* Reads PAGES records into mem (whose size is the HELLO's) up to the STATE record, then checks
 * the state (snapshot_parse) and that its settings are the HELLO's. *ret owns the state.
 * Returns 0 or a negative errno with e set; an ERROR record from the source is -ECANCELED with
 * its message. */
int migrate_read_stream(MigrateReader *rd, const MigrateHello *hello, GuestMem *mem, Snapshot **ret,
                        Error *e);

typedef struct MigrateRecv MigrateRecv;

/* The target's side, before its VM exists: reads the HELLO from fd (now owned) and completes
 * cfg from it as a restore does (given settings must match; the domain's memory starts blank).
 * On failure the source is told why. Returns 0 or a negative errno with e set. */
int migrate_recv_begin(int fd, VmConfig *cfg, unsigned given, bool mac_given, MigrateRecv **ret,
                       Error *e);

/* With the VM built from that cfg (vCPU threads may wait, unreleased): sends ACCEPT, receives
 * memory and state, installs the state and re-anchors the guest clocks (snapshot_restore).
 * On failure the source is told why. Returns 0 or a negative errno with e set. */
int migrate_recv_run(MigrateRecv *rx, Vm *vm, Error *e);

/* Tells the source the guest is ready here (READY) and waits for its word: the end of the
 * stream hands the guest over (0); an ERROR, anything else or silence means the source keeps
 * it (a negative errno with e set: the target must not run the guest). Closes the stream. */
int migrate_recv_confirm(MigrateRecv *rx, Error *e);

/* Tells the source why the target gives up (ERROR), best effort. */
void migrate_recv_refuse(MigrateRecv *rx, const char *message);

/* Accepts NULL, returns NULL. */
MigrateRecv *migrate_recv_free(MigrateRecv *rx);

/* Writes one record (header and payload) to a blocking-or-not socket, waiting at most
 * timeout_ms for room. Returns 0 or a negative errno. */
int migrate_write_record(int fd, uint32_t type, const void *payload, size_t len,
                         uint64_t timeout_ms);
