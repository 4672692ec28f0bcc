/* The event log for clients: filters checked and applied, events as JSON. */
#include <string.h>

#include "event-log.h"
#include "since.h"
#include "time-util.h"

/* Every kind of event hvd logs. */
static const char *const event_kinds[] = {
    "created",         "updated",         "deleted",         "state-changed",
    "runtime-changed", "network-created", "network-deleted", "migration-progress",
};

static bool event_kind_is_known(const char *kind)
{
    for (size_t i = 0; i < ELEMENTSOF(event_kinds); i++)
        if (streq(kind, event_kinds[i]))
            return true;
    return false;
}

json_t *event_json_new(const StoredEvent *ev)
{
    json_t *data = json_pack("{s:I, s:I, s:s}", "id", (json_int_t)ev->id, "time_us",
                             (json_int_t)ev->time_us, "event", ev->event);
    json_t *detail = ev->detail ? json_loads(ev->detail, 0, NULL) : NULL;

    if (!data)
        return NULL;
    (void)json_object_set_new(data, "domain", ev->domain ? json_string(ev->domain) : json_null());
    if (json_is_object(detail))
        (void)json_object_update_missing(data, detail);
    json_decref(detail);
    return data;
}

static int append_event(const StoredEvent *ev, void *userdata)
{
    json_t *data = event_json_new(ev);

    return data && json_array_append_new(userdata, data) == 0 ? 0 : -ENOMEM;
}

int event_log_read(Manager *m, const EventLogQuery *q, json_t **ret, bool *ret_more, Error *e)
{
    StoreEventFilter f = {.domain = q->domain, .event = q->kind};
    unsigned limit = q->limit ? q->limit : EVENT_LOG_LIMIT_DEFAULT;
    json_t *events;
    Since since = {};
    size_t n;
    int r;

    if (limit > EVENT_LOG_LIMIT_MAX)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'limit' must be 1..%u, got %u",
                          EVENT_LOG_LIMIT_MAX, limit);
    if (q->domain && !domain_name_is_valid(q->domain))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'domain' is not a valid domain name");
    if (q->kind && !event_kind_is_known(q->kind))
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'kind' must be one of created, updated, deleted, state-changed, "
                          "runtime-changed, network-created, network-deleted; got '%.64s'",
                          q->kind);
    if (q->since && since_parse(q->since, now_usec(CLOCK_REALTIME), &since) < 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'since' must be an event id (1234), a Unix time (@1767225600), a UTC "
                          "time (2026-12-01T10:00:00Z) or a time ago (-90s, -15m, -2h, -7d); "
                          "got '%.64s'",
                          q->since);
    f.after_id = since.after_id;
    f.since_us = since.time_us;
    f.newest = !q->since;
    f.limit = limit + 1; /* one more says whether there are more */

    events = json_array();
    if (!events)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    r = manager_events_query(m, &f, append_event, events);
    if (r < 0) {
        json_decref(events);
        return error_set_errno(e, r, "Failed to read the event log: %s",
                               store_last_error(m->store));
    }
    n = json_array_size(events);
    *ret_more = n > limit;
    if (*ret_more)
        (void)json_array_remove(events, f.newest ? n - 1 : limit);
    if (f.newest) /* read newest first: turn it around */
        for (size_t i = 0, j = json_array_size(events); i + 1 < j; i++, j--) {
            json_t *a = json_incref(json_array_get(events, i));
            (void)json_array_set(events, i, json_array_get(events, j - 1));
            (void)json_array_set_new(events, j - 1, a);
        }
    *ret = events;
    return 0;
}
