/* What the control socket's server (control.c) and its commands (control-commands.c) share:
 * a client connection, the server's state, and the table of commands. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "control.h"
#include "loop.h"
#include "migrate.h"
#include "watchdog.h"

#define CONTROL_OUT_MAX    (1u << 20)
#define SHUTDOWN_DEFAULT_S 30.0
#define SHUTDOWN_MAX_S     86400.0

typedef struct ControlClient {
    LoopSource src;
    Control *ctl;
    char line[CONTROL_LINE_MAX + 1];
    size_t line_len;
    bool discarding; /* skipping the rest of an overlong line */
    bool console;    /* switched to the raw console stream */
    bool dead;
    bool watching_out;
    uint8_t *out;
    size_t out_len;
    size_t out_cap;
    int pending_fd;      /* a descriptor passed (SCM_RIGHTS) for the next request line, or -EBADF */
    bool reply_deferred; /* the command answers later (migrate-send) */
    int send_fd; /* borrowed: passed (SCM_RIGHTS) with the next bytes sent (stats-page), or -1 */
    char error[sizeof(((Error *)NULL)->message) + 64]; /* a command's detailed error */
} ControlClient;

struct Control {
    Vm *vm;
    Loop *loop;
    LoopSource listen_src;
    ControlClient *clients[CONTROL_MAX_CLIENTS];
    unsigned n_console;
    MigrateSend *migration;        /* the last migrate-send, running or ended */
    ControlClient *migrate_client; /* who asked for it, while connected */
    json_t *migrate_id;            /* its request's "id", or NULL */
    Watchdog *watchdog;            /* made by the first watchdog request */
};

#define CONTROL_FIELDS_MAX 6

typedef struct ControlCommand {
    const char *name;
    const char *optional_fields[CONTROL_FIELDS_MAX]; /* the extra fields the command accepts */
    /* Returns a reply object with "ok":true (new reference), or NULL with *error set. */
    json_t *(*run)(ControlClient *c, json_t *req, const char **error, bool *malformed);
} ControlCommand;

/* Queues o, one line of compact JSON, for c (an "out of memory" error when o is NULL). */
void client_send_json(ControlClient *c, json_t *o);

/* Answers c with {"ok": false, "error": msg} (and id); malformed counts a bad request. */
void client_reply_error(ControlClient *c, json_t *id, bool malformed, const char *msg);

/* The command named name, or NULL. */
const ControlCommand *control_command_find(const char *name);

/* Whether the connection of a client that cmd answered carries the raw console from then on. */
bool control_command_attaches_console(const ControlCommand *cmd);

/* Whether cmd takes the optional request field key. */
bool control_command_accepts(const ControlCommand *cmd, const char *key);
