/* Fencing that does not need hvd: the VMM of each HA domain this host owns runs a watchdog that
 * hvd renews while etcd confirms its lease, to end fence-watchdog seconds after the last
 * keepalive etcd confirmed. Should hvd stop, hang or be stopped, the VMMs end their guests by
 * themselves before the lease can expire and the leader restart them elsewhere. Other domains
 * (local ones, cluster domains without HA) are never armed. */
#include <time.h>

#include "cluster-internal.h"
#include "log.h"

static uint64_t monotonic_us(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

/* Whether d is an instance of cluster domain name whose watchdog this host keeps. */
static bool keeps_watchdog(Cluster *c, const char *name, const json_t *dom, Domain *d)
{
    const json_t *def = json_object_get(dom, "def");
    const char *owner = cluster_view_owner(&c->view, name);

    return d && json_is_true(json_object_get(def, "ha")) && owner && streq(owner, c->config.host) &&
           domain_state_is_active(d->state) && d->state != STATE_STARTING && d->runtime.pid > 0;
}

/* Renews the watchdog of d to end at deadline_us; returns what to remember of it (a new
 * object), or NULL to try again at the next tick. */
static json_t *renew(Cluster *c, Domain *d, const json_t *armed, uint64_t deadline_us)
{
    uint64_t now = monotonic_us();
    Error e = ERROR_NULL;
    int r;

    if (json_integer_value(json_object_get(armed, "pid")) == d->runtime.pid &&
        (json_is_false(json_object_get(armed, "supported")) ||
         (uint64_t)json_integer_value(json_object_get(armed, "deadline")) == deadline_us))
        return json_incref((json_t *)armed);
    if (deadline_us <= now + 1000)
        return NULL; /* past already: hvd's own fencing stops it */
    r = manager_domain_watchdog(c->manager, d, (unsigned)((deadline_us - now) / 1000), &e);
    if (r < 0) {
        log_debug("Cluster: could not renew the watchdog of %s: %s", d->config.name, e.message);
        return NULL;
    }
    if (r == 0)
        log_warning("Cluster: HA domain %s has no fencing watchdog (its driver has none): if hvd "
                    "stops while it runs, it may run on two hosts once the lease expires.",
                    d->config.name);
    else if (!armed || json_integer_value(json_object_get(armed, "pid")) != d->runtime.pid)
        log_info("Cluster: armed the fencing watchdog of HA domain %s: it ends %u s after the "
                 "last keepalive etcd confirmed unless hvd renews it.",
                 d->config.name, c->config.watchdog_s);
    return json_pack("{s:I,s:I,s:b}", "pid", (json_int_t)d->runtime.pid, "deadline",
                     (json_int_t)deadline_us, "supported", r > 0);
}

void cluster_fence_tick(Cluster *c)
{
    uint64_t deadline = c->lease_renewed_us + c->config.watchdog_s * 1000000ull;
    json_t *kept = json_object(), *dom;
    const char *name;

    if (!kept)
        return (void)log_oom();
    /* Without a lease nothing is renewed: the deadlines set stand, and hvd fences first. */
    if (c->lease)
        json_object_foreach (c->view.domains, name, dom) {
            Domain *d = cluster_local_copy(c, name, json_object_get(dom, "def"));
            json_t *armed = json_object_get(c->watchdogs, name), *now;

            if (!keeps_watchdog(c, name, dom, d))
                continue;
            now = renew(c, d, armed, deadline);
            if (now)
                (void)json_object_set_new(kept, name, now);
        }
    json_decref(c->watchdogs);
    c->watchdogs = kept;
}
