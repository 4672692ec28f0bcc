/* /api/v1 routes: domains (list, create, get, change, delete), actions, stats, console, networks
 * (handlers in http-network.c), host, history (http-history.c), the event log
 * (http-event-log.c). */
#include <string.h>

#include "api-names.h"
#include "http-internal.h"
#include "http-route.h"
#include "parse-util.h"

#define CONSOLE_DEFAULT_BYTES 16384u

json_t *http_read_body(HttpRequest *r, bool optional, enum MHD_Result *ret)
{
    const char *type = http_header(r, "Content-Type");
    json_error_t jerr;
    json_t *body;

    if (r->body_len == 0) {
        if (optional)
            return json_object();
        *ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                  "the request needs a JSON object as its body");
        return NULL;
    }
    if (!type || !(strneq(type, "application/json", 16) &&
                   (type[16] == 0 || type[16] == ';' || type[16] == ' '))) {
        *ret = http_reply_problem(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                  "the body must be sent as application/json, not %s",
                                  type ? type : "without a Content-Type");
        return NULL;
    }
    body = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        *ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                  "the body is not valid JSON: %s (line %d, column %d)", jerr.text,
                                  jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        *ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST, "the body must be a JSON object");
        return NULL;
    }
    return body;
}

static json_t *domain_json(Domain *d)
{
    json_t *obj = json_object();

    if (obj && domain_to_json(d, obj) < 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static bool domain_listed(const Domain *d, DomainState state, DriverKind driver)
{
    return (state < 0 || d->state == state) && (driver < 0 || d->config.driver == driver);
}

/* Answers the JSON array of the domains in state and on driver (_INVALID: any). Each domain's
 * text is cached (domain_json_text) and remade only when it changed: a list of thousands is a
 * concatenation. */
static enum MHD_Result reply_domain_list(HttpRequest *r, DomainState state, DriverKind driver)
{
    Manager *m = r->http->manager;
    _cleanup_free_ char *buf = NULL;
    size_t total = 2, n = 0, len;

    for (size_t i = 0; i < m->n_domains; i++) {
        if (!domain_listed(m->domains[i], state, driver))
            continue;
        if (!domain_json_text(m->domains[i], &len))
            return MHD_NO;
        total += len + 1;
    }
    buf = malloc(total);
    if (!buf)
        return MHD_NO;
    buf[n++] = '[';
    for (size_t i = 0; i < m->n_domains; i++) {
        const char *text;
        if (!domain_listed(m->domains[i], state, driver))
            continue;
        text = domain_json_text(m->domains[i], &len);
        if (n > 1)
            buf[n++] = ',';
        memcpy(buf + n, text, len);
        n += len;
    }
    buf[n++] = ']';
    return http_reply_owned_text(r, MHD_HTTP_OK, "application/json", TAKE_PTR(buf), n);
}

static enum MHD_Result list_domains(HttpRequest *r, Domain *unused, const char *arg)
{
    const char *state_arg = http_query(r, "state"), *driver_arg = http_query(r, "driver");
    DomainState state = _DOMAIN_STATE_INVALID;
    DriverKind driver = _DRIVER_KIND_INVALID;

    if (state_arg && (state = domain_state_from_string(state_arg)) < 0)
        return http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                  "'state' must be one of shutoff, starting, running, paused, "
                                  "stopping, crashed; got '%.64s'",
                                  state_arg);
    if (driver_arg && (driver = driver_kind_from_string(driver_arg)) < 0)
        return http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                  "'driver' must be kvm or minihv; got '%.64s'", driver_arg);
    return reply_domain_list(r, state, driver);
}

static enum MHD_Result create_domain(HttpRequest *r, Domain *unused, const char *arg)
{
    enum MHD_Result ret = MHD_NO;
    Error e = ERROR_NULL;
    char location[128];
    json_t *body;
    Domain *d;

    body = http_read_body(r, false, &ret);
    if (!body)
        return ret;
    if (manager_domain_create(r->http->manager, body, &d, &e) < 0) {
        json_decref(body);
        return http_reply_error(r, &e);
    }
    json_decref(body);
    (void)snprintf(location, sizeof(location), "/api/v1/domains/%s", d->config.name);
    return http_reply_json_header(r, MHD_HTTP_CREATED, domain_json(d), "Location", location);
}

static void action_done(void *userdata, Domain *d, const Error *e)
{
    HttpRequest *r = userdata;

    if (e)
        http_complete_error(r, e);
    else
        /* 202 while the guest still has to act on the request (a shutdown in progress). */
        http_complete_json(r, d && d->state == STATE_STOPPING ? MHD_HTTP_ACCEPTED : MHD_HTTP_OK,
                           d ? domain_json(d) : json_object());
}

