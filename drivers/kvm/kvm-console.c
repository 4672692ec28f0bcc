/* The serial console of running kvm domains through libvirt streams: one stream per domain,
 * opened when the domain runs. Its output goes to hvd's live event stream and to every client
 * connected through console_open (a socket each); what clients write goes to the guest. */
#include <fcntl.h>
#include <libvirt/virterror.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kvm-internal.h"
#include "log.h"

#define CONSOLE_CHUNK            4096
#define CONSOLE_READS_PER_WAKEUP 16 /* then the loop serves others; libvirt calls again */

typedef struct KvmConsole KvmConsole;

typedef struct ConsoleClient {
    int fd;
    sd_event_source *source;
    KvmConsole *console;
    struct ConsoleClient *next;
} ConsoleClient;

struct KvmConsole {
    Driver *drv;
    char name[DOMAIN_NAME_MAX + 1];
    virStreamPtr stream;
    ConsoleClient *clients;
};

static void client_free(ConsoleClient *cl)
{
    ConsoleClient **p = &cl->console->clients;

    while (*p && *p != cl)
        p = &(*p)->next;
    if (*p)
        *p = cl->next;
    (void)sd_event_source_disable_unref(cl->source);
    safe_close(cl->fd);
    free(cl);
}

/* Stops following: the stream is given up and every client sees the end of its socket. */
static void console_free(KvmConsole *con, const char *why)
{
    log_debug("kvm: console of %s closed: %s", con->name, why);
    (void)hashmap_remove(kvm(con->drv)->consoles, con->name);
    while (con->clients)
        client_free(con->clients);
    (void)virStreamEventRemoveCallback(con->stream);
    (void)virStreamAbort(con->stream);
    (void)virStreamFree(con->stream);
    free(con);
}

static void console_output(KvmConsole *con, const char *data, size_t len)
{
    Driver *drv = con->drv;

    if (drv->ctx.events.console)
        drv->ctx.events.console(drv->ctx.events.userdata, drv, con->name, data, len);
    for (ConsoleClient *cl = con->clients, *next; cl; cl = next) {
        next = cl->next;
        /* A client that does not keep up loses output (the log keeps it); one that is gone is
         * dropped. */
        if (send(cl->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
            client_free(cl);
    }
}

static void on_stream(virStreamPtr st, int events, void *opaque)
{
    KvmConsole *con = opaque;
    char buf[CONSOLE_CHUNK];

    if (events & VIR_STREAM_EVENT_READABLE)
        for (unsigned i = 0; i < CONSOLE_READS_PER_WAKEUP; i++) {
            int n = virStreamRecv(st, buf, sizeof(buf));
            if (n == -2)
                break;
            if (n <= 0) {
                console_free(con, n == 0 ? "the guest's console ended" : virGetLastErrorMessage());
                return;
            }
            console_output(con, buf, (size_t)n);
        }
    if (events & (VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP))
        console_free(con, "the stream ended");
}

static int on_client(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    ConsoleClient *cl = userdata;
    KvmConsole *con = cl->console;
    char buf[CONSOLE_CHUNK];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        client_free(cl);
        return 0;
    }
    for (ssize_t done = 0; done < n;) {
        int sent = virStreamSend(con->stream, buf + done, (size_t)(n - done));
        if (sent == -2) {
            log_debug("kvm: console input for %s dropped: libvirt is not taking more now",
                      con->name);
            break;
        }
        if (sent < 0) {
            console_free(con, virGetLastErrorMessage());
            break;
        }
        done += sent;
    }
    return 0;
}

bool kvm_console_followed(Driver *drv, const char *name)
{
    return hashmap_get(kvm(drv)->consoles, name) != NULL;
}

int kvm_console_open_stream(virDomainPtr dom, bool force, virStreamPtr *ret)
{
    virStreamPtr st = virStreamNew(virDomainGetConnect(dom), VIR_STREAM_NONBLOCK);

    if (!st)
        return -1;
    if (virDomainOpenConsole(dom, NULL, st, force ? VIR_DOMAIN_CONSOLE_FORCE : 0) < 0) {
        (void)virStreamFree(st);
        return -1;
    }
    *ret = st;
    return 0;
}

int kvm_console_adopt(Driver *drv, const char *name, virStreamPtr st)
{
    KvmDriver *k = kvm(drv);
    KvmConsole *con, *old = hashmap_get(k->consoles, name);

    if (old)
        console_free(old, "replaced by a new session");
    con = calloc(1, sizeof(*con));
    if (!con || hashmap_put(k->consoles, name, con) < 0) {
        free(con);
        (void)virStreamAbort(st);
        (void)virStreamFree(st);
        return -ENOMEM;
    }
    con->drv = drv;
    con->stream = st;
    (void)snprintf(con->name, sizeof(con->name), "%s", name);
    if (virStreamEventAddCallback(
            st, VIR_STREAM_EVENT_READABLE | VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP,
            on_stream, con, NULL) < 0) {
        console_free(con, virGetLastErrorMessage());
        return -EIO;
    }
    return 0;
}

int kvm_console_connect(Driver *drv, const char *name, int *ret_fd, Error *e)
{
    KvmConsole *con = hashmap_get(kvm(drv)->consoles, name);
    ConsoleClient *cl;
    int sv[2], r;

    if (!con)
        return error_setf(e, ERROR_FAILED, "the console of '%s' is not open", name);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return error_set_errno(e, -errno, "Failed to create a console socket: %m");
    cl = calloc(1, sizeof(*cl));
    if (!cl) {
        safe_close(sv[0]);
        safe_close(sv[1]);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    *cl = (ConsoleClient){.fd = sv[0], .console = con, .next = con->clients};
    r = fcntl(cl->fd, F_SETFL, O_NONBLOCK) < 0 ? -errno : 0;
    if (r >= 0)
        r = sd_event_add_io(drv->ctx.event, &cl->source, cl->fd, EPOLLIN, on_client, cl);
    if (r < 0) {
        safe_close(sv[0]);
        safe_close(sv[1]);
        free(cl);
        return error_set_errno(e, r, "Failed to watch the console socket: %m");
    }
    con->clients = cl;
    *ret_fd = sv[1];
    return 0;
}

void kvm_consoles_close(Driver *drv)
{
    KvmDriver *k = kvm(drv);
    KvmConsole *con;
    size_t i;

    if (!k->consoles)
        return;
    for (;;) {
        i = 0;
        if (!hashmap_iterate(k->consoles, &i, NULL, (void **)&con))
            break;
        console_free(con, "the connection to libvirt is closing");
    }
}
