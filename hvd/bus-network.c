/* hvd networks on D-Bus: the org.hvd1.Manager methods that create, list, find and delete them,
 * and org.hvd1.Network at /org/hvd1/network/<escaped name> (fallback vtable, finder and node
 * enumerator, as for domains). */
#include <string.h>

#include "bus.h"

const char *bus_network_path(Network *n)
{
    if (!n->object_path)
        (void)sd_bus_path_encode(HVD_BUS_NETWORK_PREFIX, n->name, &n->object_path);
    return n->object_path;
}

int bus_method_create_network(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Bus *b = userdata;
    Error e = ERROR_NULL;
    const char *name, *subnet;
    int nat, dhcp, r;
    json_t *settings;
    Network *n;

    r = sd_bus_message_read(m, "ssbb", &name, &subnet, &nat, &dhcp);
    if (r < 0)
        return r;
    r = bus_verify_manage(b, m, HVD_POLKIT_MANAGE_NETWORKS, "create networks", error);
    if (r <= 0)
        return r < 0 ? r : 1; /* refused, or called again with the verdict */
    settings =
        json_pack("{s:s, s:s, s:b, s:b}", "name", name, "subnet", subnet, "nat", nat, "dhcp", dhcp);
    if (!settings)
        return -ENOMEM;
    bus_name_caller(b, m);
    r = manager_network_create(b->manager, settings, &n, &e);
    manager_set_caller(b->manager, NULL);
    json_decref(settings);
    if (r < 0)
        return bus_error_from(error, &e);
    return sd_bus_reply_method_return(m, "o", bus_network_path(n));
}

/* Reads a network name argument and finds the network (NoSuchNetwork when absent). */
static int read_network(sd_bus_message *m, Bus *b, Network **ret, sd_bus_error *error)
{
    Error e = ERROR_NULL;
    const char *name;
    int r;

    r = sd_bus_message_read(m, "s", &name);
    if (r < 0)
        return r;
    r = manager_network_get(b->manager, name, ret, &e);
    return r < 0 ? bus_error_from(error, &e) : 0;
}

int bus_method_get_network(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Network *n;
    int r;

    r = read_network(m, userdata, &n, error);
    if (r < 0)
        return r;
    return sd_bus_reply_method_return(m, "o", bus_network_path(n));
}

int bus_method_list_networks(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    Bus *b = userdata;
    Manager *mgr = b->manager;
    int r;

    r = sd_bus_message_new_method_return(m, &reply);
    if (r >= 0)
        r = sd_bus_message_open_container(reply, 'a', "(sssbbo)");
    for (size_t i = 0; r >= 0 && i < mgr->n_networks; i++) {
        Network *n = mgr->networks[i];
        json_t *o = json_object();
        if (!o || network_to_json(n, o) < 0) {
            json_decref(o);
            return -ENOMEM;
        }
        r = sd_bus_message_append(reply, "(sssbbo)", n->name,
                                  json_string_value(json_object_get(o, "subnet")), n->bridge,
                                  n->nat, n->dhcp, bus_network_path(n));
        json_decref(o);
    }
    if (r >= 0)
        r = sd_bus_message_close_container(reply);
    if (r < 0)
        return r;
    return sd_bus_send(NULL, reply, NULL);
}

int bus_method_delete_network(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Bus *b = userdata;
    Error e = ERROR_NULL;
    Network *n;
    int r;

    r = read_network(m, b, &n, error);
    if (r < 0)
        return r;
    r = bus_verify_manage(b, m, HVD_POLKIT_MANAGE_NETWORKS, "delete networks", error);
    if (r <= 0)
        return r < 0 ? r : 1; /* refused, or called again with the verdict */
    bus_name_caller(b, m);
    r = manager_network_delete(b->manager, n, &e);
    manager_set_caller(b->manager, NULL);
    if (r < 0)
        return bus_error_from(error, &e);
    return sd_bus_reply_method_return(m, NULL);
}

int bus_network_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                     void **found, sd_bus_error *error)
{
    Bus *b = userdata;
    _cleanup_free_ char *name = NULL;
    Network *n;

    if (sd_bus_path_decode(path, HVD_BUS_NETWORK_PREFIX, &name) <= 0)
        return 0;
    n = manager_network_find(b->manager, name);
    if (!n)
        return 0;
    *found = n;
    return 1;
}

int bus_network_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                          sd_bus_error *error)
{
    Bus *b = userdata;
    Manager *m = b->manager;
    char **list = calloc(m->n_networks + 1, sizeof(char *));

    if (!list)
        return -ENOMEM;
    for (size_t i = 0; i < m->n_networks; i++) {
        const char *p = bus_network_path(m->networks[i]);
        list[i] = p ? strdup(p) : NULL;
        if (!list[i]) {
            for (size_t j = 0; j < i; j++)
                free(list[j]);
            free(list);
            return -ENOMEM;
        }
    }
    *nodes = list;
    return 1;
}

static int method_get_info(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    Network *n = userdata;
    Error e = ERROR_NULL;
    json_t *info;
    int r;

    r = manager_network_info(n->manager, n, &info, &e);
    if (r < 0)
        return bus_error_from(error, &e);
    r = sd_bus_message_new_method_return(m, &reply);
    if (r >= 0)
        r = bus_append_json_dict(reply, info);
    json_decref(info);
    if (r < 0)
        return r;
    return sd_bus_send(NULL, reply, NULL);
}

/* One string field of the network's JSON form (subnet, address): computed where it is asked. */
static int property_get_json_string(sd_bus *bus, const char *path, const char *interface,
                                    const char *property, sd_bus_message *reply, void *userdata,
                                    sd_bus_error *error)
{
    Network *n = userdata;
    json_t *o = json_object();
    int r;

    if (!o || network_to_json(n, o) < 0) {
        json_decref(o);
        return -ENOMEM;
    }
    r = sd_bus_message_append(reply, "s",
                              strempty(json_string_value(json_object_get(
                                  o, streq(property, "Subnet") ? "subnet" : "address"))));
    json_decref(o);
    return r;
}

static int property_get_name(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error)
{
    Network *n = userdata;
    return sd_bus_message_append(reply, "s", streq(property, "Name") ? n->name : n->bridge);
}

static int property_get_flag(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error)
{
    Network *n = userdata;
    return sd_bus_message_append(reply, "b", streq(property, "NAT") ? n->nat : n->dhcp);
}

#define CONST SD_BUS_VTABLE_PROPERTY_CONST

const sd_bus_vtable bus_network_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Name", "s", property_get_name, 0, CONST),
    SD_BUS_PROPERTY("Subnet", "s", property_get_json_string, 0, CONST),
    SD_BUS_PROPERTY("Address", "s", property_get_json_string, 0, CONST),
    SD_BUS_PROPERTY("Bridge", "s", property_get_name, 0, CONST),
    SD_BUS_PROPERTY("NAT", "b", property_get_flag, 0, CONST),
    SD_BUS_PROPERTY("DHCP", "b", property_get_flag, 0, CONST),
    SD_BUS_PROPERTY("CreatedUSec", "t", NULL, offsetof(Network, created_us), CONST),
    SD_BUS_METHOD_WITH_ARGS("GetInfo", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", info),
                            method_get_info, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};
