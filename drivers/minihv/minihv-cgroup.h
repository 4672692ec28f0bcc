/* The cgroups of minihv domains under the subtree hvd owns, on cgroup v2 or v1: one group per
 * VMM, its vCPU threads in a child group, CPU weight and cap and a memory limit on them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef enum CgroupVersion {
    CGROUP_V1 = 1,
    CGROUP_V2 = 2,
} CgroupVersion;

/* v1 hierarchies hvd uses; on v2 only the first entry is set (the unified hierarchy). */
enum {
    CGROUP_CPU,
    CGROUP_CPUACCT,
    CGROUP_MEMORY,
    _CGROUP_HIERARCHY_MAX,
};

typedef struct CgroupTree {
    CgroupVersion version;
    char *dir[_CGROUP_HIERARCHY_MAX]; /* the subtree's directory in each hierarchy */
} CgroupTree;

/* What a domain's groups enforce. cpu_weight 1..10000 (v2 cpu.weight; v1 cpu.shares scaled so
 * 100 is the kernel's default 1024), cpu_cap percent of one CPU (0: none), memory_max_bytes
 * (0: none). The weight is the domain's share among its siblings; the cap holds its vCPU
 * threads only, so the VMM's own threads still run when the guest has used its quota. */
typedef struct CgroupLimits {
    unsigned cpu_weight;
    unsigned cpu_cap;
    uint64_t memory_max_bytes;
} CgroupLimits;

/* The numbers of a domain's groups: CPU time of its vCPU threads, how often and how long the
 * cap held them back, its memory use and the kernel's out-of-memory kills inside it. */
typedef struct CgroupStats {
    uint64_t vcpu_usage_ns;
    uint64_t nr_throttled;
    uint64_t throttled_ns;
    uint64_t memory_bytes;
    uint64_t oom_kills;
} CgroupStats;

/* Period of the CPU cap, in microseconds. */
#define CGROUP_CPU_PERIOD_US 100000u

/* Finds the hierarchies under mount (normally /sys/fs/cgroup): v2 when mount's
 * cgroup.controllers lists cpu and memory, else v1 with cpu, cpuacct and memory mounted below
 * it. subtree is the path of hvd's subtree inside each hierarchy ("/hvd"), created when
 * missing; on v2 the cpu and memory controllers are enabled from the root down to it. Returns
 * -EOPNOTSUPP when neither version is usable, or the errno of the directory that failed. */
int cgroup_tree_open(const char *mount, const char *subtree, CgroupTree **ret);

/* Frees t (the groups stay). Accepts NULL; returns NULL. */
CgroupTree *cgroup_tree_free(CgroupTree *t);

/* Creates the groups of domain name (a group that is left over is reused) and sets l. On v2
 * the domain's group is a threaded domain with threaded children "vmm" (the process) and
 * "vcpu"; on v1 the process stays in the domain's group and the vCPU threads go to "vcpu". */
int cgroup_domain_create(CgroupTree *t, const char *name, const CgroupLimits *l);

/* Sets l on the existing groups of name, at once (also while the VMM runs). -EBUSY: the memory
 * in use is above a new, lower limit and could not be reclaimed. */
int cgroup_domain_set_limits(CgroupTree *t, const char *name, const CgroupLimits *l);

/* The files the VMM joins through: it writes its pid into each of procs (NULL-terminated) before
 * it creates the VM, and each vCPU thread writes its thread id into each of threads. Both are
 * new arrays of new strings (free with cgroup_strv_free). */
int cgroup_domain_join_files(CgroupTree *t, const char *name, char ***ret_procs,
                             char ***ret_threads);

/* Reads the numbers of name's groups; those the kernel does not give stay 0. */
int cgroup_domain_stats(CgroupTree *t, const char *name, CgroupStats *ret);

/* Whether any process is left in name's groups. */
bool cgroup_domain_populated(CgroupTree *t, const char *name);

/* Sends SIGKILL to every process in name's groups; returns how many. */
unsigned cgroup_domain_kill(CgroupTree *t, const char *name);

/* Removes name's groups. 0 also when they are gone; -EBUSY while processes are left. */
int cgroup_domain_remove(CgroupTree *t, const char *name);

/* The names of the domain groups under the subtree, as a new NULL-terminated array. */
int cgroup_domain_list(CgroupTree *t, char ***ret);

/* Frees a NULL-terminated array of strings. Accepts NULL; returns NULL. */
char **cgroup_strv_free(char **l);
