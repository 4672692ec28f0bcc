/* A VMM process known by its pid and its start time, reached through a pidfd opened only for
 * as long as one use needs it, so that hvd holds no descriptor per process. */
#pragma once

#include <stdint.h>

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. A process
 * that has ended but was not reaped yet (a zombie) counts as gone: -ESRCH. */
int minihv_process_start_ticks(int pid, uint64_t *ret);

/* Opens a pidfd on pid (O_CLOEXEC, owned by the caller) when pid is still the process that
 * started at start_ticks (0: not known, for hvd's own children, whose pid cannot be reused
 * before hvd reaps them). The pidfd is opened before the start time is checked, so it cannot
 * name a process that took the pid over. -ESRCH when that process is gone (or a zombie). */
int minihv_process_open(int pid, uint64_t start_ticks);

/* Sends sig to pid, when it is still the process that started at start_ticks (as
 * minihv_process_open), through a pidfd opened and closed here. -ESRCH when it is gone. */
int minihv_process_signal(int pid, uint64_t start_ticks, int sig);
