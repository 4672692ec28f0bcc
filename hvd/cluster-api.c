/* What the surfaces ask of the cluster: the hosts and the domains, read fresh from etcd, and the
 * creation of a cluster domain, answered once its owner runs it or the leader refused it. */
#include <string.h>

#include "cluster-internal.h"
#include "domain-config.h"
#include "log.h"

typedef enum RequestKind {
    REQUEST_HOSTS,
    REQUEST_DOMAINS,
    REQUEST_CREATE,
    REQUEST_DELETE,
    REQUEST_DRAIN, /* waits until nothing but what is pinned there is left on the host */
    REQUEST_UNDRAIN,
    REQUEST_MOVE, /* waits until the domain runs again, on the target */
} RequestKind;

struct ClusterRequest {
    Cluster *cluster;
    ClusterRequest *next;
    RequestKind kind;
    ClusterDone done;
    void *userdata;
    EtcdCall *call;
    bool recorded; /* a create whose definition is in etcd: waiting for the outcome */
    int64_t recorded_revision;
    uint64_t deadline_us;
    json_t *tracked; /* a drain: the domains seen on the host, each until it runs elsewhere */
    char name[DOMAIN_NAME_MAX + 1];
    char target[DOMAIN_NAME_MAX + 1]; /* a move's */
    bool live_asked, live;            /* a move by live migration (asked, recorded) */
};

