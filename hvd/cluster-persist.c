/* What this host must still be able to fence after hvd restarts: the cluster's domains (name
 * and UUID) as last read, in <state-dir>/cluster-domains.json, whose modification time is the
 * last keepalive etcd confirmed. A restarted hvd that gets no lease in time stops those domains
 * as a running one would. The file also names the lease, which a restarted hvd revokes once it
 * registered under its new one (the leader key under the old lease goes at once). */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cluster-internal.h"
#include "log.h"

#define CLUSTER_PERSIST_FILE "cluster-domains.json"

static char *persist_path(Cluster *c)
{
    char *path = NULL;

    if (asprintf(&path, "%s/" CLUSTER_PERSIST_FILE, c->manager->config->state_dir) < 0)
        return NULL;
    return path;
}

/* name -> uuid of every cluster domain in the view, and of those deleted from the cluster whose
 * local copy is still here (to be stopped and undefined). */
static json_t *domain_uuids(Cluster *c)
{
    json_t *map = json_object(), *dom, *uuid;
    const char *name;

    json_object_foreach (c->view.domains, name, dom) {
        const char *u = json_string_value(
            json_object_get(json_object_get(json_object_get(dom, "def"), "settings"), "uuid"));
        if (u)
            (void)json_object_set_new(map, name, json_string(u));
    }
    json_object_foreach (c->persisted, name, uuid) {
        Domain *d = manager_find(c->manager, name);
        if (!json_object_get(map, name) && d && streq(d->config.uuid, json_string_value(uuid)))
            (void)json_object_set(map, name, uuid);
    }
    return map;
}

void cluster_persist_view(Cluster *c)
{
    _cleanup_free_ char *path = persist_path(c), *tmp = NULL;
    json_t *map = domain_uuids(c);

    if (!path || !map || asprintf(&tmp, "%s.tmp", path) < 0) {
        json_decref(map);
        return (void)log_oom();
    }
    if (c->persisted && json_equal(c->persisted, map) && c->persisted_lease == c->lease) {
        json_decref(map);
        cluster_persist_touch(c);
        return;
    }
    json_t *file = json_pack("{s:I,s:O}", "lease", (json_int_t)c->lease, "domains", map);
    if (!file || json_dump_file(file, tmp, JSON_COMPACT | JSON_SORT_KEYS) < 0 ||
        rename(tmp, path) < 0) {
        log_warning_errno(errno, "Cluster: failed to write %s: %m", path);
        (void)unlink(tmp);
        json_decref(file);
        json_decref(map);
        return;
    }
    json_decref(file);
    json_decref(c->persisted);
    c->persisted = map;
    c->persisted_lease = c->lease;
}

void cluster_persist_touch(Cluster *c)
{
    _cleanup_free_ char *path = persist_path(c);

    if (c->persisted && path)
        (void)utimensat(AT_FDCWD, path, NULL, 0);
}

void cluster_persist_load(Cluster *c)
{
    _cleanup_free_ char *path = persist_path(c);
    struct timespec now_real;
    struct stat st;
    uint64_t now = cluster_now(c), age_us;
    json_t *file, *map, *uuid;
    const char *name;

    c->lease_renewed_us = now;
    if (!path || stat(path, &st) < 0 || !(file = json_load_file(path, 0, NULL)))
        return;
    map = json_incref(json_object_get(file, "domains"));
    c->stale_lease = json_integer_value(json_object_get(file, "lease"));
    json_decref(file);
    if (!json_is_object(map)) {
        json_decref(map);
        return;
    }
    json_object_foreach (map, name, uuid)
        if (json_is_string(uuid))
            (void)json_object_set_new(
                c->view.domains, name,
                json_pack("{s:{s:{s:O}},s:i}", "def", "settings", "uuid", uuid, "rev", 0));
    c->persisted = map;
    /* The lease was last confirmed when the file was last touched: fencing counts from then. */
    (void)clock_gettime(CLOCK_REALTIME, &now_real);
    age_us = (uint64_t)MAX((now_real.tv_sec - st.st_mtim.tv_sec) * 1000000ll +
                               (now_real.tv_nsec - st.st_mtim.tv_nsec) / 1000,
                           0ll);
    c->lease_renewed_us = now - MIN(age_us, now);
    log_info("Cluster: %zu cluster domains known from before; without a lease they stop %.1f s "
             "from now.",
             json_object_size(map),
             (double)(int64_t)(c->lease_renewed_us + c->config.fence_s * 1000000ull - now) / 1e6);
}
