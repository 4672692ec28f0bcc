/* One console fanned out to many client sockets: output to all without waiting, input from any
 * to the driver. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console-fanout.h"
#include "macro.h"

#define CONSOLE_CHUNK 4096

typedef struct FanoutClient {
    int fd;
    sd_event_source *source;
    ConsoleFanout *fanout;
    struct FanoutClient *next;
} FanoutClient;

struct ConsoleFanout {
    sd_event *event;
    ConsoleFanoutInput input;
    void *userdata;
    FanoutClient *clients;
    bool holding; /* clients' input waits in their sockets */
};

static void client_free(FanoutClient *cl)
{
    FanoutClient **p = &cl->fanout->clients;

    while (*p && *p != cl)
        p = &(*p)->next;
    if (*p)
        *p = cl->next;
    (void)sd_event_source_disable_unref(cl->source);
    safe_close(cl->fd);
    free(cl);
}

int console_fanout_new(sd_event *event, ConsoleFanoutInput input, void *userdata,
                       ConsoleFanout **ret)
{
    ConsoleFanout *f = calloc(1, sizeof(*f));

    if (!f)
        return -ENOMEM;
    *f = (ConsoleFanout){.event = event, .input = input, .userdata = userdata};
    *ret = f;
    return 0;
}

ConsoleFanout *console_fanout_free(ConsoleFanout *f)
{
    if (!f)
        return NULL;
    while (f->clients)
        client_free(f->clients);
    return mfree(f);
}

void console_fanout_output(ConsoleFanout *f, const char *data, size_t len)
{
    for (FanoutClient *cl = f->clients, *next; cl; cl = next) {
        next = cl->next;
        if (send(cl->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
            client_free(cl);
    }
}

static int on_client(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    FanoutClient *cl = userdata;
    ConsoleFanout *f = cl->fanout;
    char buf[CONSOLE_CHUNK];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        client_free(cl);
        return 0;
    }
    f->input(f->userdata, buf, (size_t)n); /* may free f: nothing after this */
    return 0;
}

int console_fanout_connect(ConsoleFanout *f, int *ret_fd, Error *e)
{
    FanoutClient *cl;
    int sv[2], r;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return error_set_errno(e, -errno, "Failed to create a console socket: %m");
    cl = calloc(1, sizeof(*cl));
    if (!cl) {
        safe_close(sv[0]);
        safe_close(sv[1]);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    *cl = (FanoutClient){.fd = sv[0], .fanout = f, .next = f->clients};
    r = fcntl(cl->fd, F_SETFL, O_NONBLOCK) < 0 ? -errno : 0;
    if (r >= 0)
        r = sd_event_add_io(f->event, &cl->source, cl->fd, EPOLLIN, on_client, cl);
    if (r >= 0 && f->holding)
        r = sd_event_source_set_enabled(cl->source, SD_EVENT_OFF);
    if (r < 0) {
        (void)sd_event_source_disable_unref(cl->source);
        safe_close(sv[0]);
        safe_close(sv[1]);
        free(cl);
        return error_set_errno(e, r, "Failed to watch the console socket: %m");
    }
    f->clients = cl;
    *ret_fd = sv[1];
    return 0;
}

void console_fanout_hold_input(ConsoleFanout *f, bool hold)
{
    f->holding = hold;
    for (FanoutClient *cl = f->clients; cl; cl = cl->next)
        (void)sd_event_source_set_enabled(cl->source, hold ? SD_EVENT_OFF : SD_EVENT_ON);
}

bool console_fanout_has_clients(const ConsoleFanout *f)
{
    return f->clients != NULL;
}
