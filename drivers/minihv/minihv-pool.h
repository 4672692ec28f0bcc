/* The warm pool: `minihv pool` processes made ahead of any domain, each waiting to be handed a
 * guest of the pool's shape, so that a start skips exec, KVM's VM and vCPU creation. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

typedef struct MinihvDriver MinihvDriver;
typedef struct DomainConfig DomainConfig;
typedef struct MinihvPool MinihvPool;

/* Starts the pool of md with its current settings ([minihv] warm-pool and its shape) and fills
 * it: the processes are spawned by a thread of the pool's own, never on the event loop. A pool
 * of size 0 spawns nothing. Returns 0 or a negative errno (the driver then runs without). */
int minihv_pool_open(MinihvDriver *md, MinihvPool **ret);

/* Ends every pooled process (they hold no domain), stops the thread. Accepts NULL. */
void minihv_pool_free(MinihvPool *pool);

/* Hands the domain c, with the `minihv run` arguments argv (its ready pipe as --ready-fd 3,
 * its tap as --net-fd 4), to a waiting pooled process of c's shape: sends it the arguments,
 * ready_fd, the VMM log (opened here) and tap_fd (or -EBADF), and takes it out of the pool (a
 * refill is asked for). Returns 1 with *ret_pid set, 0 when no pooled process can take c (the
 * caller spawns one as before), or a negative errno. */
int minihv_pool_hand(MinihvPool *pool, const DomainConfig *c, char **argv, const char *log_path,
                     int ready_fd, int tap_fd, int *ret_pid);

/* A child of hvd ended: true when it was a pooled process (it is forgotten and replaced). */
bool minihv_pool_child_exited(MinihvPool *pool, int pid);

/* {"size", "waiting", "starting", "mode", "memory_mib", "vcpus", "taken", "missed",
 * "spawn_failures"[, "last_spawn_error"]}: the configured size and shape, the processes waiting
 * and being made, the starts that took one, the boots that found none fitting, the processes
 * that could not be spawned or ended before their VM was made, and why the last spawn failed
 * (when one did; a pooled process's own failure is in warm-pool.vmm.log). New reference or
 * NULL. */
json_t *minihv_pool_json(MinihvPool *pool);
