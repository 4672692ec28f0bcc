/* hvd's side of a minihv control socket: one JSON request per connection, answered either at
 * once (short blocking exchange, for stats and info) or later on the event loop. */
#pragma once

#include <jansson.h>
#include <systemd/sd-event.h>

#include "error.h"

typedef struct ControlCall ControlCall;

/* Called once with the reply object (borrowed) or with e set when the exchange failed. */
typedef void (*ControlDone)(ControlCall *call, json_t *reply, const Error *e, void *userdata);

/* Connects to socket_path, sends request, and waits at most timeout_ms for the reply line.
 * A reply {"ok": false, "error": ...} becomes an error. *ret receives the reply object. */
int control_call_sync(const char *socket_path, json_t *request, int timeout_ms, json_t **ret,
                      Error *e);

/* Sends request on a new connection and calls done from the event loop when the reply (or a
 * failure) arrives. The call frees itself after done; control_call_cancel() drops it without
 * calling done. */
int control_call_async(sd_event *event, const char *socket_path, json_t *request, ControlDone done,
                       void *userdata, ControlCall **ret, Error *e);
void control_call_cancel(ControlCall *call);

/* Connects and switches the connection to the raw console stream; returns the fd (blocking
 * exchange of at most timeout_ms). */
int control_console_open(const char *socket_path, int timeout_ms, int *ret_fd, Error *e);
