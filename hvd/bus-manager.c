/* org.hvd1.Manager at /org/hvd1: create, look up, list and delete domains (and networks, whose
 * methods live in bus-network.c); the host view; the event log. */
#include "bus.h"
#include "event-log.h"

static int method_create_domain(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Bus *b = userdata;
    Error e = ERROR_NULL;
    json_t *settings = NULL;
    Domain *d;
    int r;

    r = bus_verify_manage(b, m, HVD_POLKIT_MANAGE_DOMAINS, "create domains", error);
    if (r <= 0)
        return r < 0 ? r : 1; /* refused, or called again with the verdict */
    r = bus_read_settings(m, &settings, &e);
    if (r < 0)
        return bus_error_from(error, &e);
    bus_name_caller(b, m);
    r = manager_domain_create(b->manager, settings, &d, &e);
    manager_set_caller(b->manager, NULL);
    json_decref(settings);
    if (r < 0)
        return bus_error_from(error, &e);
    return sd_bus_reply_method_return(m, "o", bus_domain_path(d));
}

/* Reads a domain name argument and finds the domain (NoSuchDomain when absent). */
static int read_domain(sd_bus_message *m, Bus *b, Domain **ret, sd_bus_error *error)
{
    Error e = ERROR_NULL;
    const char *name;
    int r;

    r = sd_bus_message_read(m, "s", &name);
    if (r < 0)
        return r;
    r = manager_get(b->manager, name, ret, &e);
    return r < 0 ? bus_error_from(error, &e) : 0;
}

static int method_get_domain(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Domain *d;
    int r;

    r = read_domain(m, userdata, &d, error);
    if (r < 0)
        return r;
    return sd_bus_reply_method_return(m, "o", bus_domain_path(d));
}

static int method_list_domains(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    Bus *b = userdata;
    Manager *mgr = b->manager;
    int r;

    r = sd_bus_message_new_method_return(m, &reply);
    if (r < 0)
        return r;
    r = sd_bus_message_open_container(reply, 'a', "(sssssuto)");
    if (r < 0)
        return r;
    /* One container and eight basic appends per domain: no format string to parse in the
     * loop, which is most of the cost of a large list. */
    for (size_t i = 0; i < mgr->n_domains; i++) {
        Domain *d = mgr->domains[i];
        uint32_t vcpus = d->config.vcpus;
        uint64_t memory = d->config.memory_mib;

        r = sd_bus_message_open_container(reply, 'r', "sssssuto");
        if (r >= 0)
            r = sd_bus_message_append_basic(reply, 's', d->config.name);
        if (r >= 0)
            r = sd_bus_message_append_basic(reply, 's', driver_kind_to_string(d->config.driver));
        if (r >= 0)
            r = sd_bus_message_append_basic(reply, 's', domain_mode_to_string(d->config.mode));
        if (r >= 0)
            r = sd_bus_message_append_basic(reply, 's', domain_state_to_string(d->state));
        if (r >= 0)
            r = sd_bus_message_append_basic(reply, 's', domain_reason_to_string(d->reason));
        if (r >= 0)
            r = sd_bus_message_append_basic(reply, 'u', &vcpus);
        if (r >= 0)
            r = sd_bus_message_append_basic(reply, 't', &memory);
        if (r >= 0)
            r = sd_bus_message_append_basic(reply, 'o', bus_domain_path(d));
        if (r >= 0)
            r = sd_bus_message_close_container(reply);
        if (r < 0)
            return r;
    }
    r = sd_bus_message_close_container(reply);
    if (r < 0)
        return r;
    return sd_bus_send(NULL, reply, NULL);
}

static int method_get_host(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    Bus *b = userdata;
    char authorization[256];
    json_t *host;
    int r;

    host = manager_host_view(b->manager);
    if (!host)
        return -ENOMEM;
    bus_auth_describe(b, authorization, sizeof(authorization));
    (void)json_object_set_new(host, "authorization", json_string(authorization));
    r = sd_bus_message_new_method_return(m, &reply);
    if (r >= 0)
        r = bus_append_json_dict(reply, host);
    json_decref(host);
    if (r < 0)
        return r;
    return sd_bus_send(NULL, reply, NULL);
}

static int method_delete_domain(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Bus *b = userdata;
    Error e = ERROR_NULL;
    Domain *d;
    int r;

    r = read_domain(m, b, &d, error);
    if (r < 0)
        return r;
    r = bus_verify_manage(b, m, HVD_POLKIT_MANAGE_DOMAINS, "delete domains", error);
    if (r <= 0)
        return r < 0 ? r : 1; /* refused, or called again with the verdict */
    bus_name_caller(b, m);
    r = manager_domain_delete(b->manager, d, &e);
    manager_set_caller(b->manager, NULL);
    if (r < 0)
        return bus_error_from(error, &e);
    return sd_bus_reply_method_return(m, NULL);
}

