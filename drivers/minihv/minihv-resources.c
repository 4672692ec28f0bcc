/* Resource enforcement of minihv domains: the cgroup subtree the driver owns, each instance's
 * groups from its settings, live changes, the memory-limit verdict, statistics and the sweep. */
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "cgroup-join.h"
#include "minihv-internal.h"
#include "time-util.h"

#define CGROUP_MOUNT "/sys/fs/cgroup"
/* Unclaimed groups whose processes were killed are removed again this often, this many times. */
#define LEFTOVER_RETRY_US (100 * USEC_PER_MSEC)
#define LEFTOVER_TRIES    50u

/* The service's own cgroup path (from the unified line of /proc/self/cgroup, or systemd's named
 * v1 hierarchy) when hvd runs as a systemd service, into buf; false otherwise. */
static bool service_cgroup(char *buf, size_t n)
{
    _cleanup_fclose_ FILE *f = NULL;
    char line[1024];
    bool found = false;

    if (!getenv("INVOCATION_ID") || !(f = fopen("/proc/self/cgroup", "re")))
        return false;
    while (!found && fgets(line, sizeof(line), f)) {
        const char *path = NULL;
        size_t len;

        line[strcspn(line, "\n")] = 0;
        if (strneq(line, "0::", 3))
            path = line + 3;
        else if (strstr(line, ":name=systemd:"))
            path = strstr(line, ":name=systemd:") + 14;
        len = path ? strlen(path) : 0;
        if (len > 8 && streq(path + len - 8, ".service")) {
            (void)snprintf(buf, n, "%s", path);
            found = true;
        }
    }
    return found;
}

/* Under systemd on cgroup v2, a delegated service cgroup may not hold processes once its
 * children get controllers: hvd moves itself into SERVICE/daemon first. */
static int leave_service_group(const char *service)
{
    char path[PATH_MAX], pid[32];
    _cleanup_close_ int fd = -EBADF;
    int len;

    if (access(CGROUP_MOUNT "/cgroup.controllers", F_OK) < 0)
        return 0; /* v1: a group may hold processes and have children */
    (void)snprintf(path, sizeof(path), CGROUP_MOUNT "%s/daemon", service);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return -errno;
    (void)strncat(path, "/cgroup.procs", sizeof(path) - strlen(path) - 1);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    len = snprintf(pid, sizeof(pid), "%d", (int)getpid());
    return write(fd, pid, (size_t)len) == len ? 0 : -errno;
}

void minihv_resources_open(MinihvDriver *md)
{
    const MinihvSettings *s = minihv_settings(md->drv);
    char subtree[PATH_MAX], service[1024];
    int r;

    if (s->resource_control == MINIHV_RESOURCES_NO) {
        md->cgroups_off = strdup("resource-control = no");
        return;
    }
    if (!streq(s->cgroup_root, "auto"))
        (void)snprintf(subtree, sizeof(subtree), "%s", s->cgroup_root);
    else if (service_cgroup(service, sizeof(service))) {
        (void)snprintf(subtree, sizeof(subtree), "%s/domains", service);
        r = leave_service_group(service);
        if (r < 0) {
            (void)asprintf(&md->cgroups_off, "cannot move hvd into %s/daemon: %s", service,
                           strerror(-r));
            return;
        }
    } else
        (void)snprintf(subtree, sizeof(subtree), "/hvd");
    r = cgroup_tree_open(CGROUP_MOUNT, subtree, &md->cgroups);
    if (r == -EOPNOTSUPP)
        (void)asprintf(&md->cgroups_off,
                       "no cgroup v2 hierarchy with cpu and memory, nor v1 cpu, cpuacct and "
                       "memory hierarchies under " CGROUP_MOUNT);
    else if (r < 0)
        (void)asprintf(&md->cgroups_off, "cannot set up the cgroup subtree %s: %s", subtree,
                       strerror(-r));
}

