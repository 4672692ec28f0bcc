/* The main thread's event loop: signals, timers, vCPU wake-ups, block doorbell, control. */
#pragma once

#include <stdint.h>

#include "error.h"
#include "vm.h"

typedef struct Loop Loop;
typedef struct LoopSource LoopSource;
typedef struct Control Control;

/* A file descriptor watched by the loop; handler runs on the main thread. */
struct LoopSource {
    int fd;
    void (*handler)(LoopSource *src, uint32_t events);
    void *data;
};

/* Creates the loop with its own sources: a signalfd (SIGTERM, SIGINT, SIGHUP destroy the
 * domain; the caller must have blocked them), a 1 s tick (refreshes the pv clock), the
 * shutdown timer, vm->wake_fd and vm->doorbell_fd. */
int loop_new(Vm *vm, Loop **ret, Error *e);
Loop *loop_free(Loop *loop);

/* Watches src->fd for events (EPOLLIN/EPOLLOUT). src must outlive its registration. */
int loop_add(Loop *loop, LoopSource *src, uint32_t events);
int loop_modify(Loop *loop, LoopSource *src, uint32_t events);
void loop_remove(Loop *loop, LoopSource *src);

/* Tells the loop which control server gets console output on wake-ups (may be NULL). */
void loop_set_control(Loop *loop, Control *ctl);

/* Destroys the domain (status 5) if it is still running after seconds. */
int loop_arm_shutdown_timer(Loop *loop, double seconds);

/* Runs until an exit was requested. */
void loop_run(Loop *loop);
