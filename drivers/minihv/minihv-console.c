/* The console of a running minihv domain: one connection to minihv's console stream per
 * instance, opened without waiting, fanned out to every client; input from the clients is held
 * in a bounded buffer until minihv takes it, and dropped (and counted) beyond it. */
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "minihv-internal.h"

#define CONSOLE_CHUNK 4096

/* Watches the connection for output, and for room when input is waiting. */
static void console_watch(Instance *inst)
{
    (void)sd_event_source_set_io_events(inst->console_source,
                                        EPOLLIN | (inst->console_in_len > 0 ? EPOLLOUT : 0));
}

static void console_drop_input(Instance *inst)
{
    inst->console_in_dropped += inst->console_in_len;
    inst->console_in_len = 0;
}

void instance_console_detach(Instance *inst)
{
    control_call_cancel(inst->console_call);
    inst->console_call = NULL;
    inst->console_source = sd_event_source_disable_unref(inst->console_source);
    inst->console_fd = safe_close(inst->console_fd);
    console_drop_input(inst);
}

/* The connection ended while the instance runs on (minihv hung up: it is ending, or closed it):
 * the end of an adopted process is watched another way from here on. */
static void console_lost(Instance *inst)
{
    instance_console_detach(inst);
    instance_watch_end(inst);
}

/* Sends held input as far as minihv takes it now. */
static void console_flush(Instance *inst)
{
    while (inst->console_fd >= 0 && inst->console_in_len > 0) {
        ssize_t n = send(inst->console_fd, inst->console_in, inst->console_in_len,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) {
            log_debug("minihv: console of %s lost: %m", inst->config.name);
            console_lost(inst);
            return;
        }
        memmove(inst->console_in, inst->console_in + n, inst->console_in_len - (size_t)n);
        inst->console_in_len -= (size_t)n;
    }
    if (inst->console_source)
        console_watch(inst);
}

static void console_output(Instance *inst, const char *data, size_t len)
{
    Driver *drv = inst->md->drv;

    if (drv->ctx.events.console)
        drv->ctx.events.console(drv->ctx.events.userdata, drv, inst->config.name, CONSOLE_SERIAL,
                                data, len);
    if (inst->console_clients)
        console_fanout_output(inst->console_clients, data, len);
}

static int on_console(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    Instance *inst = userdata;
    char buf[CONSOLE_CHUNK];
    ssize_t n;

    if (revents & EPOLLOUT) {
        console_flush(inst);
        if (inst->console_fd < 0)
            return 0;
    }
    if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return 0;
    n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        console_lost(inst);
        return 0;
    }
    console_output(inst, buf, (size_t)n);
    return 0;
}

void instance_console_opened(Instance *inst, int fd, const char *early, size_t early_len)
{
    inst->console_fd = fd;
    if (sd_event_add_io(inst->md->drv->ctx.event, &inst->console_source, fd, EPOLLIN, on_console,
                        inst) < 0) {
        console_lost(inst);
        return;
    }
    instance_watch_end(inst); /* its hang-up tells of the process's end from now on */
    if (early_len > 0)
        console_output(inst, early, early_len);
    console_flush(inst);
}

static void on_console_opened(ControlCall *call, int fd, const char *early, size_t early_len,
                              json_t *reply, const Error *e, void *userdata)
{
    Instance *inst = userdata;

    inst->console_call = NULL;
    if (e) {
        log_debug("minihv: console of %s not followed: %s", inst->config.name, e->message);
        instance_watch_end(inst); /* an adopted process may have ended */
        return;
    }
    instance_console_opened(inst, fd, early, early_len);
}

void instance_console_attach(Instance *inst)
{
    Error e = ERROR_NULL;

    /* an adopted process not confirmed yet gets its console as its probe (minihv-adopt.c) */
    if (!inst->ready || inst->console_fd >= 0 || inst->console_call || inst->probe_call ||
        (!inst->own_child && !inst->confirmed))
        return;
    if (control_console_open_async(inst->md->drv->ctx.event, inst->control_path, CONTROL_TIMEOUT_MS,
                                   on_console_opened, inst, &inst->console_call, &e) < 0) {
        log_debug("minihv: console of %s not followed: %s", inst->config.name, e.message);
        instance_watch_end(inst);
    } else /* a new domain's start is answered first */
        control_call_set_priority(inst->console_call, CONTROL_PRIORITY_BACKGROUND);
}

/* What a client typed: held until minihv takes it, dropped beyond CONSOLE_INPUT_MAX. */
static void on_client_input(void *userdata, const char *data, size_t len)
{
    Instance *inst = userdata;
    size_t take;

    if (!inst->console_in) {
        inst->console_in = malloc(CONSOLE_INPUT_MAX);
        if (!inst->console_in) {
            inst->console_in_dropped += len;
            return;
        }
    }
    take = MIN(len, CONSOLE_INPUT_MAX - inst->console_in_len);
    memcpy(inst->console_in + inst->console_in_len, data, take);
    inst->console_in_len += take;
    if (take < len) {
        inst->console_in_dropped += len - take;
        log_debug("minihv: console input for %s dropped: minihv is not taking it",
                  inst->config.name);
    }
    console_flush(inst);
}

int instance_console_connect(Instance *inst, int *ret_fd, Error *e)
{
    int r;

    if (!inst->console_clients) {
        r = console_fanout_new(inst->md->drv->ctx.event, on_client_input, inst,
                               &inst->console_clients);
        if (r < 0)
            return error_set_errno(e, r, "Out of memory");
    }
    r = console_fanout_connect(inst->console_clients, ret_fd, e);
    if (r < 0)
        return r;
    instance_console_attach(inst);
    return 0;
}

void instance_console_free(Instance *inst)
{
    instance_console_detach(inst);
    inst->console_clients = console_fanout_free(inst->console_clients);
    inst->console_in = mfree(inst->console_in);
}
