/* GET /api/v1/events/log?domain=&kind=&since=&limit=: the logged events, oldest first. */
#include "event-log.h"
#include "http-internal.h"
#include "parse-util.h"

enum MHD_Result http_event_log(HttpRequest *r, Domain *unused, const char *arg)
{
    EventLogQuery q = {
        .since = http_query(r, "since"),
        .domain = http_query(r, "domain"),
        .kind = http_query(r, "kind"),
    };
    const char *limit = http_query(r, "limit");
    Error e = ERROR_NULL;
    json_t *events;
    bool more;

    if (limit && parse_uint(limit, 1, UINT32_MAX, &q.limit) < 0)
        return http_reply_problem(r, MHD_HTTP_BAD_REQUEST, "'limit' must be 1..%u, got '%.32s'",
                                  EVENT_LOG_LIMIT_MAX, limit);
    if (event_log_read(r->http->manager, &q, &events, &more, &e) < 0)
        return http_reply_error(r, &e);
    return http_reply_json(r, MHD_HTTP_OK,
                           json_pack("{s:o, s:b, s:I}", "events", events, "more", more, "last_id",
                                     (json_int_t)manager_events_last_id(r->http->manager)));
}
