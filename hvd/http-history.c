/* GET /api/v1/domains/{name}/history and /api/v1/host/history: statistics history by range. */
#include "http-internal.h"

/* The range the query asks for (hour when none); answers 400 itself and returns _INVALID. */
static HistoryRange query_range(HttpRequest *r, enum MHD_Result *ret)
{
    const char *arg = http_query(r, "range");
    HistoryRange range = arg ? history_range_from_string(arg) : HISTORY_HOUR;

    if (range < 0)
        *ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                  "'range' must be hour, day or month; got '%.32s'", arg);
    return range;
}

enum MHD_Result http_domain_history(HttpRequest *r, Domain *d, const char *arg)
{
    enum MHD_Result ret = MHD_NO;
    HistoryRange range = query_range(r, &ret);

    if (range < 0)
        return ret;
    return http_reply_json(r, MHD_HTTP_OK, manager_domain_history(r->http->manager, d, range));
}

enum MHD_Result http_host_history(HttpRequest *r, Domain *d, const char *arg)
{
    enum MHD_Result ret = MHD_NO;
    HistoryRange range = query_range(r, &ret);

    if (range < 0)
        return ret;
    return http_reply_json(r, MHD_HTTP_OK, manager_host_history(r->http->manager, range));
}
