/* /api/v1/networks: list and create hvd networks; /api/v1/networks/{network}: get and delete. */
#include <string.h>

#include "http-internal.h"

static json_t *network_json(Manager *m, Network *n)
{
    json_t *info = NULL;
    Error e = ERROR_NULL;

    (void)manager_network_info(m, n, &info, &e);
    return info;
}

enum MHD_Result http_list_networks(HttpRequest *r, Domain *unused, const char *arg)
{
    Manager *m = r->http->manager;
    json_t *list = json_array();

    for (size_t i = 0; list && i < m->n_networks; i++)
        (void)json_array_append_new(list, network_json(m, m->networks[i]));
    return http_reply_json(r, MHD_HTTP_OK, list);
}

enum MHD_Result http_create_network(HttpRequest *r, Domain *unused, const char *arg)
{
    Manager *m = r->http->manager;
    enum MHD_Result ret = MHD_NO;
    Error e = ERROR_NULL;
    char location[128];
    json_t *body;
    Network *n;

    body = http_read_body(r, false, &ret);
    if (!body)
        return ret;
    if (manager_network_create(m, body, &n, &e) < 0) {
        json_decref(body);
        return http_reply_error(r, &e);
    }
    json_decref(body);
    (void)snprintf(location, sizeof(location), "/api/v1/networks/%s", n->name);
    return http_reply_json_header(r, MHD_HTTP_CREATED, network_json(m, n), "Location", location);
}

enum MHD_Result http_get_network(HttpRequest *r, Domain *unused, const char *name)
{
    Manager *m = r->http->manager;
    Error e = ERROR_NULL;
    Network *n;

    if (manager_network_get(m, name, &n, &e) < 0)
        return http_reply_error(r, &e);
    return http_reply_json(r, MHD_HTTP_OK, network_json(m, n));
}

enum MHD_Result http_delete_network(HttpRequest *r, Domain *unused, const char *name)
{
    Manager *m = r->http->manager;
    Error e = ERROR_NULL;
    Network *n;

    if (manager_network_get(m, name, &n, &e) < 0 || manager_network_delete(m, n, &e) < 0)
        return http_reply_error(r, &e);
    return http_reply_text(r, MHD_HTTP_NO_CONTENT, "text/plain", "", 0);
}
