/* A domain as hvd holds it in memory: its definition, state and runtime, and its JSON form. */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "domain-config.h"
#include "history.h"

typedef struct Manager Manager;
typedef struct Domain Domain;
typedef struct DomainWaiter DomainWaiter;

/* A domain's JSON text and the fields it was made from: still good while they are unchanged. */
typedef struct DomainJsonText {
    char *text;
    size_t len;
    unsigned config_generation;
    DomainState state;
    DomainReason reason;
    int pid;
    uint64_t state_changed_us;
    uint64_t started_us;
} DomainJsonText;

struct Domain {
    Manager *manager;
    int64_t id; /* row id in the store */
    DomainConfig config;
    DomainState state;
    DomainReason reason;
    DomainRuntime runtime;
    uint64_t created_us;
    uint64_t state_changed_us;
    char *object_path;               /* D-Bus object path, computed once */
    DomainWaiter *waiters;           /* operations waiting for a state */
    sd_event_source *shutdown_timer; /* graceful shutdown deadline */
    DomainReason boot_reason;        /* running reason the current start will end in */
    DomainReason stopping_from;      /* running reason to return to if a shutdown fails */
    unsigned restarts;               /* on-crash restarts within the restart window */
    uint64_t last_crash_us;          /* CLOCK_MONOTONIC of the last crash, 0 if none */
    unsigned guest_reboots;          /* reboots the guest made within the reboot-loop window */
    uint64_t guest_reboots_since_us; /* CLOCK_MONOTONIC start of that window */
    uint64_t guest_reboot_last_us;   /* when the last reboot the window counted came */
    bool unsaved;                    /* the state changed but the store could not record it */
    bool autostart_pending;          /* to be autostarted this boot once its driver is up */
    bool announce_mark;              /* commit.c: its last change in a commit is marked */
    bool announce_state_mark;        /* commit.c: a later state change in the commit was seen */
    unsigned clearing_crashes;       /* destroys of crashed instances before a restart, in flight */
    char *op_caller[_DOMAIN_ACTION_MAX]; /* who asked for each operation in flight (or NULL) */
    HistorySeries *history;              /* statistics history, from its first sample on */
    unsigned config_generation;          /* bumped whenever config changes */
    DomainJsonText json;                 /* domain_json_text's cache */
    /* Saved state (manager-snapshot.c): the save or snapshot being written, the image the start
     * in flight continues instead of booting (NULL: a boot), and its row when that is the
     * managed save (consumed once the domain runs; 0 otherwise). */
    struct ImageOp *image_op;
    char *restore_path;
    int64_t restore_image_id; /* Live migration (manager-migrate*.c): the outgoing one under way,
                               * and the stream the start in flight receives the guest from (when
                               * incoming). */
    struct MigrationOut *migration;
    bool incoming;
    int incoming_fd;
    unsigned incoming_timeout_s;
};

/* Adds the domain's definition, state, reason and runtime fields to obj (hvctl --json names). */
int domain_to_json(const Domain *d, json_t *obj);

/* The same as compact JSON text, of length *ret_len; made again only when a field it shows has
 * changed since the last call. Owned by d (valid until the next call or domain_json_text_done);
 * NULL when out of memory. */
const char *domain_json_text(Domain *d, size_t *ret_len);

/* Frees the cached text. */
void domain_json_text_done(Domain *d);
