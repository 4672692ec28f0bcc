/* The guest console: output to a file or stdout and to attached clients; input from clients. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "snapshot-format.h"
#include "vm.h"

#define CONSOLE_INPUT_SIZE  4096u
#define CONSOLE_CLIENT_SIZE 65536u

struct Console {
    int sink_fd;  /* console file (O_APPEND) or a dup of stdout; -EBADF for none */
    bool sink_ok; /* false after a write error: output then goes to clients only */
    pthread_mutex_t out_lock;
    /* Output waiting for the main loop to hand to attached console clients. */
    uint8_t client_buf[CONSOLE_CLIENT_SIZE];
    size_t client_len;
    bool clients_attached;
    /* Input from clients, protected by vm->lock. */
    uint8_t in[CONSOLE_INPUT_SIZE];
    size_t in_head;
    size_t in_len;
};

/* Opens the sink named by cfg->console_path ("-" or NULL: stdout) and sets vm->console. */
int console_init(Vm *vm, Error *e);
void console_fini(Vm *vm);

/* Guest output: writes buf to the sink and queues it for attached clients. vCPU threads. */
void console_output(Vm *vm, const void *buf, size_t len);

/* Host input for the guest; bytes beyond the buffer are dropped and counted. Returns the
 * number accepted. Wakes waiting vCPUs. Any thread. */
size_t console_input_push(Vm *vm, const void *buf, size_t len);

/* Takes up to len input bytes into buf; returns how many (0 when none). Takes vm->lock. */
size_t console_input_pop(Vm *vm, void *buf, size_t len);

/* Whether input is waiting. Caller holds vm->lock. */
bool console_input_pending_locked(Vm *vm);

/* Main loop: moves queued client output into out (up to cap bytes); returns the count. */
size_t console_take_client_output(Vm *vm, void *out, size_t cap);

/* Main loop: tells the console whether any client is attached (output is queued only then). */
void console_set_clients_attached(Vm *vm, bool attached);

/* Saved console input (bytes the guest had not read). load returns 0 or -EINVAL. */
void console_save(Vm *vm, SnapConsole *out);
int console_load(Vm *vm, const SnapConsole *in);
