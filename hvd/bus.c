/* D-Bus connection, name, authorization and error mapping. */
#include <string.h>

#include "bus-open.h"
#include "bus.h"
#include "log.h"

int bus_error_from(sd_bus_error *error, const Error *e)
{
    char name[128];

    (void)snprintf(name, sizeof(name), HVD_BUS_ERROR_PREFIX "%s", error_kind_to_string(e->kind));
    (void)sd_bus_error_setf(error, name, "%s", e->message);
    return e->errnum ? e->errnum : -EIO;
}

const char *bus_domain_path(Domain *d)
{
    if (!d->object_path)
        (void)sd_bus_path_encode(HVD_BUS_DOMAIN_PREFIX, d->config.name, &d->object_path);
    return d->object_path;
}

int bus_set_admin_group(Bus *b, const char *group)
{
    char *copy = strdup(group);

    if (!copy)
        return -ENOMEM;
    free(b->admin_group);
    b->admin_group = copy;
    return 0;
}

int bus_new(Manager *m, const char *address, const char *admin_group, Bus **ret, Error *e)
{
    Bus *b;
    int r;

    b = calloc(1, sizeof(*b));
    if (!b)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    b->manager = m;
    if (bus_set_admin_group(b, admin_group) < 0) {
        bus_free(b);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }

    r = bus_open_at(address, &b->bus);
    if (r < 0) {
        (void)error_set_errno(e, r, "Failed to connect to the %s bus%s%s: %m",
                              address ? "given" : "system", address ? " " : "", strempty(address));
        bus_free(b);
        return r;
    }

    r = sd_bus_add_object_vtable(b->bus, NULL, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                                 bus_manager_vtable, b);
    if (r >= 0)
        r = sd_bus_add_fallback_vtable(b->bus, NULL, HVD_BUS_DOMAIN_PREFIX,
                                       HVD_BUS_DOMAIN_INTERFACE, bus_domain_vtable, bus_domain_find,
                                       b);
    if (r >= 0)
        r = sd_bus_add_fallback_vtable(b->bus, NULL, HVD_BUS_DOMAIN_PREFIX,
                                       HVD_BUS_DOMAIN_INTERFACE, bus_snapshot_vtable,
                                       bus_domain_find, b);
    if (r >= 0)
        r = sd_bus_add_fallback_vtable(b->bus, NULL, HVD_BUS_DOMAIN_PREFIX,
                                       HVD_BUS_DOMAIN_INTERFACE, bus_migrate_vtable,
                                       bus_domain_find, b);
    if (r >= 0)
        r = sd_bus_add_node_enumerator(b->bus, NULL, HVD_BUS_DOMAIN_PREFIX, bus_domain_enumerate,
                                       b);
    if (r >= 0)
        r = sd_bus_add_fallback_vtable(b->bus, NULL, HVD_BUS_NETWORK_PREFIX,
                                       HVD_BUS_NETWORK_INTERFACE, bus_network_vtable,
                                       bus_network_find, b);
    if (r >= 0)
        r = sd_bus_add_node_enumerator(b->bus, NULL, HVD_BUS_NETWORK_PREFIX, bus_network_enumerate,
                                       b);
    if (r >= 0)
        r = sd_bus_attach_event(b->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
    if (r >= 0)
        r = bus_auth_start(b);
    if (r < 0) {
        (void)error_set_errno(e, r, "Failed to register D-Bus objects: %m");
        bus_free(b);
        return r;
    }

    r = sd_bus_request_name(b->bus, HVD_BUS_NAME, 0);
    if (r < 0) {
        (void)error_set_errno(e, r,
                              "Failed to take the bus name " HVD_BUS_NAME
                              ": %m (is another hvd running, or does the bus policy not allow "
                              "it? see systemd/org.hvd1.conf)");
        bus_free(b);
        return r;
    }

    ManagerListener l = bus_manager_listener;
    l.userdata = b;
    r = manager_add_listener(m, &l);
    if (r < 0) {
        (void)error_set_errno(e, r, "Failed to listen to the manager: %m");
        bus_free(b);
        return r;
    }
    *ret = b;
    return 0;
}

Bus *bus_free(Bus *b)
{
    if (!b)
        return NULL;
    if (b->manager)
        manager_remove_listener(b->manager, b);
    bus_auth_done(b);
    if (b->bus) {
        (void)sd_bus_flush(b->bus);
        b->bus = sd_bus_flush_close_unref(b->bus);
    }
    free(b->admin_group);
    free(b);
    return NULL;
}
