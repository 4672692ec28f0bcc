/* Unit tests: the cgroup v2 file writes of minihv domains (and v1's where they differ), against a
 * temporary directory laid out as the kernel would (its files created by the test). */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "minihv-cgroup.h"
#include "test.h"

#define NAME "0b6f1d2e-3c4d-4c7e-9a41-2f0c1a9e5d3b"

static char root[256];

/* Creates root/path (a file, with text) and its directories. */
_printf_(2, 3) static void put(const char *text, const char *fmt, ...)
{
    char rel[512], path[1024];
    va_list ap;
    FILE *f;

    va_start(ap, fmt);
    (void)vsnprintf(rel, sizeof(rel), fmt, ap);
    va_end(ap);
    (void)snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        (void)mkdir(path, 0755);
        *p = '/';
    }
    f = fopen(path, "we");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* The first line of root/rel, or "" when it is missing. */
static const char *get(const char *rel)
{
    static char buf[256];
    char path[1024];
    FILE *f;

    buf[0] = 0;
    (void)snprintf(path, sizeof(path), "%s/%s", root, rel);
    f = fopen(path, "re");
    if (f) {
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = 0;
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
    return buf;
}

static void v2_layout(void)
{
    static const char *const files[] = {
        "hvd/cgroup.subtree_control",       "hvd/" NAME "/cgroup.subtree_control",
        "hvd/" NAME "/cpu.weight",          "hvd/" NAME "/memory.max",
        "hvd/" NAME "/memory.swap.max",     "hvd/" NAME "/cgroup.procs",
        "hvd/" NAME "/vmm/cgroup.type",     "hvd/" NAME "/vmm/cgroup.procs",
        "hvd/" NAME "/vcpu/cgroup.type",    "hvd/" NAME "/vcpu/cpu.max",
        "hvd/" NAME "/vcpu/cgroup.threads", "hvd/" NAME "/vcpu/cgroup.procs",
    };

    put("cpuset cpu io memory pids\n", "cgroup.controllers");
    put("", "cgroup.subtree_control");
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        put("", "%s", files[i]);
}

static void test_v2(void)
{
    CgroupLimits l = {.cpu_weight = 300, .cpu_cap = 25, .memory_max_bytes = 80ull << 20};
    char **procs = NULL, **threads = NULL, **names = NULL;
    char path[512];
    CgroupStats st;
    CgroupTree *t;

    v2_layout();
    CHECK(cgroup_tree_open(root, "/hvd", &t) == 0);
    CHECK(t->version == CGROUP_V2);
    /* cpu and memory are enabled from the root down to the subtree. */
    CHECK_STREQ(get("cgroup.subtree_control"), "+cpu +memory");
    CHECK_STREQ(get("hvd/cgroup.subtree_control"), "+cpu +memory");

    CHECK(cgroup_domain_create(t, NAME, &l) == 0);
    CHECK_STREQ(get("hvd/" NAME "/vmm/cgroup.type"), "threaded");
    CHECK_STREQ(get("hvd/" NAME "/vcpu/cgroup.type"), "threaded");
    CHECK_STREQ(get("hvd/" NAME "/cgroup.subtree_control"), "+cpu");
    /* The weight on the domain's group, the cap on its vCPU threads, the memory on all of it. */
    CHECK_STREQ(get("hvd/" NAME "/cpu.weight"), "300");
    CHECK_STREQ(get("hvd/" NAME "/vcpu/cpu.max"), "25000 100000");
    CHECK_STREQ(get("hvd/" NAME "/memory.max"), "83886080");
    CHECK_STREQ(get("hvd/" NAME "/memory.swap.max"), "0");

    /* Changed live: no cap, no memory limit. */
    put("", "hvd/" NAME "/vcpu/cpu.max");
    put("", "hvd/" NAME "/memory.max");
    put("", "hvd/" NAME "/cpu.weight");
    l = (CgroupLimits){.cpu_weight = 10000};
    CHECK(cgroup_domain_set_limits(t, NAME, &l) == 0);
    CHECK_STREQ(get("hvd/" NAME "/cpu.weight"), "10000");
    CHECK_STREQ(get("hvd/" NAME "/vcpu/cpu.max"), "max 100000");
    CHECK_STREQ(get("hvd/" NAME "/memory.max"), "max");

    /* A cap above one CPU (a 4-vCPU domain at 350%). */
    put("", "hvd/" NAME "/vcpu/cpu.max");
    l.cpu_cap = 350;
    CHECK(cgroup_domain_set_limits(t, NAME, &l) == 0);
    CHECK_STREQ(get("hvd/" NAME "/vcpu/cpu.max"), "350000 100000");

    CHECK(cgroup_domain_join_files(t, NAME, &procs, &threads) == 0);
    (void)snprintf(path, sizeof(path), "%s/hvd/" NAME "/vmm/cgroup.procs", root);
    CHECK(procs && procs[0] && !procs[1]);
    CHECK_STREQ(procs[0], path);
    (void)snprintf(path, sizeof(path), "%s/hvd/" NAME "/vcpu/cgroup.threads", root);
    CHECK(threads && threads[0] && !threads[1]);
    CHECK_STREQ(threads[0], path);
    cgroup_strv_free(procs);
    cgroup_strv_free(threads);

    put("usage_usec 5000\nuser_usec 4000\nsystem_usec 1000\nnr_periods 40\nnr_throttled 7\n"
        "throttled_usec 1234\n",
        "hvd/" NAME "/vcpu/cpu.stat");
    put("12345678\n", "hvd/" NAME "/memory.current");
    put("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n", "hvd/" NAME "/memory.events");
    CHECK(cgroup_domain_stats(t, NAME, &st) == 0);
    CHECK(st.vcpu_usage_ns == 5000000);
    CHECK(st.nr_throttled == 7);
    CHECK(st.throttled_ns == 1234000);
    CHECK(st.memory_bytes == 12345678);
    CHECK(st.oom_kills == 1);
    CHECK(cgroup_domain_stats(t, "gone", &st) == -ENOENT);

    CHECK(!cgroup_domain_populated(t, NAME));
    put("4242\n", "hvd/" NAME "/vmm/cgroup.procs");
    CHECK(cgroup_domain_populated(t, NAME));

    CHECK(cgroup_domain_list(t, &names) == 0);
    CHECK(names && names[0] && !names[1]);
    CHECK_STREQ(names ? names[0] : NULL, NAME);
    cgroup_strv_free(names);
    cgroup_tree_free(t);
}

static void test_v1(void)
{
    static const char *const files[] = {
        "cpu/hvd/" NAME "/cpu.shares",
        "cpu/hvd/" NAME "/vcpu/cpu.cfs_period_us",
        "cpu/hvd/" NAME "/vcpu/cpu.cfs_quota_us",
        "memory/hvd/" NAME "/memory.limit_in_bytes",
        "memory/hvd/" NAME "/memory.swappiness",
    };
    CgroupLimits l = {.cpu_weight = 1, .cpu_cap = 0, .memory_max_bytes = 0};
    char **procs = NULL, **threads = NULL;
    CgroupTree *t;

    put("", "cpu/cgroup.procs");
    put("", "cpuacct/cgroup.procs");
    put("", "memory/cgroup.procs");
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        put("", "%s", files[i]);
    CHECK(cgroup_tree_open(root, "/hvd", &t) == 0);
    CHECK(t->version == CGROUP_V1);
    CHECK(cgroup_domain_create(t, NAME, &l) == 0);
    /* Weight 1 is the smallest shares the kernel takes; no cap and no limit are -1. */
    CHECK_STREQ(get("cpu/hvd/" NAME "/cpu.shares"), "10");
    CHECK_STREQ(get("cpu/hvd/" NAME "/vcpu/cpu.cfs_period_us"), "100000");
    CHECK_STREQ(get("cpu/hvd/" NAME "/vcpu/cpu.cfs_quota_us"), "-1");
    CHECK_STREQ(get("memory/hvd/" NAME "/memory.limit_in_bytes"), "-1");
    CHECK(cgroup_domain_join_files(t, NAME, &procs, &threads) == 0);
    CHECK(procs && procs[0] && procs[1] && procs[2] && !procs[3]);
    CHECK(threads && threads[0] && threads[1] && !threads[2]);
    CHECK_CONTAINS(threads ? threads[0] : NULL, "/cpu/hvd/" NAME "/vcpu/tasks");
    cgroup_strv_free(procs);
    cgroup_strv_free(threads);
    cgroup_tree_free(t);
}

int main(void)
{
    CgroupTree *t;
    char dir[256];

    (void)snprintf(root, sizeof(root), "/tmp/test-cgroup-XXXXXX");
    CHECK(mkdtemp(root) != NULL);
    strcpy(dir, root);
    /* Neither version: refused. */
    CHECK(cgroup_tree_open(root, "/hvd", &t) == -EOPNOTSUPP);

    (void)snprintf(root, sizeof(root), "%s/v2", dir);
    (void)mkdir(root, 0755);
    test_v2();
    (void)snprintf(root, sizeof(root), "%s/v1", dir);
    (void)mkdir(root, 0755);
    test_v1();

    {
        char cmd[300];
        (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
    return test_summary("test-cgroup");
}