void minihv_resources_close(MinihvDriver *md)
{
    md->leftover_timer = sd_event_source_disable_unref(md->leftover_timer);
    md->cgroups_leftover = cgroup_strv_free(md->cgroups_leftover);
    md->cgroups = cgroup_tree_free(md->cgroups);
    md->cgroups_off = mfree(md->cgroups_off);
}

/* What c's settings mean for its groups: memory_limit 0 is guest RAM plus the margin. */
static CgroupLimits limits_of(MinihvDriver *md, const DomainConfig *c)
{
    uint64_t mib = c->memory_limit ? c->memory_limit
                                   : c->memory_mib + minihv_settings(md->drv)->memory_margin_mib;

    return (CgroupLimits){
        .cpu_weight = c->cpu_weight,
        .cpu_cap = c->cpu_cap,
        .memory_max_bytes = mib << 20,
    };
}

int instance_cgroup_prepare(Instance *inst, char **argv, size_t *n, char ***ret_files, Error *e)
{
    MinihvDriver *md = inst->md;
    CgroupLimits l = limits_of(md, &inst->config);
    char **procs = NULL, **threads = NULL, **files;
    size_t k = 0;
    int r;

    *ret_files = NULL;
    if (!md->cgroups) {
        inst->in_cgroup = false;
        if (minihv_settings(md->drv)->resource_control == MINIHV_RESOURCES_YES)
            return error_setf(e, ERROR_FAILED,
                              "resource control is required (resource-control = yes) but "
                              "unavailable: %s",
                              strna(md->cgroups_off));
        return 0;
    }
    r = cgroup_domain_create(md->cgroups, inst->config.uuid, &l);
    if (r < 0)
        return error_set_errno(e, r, "Failed to create the cgroup of '%s': %m", inst->config.name);
    r = cgroup_domain_join_files(md->cgroups, inst->config.uuid, &procs, &threads);
    if (r < 0) {
        (void)cgroup_domain_remove(md->cgroups, inst->config.uuid);
        return error_set_errno(e, r, "Out of memory");
    }
    /* One array owns every string: procs, then threads. */
    files = calloc(2 * VM_CGROUP_FILES_MAX + 1, sizeof(char *));
    for (size_t i = 0; files && procs[i] && i < VM_CGROUP_FILES_MAX; i++) {
        argv[(*n)++] = (char *)"--cgroup";
        argv[(*n)++] = files[k++] = TAKE_PTR(procs[i]);
    }
    for (size_t i = 0; files && threads[i] && i < VM_CGROUP_FILES_MAX; i++) {
        argv[(*n)++] = (char *)"--vcpu-cgroup";
        argv[(*n)++] = files[k++] = TAKE_PTR(threads[i]);
    }
    cgroup_strv_free(procs);
    cgroup_strv_free(threads);
    if (!files) {
        (void)cgroup_domain_remove(md->cgroups, inst->config.uuid);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    inst->in_cgroup = true;
    *ret_files = files;
    return 0;
}

void instance_cgroup_adopt(Instance *inst)
{
    MinihvDriver *md = inst->md;
    CgroupLimits l = limits_of(md, &inst->config);
    CgroupStats st;

    if (!md->cgroups || cgroup_domain_stats(md->cgroups, inst->config.uuid, &st) < 0)
        return;
    inst->in_cgroup = true;
    /* The definition is what holds (changed while hvd was away, or the same). */
    (void)cgroup_domain_set_limits(md->cgroups, inst->config.uuid, &l);
}

bool instance_cgroup_oom(Instance *inst, char *detail, size_t n)
{
    MinihvDriver *md = inst->md;
    CgroupStats st;

    if (!inst->in_cgroup || !md->cgroups ||
        cgroup_domain_stats(md->cgroups, inst->config.uuid, &st) < 0 || st.oom_kills == 0)
        return false;
    (void)snprintf(detail, n,
                   "minihv pid %d went past its memory limit of %" PRIu64
                   " MiB and was killed by the kernel (memory limit)",
                   inst->pid, limits_of(md, &inst->config).memory_max_bytes >> 20);
    return true;
}

void instance_cgroup_remove(Instance *inst)
{
    if (inst->in_cgroup && inst->md->cgroups &&
        cgroup_domain_remove(inst->md->cgroups, inst->config.uuid) >= 0)
        inst->in_cgroup = false;
}

void instance_cgroup_stats(Instance *inst, json_t *stats)
{
    MinihvDriver *md = inst->md;
    CgroupStats st;

    if (!inst->in_cgroup || !md->cgroups ||
        cgroup_domain_stats(md->cgroups, inst->config.uuid, &st) < 0)
        return;
    (void)json_object_set_new(stats, "vcpu_cgroup_cpu_time_ns",
                              json_integer((json_int_t)st.vcpu_usage_ns));
    (void)json_object_set_new(stats, "cpu_throttled_count",
                              json_integer((json_int_t)st.nr_throttled));
    (void)json_object_set_new(stats, "cpu_throttled_ns", json_integer((json_int_t)st.throttled_ns));
    (void)json_object_set_new(stats, "cgroup_memory_bytes",
                              json_integer((json_int_t)st.memory_bytes));
    (void)json_object_set_new(
        stats, "memory_limit_bytes",
        json_integer((json_int_t)limits_of(md, &inst->config).memory_max_bytes));
}

int minihv_set_resources(Driver *drv, const DomainConfig *c, const DomainRuntime *rt,
                         unsigned flags, Error *e)
{
    MinihvDriver *md = minihv(drv);
    Instance *inst = instance_find(md, c->name);
    CgroupLimits l;
    int r;

    if (!inst)
        return error_setf(e, ERROR_INVALID_STATE, "no minihv process runs '%s'", c->name);
    if (!inst->in_cgroup || !md->cgroups)
        return error_setf(e, ERROR_FAILED,
                          "'%s' runs without resource control (%s): its settings apply from "
                          "its next start",
                          c->name, md->cgroups_off ? md->cgroups_off : "started without it");
    l = limits_of(md, c);
    r = cgroup_domain_set_limits(md->cgroups, c->uuid, &l);
    if (r == -EBUSY)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'memory_limit' of %" PRIu64 " MiB is below what '%s' uses now",
                          l.memory_max_bytes >> 20, c->name);
    if (r < 0) {
        /* Back to what runs, as far as the kernel lets. */
        l = limits_of(md, &inst->config);
        (void)cgroup_domain_set_limits(md->cgroups, c->uuid, &l);
        return error_set_errno(e, r, "Failed to change the cgroup of '%s': %m", c->name);
    }
    inst->config.cpu_weight = c->cpu_weight;
    inst->config.cpu_cap = c->cpu_cap;
    inst->config.memory_limit = c->memory_limit;
    return 0;
}