static void request_unlink(ClusterRequest *r)
{
    for (ClusterRequest **p = &r->cluster->requests; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
}

/* Answers r (result borrowed, or e) and frees it. */
static void request_finish(ClusterRequest *r, json_t *result, const Error *e)
{
    request_unlink(r);
    etcd_call_cancel(r->call);
    r->done(r->userdata, result, result ? NULL : e);
    json_decref(r->tracked);
    free(r);
}

static ClusterRequest *request_new(Cluster *c, RequestKind kind, ClusterDone done, void *userdata)
{
    ClusterRequest *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    *r = (ClusterRequest){
        .cluster = c, .next = c->requests, .kind = kind, .done = done, .userdata = userdata};
    c->requests = r;
    return r;
}

static json_t *hosts_json(Cluster *c, const ClusterView *v)
{
    json_t *list = json_array(), *reg;
    const char *name;

    json_object_foreach (v->hosts, name, reg) {
        json_t *entry = json_deep_copy(reg);
        (void)json_object_set_new(entry, "leader",
                                  json_boolean(v->leader && streq(v->leader, name)));
        (void)json_object_set_new(entry, "draining",
                                  json_boolean(json_object_get(v->draining, name) != NULL));
        (void)json_array_append_new(list, entry);
    }
    return list;
}

static json_t *domains_json(const ClusterView *v)
{
    json_t *list = json_array(), *dom;
    const char *name;

    json_object_foreach (v->domains, name, dom)
        (void)json_array_append_new(list, cluster_domain_entry(v, name));
    return list;
}

static void on_read(void *userdata, json_t *reply, const Error *etcd_error)
{
    ClusterRequest *r = userdata;
    ClusterView v = {};
    Error e = ERROR_NULL;
    json_t *result = NULL;

    r->call = NULL;
    if (!reply)
        cluster_error_from_etcd(&e, etcd_error);
    else if (cluster_view_parse(&v, reply) < 0)
        (void)error_setf(&e, ERROR_FAILED, "etcd's answer could not be read");
    else
        result = r->kind == REQUEST_HOSTS ? hosts_json(r->cluster, &v) : domains_json(&v);
    request_finish(r, result, &e);
    json_decref(result);
    cluster_view_done(&v);
}

static int read_request(Cluster *c, RequestKind kind, ClusterDone done, void *userdata, Error *e)
{
    ClusterRequest *r = request_new(c, kind, done, userdata);

    if (!r || etcd_call(c->etcd, "/v3/kv/range", etcd_range_request(CLUSTER_PREFIX, true), on_read,
                        r, &r->call) < 0) {
        if (r) {
            request_unlink(r);
            free(r);
        }
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    return 0;
}

int cluster_hosts(Cluster *c, ClusterDone done, void *userdata, Error *e)
{
    return read_request(c, REQUEST_HOSTS, done, userdata, e);
}

int cluster_domains(Cluster *c, ClusterDone done, void *userdata, Error *e)
{
    return read_request(c, REQUEST_DOMAINS, done, userdata, e);
}

static void on_recorded(void *userdata, json_t *reply, const Error *etcd_error)
{
    ClusterRequest *r = userdata;
    Error e = ERROR_NULL;

    r->call = NULL;
    if (!reply) {
        cluster_error_from_etcd(&e, etcd_error);
        request_finish(r, NULL, &e);
        return;
    }
    if (!json_is_true(json_object_get(reply, "succeeded"))) {
        (void)error_setf(&e, ERROR_DOMAIN_EXISTS, "a cluster domain named %s already exists",
                         r->name);
        request_finish(r, NULL, &e);
        return;
    }
    log_info("Cluster: recorded domain %s; waiting for the leader to place it.", r->name);
    r->recorded = true;
    r->recorded_revision = etcd_reply_revision(reply);
    r->deadline_us = cluster_now(r->cluster) + CLUSTER_CREATE_WAIT_US;
    cluster_kick(r->cluster);
}

/* The definition to record: body's settings with a UUID, plus ha (and ha_from: "snapshot"
 * when an HA restart starts from the latest snapshot) and the pinned host. */
static json_t *definition_from_body(const json_t *body, Error *e)
{
    json_t *settings = json_deep_copy(body), *ha = json_object_get(body, "ha");
    json_t *host = json_object_get(body, "host"), *def;
    bool from_snapshot;
    char uuid[DOMAIN_UUID_STRING_MAX];
    DomainConfig cfg;

    if (!json_is_object(body))
        return json_decref(settings),
               error_setf(e, ERROR_INVALID_ARGUMENT, "the body must be a JSON object"), NULL;
    if (ha && !json_is_boolean(ha))
        return json_decref(settings),
               error_setf(e, ERROR_INVALID_ARGUMENT, "'ha' must be a boolean"), NULL;
    if (host && (!json_is_string(host) || !domain_name_is_valid(json_string_value(host))))
        return json_decref(settings),
               error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'host' must be a host name (1-64 characters of A-Z, a-z, 0-9, '_', "
                          "'.' and '-')"),
               NULL;
    if (cluster_ha_from_check(body, &from_snapshot, e) < 0)
        return json_decref(settings), NULL;
    (void)json_object_del(settings, "ha");
    (void)json_object_del(settings, "host");
    (void)json_object_del(settings, "ha_from");
    if (!json_object_get(settings, "uuid")) {
        if (domain_uuid_generate(uuid) < 0)
            return json_decref(settings), error_set_errno(e, -EIO, "Failed to generate a UUID"),
                   NULL;
        (void)json_object_set_new(settings, "uuid", json_string(uuid));
    }
    if (domain_config_from_json(settings, &cfg, e) < 0)
        return json_decref(settings), NULL;
    /* The canonical spelling, so every host's copy has the same UUID. */
    (void)json_object_set_new(settings, "uuid", json_string(cfg.uuid));
    domain_config_done(&cfg);
    def = json_pack("{s:o,s:b,s:O*}", "settings", settings, "ha", json_is_true(ha), "host", host);
    if (def && from_snapshot)
        (void)json_object_set_new(def, "ha_from", json_string("snapshot"));
    return def;
}

int cluster_create(Cluster *c, const json_t *body, ClusterDone done, void *userdata, Error *e)
{
    _cleanup_free_ char *key = NULL, *text = NULL;
    json_t *def = definition_from_body(body, e), *compare, *put;
    char name[DOMAIN_NAME_MAX + 1];
    ClusterRequest *r;

    if (!def)
        return e->errnum;
    (void)snprintf(name, sizeof(name), "%s",
                   json_string_value(json_object_get(json_object_get(def, "settings"), "name")));
    if (manager_find(c->manager, name)) {
        json_decref(def);
        return error_setf(e, ERROR_DOMAIN_EXISTS,
                          "a local domain named %s exists on this host already", name);
    }
    key = cluster_key(CLUSTER_DOMAINS_PREFIX, name);
    text = json_dumps(def, JSON_COMPACT);
    json_decref(def);
    r = key && text ? request_new(c, REQUEST_CREATE, done, userdata) : NULL;
    if (!r)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    (void)snprintf(r->name, sizeof(r->name), "%s", name);
    compare = json_pack("[o]", etcd_compare(key, "CREATE", "EQUAL", 0, NULL));
    put = json_pack("[{s:o}]", "request_put", etcd_put_request(key, text, 0));
    if (etcd_call(c->etcd, "/v3/kv/txn", etcd_txn_request(compare, put, NULL), on_recorded, r,
                  &r->call) < 0) {
        request_unlink(r);
        free(r);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    return 0;
}

static void on_deleted(void *userdata, json_t *reply, const Error *etcd_error)
{
    ClusterRequest *r = userdata;
    Error e = ERROR_NULL;
    json_t *result;

    r->call = NULL;
    if (!reply) {
        cluster_error_from_etcd(&e, etcd_error);
        request_finish(r, NULL, &e);
        return;
    }
    if (!json_is_true(json_object_get(reply, "succeeded"))) {
        (void)error_setf(&e, ERROR_NO_SUCH_DOMAIN, "no cluster domain named %s", r->name);
        request_finish(r, NULL, &e);
        return;
    }
    log_info("Cluster: deleted domain %s; its host stops and undefines it.", r->name);
    result = json_pack("{s:s}", "name", r->name);
    cluster_kick(r->cluster);
    request_finish(r, result, NULL);
    json_decref(result);
}

int cluster_delete(Cluster *c, const char *name, ClusterDone done, void *userdata, Error *e)
{
    _cleanup_free_ char *key = cluster_key(CLUSTER_DOMAINS_PREFIX, name);
    _cleanup_free_ char *owner = cluster_key(CLUSTER_OWNERS_PREFIX, name);
    _cleanup_free_ char *snapshot = cluster_key(CLUSTER_SNAPSHOTS_PREFIX, name);
    json_t *compare, *ops;
    ClusterRequest *r;

    if (!domain_name_is_valid(name))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s' is not a valid domain name", name);
    r = key && owner && snapshot ? request_new(c, REQUEST_DELETE, done, userdata) : NULL;
    if (!r)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    (void)snprintf(r->name, sizeof(r->name), "%s", name);
    compare = json_pack("[o]", etcd_compare(key, "VERSION", "GREATER", 0, NULL));
    ops = json_pack("[{s:o},{s:o},{s:o}]", "request_delete_range", etcd_delete_request(key),
                    "request_delete_range", etcd_delete_request(owner), "request_delete_range",
                    etcd_delete_request(snapshot));
    if (etcd_call(c->etcd, "/v3/kv/txn", etcd_txn_request(compare, ops, NULL), on_deleted, r,
                  &r->call) < 0) {
        request_unlink(r);
        free(r);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    return 0;
}

#define CLUSTER_DRAIN_WAIT_US (60 * 1000 * 1000ull)

static void on_drain_set(void *userdata, json_t *reply, const Error *etcd_error)
{
    ClusterRequest *r = userdata;
    Cluster *c = r->cluster;
    Error e = ERROR_NULL;
    json_t *result;

    r->call = NULL;
    if (!reply) {
        cluster_error_from_etcd(&e, etcd_error);
        request_finish(r, NULL, &e);
        return;
    }
    if (r->kind == REQUEST_UNDRAIN) {
        log_info("Cluster: %s takes domains again.", r->name);
        result = json_pack("{s:s}", "host", r->name);
        cluster_kick(c);
        request_finish(r, result, NULL);
        json_decref(result);
        return;
    }
    log_info("Cluster: draining %s.", r->name);
    r->tracked = json_object();
    if (!r->tracked) {
        (void)error_set_errno(&e, -ENOMEM, "Out of memory");
        request_finish(r, NULL, &e);
        return;
    }
    r->recorded = true;
    r->recorded_revision = etcd_reply_revision(reply);
    r->deadline_us = cluster_now(c) + CLUSTER_DRAIN_WAIT_US;
    cluster_kick(c);
}

int cluster_drain(Cluster *c, const char *host, bool drain, ClusterDone done, void *userdata,
                  Error *e)
{
    _cleanup_free_ char *key = cluster_key(CLUSTER_DRAIN_PREFIX, host);
    ClusterRequest *r;
    json_t *body;

    if (!domain_name_is_valid(host))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s' is not a valid host name", host);
    if (drain && c->view_valid && !json_object_get(c->view.hosts, host))
        return error_setf(e, ERROR_NO_SUCH_DOMAIN, "no host named %s is in the cluster", host);
    r = key ? request_new(c, drain ? REQUEST_DRAIN : REQUEST_UNDRAIN, done, userdata) : NULL;
    if (!r)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    (void)snprintf(r->name, sizeof(r->name), "%s", host);
    body = drain ? etcd_put_request(key, "1", 0) : etcd_delete_request(key);
    if (etcd_call(c->etcd, drain ? "/v3/kv/put" : "/v3/kv/deleterange", body, on_drain_set, r,
                  &r->call) < 0) {
        request_unlink(r);
        free(r);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    return 0;
}

/* The outcome of a drain once the view shows one: true when r was answered. */
static bool drain_outcome(ClusterRequest *r)
{
    Cluster *c = r->cluster;
    json_t *left = json_array(), *moving = json_array(), *dom, *result;
    const char *name;
    bool done;
    Error e = ERROR_NULL;

    json_object_foreach (c->view.domains, name, dom) {
        json_t *owner = json_object_get(c->view.owners, name);
        const char *host = json_string_value(json_object_get(owner, "host"));
        const char *released = json_string_value(json_object_get(owner, "released_by"));
        const char *pinned =
            json_string_value(json_object_get(json_object_get(dom, "def"), "host"));

        if (pinned && streq(pinned, r->name) && host && streq(host, r->name))
            (void)json_array_append_new(left, json_string(name));
        else if ((host && streq(host, r->name)) || (released && streq(released, r->name))) {
            /* How it leaves, as last seen: by live migration, or stopped and started again. */
            const char *way = json_object_get(owner, "migrating_to") ? "live"
                              : released                             ? "cold"
                                         : json_string_value(json_object_get(r->tracked, name));
            (void)json_object_set_new(r->tracked, name, json_string(way ?: "cold"));
        }
    }
    /* Each domain seen on the host counts until it runs on another one (or was deleted). */
    json_t *v;
    json_object_foreach (r->tracked, name, v) {
        const char *host = cluster_view_owner(&c->view, name);
        const char *state = cluster_view_state(&c->view, name, NULL);
        if (json_object_get(c->view.domains, name) &&
            (!host || streq(host, r->name) || !state || !streq(state, "running")))
            (void)json_array_append_new(moving, json_string(name));
    }
    done = json_array_size(moving) == 0;
    if (!done && cluster_now(c) < r->deadline_us) {
        json_decref(left);
        json_decref(moving);
        return false;
    }
    if (done) {
        result =
            json_pack("{s:s,s:o,s:O}", "host", r->name, "pinned_there", left, "moved", r->tracked);
        request_finish(r, result, NULL);
        json_decref(result);
    } else {
        _cleanup_free_ char *names = json_dumps(moving, JSON_COMPACT);
        (void)error_setf(&e, ERROR_INSUFFICIENT_RESOURCES,
                         "%s is being drained, but after %llu s these domains found no room "
                         "elsewhere yet: %s",
                         r->name, CLUSTER_DRAIN_WAIT_US / 1000000, strna(names));
        request_finish(r, NULL, &e);
        json_decref(left);
    }
    json_decref(moving);
    return true;
}

#define CLUSTER_MOVE_WAIT_US (30 * 1000 * 1000ull)

static void on_move_recorded(void *userdata, json_t *reply, const Error *etcd_error)
{
    ClusterRequest *r = userdata;
    Error e = ERROR_NULL;

    r->call = NULL;
    if (!reply) {
        cluster_error_from_etcd(&e, etcd_error);
        request_finish(r, NULL, &e);
        return;
    }
    if (!json_is_true(json_object_get(reply, "succeeded"))) {
        (void)error_setf(&e, ERROR_INVALID_STATE,
                         "cluster domain %s changed hands meanwhile; try again", r->name);
        request_finish(r, NULL, &e);
        return;
    }
    log_info("Cluster: moving domain %s to %s.", r->name, r->target);
    r->live = r->live_asked;
    r->recorded = true;
    r->recorded_revision = etcd_reply_revision(reply);
    r->deadline_us = cluster_now(r->cluster) + CLUSTER_MOVE_WAIT_US;
    cluster_kick(r->cluster);
}

int cluster_move(Cluster *c, const char *name, const char *target, ClusterDone done, void *userdata,
                 Error *e)
{
    json_t *owner = json_object_get(c->view.owners, name);
    const char *host = json_string_value(json_object_get(owner, "host"));
    _cleanup_free_ char *key = cluster_key(CLUSTER_OWNERS_PREFIX, name), *value = NULL;
    char why[256];
    ClusterRequest *r;

    if (!domain_name_is_valid(target))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s' is not a valid host name", target);
    if (!c->view_valid)
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the cluster is unavailable: %s",
                          c->lease_error ?: "this host has no lease yet");
    if (!json_object_get(c->view.domains, name))
        return error_setf(e, ERROR_NO_SUCH_DOMAIN, "no cluster domain named %s", name);
    if (!host || !json_object_get(c->view.hosts, host))
        return error_setf(e, ERROR_INVALID_STATE,
                          "cluster domain %s does not run on a live host now", name);
    if (streq(host, target))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "cluster domain %s runs on %s already", name,
                          target);
    if (!cluster_host_can_take(c, target, name, why, sizeof(why)))
        return error_setf(e, ERROR_INSUFFICIENT_RESOURCES, "cluster domain %s cannot move: %s",
                          name, why);
    /* Live when the driver can and the target says where to reach it; cold otherwise. */
    bool live =
        cluster_migrate_supported(c,
                                  json_object_get(json_object_get(c->view.domains, name), "def")) &&
        json_is_string(json_object_get(json_object_get(c->view.hosts, target), "advertise"));
    if (json_object_get(owner, "migrating_to"))
        return error_setf(e, ERROR_INVALID_STATE, "cluster domain %s is being migrated already",
                          name);
    if (!key ||
        (live ? asprintf(&value, "%s%c%s", host, CLUSTER_MIGRATING, target)
              : asprintf(&value, "%c%s@%s", CLUSTER_RELEASED, host, target)) < 0 ||
        !(r = request_new(c, REQUEST_MOVE, done, userdata)))
        return error_set_errno(e, -ENOMEM, "Out of memory");
    (void)snprintf(r->name, sizeof(r->name), "%s", name);
    (void)snprintf(r->target, sizeof(r->target), "%s", target);
    r->live_asked = live;
    json_t *compare =
        json_pack("[o]", etcd_compare(key, "MOD", "EQUAL",
                                      json_integer_value(json_object_get(owner, "rev")), NULL));
    json_t *put = json_pack("[{s:o}]", "request_put", etcd_put_request(key, value, 0));
    if (etcd_call(c->etcd, "/v3/kv/txn", etcd_txn_request(compare, put, NULL), on_move_recorded, r,
                  &r->call) < 0) {
        request_unlink(r);
        free(r);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    return 0;
}

/* The outcome of a move once the view shows one: true when r was answered. */
static bool move_outcome(ClusterRequest *r)
{
    Cluster *c = r->cluster;
    const char *host = cluster_view_owner(&c->view, r->name);
    const char *state = cluster_view_state(&c->view, r->name, NULL);
    Error e = ERROR_NULL;
    json_t *entry;

    if (!json_object_get(c->view.domains, r->name)) {
        (void)error_setf(&e, ERROR_NO_SUCH_DOMAIN, "cluster domain %s was removed meanwhile",
                         r->name);
        request_finish(r, NULL, &e);
        return true;
    }
    json_t *owner = json_object_get(c->view.owners, r->name);
    json_t *failure = json_object_get(c->view.failures, r->name);
    if (r->live && host && !streq(host, r->target) && !json_object_get(owner, "migrating_to")) {
        /* The owner put it back: the migration failed, and it runs where it was. */
        if (failure && json_integer_value(json_object_get(failure, "rev")) > r->recorded_revision)
            (void)error_setf(&e, ERROR_FAILED,
                             "cluster domain %s stays on %s: the live migration to %s failed: %s",
                             r->name, host, r->target,
                             json_string_value(json_object_get(failure, "reason")));
        else
            (void)error_setf(&e, ERROR_FAILED, "cluster domain %s stays on %s: it changed hands",
                             r->name, host);
        request_finish(r, NULL, &e);
        return true;
    }
    if (json_object_get(owner, "migrating_to") && cluster_now(c) < r->deadline_us)
        return false; /* the live migration is under way */
    if (!(host && state && streq(state, "running")) && cluster_now(c) < r->deadline_us)
        return false;
    if (!host || !streq(host, r->target)) {
        (void)error_setf(&e, ERROR_FAILED,
                         "cluster domain %s did not get to %s: it is %s on %s (the leader's log "
                         "says why)",
                         r->name, r->target, strna(state), host ?: "no host yet");
        request_finish(r, NULL, &e);
        return true;
    }
    entry = cluster_domain_entry(&c->view, r->name);
    (void)json_object_set_new(entry, "moved", json_string(r->live ? "live" : "cold"));
    request_finish(r, entry, NULL);
    json_decref(entry);
    return true;
}

static void on_refusal_removed(void *userdata, json_t *reply, const Error *e)
{
    if (!reply)
        log_debug("Cluster: could not remove a refused definition: %s", e->message);
}

/* The outcome of a recorded create, once the view shows one: true when r was answered. */
static bool create_outcome(ClusterRequest *r)
{
    Cluster *c = r->cluster;
    json_t *dom = json_object_get(c->view.domains, r->name), *entry;
    const char *refused =
        json_string_value(json_object_get(json_object_get(dom, "def"), "refused"));
    Error e = ERROR_NULL;

    if (!dom) {
        (void)error_setf(&e, ERROR_NO_SUCH_DOMAIN, "cluster domain %s was removed meanwhile",
                         r->name);
        request_finish(r, NULL, &e);
        return true;
    }
    if (refused) {
        _cleanup_free_ char *key = cluster_key(CLUSTER_DOMAINS_PREFIX, r->name);
        json_t *compare =
            json_pack("[o]", etcd_compare(key, "MOD", "EQUAL",
                                          json_integer_value(json_object_get(dom, "rev")), NULL));
        json_t *del = json_pack("[{s:o}]", "request_delete_range", etcd_delete_request(key));
        (void)etcd_call(c->etcd, "/v3/kv/txn", etcd_txn_request(compare, del, NULL),
                        on_refusal_removed, NULL, NULL);
        (void)error_setf(&e, ERROR_INSUFFICIENT_RESOURCES, "%s", refused);
        request_finish(r, NULL, &e);
        return true;
    }
    const char *reason = NULL, *state = cluster_view_state(&c->view, r->name, &reason);
    if (state &&
        (streq(state, "crashed") || (streq(state, "shutoff") && reason &&
                                     (streq(reason, "failed") || streq(reason, "crashed"))))) {
        (void)error_setf(&e, ERROR_FAILED,
                         "cluster domain %s was placed on %s, which could not start it (%s/%s; "
                         "that host's log says why, and it tries again)",
                         r->name, cluster_view_owner(&c->view, r->name), state, reason);
        request_finish(r, NULL, &e);
        return true;
    }
    if (!(state && streq(state, "running")) && cluster_now(c) < r->deadline_us)
        return false;
    entry = cluster_domain_entry(&c->view, r->name);
    request_finish(r, entry, NULL);
    json_decref(entry);
    return true;
}

void cluster_requests_update(Cluster *c)
{
    for (ClusterRequest *r = c->requests, *next; r; r = next) {
        next = r->next;
        if (!r->recorded)
            continue;
        if (c->view_valid && c->view.revision >= r->recorded_revision)
            (void)(r->kind == REQUEST_DRAIN  ? drain_outcome(r)
                   : r->kind == REQUEST_MOVE ? move_outcome(r)
                                             : create_outcome(r));
        else if (cluster_now(c) >= r->deadline_us) {
            Error e = ERROR_NULL;
            (void)error_setf(&e, ERROR_DRIVER_UNAVAILABLE,
                             "cluster domain %s is recorded, but the cluster could not be read "
                             "since: %s",
                             r->name, c->lease_error ?: "this host has no lease");
            request_finish(r, NULL, &e);
        }
    }
}

void cluster_requests_free(Cluster *c)
{
    Error e = ERROR_NULL;

    (void)error_setf(&e, ERROR_FAILED, "hvd is stopping");
    while (c->requests)
        request_finish(c->requests, NULL, &e);
}
