/* Reading the event log for clients: the filters the surfaces share and each event's JSON. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "error.h"
#include "manager.h"

#define EVENT_LOG_LIMIT_DEFAULT 100u
#define EVENT_LOG_LIMIT_MAX     1000u

/* A query as a client gave it; NULL (or 0 for limit) leaves a filter out. */
typedef struct EventLogQuery {
    const char *since;  /* see since_parse(): an event id or a time */
    const char *domain; /* a domain's name (deleted domains' events stay in the log) */
    const char *kind;   /* created, updated, deleted, state-changed, ... */
    unsigned limit;     /* 1..EVENT_LOG_LIMIT_MAX (0: EVENT_LOG_LIMIT_DEFAULT) */
} EventLogQuery;

/* An event as clients see it (the event stream and the log alike): id, time_us, event, domain
 * (null for host events) and the fields of its detail. A new object, or NULL without memory. */
json_t *event_json_new(const StoredEvent *ev);

/* Reads the events q selects into *ret, a new array, oldest first: without since the newest
 * limit of them, with since the oldest limit after it. *ret_more says whether more matched
 * than limit. A bad filter is refused (InvalidArgument) with e naming it. */
int event_log_read(Manager *m, const EventLogQuery *q, json_t **ret, bool *ret_more, Error *e);