static bool claimed_uuid(MinihvDriver *md, const char *uuid)
{
    HASHMAP_FOREACH_VALUE(md->instances, value)
    if (streq(((Instance *)value)->config.uuid, uuid))
        return true;
    return false;
}

static int on_leftover_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    MinihvDriver *md = userdata;
    size_t kept = 0;

    for (size_t i = 0; md->cgroups_leftover[i]; i++) {
        char *name = md->cgroups_leftover[i];

        if (cgroup_domain_remove(md->cgroups, name) == -EBUSY &&
            md->leftover_tries < LEFTOVER_TRIES)
            md->cgroups_leftover[kept++] = name;
        else
            free(name);
    }
    md->cgroups_leftover[kept] = NULL;
    md->leftover_tries++;
    if (kept == 0) {
        md->leftover_timer = sd_event_source_disable_unref(md->leftover_timer);
        md->cgroups_leftover = cgroup_strv_free(md->cgroups_leftover);
        return 0;
    }
    (void)sd_event_source_set_time_relative(s, LEFTOVER_RETRY_US);
    (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    return 0;
}

unsigned minihv_resources_sweep(MinihvDriver *md)
{
    char **names = NULL;
    size_t kept = 0;
    unsigned ended = 0;

    if (!md->cgroups || md->cgroups_leftover || cgroup_domain_list(md->cgroups, &names) < 0)
        return 0;
    for (size_t i = 0; names[i]; i++) {
        char *name = names[i];

        if (claimed_uuid(md, name)) {
            free(name);
            continue;
        }
        /* The processes of an unclaimed group are VMMs no domain accounts for. */
        ended += cgroup_domain_kill(md->cgroups, name);
        if (cgroup_domain_remove(md->cgroups, name) == -EBUSY)
            names[kept++] = name;
        else
            free(name);
    }
    names[kept] = NULL;
    if (kept == 0) {
        cgroup_strv_free(names);
        return ended;
    }
    md->cgroups_leftover = names;
    md->leftover_tries = 0;
    if (sd_event_add_time_relative(md->drv->ctx.event, &md->leftover_timer, CLOCK_MONOTONIC,
                                   LEFTOVER_RETRY_US, 0, on_leftover_timer, md) < 0)
        md->cgroups_leftover = cgroup_strv_free(md->cgroups_leftover);
    return ended;
}

