/* The serial console of running kvm domains through libvirt streams: one stream per domain,
 * opened when the domain runs. Its output goes to hvd's live event stream and to every client
 * connected through console_open (a socket each); what clients write goes to the guest. */
#include <libvirt/virterror.h>

#include "console-fanout.h"
#include "kvm-internal.h"
#include "log.h"

#define CONSOLE_CHUNK            4096
#define CONSOLE_READS_PER_WAKEUP 16 /* then the loop serves others; libvirt calls again */

typedef struct KvmConsole {
    Driver *drv;
    char name[DOMAIN_NAME_MAX + 1];
    virStreamPtr stream;
    ConsoleFanout *clients;
} KvmConsole;

/* Stops following: the stream is given up and every client sees the end of its socket. */
static void console_free(KvmConsole *con, const char *why)
{
    log_debug("kvm: console of %s closed: %s", con->name, why);
    (void)hashmap_remove(kvm(con->drv)->consoles, con->name);
    console_fanout_free(con->clients);
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
    console_fanout_output(con->clients, data, len);
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

/* What a client typed, to the guest. */
static void on_client_input(void *userdata, const char *buf, size_t n)
{
    KvmConsole *con = userdata;

    for (size_t done = 0; done < n;) {
        int sent = virStreamSend(con->stream, buf + done, n - done);
        if (sent == -2) {
            log_debug("kvm: console input for %s dropped: libvirt is not taking more now",
                      con->name);
            break;
        }
        if (sent < 0) {
            console_free(con, virGetLastErrorMessage());
            break;
        }
        done += (size_t)sent;
    }
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
    if (!con || console_fanout_new(drv->ctx.event, on_client_input, con, &con->clients) < 0 ||
        hashmap_put(k->consoles, name, con) < 0) {
        if (con)
            console_fanout_free(con->clients);
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

    if (!con)
        return error_setf(e, ERROR_FAILED, "the console of '%s' is not open", name);
    return console_fanout_connect(con->clients, ret_fd, e);
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