static enum MHD_Result run_action(HttpRequest *r, Domain *d, const char *name)
{
    DomainAction action = domain_action_from_string(name);
    enum MHD_Result ret = MHD_NO;
    unsigned timeout_s = 0;
    bool force = false, fresh = false;
    const char *key;
    Error e = ERROR_NULL;
    json_t *body, *v;
    int k;

    if (action < 0)
        return http_reply_problem(r, MHD_HTTP_NOT_FOUND,
                                  "unknown action '%.64s': use start, shutdown, destroy, pause, "
                                  "resume, reboot or save",
                                  name);
    body = http_read_body(r, true, &ret);
    if (!body)
        return ret;
    json_object_foreach (body, key, v) {
        bool takes_timeout = action == ACTION_SHUTDOWN || action == ACTION_REBOOT;
        if (action == ACTION_REBOOT && streq(key, "force")) {
            if (!json_is_boolean(v)) {
                json_decref(body);
                return http_reply_problem(r, MHD_HTTP_BAD_REQUEST, "'force' must be a boolean");
            }
            force = json_is_true(v);
            continue;
        }
        if (action == ACTION_START && streq(key, "fresh")) {
            if (!json_is_boolean(v)) {
                json_decref(body);
                return http_reply_problem(r, MHD_HTTP_BAD_REQUEST, "'fresh' must be a boolean");
            }
            fresh = json_is_true(v);
            continue;
        }
        if (!takes_timeout || !streq(key, "timeout_s")) {
            /* key belongs to body: answer before letting go of it. */
            ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST, "unknown field '%.64s' for %s", key,
                                     name);
            json_decref(body);
            return ret;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > HVD_SHUTDOWN_TIMEOUT_MAX_S) {
            json_decref(body);
            return http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                      "'timeout_s' must be an integer 0..%u (0: the default)",
                                      HVD_SHUTDOWN_TIMEOUT_MAX_S);
        }
        timeout_s = (unsigned)json_integer_value(v);
    }
    json_decref(body);

    if (action == ACTION_REBOOT)
        k = manager_domain_reboot(r->http->manager, d, timeout_s, force, action_done, r, &e);
    else if (action == ACTION_START)
        k = manager_domain_start(r->http->manager, d, fresh, action_done, r, &e);
    else
        k = manager_domain_action(r->http->manager, d, action, timeout_s, action_done, r, &e);
    if (k < 0)
        return http_reply_error(r, &e);
    if (k > 0) {
        http_wait(r);
        return MHD_YES;
    }
    return http_reply_json(r, d->state == STATE_STOPPING ? MHD_HTTP_ACCEPTED : MHD_HTTP_OK,
                           domain_json(d));
}

static void domain_info_done(void *userdata, Domain *d, json_t *info)
{
    HttpRequest *r = userdata;
    Error e = ERROR_NULL;

    if (!info) {
        (void)error_setf(&e, ERROR_NO_SUCH_DOMAIN, "the domain went away, or hvd is stopping");
        http_complete_error(r, &e);
        return;
    }
    http_complete_json(r, MHD_HTTP_OK, json_incref(info));
}

/* Answers with d's information after its driver refreshed the numbers (bounded by the driver),
 * or at once when they are fresh; done builds the answer. */
static enum MHD_Result answer_info(HttpRequest *r, Domain *d, ManagerInfoDone done)
{
    Error e = ERROR_NULL;
    int k;

    k = manager_domain_info_fresh(r->http->manager, d, done, r, &e);
    if (k < 0)
        return http_reply_error(r, &e);
    if (k == 0)
        return http_reply_completed(r);
    http_wait(r);
    return MHD_YES;
}

static enum MHD_Result get_domain(HttpRequest *r, Domain *d, const char *arg)
{
    return answer_info(r, d, domain_info_done);
}

static enum MHD_Result patch_domain(HttpRequest *r, Domain *d, const char *arg)
{
    enum MHD_Result ret = MHD_NO;
    Error e = ERROR_NULL;
    json_t *body;
    int k;

    body = http_read_body(r, false, &ret);
    if (!body)
        return ret;
    k = manager_domain_update(r->http->manager, d, body, &e);
    json_decref(body);
    if (k < 0)
        return http_reply_error(r, &e);
    return http_reply_json(r, MHD_HTTP_OK, domain_json(d));
}

static enum MHD_Result delete_domain(HttpRequest *r, Domain *d, const char *arg)
{
    Error e = ERROR_NULL;

    if (manager_domain_delete(r->http->manager, d, &e) < 0)
        return http_reply_error(r, &e);
    return http_reply_text(r, MHD_HTTP_NO_CONTENT, "text/plain", "", 0);
}

static void domain_stats_done(void *userdata, Domain *d, json_t *info)
{
    HttpRequest *r = userdata;

    if (!info) {
        domain_info_done(r, d, info);
        return;
    }
    http_complete_json(r, MHD_HTTP_OK,
                       json_pack("{s:s, s:s, s:O}", "name", d->config.name, "state",
                                 domain_state_to_string(d->state), "stats",
                                 json_object_get(info, "stats") ?: json_object()));
}

