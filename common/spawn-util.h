/* Starting a helper program detached from hvd's terminal and signal set-up. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A descriptor of the caller's that the program gets as the number target (above 2). */
typedef struct SpawnFd {
    int fd;
    int target;
} SpawnFd;

/* posix_spawn of argv (argv[0] looked up in PATH when search) in a session of its own (a
 * terminal's Ctrl-C never reaches it), with every signal at its default and none blocked,
 * stdin from /dev/null, stdout and stderr appended to log_path (created 0600; NULL: the
 * caller's), and each fds[i].fd as fds[i].target. Safe in a threaded process. Returns 0 with
 * *ret_pid, or a positive errno as posix_spawn does (also when the log cannot be opened or the
 * program not run). */
int spawn_detached(char *const argv[], bool search, const char *log_path, const SpawnFd *fds,
                   size_t n_fds, pid_t *ret_pid);
