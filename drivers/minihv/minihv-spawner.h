/* hvd's side of `minihv spawner`: VMMs are started through it and their ends come from it, so
 * that neither an exec nor a reap in hvd costs in proportion to the domains running. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "spawn-util.h"

typedef struct MinihvSpawner MinihvSpawner;

/* Called on hvd's loop for each end of a VMM the spawner started. */
typedef void (*MinihvSpawnerEnded)(void *userdata, int pid, int wait_status);

/* Called on hvd's loop once the spawner's own process has ended and its last ends were told:
 * the VMMs it had started are hvd's children from then on (hvd is their subreaper), or
 * ended already. */
typedef void (*MinihvSpawnerLost)(void *userdata);

/* Makes the spawner of `binary spawner` and starts its process as hvd's child. Its ends are
 * read on event at the priority of hvd's SIGCHLD. A spawner whose process could not start is
 * made anyway and tries again later (minihv_spawner_run says why meanwhile). -ENOMEM only. */
int minihv_spawner_new(const char *binary, sd_event *event, MinihvSpawnerEnded ended,
                       MinihvSpawnerLost lost, void *userdata, MinihvSpawner **ret);

/* Closes the spawner's sockets (its process ends on its own; the VMMs keep running). */
void minihv_spawner_free(MinihvSpawner *s);

/* Runs argv (argv[0] the program) through the spawner in its own session, with stdin from
 * /dev/null, stdout and stderr appended to log_path and each fds[i].fd as fds[i].target
 * (3..63). Returns 0 with *ret_pid and *ret_start_ticks (0 when the process ended at once), or
 * a negative errno: the program's (it could not be run) or the spawner's (-ENOTCONN: it is not
 * running, -ETIMEDOUT: it did not answer within a few seconds and was killed). Safe from any
 * thread. */
int minihv_spawner_run(MinihvSpawner *s, char *const argv[], const char *log_path,
                       const SpawnFd *fds, size_t n_fds, int *ret_pid, uint64_t *ret_start_ticks);

/* Whether pid is the spawner's own process, which hvd reaped: then its unread ends are told,
 * then lost, and another spawner starts (after a pause when this one lasted under a second). */
bool minihv_spawner_child_exited(MinihvSpawner *s, int pid);

/* Why the spawner cannot take requests now, or NULL when it can. */
const char *minihv_spawner_down_reason(MinihvSpawner *s);