static enum MHD_Result domain_stats(HttpRequest *r, Domain *d, const char *arg)
{
    if (!domain_state_is_active(d->state))
        return http_reply_problem(r, MHD_HTTP_CONFLICT, "domain '%s' is %s; it has no statistics",
                                  d->config.name, domain_state_to_string(d->state));
    return answer_info(r, d, domain_stats_done);
}

/* The console device of ?device= (ttyS0 when absent); false when it names none. */
static bool query_device(HttpRequest *r, ConsoleDevice *ret)
{
    const char *name = http_query(r, "device");

    *ret = name ? console_device_from_string(name) : CONSOLE_SERIAL;
    return *ret >= 0;
}

static enum MHD_Result bad_device(HttpRequest *r)
{
    return http_reply_problem(r, MHD_HTTP_BAD_REQUEST, "'device' must be ttyS0 or hvc0");
}

static enum MHD_Result console_input(HttpRequest *r, Domain *d, const char *arg)
{
    enum MHD_Result ret = MHD_NO;
    Error e = ERROR_NULL;
    ConsoleDevice device;
    const char *key;
    json_t *body, *v, *data = NULL;
    int k;

    if (!query_device(r, &device))
        return bad_device(r);
    body = http_read_body(r, false, &ret);
    if (!body)
        return ret;
    json_object_foreach (body, key, v)
        if (!streq(key, "data")) {
            ret = http_reply_problem(r, MHD_HTTP_BAD_REQUEST, "unknown field '%.64s'", key);
            json_decref(body);
            return ret;
        }
    data = json_object_get(body, "data");
    if (!json_is_string(data)) {
        json_decref(body);
        return http_reply_problem(r, MHD_HTTP_BAD_REQUEST,
                                  "'data' must be a string (the bytes to type)");
    }
    k = manager_domain_console_write(r->http->manager, d, device, json_string_value(data),
                                     json_string_length(data), &e);
    json_decref(body);
    if (k < 0)
        return http_reply_error(r, &e);
    return http_reply_text(r, MHD_HTTP_NO_CONTENT, "text/plain", "", 0);
}

static enum MHD_Result domain_console(HttpRequest *r, Domain *d, const char *arg)
{
    const char *bytes_arg = http_query(r, "bytes");
    unsigned bytes = CONSOLE_DEFAULT_BYTES;
    _cleanup_free_ char *text = NULL;
    Error e = ERROR_NULL;
    ConsoleDevice device;
    size_t len;

    if (bytes_arg && parse_uint(bytes_arg, 1, HVD_CONSOLE_TAIL_MAX, &bytes) < 0)
        return http_reply_problem(r, MHD_HTTP_BAD_REQUEST, "'bytes' must be 1..%u, got '%.32s'",
                                  HVD_CONSOLE_TAIL_MAX, bytes_arg);
    if (!query_device(r, &device))
        return bad_device(r);
    if (manager_domain_console_tail(r->http->manager, d, device, bytes, &text, &len, &e) < 0)
        return http_reply_error(r, &e);
    /* The bytes as the guest wrote them, as over D-Bus. */
    return http_reply_text(r, MHD_HTTP_OK, "application/octet-stream", text, len);
}

static enum MHD_Result host_route(HttpRequest *r, Domain *d, const char *arg)
{
    return http_reply_json(r, MHD_HTTP_OK, manager_host_view(r->http->manager));
}

static enum MHD_Result events_route(HttpRequest *r, Domain *d, const char *arg)
{
    return http_events_serve(r);
}

static enum MHD_Result openapi_route(HttpRequest *r, Domain *d, const char *arg)
{
    return http_openapi_serve(r);
}

static enum MHD_Result metrics_route(HttpRequest *r, Domain *d, const char *arg)
{
    return http_metrics_serve(r);
}

/* Names the client of r to the manager as who asked for the change it is making. */
static void http_name_caller(HttpRequest *r)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char address[INET6_ADDRSTRLEN], caller[INET6_ADDRSTRLEN + 16];

    http_address_text(info ? info->client_addr : NULL, address);
    (void)snprintf(caller, sizeof(caller), "%s over HTTP", address);
    manager_set_caller(r->http->manager, caller);
}

typedef struct Route {
    const char *pattern; /* "{name}" matches a domain (404 when absent), "{action}" and
                          * "{network}" a segment */
    const char *method;
    bool mutate;
    enum MHD_Result (*handler)(HttpRequest *r, Domain *d, const char *arg);
} Route;

/* Every route hvd serves; docs/openapi.json documents each (a test compares the two). The
 * dashboard's static files answer any other GET outside /api/. */
