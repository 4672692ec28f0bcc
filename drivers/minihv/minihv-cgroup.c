/* cgroup v2 and v1 file writes for minihv domains: the subtree, each domain's groups, their
 * limits, statistics and removal. Paths only; the VMM joins its groups itself. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "minihv-cgroup.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

static const char *const v1_hierarchy[_CGROUP_HIERARCHY_MAX] = {
    [CGROUP_CPU] = "cpu",
    [CGROUP_CPUACCT] = "cpuacct",
    [CGROUP_MEMORY] = "memory",
};

char **cgroup_strv_free(char **l)
{
    for (char **p = l; p && *p; p++)
        free(*p);
    free(l);
    return NULL;
}

/* Writes value to dir/file (one write, as the kernel wants it). */
static int write_file(const char *dir, const char *file, const char *value)
{
    char path[PATH_MAX];
    _cleanup_close_ int fd = -EBADF;
    size_t len = strlen(value);
    ssize_t n;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    n = write(fd, value, len);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

/* Reads dir/file into buf (NUL-terminated). */
static int read_file(const char *dir, const char *file, char *buf, size_t size)
{
    char path[PATH_MAX];
    _cleanup_close_ int fd = -EBADF;
    ssize_t n;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, size - 1);
    if (n < 0)
        return -errno;
    buf[n] = 0;
    return 0;
}

/* The number after "key " at the start of a line of text, or 0. */
static uint64_t keyed_value(const char *text, const char *key)
{
    size_t len = strlen(key);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strneq(p, key, len) && p[len] == ' ')
            return strtoull(p + len + 1, NULL, 10);
    return 0;
}

static uint64_t read_number(const char *dir, const char *file)
{
    char buf[64];

    return read_file(dir, file, buf, sizeof(buf)) < 0 ? 0 : strtoull(buf, NULL, 10);
}

/* mkdir -p of path (absolute), each missing level created 0755. */
static int mkdir_parents(const char *path)
{
    char buf[PATH_MAX];

    if (strlen(path) >= sizeof(buf))
        return -ENAMETOOLONG;
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != 0)
            continue;
        char saved = *p;
        *p = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = saved;
        if (saved == 0)
            return 0;
    }
}

