/* Live migration over HTTP: POST /api/v1/domains/{name}/actions/migrate (and .../migrate-cancel)
 * on the source, and POST /api/v1/migrations, the target's admission that the source hvd asks
 * for (answered with the one-time port and ticket of the data connection). */
#include <string.h>
#include <sys/socket.h>

#include "http-internal.h"
#include "manager-migrate.h"

/* Refuses any field of body but those in allowed (NULL-terminated); answers itself. */
static bool fields_known(HttpRequest *r, json_t *body, const char *const *allowed,
                         enum MHD_Result *ret)
{
    const char *key;
    json_t *v;

    json_object_foreach (body, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok = ok || streq(*a, key);
        if (!ok) {
            *ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST, "unknown field '%.64s'", key);
            return false;
        }
    }
    return true;
}

static void migrated(void *userdata, Domain *d, const Error *e)
{
    HttpRequest *r = userdata;
    json_t *obj;

    if (e) {
        http_complete_error(r, e);
        return;
    }
    obj = json_object();
    if (d && obj)
        (void)domain_to_json(d, obj);
    http_complete_json(r, MHD_HTTP_OK, obj);
}

/* An optional integer field of body in 1..max into *ret (0 when absent); answers itself. */
static bool optional_uint(HttpRequest *r, json_t *body, const char *key, unsigned max,
                          unsigned *ret, enum MHD_Result *answer)
{
    json_t *v = json_object_get(body, key);

    *ret = 0;
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max) {
        *answer =
            http_reply_problem(r, MHD_HTTP_BAD_REQUEST, "'%s' must be an integer 1..%u", key, max);
        return false;
    }
    *ret = (unsigned)json_integer_value(v);
    return true;
}

enum MHD_Result http_migrate_domain(HttpRequest *r, Domain *d, const char *arg)
{
    static const char *const allowed[] = {"to",        "token",           "downtime_ms",
                                          "timeout_s", "bandwidth_mib_s", NULL};
    enum MHD_Result ret = MHD_NO;
    ManagerMigrateRequest req = {};
    Error e = ERROR_NULL;
    json_t *body, *to, *token;
    int k;

    body = http_read_body(r, false, &ret);
    if (!body)
        return ret;
    if (!fields_known(r, body, allowed, &ret))
        goto done;
    to = json_object_get(body, "to");
    token = json_object_get(body, "token");
    if (!json_is_string(to)) {
        ret = http_reply_problem(
            r, MHD_HTTP_BAD_REQUEST,
            "'to' must be a string: the target hvd's URL, http(s)://ADDRESS:PORT");
        goto done;
    }
    if (token && !json_is_string(token)) {
        ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                 "'token' must be a string: the target hvd's token");
        goto done;
    }
    if (!optional_uint(r, body, "downtime_ms", MANAGER_MIGRATE_DOWNTIME_MAX_MS, &req.downtime_ms,
                       &ret) ||
        !optional_uint(r, body, "timeout_s", MANAGER_MIGRATE_TIMEOUT_MAX_S, &req.timeout_s, &ret) ||
        !optional_uint(r, body, "bandwidth_mib_s", MANAGER_MIGRATE_BANDWIDTH_MAX,
                       &req.bandwidth_mib_s, &ret))
        goto done;
    req.url = json_string_value(to);
    req.token = token ? json_string_value(token) : NULL;
    k = manager_domain_migrate(r->http->manager, d, &req, migrated, r, &e);
    json_decref(body);
    if (k < 0)
        return http_reply_error(r, &e);
    if (r->response)
        return http_reply_completed(r);
    http_wait(r);
    return MHD_YES;
done:
    json_decref(body);
    return ret;
}

enum MHD_Result http_migrate_cancel(HttpRequest *r, Domain *d, const char *arg)
{
    static const char *const allowed[] = {NULL};
    enum MHD_Result ret = MHD_NO;
    Error e = ERROR_NULL;
    json_t *body, *obj;

    body = http_read_body(r, true, &ret);
    if (!body)
        return ret;
    if (!fields_known(r, body, allowed, &ret)) {
        json_decref(body);
        return ret;
    }
    json_decref(body);
    if (manager_domain_migrate_cancel(r->http->manager, d, &e) < 0)
        return http_reply_error(r, &e);
    obj = json_object();
    if (obj)
        (void)domain_to_json(d, obj);
    return http_reply_json(r, MHD_HTTP_ACCEPTED, obj);
}

enum MHD_Result http_migration_admit(HttpRequest *r, Domain *unused, const char *arg)
{
    static const char *const allowed[] = {"domain", NULL};
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct sockaddr_storage local = {.ss_family = AF_UNIX};
    socklen_t len = sizeof(local);
    enum MHD_Result ret = MHD_NO;
    Error e = ERROR_NULL;
    json_t *body, *answer = NULL;
    int k;

    body = http_read_body(r, false, &ret);
    if (!body)
        return ret;
    if (!fields_known(r, body, allowed, &ret)) {
        json_decref(body);
        return ret;
    }
    /* The data connection comes to the address this request came to. */
    if (!info || getsockname(info->connect_fd, (struct sockaddr *)&local, &len) < 0)
        local.ss_family = AF_UNIX;
    k = manager_migration_admit(r->http->manager, json_object_get(body, "domain"), &local, &answer,
                                &e);
    json_decref(body);
    if (k < 0)
        return http_reply_error(r, &e);
    return http_reply_json(r, MHD_HTTP_CREATED, answer);
}
