/* The consoles of running kvm domains through libvirt streams: one stream per console device,
 * the serial port's opened on a worker when the domain runs, a pv domain's virtio console (hvc0)
 * when a client first asks for it. Serial output goes to hvd's live event stream; the output of
 * either goes to every client connected through console_open (a socket each); what clients
 * write goes to the guest. A client may connect while the stream is still being opened: what it
 * types waits in its socket until the stream is there. */
#include <libvirt/virterror.h>

#include "console-fanout.h"
#include "kvm-internal.h"
#include "kvm-xml.h"
#include "log.h"

#define CONSOLE_CHUNK            4096
#define CONSOLE_READS_PER_WAKEUP 16 /* then the loop serves others; libvirt calls again */

typedef struct KvmConsole {
    Driver *drv;
    char name[DOMAIN_NAME_MAX + 1];
    char uuid[DOMAIN_UUID_STRING_MAX];
    ConsoleDevice device;
    char key[DOMAIN_NAME_MAX + 8]; /* in the driver's table: the name, plus ":hvc0" */
    virStreamPtr stream;           /* NULL while a worker opens it */
    bool force;                    /* the worker opening it takes it over from another session */
    ConsoleFanout *clients;        /* their input is held while there is no stream */
} KvmConsole;

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
    console_fanout_free(con->clients);
    console_release_stream(con);
    free(con);
}

static void on_client_input(void *userdata, const char *data, size_t len);

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
    if (console_fanout_new(drv->ctx.event, on_client_input, con, &con->clients) < 0) {
        free(con);
        return NULL;
    }
    console_fanout_hold_input(con->clients, true);
    if (hashmap_put(kvm(drv)->consoles, con->key, con) < 0) {
        console_fanout_free(con->clients);
        return mfree(con);
    }
    return con;
}

static void console_output(KvmConsole *con, const char *data, size_t len)
{
    Driver *drv = con->drv;

    if (drv->ctx.events.console)
        drv->ctx.events.console(drv->ctx.events.userdata, drv, con->name, con->device, data, len);
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

/* What a client typed goes to the guest (the fan-out holds it while there is no stream). */
static void on_client_input(void *userdata, const char *data, size_t len)
{
    KvmConsole *con = userdata;

    for (size_t done = 0; done < len;) {
        int sent = virStreamSend(con->stream, data + done, len - done);
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
    console_fanout_hold_input(con->clients, false);
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
    if (console_fanout_has_clients(con->clients) && !force && !con->force) {
        con->force = true;
        if (kvm_job_submit_console(drv, con->name, con->uuid, device, true) >= 0)
            return;
    }
    n = snprintf(line, sizeof(line), "\r\nhvd: cannot open the console of '%s': %s\r\n", name,
                 error->message);
    console_fanout_output(con->clients, line, (size_t)MIN(n, (int)sizeof(line) - 1));
    console_free(con, error->message);
}

int kvm_console_connect(Driver *drv, const char *name, ConsoleDevice device, int *ret_fd, Error *e)
{
    KvmConsole *con = console_find(drv, name, device);

    if (!con)
        return error_setf(e, ERROR_FAILED, "the console of '%s' is not open", name);
    /* Input waits in the socket until there is a stream to send it to. */
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
