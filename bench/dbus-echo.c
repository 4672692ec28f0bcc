/* dbus-echo: the floor of a D-Bus call, a bare sd-bus service whose one method (Lookup, a name
 * in, an object path out, as hvd's GetDomain) does no work, measured through the same
 * dbus-daemon as hvd. Owns org.hvd1.BenchEcho until it is killed. */
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "macro.h"

#define ECHO_NAME      "org.hvd1.BenchEcho"
#define ECHO_PATH      "/org/hvd1/BenchEcho"
#define ECHO_INTERFACE "org.hvd1.BenchEcho"

static int method_lookup(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    _cleanup_free_ char *path = NULL;
    const char *name;
    int r;

    r = sd_bus_message_read(m, "s", &name);
    if (r < 0)
        return r;
    r = sd_bus_path_encode("/org/hvd1/domain", name, &path);
    if (r < 0)
        return r;
    return sd_bus_reply_method_return(m, "o", path);
}

static const sd_bus_vtable echo_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Lookup", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", path),
                            method_lookup, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

int main(int argc, char **argv)
{
    sd_bus *bus = NULL;
    sd_event *event = NULL;
    int r;

    if (argc != 2) {
        fprintf(stderr, "usage: dbus-echo ADDRESS\n");
        return 2;
    }
    r = sd_bus_new(&bus);
    if (r >= 0)
        r = sd_bus_set_address(bus, argv[1]);
    if (r >= 0)
        r = sd_bus_set_bus_client(bus, true);
    if (r >= 0)
        r = sd_bus_start(bus);
    if (r >= 0)
        r = sd_bus_add_object_vtable(bus, NULL, ECHO_PATH, ECHO_INTERFACE, echo_vtable, NULL);
    if (r >= 0)
        r = sd_bus_request_name(bus, ECHO_NAME, 0);
    if (r >= 0)
        r = sd_event_default(&event);
    if (r >= 0)
        r = sd_bus_attach_event(bus, event, 0);
    if (r >= 0)
        r = sd_event_loop(event);
    if (r < 0)
        fprintf(stderr, "dbus-echo: %s\n", strerror(-r));
    sd_bus_unref(bus);
    sd_event_unref(event);
    return r < 0 ? 1 : 0;
}
