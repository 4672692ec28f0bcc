/* One domain console, many clients: each client is one end of a socketpair that receives the
 * console's output from the moment it connects, and whose writes are handed to the driver.
 * Shared by the drivers that follow a console over one backend connection. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "error.h"

typedef struct ConsoleFanout ConsoleFanout;

/* What a client typed (data borrowed). The callback may free the fan-out (the console ended):
 * nothing of it is touched after the callback returns. */
typedef void (*ConsoleFanoutInput)(void *userdata, const char *data, size_t len);

/* A fan-out without clients, serving them on event; input receives what they type. */
int console_fanout_new(sd_event *event, ConsoleFanoutInput input, void *userdata,
                       ConsoleFanout **ret);

/* Disconnects every client (each sees the end of its socket) and frees. Accepts NULL; returns
 * NULL. */
ConsoleFanout *console_fanout_free(ConsoleFanout *f);

/* Connects a new client: *ret_fd (the caller's) is a blocking socket that reads the console's
 * output and writes its input. */
int console_fanout_connect(ConsoleFanout *f, int *ret_fd, Error *e);

/* Sends output to every client without waiting: a client that does not keep up loses it (the
 * console log keeps everything); one that has gone is dropped. */
void console_fanout_output(ConsoleFanout *f, const char *data, size_t len);

/* While hold is true, what clients type waits in their sockets (the console is not there yet);
 * false lets it flow to the driver again. */
void console_fanout_hold_input(ConsoleFanout *f, bool hold);

/* Whether any client is connected. */
bool console_fanout_has_clients(const ConsoleFanout *f);
