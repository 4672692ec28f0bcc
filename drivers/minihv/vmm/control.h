/* The control socket: one JSON object per line each way, several clients, console attach. */
#pragma once

#include "error.h"
#include "loop.h"
#include "vm.h"

#define CONTROL_LINE_MAX    4096u
#define CONTROL_MAX_CLIENTS 32u

/* Listens on the unix stream socket at path (a stale socket file is replaced; a live one is
 * an error) and registers with loop. Returns 0 or a negative errno with e set. */
int control_new(Vm *vm, Loop *loop, const char *path, Control **ret, Error *e);

/* Closes every client and the listening socket. The socket file stays (the sandbox forbids
 * unlink); the next start replaces it. Accepts NULL, returns NULL. */
Control *control_free(Control *ctl);

/* Hands queued guest console output to attached console clients. */
void control_pump_console(Control *ctl);

/* Frees clients that were closed while the loop dispatched a batch of events. */
void control_collect(Control *ctl);

/* At exit: tells every command client {"event":"stopped","status":N,"status_name":...,
 * "reason":...}, flushes pending output (bounded wait), then closes all clients. */
void control_finish(Control *ctl, int status, const char *reason);
