/* hvd's side of a minihv control socket: one JSON request per connection, answered later on
 * the event loop (never waited for), or sent without waiting for an answer at all. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "error.h"
#include "event-priority.h"

typedef struct ControlCall ControlCall;

/* Called once with the reply object (borrowed) or with e set when the exchange failed or was
 * not answered in time. */
typedef void (*ControlDone)(ControlCall *call, json_t *reply, const Error *e, void *userdata);

/* Called for each event line ({"event": ...}, borrowed) minihv sends before its reply. */
typedef void (*ControlEvent)(ControlCall *call, json_t *event, void *userdata);

/* Called once when a console connection is switched to the raw stream: fd (the caller's now)
 * carries the guest's output and takes its input, early holds output that arrived with the
 * reply (early_len bytes, borrowed), and reply is minihv's answer (borrowed; it has the fields
 * of {"cmd": "info"} too, unless minihv is older than that). On failure fd is -EBADF, reply
 * NULL and e is set. */
typedef void (*ControlConsoleDone)(ControlCall *call, int fd, const char *early, size_t early_len,
                                   json_t *reply, const Error *e, void *userdata);

/* Sends request on a new connection and calls done from the event loop when the reply, a
 * failure or timeout_ms without a reply comes first. A reply {"ok": false, "error": ...} becomes
 * an error. The call frees itself after done; control_call_cancel() drops it without calling
 * done. Fails at once (done not called) when the socket cannot be reached now. */
int control_call_async(sd_event *event, const char *socket_path, json_t *request, int timeout_ms,
                       ControlDone done, void *userdata, ControlCall **ret, Error *e);

/* As control_call_async, passing fd (taken over, also on failure) with the request as SCM_RIGHTS
 * ancillary data: for {"cmd": "save"}, whose image minihv cannot open itself. */
int control_call_with_fd_async(sd_event *event, const char *socket_path, json_t *request, int fd,
                               int timeout_ms, ControlDone done, void *userdata, ControlCall **ret,
                               Error *e);

/* As control_call_async, for {"cmd": "console"}: on success the connection is handed to done
 * instead of being closed. */
int control_console_open_async(sd_event *event, const char *socket_path, int timeout_ms,
                               ControlConsoleDone done, void *userdata, ControlCall **ret,
                               Error *e);

/* Whether a failed call shows that nobody serves the socket (no socket, nobody listening, the
 * connection closed without an answer), as opposed to a minihv that did not answer in time or
 * refused the request. */
bool control_error_unserved(const Error *e);

/* Makes call hand the event lines that come before the reply to event instead of taking the
 * first line for the reply (a migration's progress). */
void control_call_set_event(ControlCall *call, ControlEvent event);

/* Makes call hold a successful reply until the event line named name ({"event": name}, a
 * static string) follows it, or the connection ends after it, and only then call done with the
 * reply; lines in between are dropped. Unanswered in time, done gets the timeout. */
void control_call_set_until_event(ControlCall *call, const char *name);

/* Runs call's reading, writing and timeout at priority (an sd-event priority: higher numbers
 * wait for lower ones). Background calls to many VMMs at once (a re-attach's probes) go after
 * hvd's callers, whose bus would otherwise wait behind all of them. */
void control_call_set_priority(ControlCall *call, int64_t priority);

/* The priority of calls that no caller waits for: after hvd's clients and the commit their
 * answers wait for. */
#define CONTROL_PRIORITY_BACKGROUND PRIORITY_BACKGROUND

/* Drops a call in flight without calling its done. Accepts NULL. */
void control_call_cancel(ControlCall *call);

/* Sends request on a new connection and closes it without reading the reply: for requests whose
 * answer nobody waits for (destroying an instance nobody claims). Never waits: fails when the
 * socket does not take the whole request now. */
int control_send(const char *socket_path, json_t *request, Error *e);