static bool file_has_words(const char *dir, const char *file, const char *a, const char *b)
{
    char buf[512], *save = NULL;
    bool has_a = false, has_b = false;

    if (read_file(dir, file, buf, sizeof(buf)) < 0)
        return false;
    for (char *w = strtok_r(buf, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
        has_a = has_a || streq(w, a);
        has_b = has_b || streq(w, b);
    }
    return has_a && has_b;
}

/* v2: enables cpu and memory for the children of every level from the root down to subtree's
 * parent, and in subtree itself. */
static int v2_enable_controllers(const char *mount, const char *subtree)
{
    char path[PATH_MAX];
    size_t len = strlen(mount);
    int r;

    if (len + strlen(subtree) >= sizeof(path))
        return -ENAMETOOLONG;
    strcpy(path, mount);
    for (const char *p = subtree;; p++) {
        if (*p == '/' || *p == 0) {
            path[len] = 0;
            if (!file_has_words(path, "cgroup.subtree_control", "cpu", "memory")) {
                r = write_file(path, "cgroup.subtree_control", "+cpu +memory");
                if (r < 0)
                    return r;
            }
            if (*p == 0)
                return 0;
        }
        path[len++] = *p;
    }
}

int cgroup_tree_open(const char *mount, const char *subtree, CgroupTree **ret)
{
    CgroupTree *t = calloc(1, sizeof(*t));
    char probe[PATH_MAX];
    int r = 0;

    if (!t)
        return -ENOMEM;
    if (file_has_words(mount, "cgroup.controllers", "cpu", "memory")) {
        t->version = CGROUP_V2;
        if (asprintf(&t->dir[0], "%s%s", mount, subtree) < 0) {
            t->dir[0] = NULL;
            r = -ENOMEM;
        }
        if (r >= 0)
            r = mkdir_parents(t->dir[0]);
        if (r >= 0)
            r = v2_enable_controllers(mount, subtree);
    } else {
        t->version = CGROUP_V1;
        for (size_t i = 0; r >= 0 && i < _CGROUP_HIERARCHY_MAX; i++) {
            (void)snprintf(probe, sizeof(probe), "%s/%s/cgroup.procs", mount, v1_hierarchy[i]);
            if (access(probe, F_OK) < 0)
                r = -EOPNOTSUPP;
            else if (asprintf(&t->dir[i], "%s/%s%s", mount, v1_hierarchy[i], subtree) < 0) {
                t->dir[i] = NULL;
                r = -ENOMEM;
            } else
                r = mkdir_parents(t->dir[i]);
        }
    }
    if (r < 0) {
        cgroup_tree_free(t);
        return r;
    }
    *ret = t;
    return 0;
}

CgroupTree *cgroup_tree_free(CgroupTree *t)
{
    if (!t)
        return NULL;
    for (size_t i = 0; i < _CGROUP_HIERARCHY_MAX; i++)
        free(t->dir[i]);
    free(t);
    return NULL;
}

/* dir of the domain (child NULL) or of one of its children, in hierarchy h. */
static void group_path(const CgroupTree *t, size_t h, const char *name, const char *child,
                       char *buf, size_t n)
{
    const char *base = t->version == CGROUP_V2 ? t->dir[0] : t->dir[h];

    (void)snprintf(buf, n, "%s/%s%s%s", base, name, child ? "/" : "", strempty(child));
}

static int make_dir(const char *path)
{
    return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

int cgroup_domain_create(CgroupTree *t, const char *name, const CgroupLimits *l)
{
    char path[PATH_MAX];
    int r;

    if (t->version == CGROUP_V2) {
        group_path(t, 0, name, NULL, path, sizeof(path));
        r = make_dir(path);
        for (size_t i = 0; r >= 0 && i < 2; i++) {
            const char *child = i == 0 ? "vmm" : "vcpu";
            char sub[PATH_MAX];

            group_path(t, 0, name, child, sub, sizeof(sub));
            r = make_dir(sub);
            if (r >= 0)
                r = write_file(sub, "cgroup.type", "threaded");
        }
        if (r >= 0)
            r = write_file(path, "cgroup.subtree_control", "+cpu");
    } else {
        r = 0;
        for (size_t h = 0; r >= 0 && h < _CGROUP_HIERARCHY_MAX; h++) {
            group_path(t, h, name, NULL, path, sizeof(path));
            r = make_dir(path);
            if (r >= 0 && h != CGROUP_MEMORY) {
                group_path(t, h, name, "vcpu", path, sizeof(path));
                r = make_dir(path);
            }
        }
    }
    if (r >= 0)
        r = cgroup_domain_set_limits(t, name, l);
    if (r < 0)
        (void)cgroup_domain_remove(t, name);
    return r;
}

int cgroup_domain_set_limits(CgroupTree *t, const char *name, const CgroupLimits *l)
{
    char dom[PATH_MAX], vcpu[PATH_MAX], mem[PATH_MAX], value[64];
    int r;

    group_path(t, CGROUP_CPU, name, NULL, dom, sizeof(dom));
    group_path(t, CGROUP_CPU, name, "vcpu", vcpu, sizeof(vcpu));
    group_path(t, CGROUP_MEMORY, name, NULL, mem, sizeof(mem));

    if (t->version == CGROUP_V2) {
        (void)snprintf(value, sizeof(value), "%u", l->cpu_weight);
        r = write_file(dom, "cpu.weight", value);
        if (r < 0)
            return r;
        if (l->cpu_cap)
            (void)snprintf(value, sizeof(value), "%" PRIu64 " %u",
                           (uint64_t)l->cpu_cap * CGROUP_CPU_PERIOD_US / 100, CGROUP_CPU_PERIOD_US);
        else
            (void)snprintf(value, sizeof(value), "max %u", CGROUP_CPU_PERIOD_US);
        r = write_file(vcpu, "cpu.max", value);
        if (r < 0)
            return r;
        if (l->memory_max_bytes)
            (void)snprintf(value, sizeof(value), "%" PRIu64, l->memory_max_bytes);
        else
            (void)snprintf(value, sizeof(value), "max");
        r = write_file(mem, "memory.max", value);
        if (r >= 0 && l->memory_max_bytes)
            /* Past the limit the VMM is stopped, not pushed into swap. */
            (void)write_file(mem, "memory.swap.max", "0");
        return r;
    }

    /* v1: shares scaled so the default weight 100 is the kernel's default 1024 (at least 2). */
    (void)snprintf(value, sizeof(value), "%" PRIu64,
                   MAX((uint64_t)l->cpu_weight * 1024 / 100, (uint64_t)2));
    r = write_file(dom, "cpu.shares", value);
    if (r >= 0) {
        (void)snprintf(value, sizeof(value), "%u", CGROUP_CPU_PERIOD_US);
        r = write_file(vcpu, "cpu.cfs_period_us", value);
    }
    if (r >= 0) {
        if (l->cpu_cap)
            (void)snprintf(value, sizeof(value), "%" PRIu64,
                           (uint64_t)l->cpu_cap * CGROUP_CPU_PERIOD_US / 100);
        else
            (void)snprintf(value, sizeof(value), "-1");
        r = write_file(vcpu, "cpu.cfs_quota_us", value);
    }
    if (r >= 0) {
        if (l->memory_max_bytes)
            (void)snprintf(value, sizeof(value), "%" PRIu64, l->memory_max_bytes);
        else
            (void)snprintf(value, sizeof(value), "-1");
        r = write_file(mem, "memory.limit_in_bytes", value);
        if (r >= 0 && l->memory_max_bytes)
            (void)write_file(mem, "memory.swappiness", "0");
    }
    return r;
}

static int strv_push(char ***l, size_t *n, const char *dir, const char *file)
{
    char **grown = realloc(*l, (*n + 2) * sizeof(char *));

    if (!grown)
        return -ENOMEM;
    *l = grown;
    if (asprintf(&grown[*n], "%s/%s", dir, file) < 0) {
        grown[*n] = NULL;
        return -ENOMEM;
    }
    grown[++*n] = NULL;
    return 0;
}

int cgroup_domain_join_files(CgroupTree *t, const char *name, char ***ret_procs,
                             char ***ret_threads)
{
    char **procs = NULL, **threads = NULL, path[PATH_MAX];
    size_t n_procs = 0, n_threads = 0;
    int r = 0;

    if (t->version == CGROUP_V2) {
        group_path(t, 0, name, "vmm", path, sizeof(path));
        r = strv_push(&procs, &n_procs, path, "cgroup.procs");
        group_path(t, 0, name, "vcpu", path, sizeof(path));
        if (r >= 0)
            r = strv_push(&threads, &n_threads, path, "cgroup.threads");
    } else
        for (size_t h = 0; r >= 0 && h < _CGROUP_HIERARCHY_MAX; h++) {
            group_path(t, h, name, NULL, path, sizeof(path));
            r = strv_push(&procs, &n_procs, path, "cgroup.procs");
            if (r >= 0 && h != CGROUP_MEMORY) {
                group_path(t, h, name, "vcpu", path, sizeof(path));
                r = strv_push(&threads, &n_threads, path, "tasks");
            }
        }
    if (r < 0) {
        cgroup_strv_free(procs);
        cgroup_strv_free(threads);
        return r;
    }
    *ret_procs = procs;
    *ret_threads = threads;
    return 0;
}

int cgroup_domain_stats(CgroupTree *t, const char *name, CgroupStats *ret)
{
    char vcpu[PATH_MAX], acct[PATH_MAX], mem[PATH_MAX], buf[1024];

    *ret = (CgroupStats){};
    group_path(t, CGROUP_CPU, name, "vcpu", vcpu, sizeof(vcpu));
    group_path(t, CGROUP_MEMORY, name, NULL, mem, sizeof(mem));
    if (access(mem, F_OK) < 0)
        return -errno;
    if (t->version == CGROUP_V2) {
        if (read_file(vcpu, "cpu.stat", buf, sizeof(buf)) >= 0) {
            ret->vcpu_usage_ns = keyed_value(buf, "usage_usec") * 1000;
            ret->nr_throttled = keyed_value(buf, "nr_throttled");
            ret->throttled_ns = keyed_value(buf, "throttled_usec") * 1000;
        }
        ret->memory_bytes = read_number(mem, "memory.current");
        if (read_file(mem, "memory.events", buf, sizeof(buf)) >= 0)
            ret->oom_kills = keyed_value(buf, "oom_kill");
        return 0;
    }
    group_path(t, CGROUP_CPUACCT, name, "vcpu", acct, sizeof(acct));
    ret->vcpu_usage_ns = read_number(acct, "cpuacct.usage");
    if (read_file(vcpu, "cpu.stat", buf, sizeof(buf)) >= 0) {
        ret->nr_throttled = keyed_value(buf, "nr_throttled");
        ret->throttled_ns = keyed_value(buf, "throttled_time");
    }
    ret->memory_bytes = read_number(mem, "memory.usage_in_bytes");
    if (read_file(mem, "memory.oom_control", buf, sizeof(buf)) >= 0)
        ret->oom_kills = keyed_value(buf, "oom_kill");
    return 0;
}

/* Calls f with every pid in name's groups (v2: its two children; v1: its memory group, which
 * every one of its processes joins), until f returns false. */
static void foreach_pid(CgroupTree *t, const char *name, bool (*f)(int pid, void *userdata),
                        void *userdata)
{
    static const char *const v2_children[] = {"vmm", "vcpu"};
    size_t n = t->version == CGROUP_V2 ? ELEMENTSOF(v2_children) : 1;
    char path[PATH_MAX];

    for (size_t i = 0; i < n; i++) {
        _cleanup_fclose_ FILE *file = NULL;
        int pid;

        if (t->version == CGROUP_V2)
            group_path(t, 0, name, v2_children[i], path, sizeof(path));
        else
            group_path(t, CGROUP_MEMORY, name, NULL, path, sizeof(path));
        (void)strncat(path, "/cgroup.procs", sizeof(path) - strlen(path) - 1);
        file = fopen(path, "re");
        while (file && fscanf(file, "%d", &pid) == 1)
            if (!f(pid, userdata))
                return;
    }
}

static bool found_pid(int pid, void *userdata)
{
    *(bool *)userdata = true;
    return false;
}

bool cgroup_domain_populated(CgroupTree *t, const char *name)
{
    bool found = false;

    foreach_pid(t, name, found_pid, &found);
    return found;
}

static bool kill_pid(int pid, void *userdata)
{
    if (pid > 0 && kill(pid, SIGKILL) == 0)
        (*(unsigned *)userdata)++;
    return true;
}

unsigned cgroup_domain_kill(CgroupTree *t, const char *name)
{
    unsigned killed = 0;

    foreach_pid(t, name, kill_pid, &killed);
    return killed;
}

static int remove_dir(const char *path)
{
    return rmdir(path) < 0 && errno != ENOENT ? -errno : 0;
}

int cgroup_domain_remove(CgroupTree *t, const char *name)
{
    char path[PATH_MAX];
    int r = 0, k;

    for (size_t h = 0; h < _CGROUP_HIERARCHY_MAX; h++) {
        if (t->version == CGROUP_V2 && h > 0)
            break;
        for (size_t i = 0; i < 2; i++) {
            group_path(t, h, name, i == 0 ? "vcpu" : "vmm", path, sizeof(path));
            k = remove_dir(path);
            if (k < 0 && r >= 0)
                r = k;
        }
        group_path(t, h, name, NULL, path, sizeof(path));
        k = remove_dir(path);
        if (k < 0 && r >= 0)
            r = k;
    }
    return r;
}

static bool strv_contains(char **l, const char *s)
{
    for (; l && *l; l++)
        if (streq(*l, s))
            return true;
    return false;
}

int cgroup_domain_list(CgroupTree *t, char ***ret)
{
    /* v1: a group left in one hierarchy only counts too. */
    static const size_t v1_lists[] = {CGROUP_CPU, CGROUP_CPUACCT, CGROUP_MEMORY};
    size_t n_lists = t->version == CGROUP_V2 ? 1 : ELEMENTSOF(v1_lists);
    char **names = calloc(1, sizeof(char *));
    size_t n = 0;

    if (!names)
        return -ENOMEM;
    for (size_t l = 0; l < n_lists; l++) {
        _cleanup_(closedirp) DIR *d = opendir(t->dir[t->version == CGROUP_V2 ? 0 : v1_lists[l]]);

        if (!d) {
            int r = -errno;
            cgroup_strv_free(names);
            return r;
        }
        for (struct dirent *de; (de = readdir(d));) {
            char **grown;

            if (de->d_type != DT_DIR || de->d_name[0] == '.' || strv_contains(names, de->d_name))
                continue;
            grown = realloc(names, (n + 2) * sizeof(char *));
            if (!grown || !(grown[n] = strdup(de->d_name))) {
                cgroup_strv_free(grown ? grown : names);
                return -ENOMEM;
            }
            names = grown;
            names[++n] = NULL;
        }
    }
    *ret = names;
    return 0;
}