json_t *minihv_host_info(Driver *drv)
{
    MinihvDriver *md = minihv(drv);
    char summary[PATH_MAX + 64];
    json_t *o;

    if (!md)
        return NULL;
    if (md->cgroups) {
        const char *dir = md->cgroups->dir[md->cgroups->version == CGROUP_V2 ? 0 : CGROUP_CPU];

        (void)snprintf(summary, sizeof(summary), "resource control: cgroup v%d at %s",
                       (int)md->cgroups->version, dir);
        o = json_pack("{s:s, s:s, s:i, s:s}", "summary", summary, "resource_control", "on",
                      "cgroup_version", (int)md->cgroups->version, "cgroup_root", dir);
    } else {
        (void)snprintf(summary, sizeof(summary), "resource control: off (%s)",
                       strna(md->cgroups_off));
        o = json_pack("{s:s, s:s, s:s}", "summary", summary, "resource_control", "off",
                      "resource_control_off", strna(md->cgroups_off));
    }
    if (o && md->pool) {
        json_t *pool = minihv_pool_json(md->pool);
        size_t len = strlen(summary);

        if (pool && json_integer_value(json_object_get(pool, "size")) > 0 &&
            len < sizeof(summary)) {
            (void)snprintf(summary + len, sizeof(summary) - len,
                           "; warm pool: %lld of %lld waiting (%s, %lld MiB, %lld vCPU)",
                           (long long)json_integer_value(json_object_get(pool, "waiting")),
                           (long long)json_integer_value(json_object_get(pool, "size")),
                           json_string_value(json_object_get(pool, "mode")),
                           (long long)json_integer_value(json_object_get(pool, "memory_mib")),
                           (long long)json_integer_value(json_object_get(pool, "vcpus")));
            (void)json_object_set_new(o, "summary", json_string(summary));
        }
        (void)json_object_set_new(o, "warm_pool", pool);
    }
    if (o) {
        /* VMMs found running at start-up that have not answered for themselves yet (and
         * others asked again after an unanswered pause or resume) */
        unsigned confirming = md->probes_in_flight + md->probes_queued;
        size_t len = strlen(summary);

        (void)json_object_set_new(o, "confirming", json_integer(confirming));
        if (confirming > 0 && len < sizeof(summary)) {
            (void)snprintf(summary + len, sizeof(summary) - len, "; confirming %u running VMMs",
                           confirming);
            (void)json_object_set_new(o, "summary", json_string(summary));
        }
    }
    return o;
}
