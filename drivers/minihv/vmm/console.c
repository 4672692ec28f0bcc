/* Guest console plumbing: sink file, client queue and the input buffer. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "macro.h"

int console_init(Vm *vm, Error *e)
{
    const char *path = vm->cfg.console_path;
    Console *c;

    c = calloc(1, sizeof(*c));
    if (!c)
        return error_set_errno(e, ENOMEM, "out of memory");
    c->sink_fd = -EBADF;
    pthread_mutex_init(&c->out_lock, NULL);
    if (!path || streq(path, "-"))
        c->sink_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    else
        c->sink_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
    if (c->sink_fd < 0) {
        int r = -errno;
        pthread_mutex_destroy(&c->out_lock);
        free(c);
        return error_set_errno(e, r, "cannot open console %s: %m", path ? path : "stdout");
    }
    c->sink_ok = true;
    vm->console = c;
    return 0;
}

void console_fini(Vm *vm)
{
    Console *c = vm->console;

    if (!c)
        return;
    c->sink_fd = safe_close(c->sink_fd);
    pthread_mutex_destroy(&c->out_lock);
    vm->console = mfree(c);
}

/* Blocks while the sink is full (a pipe nobody reads); a kick to stop the domain interrupts
 * the write and the output is then given up. */
static void console_write_sink(Vm *vm, Console *c, const uint8_t *p, size_t len)
{
    while (len > 0 && c->sink_ok) {
        ssize_t n = write(c->sink_fd, p, len);
        if (n < 0) {
            if (errno == EINTR && !vm_exit_requested(vm))
                continue;
            if (errno == EINTR)
                break;
            c->sink_ok = false; /* reader gone (EPIPE) or disk full: keep the guest running */
            break;
        }
        p += n;
        len -= (size_t)n;
    }
}

void console_output(Vm *vm, const void *buf, size_t len)
{
    Console *c = vm->console;
    const uint8_t *p = buf;
    bool wake = false;

    if (len == 0)
        return;
    stats_add(&vm->stats->console_out_bytes, len);
    pthread_mutex_lock(&c->out_lock);
    console_write_sink(vm, c, p, len);
    if (c->clients_attached) {
        size_t room = CONSOLE_CLIENT_SIZE - c->client_len;
        size_t n = MIN(room, len);
        memcpy(c->client_buf + c->client_len, p, n);
        c->client_len += n;
        stats_add(&vm->stats->console_client_dropped, len - n);
        wake = n > 0;
    }
    pthread_mutex_unlock(&c->out_lock);
    if (wake)
        vm_wake_main(vm);
}

size_t console_take_client_output(Vm *vm, void *out, size_t cap)
{
    Console *c = vm->console;
    size_t n;

    pthread_mutex_lock(&c->out_lock);
    n = MIN(cap, c->client_len);
    memcpy(out, c->client_buf, n);
    memmove(c->client_buf, c->client_buf + n, c->client_len - n);
    c->client_len -= n;
    pthread_mutex_unlock(&c->out_lock);
    return n;
}

void console_set_clients_attached(Vm *vm, bool attached)
{
    Console *c = vm->console;

    pthread_mutex_lock(&c->out_lock);
    c->clients_attached = attached;
    if (!attached)
        c->client_len = 0;
    pthread_mutex_unlock(&c->out_lock);
}

size_t console_input_push(Vm *vm, const void *buf, size_t len)
{
    Console *c = vm->console;
    const uint8_t *p = buf;
    size_t n = 0;

    pthread_mutex_lock(&vm->lock);
    while (n < len && c->in_len < CONSOLE_INPUT_SIZE) {
        c->in[(c->in_head + c->in_len) % CONSOLE_INPUT_SIZE] = p[n++];
        c->in_len++;
    }
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    stats_add(&vm->stats->console_in_bytes, n);
    stats_add(&vm->stats->console_in_dropped, len - n);
    return n;
}

size_t console_input_pop(Vm *vm, void *buf, size_t len)
{
    Console *c = vm->console;
    uint8_t *p = buf;
    size_t n = 0;

    pthread_mutex_lock(&vm->lock);
    while (n < len && c->in_len > 0) {
        p[n++] = c->in[c->in_head];
        c->in_head = (c->in_head + 1) % CONSOLE_INPUT_SIZE;
        c->in_len--;
    }
    pthread_mutex_unlock(&vm->lock);
    return n;
}

bool console_input_pending_locked(Vm *vm)
{
    return vm->console->in_len > 0;
}

void console_save(Vm *vm, SnapConsole *out)
{
    Console *c = vm->console;

    _Static_assert(SNAP_CONSOLE_INPUT_MAX == CONSOLE_INPUT_SIZE, "saved console input");
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&vm->lock);
    for (size_t i = 0; i < c->in_len; i++)
        out->in[i] = c->in[(c->in_head + i) % CONSOLE_INPUT_SIZE];
    out->in_len = (uint32_t)c->in_len;
    pthread_mutex_unlock(&vm->lock);
}

int console_load(Vm *vm, const SnapConsole *in)
{
    Console *c = vm->console;

    if (in->in_len > CONSOLE_INPUT_SIZE)
        return -EINVAL;
    pthread_mutex_lock(&vm->lock);
    memcpy(c->in, in->in, in->in_len);
    c->in_head = 0;
    c->in_len = in->in_len;
    pthread_mutex_unlock(&vm->lock);
    return 0;
}
