/* Starting a helper program detached from hvd's terminal and signal set-up. */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

#include "spawn-util.h"

extern char **environ;

int spawn_detached(char *const argv[], bool search, const char *log_path, const SpawnFd *fds,
                   size_t n_fds, pid_t *ret_pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    int r;

    (void)sigemptyset(&none);
    (void)sigfillset(&all);
    (void)posix_spawnattr_init(&attr);
    (void)posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                              POSIX_SPAWN_SETSID);
    (void)posix_spawnattr_setsigmask(&attr, &none);
    (void)posix_spawnattr_setsigdefault(&attr, &all);
    (void)posix_spawn_file_actions_init(&fa);
    (void)posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (log_path) {
        (void)posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_APPEND,
                                               0600);
        (void)posix_spawn_file_actions_adddup2(&fa, 1, 2);
    }
    for (size_t i = 0; i < n_fds; i++)
        (void)posix_spawn_file_actions_adddup2(&fa, fds[i].fd, fds[i].target);
    r = (search ? posix_spawnp : posix_spawn)(ret_pid, argv[0], &fa, &attr, argv, environ);
    (void)posix_spawn_file_actions_destroy(&fa);
    (void)posix_spawnattr_destroy(&attr);
    return r;
}
