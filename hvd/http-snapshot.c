/* Saved state over HTTP: /api/v1/domains/{name}/snapshots (list, create), .../snapshots/{snapshot}
 * (delete), .../snapshots/{snapshot}/revert and /api/v1/domains/{name}/clone. Disks are
 * referenced by the images, never copied. */
#include <string.h>

#include "http-internal.h"

/* Holds r for an operation that answers later (k > 0), or answers with what already completed. */
static enum MHD_Result hold(HttpRequest *r, int k, const Error *e)
{
    if (k < 0)
        return http_reply_error(r, e);
    if (r->response)
        return http_reply_completed(r);
    http_wait(r);
    return MHD_YES;
}

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

enum MHD_Result http_list_snapshots(HttpRequest *r, Domain *d, const char *arg)
{
    Error e = ERROR_NULL;
    json_t *list;

    if (manager_snapshot_list(r->http->manager, d, &list, &e) < 0)
        return http_reply_error(r, &e);
    return http_reply_json(r, MHD_HTTP_OK,
                           json_pack("{s:s, s:o}", "domain", d->config.name, "snapshots", list));
}

typedef struct SnapshotWait {
    HttpRequest *r;
    char name[DOMAIN_NAME_MAX + 1];
} SnapshotWait;

static void snapshot_created(void *userdata, Domain *d, const Error *e)
{
    SnapshotWait *w = userdata;
    Error list_error = ERROR_NULL;
    json_t *list = NULL, *found = NULL, *v;
    size_t i;

    if (e)
        http_complete_error(w->r, e);
    else if (!d || manager_snapshot_list(d->manager, d, &list, &list_error) < 0)
        http_complete_error(w->r, d ? &list_error : e);
    else {
        json_array_foreach (list, i, v)
            if (streq(json_string_value(json_object_get(v, "name")), w->name))
                found = v;
        http_complete_json(w->r, MHD_HTTP_CREATED, json_incref(found ?: json_object()));
        json_decref(list);
    }
    free(w);
}

enum MHD_Result http_create_snapshot(HttpRequest *r, Domain *d, const char *arg)
{
    static const char *const allowed[] = {"name", NULL};
    enum MHD_Result ret = MHD_NO;
    Error e = ERROR_NULL;
    SnapshotWait *w;
    json_t *body, *name;
    int k;

    body = http_read_body(r, false, &ret);
    if (!body)
        return ret;
    if (!fields_known(r, body, allowed, &ret)) {
        json_decref(body);
        return ret;
    }
    name = json_object_get(body, "name");
    if (!json_is_string(name)) {
        json_decref(body);
        return http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                  "'name' must be a string: the snapshot's name");
    }
    w = calloc(1, sizeof(*w));
    if (!w) {
        json_decref(body);
        return MHD_NO;
    }
    w->r = r;
    (void)snprintf(w->name, sizeof(w->name), "%s", json_string_value(name));
    k = manager_snapshot_create(r->http->manager, d, json_string_value(name), snapshot_created, w,
                                &e);
    json_decref(body);
    if (k < 0)
        free(w);
    return hold(r, k, &e);
}

enum MHD_Result http_delete_snapshot(HttpRequest *r, Domain *d, const char *arg)
{
    Error e = ERROR_NULL;

    if (manager_snapshot_delete(r->http->manager, d, arg, &e) < 0)
        return http_reply_error(r, &e);
    return http_reply_text(r, MHD_HTTP_NO_CONTENT, "text/plain", "", 0);
}

static void reverted(void *userdata, Domain *d, const Error *e)
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

enum MHD_Result http_revert_snapshot(HttpRequest *r, Domain *d, const char *arg)
{
    static const char *const allowed[] = {NULL};
    enum MHD_Result ret = MHD_NO;
    Error e = ERROR_NULL;
    json_t *body;
    int k;

    body = http_read_body(r, true, &ret);
    if (!body)
        return ret;
    if (!fields_known(r, body, allowed, &ret)) {
        json_decref(body);
        return ret;
    }
    json_decref(body);
    k = manager_snapshot_revert(r->http->manager, d, arg, reverted, r, &e);
    if (k == 0) {
        json_t *obj = json_object();
        if (obj)
            (void)domain_to_json(d, obj);
        return http_reply_json(r, MHD_HTTP_OK, obj);
    }
    return hold(r, k, &e);
}

static void cloned(void *userdata, json_t *names, const Error *e)
{
    HttpRequest *r = userdata;

    if (e)
        http_complete_error(r, e);
    else
        http_complete_json(r, MHD_HTTP_CREATED, json_pack("{s:O}", "clones", names));
}

enum MHD_Result http_clone_domain(HttpRequest *r, Domain *d, const char *arg)
{
    static const char *const allowed[] = {"name", "snapshot", "count", NULL};
    enum MHD_Result ret = MHD_NO;
    Error e = ERROR_NULL;
    json_t *body, *name, *snapshot, *count, *names = NULL;
    json_int_t n = 1;
    int k;

    body = http_read_body(r, false, &ret);
    if (!body)
        return ret;
    if (!fields_known(r, body, allowed, &ret)) {
        json_decref(body);
        return ret;
    }
    name = json_object_get(body, "name");
    snapshot = json_object_get(body, "snapshot");
    count = json_object_get(body, "count");
    if (!json_is_string(name))
        ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                 "'name' must be a string: the new domain's name");
    else if (snapshot && !json_is_string(snapshot))
        ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                 "'snapshot' must be a string: a snapshot of '%s'", d->config.name);
    else if (count && (!json_is_integer(count) || (n = json_integer_value(count)) < 1 ||
                       n > MANAGER_CLONE_COUNT_MAX))
        ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST, "'count' must be an integer 1..%u",
                                 MANAGER_CLONE_COUNT_MAX);
    else {
        k = manager_domain_clone(r->http->manager, d, json_string_value(name),
                                 snapshot ? json_string_value(snapshot) : NULL, (unsigned)n, cloned,
                                 r, &names, &e);
        json_decref(body);
        if (k == 0)
            return http_reply_json(r, MHD_HTTP_CREATED, json_pack("{s:o}", "clones", names));
        return hold(r, k, &e);
    }
    json_decref(body);
    return ret;
}
