/* The messages between hvd's minihv driver and `minihv spawner`: requests to start a VMM, their
 * answers, and the ends of the VMMs the spawner started (all on SOCK_SEQPACKET sockets). */
#pragma once

#include <stdint.h>

/* The spawner's descriptors: requests in and answers out, one after the other; ends out. */
#define SPAWNER_REQUEST_FD 3
#define SPAWNER_ENDS_FD    4

#define SPAWNER_MAGIC 0x68767370u /* "hvsp" */
/* A request's limits: its size, its arguments, its descriptors and their numbers in the VMM. */
#define SPAWNER_REQUEST_MAX   65536
#define SPAWNER_ARGS_MAX      256
#define SPAWNER_FDS_MAX       8
#define SPAWNER_TARGET_FD_MIN 3
#define SPAWNER_TARGET_FD_MAX 63

/* A request: this header, then NUL-terminated strings with nothing after them: the path the
 * VMM's stdout and stderr are appended to, then its argc arguments (argv[0] the program). Its
 * SCM_RIGHTS carry n_fds descriptors, the i-th of which the VMM gets as target_fd[i]. */
typedef struct SpawnerRequest {
    uint32_t magic;
    uint32_t argc;
    uint32_t n_fds;
    int32_t target_fd[SPAWNER_FDS_MAX];
} SpawnerRequest;

/* The answer to one request: the VMM's pid and start time (field 22 of /proc/PID/stat), or
 * the errno that kept it from running (error > 0, pid 0). */
typedef struct SpawnerAnswer {
    int32_t error;
    int32_t pid;
    uint64_t start_ticks;
} SpawnerAnswer;

/* The end of a VMM the spawner started: its pid and its wait status. */
typedef struct SpawnerEnd {
    int32_t pid;
    int32_t wait_status;
} SpawnerEnd;
