/* The limits that bound a host's density of running domains, read from /proc and getrlimit
 * each time the host view is asked for (rarely: nothing here is on a start's path). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "host-density.h"

/* What one running minihv domain costs, as measured with 500 running: hvd holds one descriptor,
 * its console connection (SIGCHLD tells of its own VMMs' ends, the console's hang-up of a
 * re-attached one's, whose pidfd stands in only while that connection is down; signals go
 * through a pidfd opened for each); the kernel runs its VMM's main and vCPU threads and KVM's
 * huge-page recovery thread for its VM. */
#define FDS_PER_DOMAIN   1
#define TASKS_PER_DOMAIN 3
/* Host memory a running minihv domain costs beyond its guest RAM (which the allocator counts):
 * its VMM and KVM's structures for its VM, ~0.95 MiB as measured (bench_hvd_minihv.py). A
 * pooled VMM is counted as much (it has made the same VM, not touched its guest RAM). */
#define HOST_KIB_PER_DOMAIN 1024
/* What one VMM of a driver's warm pool holds while it waits: hvd's end of its socket (SIGCHLD
 * and the socket's hang-up tell of its end); its main thread (its vCPU threads start with a guest,
 * and KVM starts its huge-page recovery thread at the first KVM_RUN). */
#define FDS_PER_POOLED   1
#define TASKS_PER_POOLED 1

static long long open_fds(void)
{
    struct stat st;
    DIR *dir;
    long long n = 0;

    /* Linux 6.2 and later tell the count as the directory's size, without listing it (the list
     * was most of GET /api/v1/host's time with 600 running). */
    if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
        return (long long)st.st_size;
    dir = opendir("/proc/self/fd");
    if (!dir)
        return -1;
    while (readdir(dir))
        n++;
    (void)closedir(dir);
    return n - 3; /* ".", ".." and the directory's own descriptor */
}

static long long read_number(const char *path)
{
    FILE *f = fopen(path, "re");
    long long v = -1;

    if (!f)
        return -1;
    if (fscanf(f, "%lld", &v) != 1)
        v = -1;
    (void)fclose(f);
    return v;
}

/* A "Key: N kB" line of /proc/meminfo, in KiB, or -1. */
static long long meminfo_kib(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "re");
    size_t len = strlen(key);
    char line[128];
    long long v = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, len) == 0 && line[len] == ':') {
            v = strtoll(line + len + 1, NULL, 10);
            break;
        }
    (void)fclose(f);
    return v;
}

/* Tasks on the host now: the total after the slash in /proc/loadavg. */
static long long host_tasks(void)
{
    FILE *f = fopen("/proc/loadavg", "re");
    long long total = -1;

    if (!f)
        return -1;
    if (fscanf(f, "%*s %*s %*s %*d/%lld", &total) != 1)
        total = -1;
    (void)fclose(f);
    return total;
}

static void add_limit(json_t *limits, const char *name, const char *unit, long long limit,
                      long long used, long long per_domain, long long pooled, const char **bound,
                      long long *room)
{
    long long r;

    if (limit < 0 || used < 0)
        return;
    r = limit > used ? (limit - used) / per_domain : 0;
    (void)json_array_append_new(limits, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:s*}", "name",
                                                  name, "limit", (json_int_t)limit, "used",
                                                  (json_int_t)used, "per_domain",
                                                  (json_int_t)per_domain, "room", (json_int_t)r,
                                                  "warm_pool", (json_int_t)pooled, "unit", unit));
    if (!*bound || r < *room) {
        *bound = name;
        *room = r;
    }
}

/* The VMMs every driver's warm pool holds (drivers.*.warm_pool: waiting and starting). */
static long long pooled_vmms(json_t *drivers)
{
    const char *name;
    long long n = 0;
    json_t *d;

    json_object_foreach (drivers, name, d) {
        json_t *pool = json_object_get(d, "warm_pool");
        n += json_integer_value(json_object_get(pool, "waiting")) +
             json_integer_value(json_object_get(pool, "starting"));
    }
    return n;
}

json_t *host_density_view(json_t *host)
{
    long long vcpus_capacity = json_integer_value(json_object_get(host, "vcpus_capacity"));
    long long vcpus_allocated = json_integer_value(json_object_get(host, "vcpus_allocated"));
    long long pooled = pooled_vmms(json_object_get(host, "drivers"));
    long long mem_total = meminfo_kib("MemTotal"), mem_available = meminfo_kib("MemAvailable");
    json_t *limits = json_array();
    struct rlimit nofile;
    long long pid_max = read_number("/proc/sys/kernel/pid_max");
    long long threads_max = read_number("/proc/sys/kernel/threads-max");
    long long tasks_limit = pid_max < threads_max || threads_max < 0 ? pid_max : threads_max;
    const char *bound = NULL;
    long long room = 0;

    if (!limits)
        return NULL;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0)
        add_limit(limits, "file descriptors", NULL, (long long)nofile.rlim_cur, open_fds(),
                  FDS_PER_DOMAIN, pooled * FDS_PER_POOLED, &bound, &room);
    add_limit(limits, "tasks", NULL, tasks_limit, host_tasks(), TASKS_PER_DOMAIN,
              pooled * TASKS_PER_POOLED, &bound, &room);
    add_limit(limits, "vcpus", NULL, vcpus_capacity, vcpus_allocated, 1, 0, &bound, &room);
    /* what the kernel can still give (MemAvailable), against what a domain costs beyond the
     * guest RAM the allocator already holds for it */
    if (mem_total >= 0 && mem_available >= 0)
        add_limit(limits, "host memory", "KiB", mem_total, mem_total - mem_available,
                  HOST_KIB_PER_DOMAIN, pooled * HOST_KIB_PER_DOMAIN, &bound, &room);
    return json_pack("{s:o, s:s?, s:I, s:I}", "limits", limits, "bound", bound, "room",
                     (json_int_t)room, "warm_pool", (json_int_t)pooled);
}