/* Reads GetEvents' filter: since, domain, kind (strings) and limit (u), each optional. */
static int read_event_filter(sd_bus_message *m, EventLogQuery *q, sd_bus_error *error)
{
    int r;

    r = sd_bus_message_enter_container(m, 'a', "{sv}");
    if (r < 0)
        return r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const char *key, **text = NULL;

        r = sd_bus_message_read(m, "s", &key);
        if (r < 0)
            return r;
        if (streq(key, "since"))
            text = &q->since;
        else if (streq(key, "domain"))
            text = &q->domain;
        else if (streq(key, "kind"))
            text = &q->kind;
        else if (!streq(key, "limit"))
            return sd_bus_error_setf(error, HVD_BUS_ERROR_PREFIX "InvalidArgument",
                                     "unknown filter '%s': use since, domain, kind or limit", key);
        r = text ? sd_bus_message_read(m, "v", "s", text)
                 : sd_bus_message_read(m, "v", "u", &q->limit);
        if (r < 0)
            return sd_bus_error_setf(error, HVD_BUS_ERROR_PREFIX "InvalidArgument",
                                     "filter '%s' must be %s", key, text ? "a string (s)" : "a u");
        r = sd_bus_message_exit_container(m);
        if (r < 0)
            return r;
    }
    if (r < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

static int method_get_events(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    Bus *b = userdata;
    EventLogQuery q = {};
    Error e = ERROR_NULL;
    json_t *events, *ev;
    bool more;
    size_t i;
    int r;

    r = read_event_filter(m, &q, error);
    if (r < 0)
        return r;
    r = event_log_read(b->manager, &q, &events, &more, &e);
    if (r < 0)
        return bus_error_from(error, &e);
    r = sd_bus_message_new_method_return(m, &reply);
    if (r >= 0)
        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
    json_array_foreach (events, i, ev)
        if (r >= 0)
            r = bus_append_json_dict(reply, ev);
    if (r >= 0)
        r = sd_bus_message_close_container(reply);
    if (r >= 0)
        r = sd_bus_message_append(reply, "b", more);
    json_decref(events);
    if (r < 0)
        return r;
    return sd_bus_send(NULL, reply, NULL);
}

const sd_bus_vtable bus_manager_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("CreateDomain", SD_BUS_ARGS("a{sv}", settings),
                            SD_BUS_RESULT("o", domain), method_create_domain,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetDomain", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", domain),
                            method_get_domain, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ListDomains", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sssssuto)", domains),
                            method_list_domains, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetHost", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", host),
                            method_get_host, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetEvents", SD_BUS_ARGS("a{sv}", filter),
                            SD_BUS_RESULT("aa{sv}", events, "b", more), method_get_events,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("DeleteDomain", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
                            method_delete_domain, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS(
        "CreateNetwork", SD_BUS_ARGS("s", name, "s", subnet, "b", nat, "b", dhcp),
        SD_BUS_RESULT("o", network), bus_method_create_network, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetNetwork", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", network),
                            bus_method_get_network, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ListNetworks", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sssbbo)", networks),
                            bus_method_list_networks, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("DeleteNetwork", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
                            bus_method_delete_network, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ClusterCreateDomain",
                            SD_BUS_ARGS("a{sv}", settings, "b", ha, "s", host),
                            SD_BUS_RESULT("a{sv}", domain), bus_method_cluster_create_domain,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ClusterCreateHADomain",
                            SD_BUS_ARGS("a{sv}", settings, "s", host, "s", ha_from),
                            SD_BUS_RESULT("a{sv}", domain), bus_method_cluster_create_ha_domain,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ClusterDeleteDomain", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
                            bus_method_cluster_delete_domain, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ClusterDrainHost", SD_BUS_ARGS("s", host, "b", drain),
                            SD_BUS_RESULT("a{sv}", outcome), bus_method_cluster_drain_host,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ClusterMoveDomain", SD_BUS_ARGS("s", name, "s", host),
                            SD_BUS_RESULT("a{sv}", domain), bus_method_cluster_move_domain,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ClusterListDomains", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", domains),
                            bus_method_cluster_list_domains, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ClusterListHosts", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", hosts),
                            bus_method_cluster_list_hosts, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_ARGS("DomainNew", SD_BUS_ARGS("s", name, "o", domain), 0),
    SD_BUS_SIGNAL_WITH_ARGS("DomainRemoved", SD_BUS_ARGS("s", name, "o", domain), 0),
    SD_BUS_SIGNAL_WITH_ARGS("DomainStateChanged",
                            SD_BUS_ARGS("s", name, "o", domain, "s", state, "s", reason), 0),
    SD_BUS_VTABLE_END,
};
