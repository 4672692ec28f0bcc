/* The consoles of running kvm domains through libvirt streams: one stream per console device,
 * the serial port's opened on a worker when the domain runs, a pv domain's virtio console (hvc0)
 * when a client first asks for it. Serial output goes to hvd's live event stream; the output of
 * either goes to every client connected through console_open (a socket each); what clients
 * write goes to the guest. A client may connect while the stream is still being opened: what it
 * types waits in its socket until the stream is there. */
#include <fcntl.h>
#include <libvirt/virterror.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kvm-internal.h"
#include "kvm-xml.h"
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
    char uuid[DOMAIN_UUID_STRING_MAX];
    ConsoleDevice device;
    char key[DOMAIN_NAME_MAX + 8]; /* in the driver's table: the name, plus ":hvc0" */
    virStreamPtr stream;           /* NULL while a worker opens it */
    bool force;                    /* the worker opening it takes it over from another session */
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

/* Lets go of con's stream (on a worker: aborting it is a round trip). */
static void console_release_stream(KvmConsole *con)
{
    if (!con->stream)
        return;
    (void)virStreamEventRemoveCallback(con->stream);
    kvm_release(con->drv, TAKE_PTR(con->stream), NULL, -1, -1);
}

/* Stops following: the stream is given up and every client sees the end of its socket. */
static void console_free(KvmConsole *con, const char *why)
{
    log_debug("kvm: console %s of %s closed: %s", console_device_to_string(con->device), con->name,
              why);
    (void)hashmap_remove(kvm(con->drv)->consoles, con->key);
    while (con->clients)
        client_free(con->clients);
    console_release_stream(con);
    free(con);
}

static void console_key(const char *name, ConsoleDevice device, char ret[DOMAIN_NAME_MAX + 8])
{
    (void)snprintf(ret, DOMAIN_NAME_MAX + 8, "%s%s", name, device == CONSOLE_VIRTIO ? ":hvc0" : "");
}

static KvmConsole *console_find(Driver *drv, const char *name, ConsoleDevice device)
{
    char key[DOMAIN_NAME_MAX + 8];

    console_key(name, device, key);
    return hashmap_get(kvm(drv)->consoles, key);
}

static KvmConsole *console_new(Driver *drv, const char *name, const char *uuid,
                               ConsoleDevice device)
{
    KvmConsole *con = calloc(1, sizeof(*con));

    if (!con)
        return NULL;
    con->drv = drv;
    con->device = device;
    (void)snprintf(con->name, sizeof(con->name), "%s", name);
    (void)snprintf(con->uuid, sizeof(con->uuid), "%s", uuid);
    console_key(name, device, con->key);
    if (hashmap_put(kvm(drv)->consoles, con->key, con) < 0)
        return mfree(con);
    return con;
}

static void console_output(KvmConsole *con, const char *data, size_t len)
{
    Driver *drv = con->drv;

    if (drv->ctx.events.console && con->device == CONSOLE_SERIAL)
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

int kvm_console_open_stream(virDomainPtr dom, ConsoleDevice device, bool force, virStreamPtr *ret)
{
    virStreamPtr st = virStreamNew(virDomainGetConnect(dom), VIR_STREAM_NONBLOCK);

    if (!st)
        return -1;
    /* NULL is the first console: the serial port. */
    if (virDomainOpenConsole(dom, device == CONSOLE_VIRTIO ? KVM_VIRTIO_CONSOLE_ALIAS : NULL, st,
                             force ? VIR_DOMAIN_CONSOLE_FORCE : 0) < 0) {
        (void)virStreamFree(st);
        return -1;
    }
    *ret = st;
    return 0;
}

int kvm_console_follow(Driver *drv, const char *name, const char *uuid, ConsoleDevice device,
                       bool force, Error *e)
{
    KvmConsole *con;
    int r;

    if (console_find(drv, name, device))
        return 0;
    con = console_new(drv, name, uuid, device);
    if (!con)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    con->force = force;
    r = kvm_job_submit_console(drv, name, uuid, device, force);
    if (r < 0) {
        console_free(con, "its opening could not be queued");
        return error_set_errno(e, r, "Failed to open the console of '%s': %m", name);
    }
    return 0;
}

int kvm_console_adopt(Driver *drv, const char *name, const char *uuid, ConsoleDevice device,
                      virStreamPtr st)
{
    KvmConsole *con = console_find(drv, name, device);

    if (!con)
        con = console_new(drv, name, uuid, device);
    if (!con) {
        kvm_release(drv, st, NULL, -1, -1);
        return -ENOMEM;
    }
    if (con->stream) {
        log_debug("kvm: console of %s: replaced by a new session", name);
        console_release_stream(con);
    }
    con->stream = st;
    if (virStreamEventAddCallback(
            st, VIR_STREAM_EVENT_READABLE | VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP,
            on_stream, con, NULL) < 0) {
        console_free(con, virGetLastErrorMessage());
        return -EIO;
    }
    /* Clients that connected while the stream was being opened: their input flows now. */
    for (ConsoleClient *cl = con->clients; cl; cl = cl->next)
        (void)sd_event_source_set_enabled(cl->source, SD_EVENT_ON);
    return 0;
}

void kvm_console_failed(Driver *drv, const char *name, ConsoleDevice device, bool force,
                        const Error *error)
{
    KvmConsole *con = console_find(drv, name, device);
    char line[sizeof(error->message) + 128];
    int n;

    if (!con || con->stream)
        return;
    /* Another session holds it, and someone waits for it: take it over, as virsh console
     * --force does. */
    if (con->clients && !force && !con->force) {
        con->force = true;
        if (kvm_job_submit_console(drv, con->name, con->uuid, device, true) >= 0)
            return;
    }
    n = snprintf(line, sizeof(line), "\r\nhvd: cannot open the console of '%s': %s\r\n", name,
                 error->message);
    for (ConsoleClient *cl = con->clients; cl; cl = cl->next)
        (void)send(cl->fd, line, (size_t)MIN(n, (int)sizeof(line) - 1),
                   MSG_DONTWAIT | MSG_NOSIGNAL);
    console_free(con, error->message);
}

int kvm_console_connect(Driver *drv, const char *name, ConsoleDevice device, int *ret_fd, Error *e)
{
    KvmConsole *con = console_find(drv, name, device);
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
    /* Input waits in the socket until there is a stream to send it to. */
    if (r >= 0 && !con->stream)
        r = sd_event_source_set_enabled(cl->source, SD_EVENT_OFF);
    if (r < 0) {
        (void)sd_event_source_disable_unref(cl->source);
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
