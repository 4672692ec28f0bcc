/* /api/v1/cluster: the hosts and the domains of the cluster (read fresh from etcd), the
 * creation and deletion of a cluster domain, and draining a host. Without [cluster] each
 * answers 409. */
#include "cluster.h"
#include "http-internal.h"

static void cluster_done(void *userdata, json_t *result, const Error *e)
{
    HttpRequest *r = userdata;

    if (e)
        http_complete_error(r, e);
    else
        http_complete_json(r, MHD_HTTP_OK, json_incref(result));
}

static void created_done(void *userdata, json_t *result, const Error *e)
{
    HttpRequest *r = userdata;

    if (e)
        http_complete_error(r, e);
    else /* 202 while it is not running yet (its owner still starting it) */
        http_complete_json(
            r,
            streq(json_string_value(json_object_get(result, "state")) ?: "", "running")
                ? MHD_HTTP_CREATED
                : MHD_HTTP_ACCEPTED,
            json_incref(result));
}

static Cluster *cluster_or_answer(HttpRequest *r, enum MHD_Result *ret)
{
    Error e = ERROR_NULL;

    if (r->http->manager->cluster)
        return r->http->manager->cluster;
    (void)error_setf(&e, ERROR_INVALID_STATE,
                     "this hvd is not part of a cluster (its configuration has no [cluster] "
                     "section)");
    *ret = http_reply_error(r, &e);
    return NULL;
}

static enum MHD_Result wait_or_fail(HttpRequest *r, int k, const Error *e)
{
    if (k < 0)
        return http_reply_error(r, e);
    http_wait(r);
    return MHD_YES;
}

enum MHD_Result http_cluster_hosts(HttpRequest *r, Domain *unused, const char *arg)
{
    enum MHD_Result ret = MHD_NO;
    Cluster *c = cluster_or_answer(r, &ret);
    Error e = ERROR_NULL;

    if (!c)
        return ret;
    return wait_or_fail(r, cluster_hosts(c, cluster_done, r, &e), &e);
}

enum MHD_Result http_cluster_domains(HttpRequest *r, Domain *unused, const char *arg)
{
    enum MHD_Result ret = MHD_NO;
    Cluster *c = cluster_or_answer(r, &ret);
    Error e = ERROR_NULL;

    if (!c)
        return ret;
    return wait_or_fail(r, cluster_domains(c, cluster_done, r, &e), &e);
}

static void deleted_done(void *userdata, json_t *result, const Error *e)
{
    HttpRequest *r = userdata;

    if (e)
        http_complete_error(r, e);
    else
        http_complete_json(r, MHD_HTTP_OK, json_incref(result));
}

enum MHD_Result http_cluster_delete(HttpRequest *r, Domain *unused, const char *name)
{
    enum MHD_Result ret = MHD_NO;
    Cluster *c = cluster_or_answer(r, &ret);
    Error e = ERROR_NULL;

    if (!c)
        return ret;
    return wait_or_fail(r, cluster_delete(c, name, deleted_done, r, &e), &e);
}

static enum MHD_Result drain(HttpRequest *r, const char *host, bool on)
{
    enum MHD_Result ret = MHD_NO;
    Cluster *c = cluster_or_answer(r, &ret);
    Error e = ERROR_NULL;

    if (!c)
        return ret;
    return wait_or_fail(r, cluster_drain(c, host, on, deleted_done, r, &e), &e);
}

enum MHD_Result http_cluster_drain(HttpRequest *r, Domain *unused, const char *host)
{
    return drain(r, host, true);
}

enum MHD_Result http_cluster_undrain(HttpRequest *r, Domain *unused, const char *host)
{
    return drain(r, host, false);
}

enum MHD_Result http_cluster_move(HttpRequest *r, Domain *unused, const char *name)
{
    enum MHD_Result ret = MHD_NO;
    Cluster *c = cluster_or_answer(r, &ret);
    Error e = ERROR_NULL;
    const char *key;
    json_t *body, *v;
    int k;

    if (!c)
        return ret;
    body = http_read_body(r, false, &ret);
    if (!body)
        return ret;
    json_object_foreach (body, key, v)
        if (!streq(key, "host")) {
            ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                     "unknown field '%.64s': a move takes only 'host'", key);
            json_decref(body);
            return ret;
        }
    v = json_object_get(body, "host");
    if (!json_is_string(v)) {
        json_decref(body);
        return http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                  "'host' (the host to move to) must be a string");
    }
    k = cluster_move(c, name, json_string_value(v), cluster_done, r, &e);
    json_decref(body);
    return wait_or_fail(r, k, &e);
}

enum MHD_Result http_cluster_create(HttpRequest *r, Domain *unused, const char *arg)
{
    enum MHD_Result ret = MHD_NO;
    Cluster *c = cluster_or_answer(r, &ret);
    Error e = ERROR_NULL;
    json_t *body;
    int k;

    if (!c)
        return ret;
    body = http_read_body(r, false, &ret);
    if (!body)
        return ret;
    k = cluster_create(c, body, created_done, r, &e);
    json_decref(body);
    return wait_or_fail(r, k, &e);
}