static const Route routes[] = {
    {"/api/v1/domains", "GET", false, list_domains},
    {"/api/v1/domains", "POST", true, create_domain},
    {"/api/v1/domains/{name}", "GET", false, get_domain},
    {"/api/v1/domains/{name}", "PATCH", true, patch_domain},
    {"/api/v1/domains/{name}", "DELETE", true, delete_domain},
    /* before the generic action route, which would take them */
    {"/api/v1/domains/{name}/actions/migrate", "POST", true, http_migrate_domain},
    {"/api/v1/domains/{name}/actions/migrate-cancel", "POST", true, http_migrate_cancel},
    {"/api/v1/migrations", "POST", true, http_migration_admit},
    {"/api/v1/domains/{name}/actions/{action}", "POST", true, run_action},
    {"/api/v1/domains/{name}/stats", "GET", false, domain_stats},
    {"/api/v1/domains/{name}/history", "GET", false, http_domain_history},
    {"/api/v1/domains/{name}/console", "GET", false, domain_console},
    {"/api/v1/domains/{name}/console", "POST", true, console_input},
    {"/api/v1/domains/{name}/vnc", "GET", false, http_domain_vnc},
    {"/api/v1/networks", "GET", false, http_list_networks},
    {"/api/v1/networks", "POST", true, http_create_network},
    {"/api/v1/networks/{network}", "GET", false, http_get_network},
    {"/api/v1/networks/{network}", "DELETE", true, http_delete_network},
    {"/api/v1/host", "GET", false, host_route},
    {"/api/v1/host/history", "GET", false, http_host_history},
    {"/api/v1/events", "GET", false, events_route},
    {"/api/v1/events/log", "GET", false, http_event_log},
    {"/api/v1/openapi.json", "GET", false, openapi_route},
    {"/metrics", "GET", false, metrics_route},
    {"/api/v1/domains/{name}/snapshots", "GET", false, http_list_snapshots},
    {"/api/v1/domains/{name}/snapshots", "POST", true, http_create_snapshot},
    {"/api/v1/domains/{name}/snapshots/{snapshot}", "DELETE", true, http_delete_snapshot},
    {"/api/v1/domains/{name}/snapshots/{snapshot}/revert", "POST", true, http_revert_snapshot},
    {"/api/v1/domains/{name}/clone", "POST", true, http_clone_domain},
    {"/api/v1/cluster/hosts", "GET", false, http_cluster_hosts},
    {"/api/v1/cluster/domains", "GET", false, http_cluster_domains},
    {"/api/v1/cluster/domains", "POST", true, http_cluster_create},
    {"/api/v1/cluster/domains/{domain}", "DELETE", true, http_cluster_delete},
    {"/api/v1/cluster/domains/{domain}/move", "POST", true, http_cluster_move},
    {"/api/v1/cluster/hosts/{host}/drain", "POST", true, http_cluster_drain},
    {"/api/v1/cluster/hosts/{host}/drain", "DELETE", true, http_cluster_undrain},
};

enum MHD_Result http_route(HttpRequest *r)
{
    char name[DOMAIN_NAME_MAX + 1] = "", arg[DOMAIN_NAME_MAX + 1] = "", allow[64] = "";
    const char *method = streq(r->method, "HEAD") ? "GET" : r->method;
    enum MHD_Result ret;
    Error e = ERROR_NULL;
    Domain *d = NULL;

    for (size_t i = 0; i < ELEMENTSOF(routes); i++) {
        const Route *rt = &routes[i];

        if (!http_route_match(rt->pattern, r->url, name, arg))
            continue;
        if (!streq(rt->method, method)) {
            size_t used = strlen(allow);
            (void)snprintf(allow + used, sizeof(allow) - used, "%s%s", used ? ", " : "",
                           rt->method);
            continue;
        }
        if (!http_authorize(r, rt->mutate, &ret))
            return ret;
        if (name[0] && manager_get(r->http->manager, name, &d, &e) < 0)
            return http_reply_error(r, &e);
        if (!rt->mutate)
            return rt->handler(r, d, arg);
        http_name_caller(r);
        ret = rt->handler(r, d, arg);
        manager_set_caller(r->http->manager, NULL);
        return ret;
    }
    if (allow[0])
        return http_reply_not_allowed(r, allow);
    if (strneq(r->url, "/api/", 5))
        return http_reply_problem(r, MHD_HTTP_NOT_FOUND, "no such resource: %.200s%s", r->url,
                                  strneq(r->url, "/api/v1/", 8) ? ""
                                                                : " (the API is under /api/v1/)");
    if (!streq(method, "GET"))
        return http_reply_not_allowed(r, "GET");
    /* The dashboard's files hold no data: served to anyone, so a browser from beyond loopback
     * can load the page, which then asks for the token the API wants. */
    return http_static_serve(r, r->url);
}
