/* hvd's HTTP API (JSON under /api/v1, Server-Sent Events, Prometheus metrics) and the web
 * dashboard, served by libmicrohttpd on hvd's own event loop. */
#pragma once

#include "config.h"
#include "manager.h"

typedef struct Http Http;

/* Starts listening as config says (or on the sockets systemd passed, when there are any) and
 * serves requests on m's event loop. The bearer token for mutations is read from, or created
 * in, the state directory. With "listen = none" and no passed sockets, *ret is NULL. */
int http_new(Manager *m, const HvdConfig *config, Http **ret, Error *e);

/* Answers requests still waiting with 503, stops listening. Accepts NULL; returns NULL. */
Http *http_free(Http *h);
