/* Joining the cgroups hvd made for this VMM: the process before it creates the VM, each vCPU
 * thread once it exists. */
#pragma once

#include <sys/types.h>

#define VM_CGROUP_FILES_MAX 4u

/* Writes id (a pid into cgroup.procs, a thread id into tasks or cgroup.threads) into each of
 * the n files. Returns 0, or a negative errno with *ret_failed naming the file that refused. */
int cgroup_join(const char *const *files, unsigned n, pid_t id, const char **ret_failed);
