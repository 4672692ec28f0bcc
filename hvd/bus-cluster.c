/* org.hvd1.Manager's cluster methods: ClusterCreateDomain, ClusterDeleteDomain,
 * ClusterListDomains and ClusterListHosts, answered once etcd (or the leader and the owner) did;
 * without [cluster] they fail with InvalidState. */
#include "bus.h"
#include "cluster.h"

/* Answers the call held in userdata (a reference taken on it) with result or e. */
static void reply_done(sd_bus_message *m, json_t *result, const Error *e, bool array)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
    json_t *item;
    size_t i;
    int r;

    if (e) {
        (void)bus_error_from(&error, e);
        (void)sd_bus_reply_method_error(m, &error);
        sd_bus_message_unref(m);
        return;
    }
    r = sd_bus_message_new_method_return(m, &reply);
    if (r >= 0 && array) {
        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        json_array_foreach (result, i, item)
            if (r >= 0)
                r = bus_append_json_dict(reply, item);
        if (r >= 0)
            r = sd_bus_message_close_container(reply);
    } else if (r >= 0)
        r = bus_append_json_dict(reply, result);
    if (r >= 0)
        (void)sd_bus_send(NULL, reply, NULL);
    else
        (void)sd_bus_reply_method_errno(m, r, NULL);
    sd_bus_message_unref(m);
}

static void list_done(void *userdata, json_t *result, const Error *e)
{
    reply_done(userdata, result, e, true);
}

static void entry_done(void *userdata, json_t *result, const Error *e)
{
    reply_done(userdata, result, e, false);
}

static Cluster *cluster_of(Bus *b, sd_bus_error *error)
{
    Error e = ERROR_NULL;

    if (b->manager->cluster)
        return b->manager->cluster;
    (void)error_setf(&e, ERROR_INVALID_STATE,
                     "this hvd is not part of a cluster (its configuration has no [cluster] "
                     "section)");
    (void)bus_error_from(error, &e);
    return NULL;
}

static int list(sd_bus_message *m, Bus *b, bool hosts, sd_bus_error *error)
{
    Cluster *c = cluster_of(b, error);
    Error e = ERROR_NULL;
    int r;

    if (!c)
        return -EBUSY;
    r = hosts ? cluster_hosts(c, list_done, sd_bus_message_ref(m), &e)
              : cluster_domains(c, list_done, sd_bus_message_ref(m), &e);
    if (r < 0) {
        sd_bus_message_unref(m);
        return bus_error_from(error, &e);
    }
    return 1;
}

int bus_method_cluster_list_hosts(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return list(m, userdata, true, error);
}

int bus_method_cluster_list_domains(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return list(m, userdata, false, error);
}

static void deleted_done(void *userdata, json_t *result, const Error *e)
{
    sd_bus_message *m = userdata;
    _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

    if (e) {
        (void)bus_error_from(&error, e);
        (void)sd_bus_reply_method_error(m, &error);
    } else
        (void)sd_bus_reply_method_return(m, NULL);
    sd_bus_message_unref(m);
}

int bus_method_cluster_delete_domain(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Bus *b = userdata;
    Cluster *c = cluster_of(b, error);
    Error e = ERROR_NULL;
    const char *name;
    int r;

    if (!c)
        return -EBUSY;
    r = bus_verify_manage(b, m, HVD_POLKIT_MANAGE_DOMAINS, "delete domains", error);
    if (r <= 0)
        return r < 0 ? r : 1;
    r = sd_bus_message_read(m, "s", &name);
    if (r < 0)
        return r;
    bus_name_caller(b, m);
    r = cluster_delete(c, name, deleted_done, sd_bus_message_ref(m), &e);
    manager_set_caller(b->manager, NULL);
    if (r < 0) {
        sd_bus_message_unref(m);
        return bus_error_from(error, &e);
    }
    return 1;
}

static void drained_done(void *userdata, json_t *result, const Error *e)
{
    reply_done(userdata, result, e, false);
}

int bus_method_cluster_drain_host(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Bus *b = userdata;
    Cluster *c = cluster_of(b, error);
    Error e = ERROR_NULL;
    const char *host;
    int on, r;

    if (!c)
        return -EBUSY;
    r = bus_verify_manage(b, m, HVD_POLKIT_MANAGE_DOMAINS, "drain hosts", error);
    if (r <= 0)
        return r < 0 ? r : 1;
    r = sd_bus_message_read(m, "sb", &host, &on);
    if (r < 0)
        return r;
    bus_name_caller(b, m);
    r = cluster_drain(c, host, on, drained_done, sd_bus_message_ref(m), &e);
    manager_set_caller(b->manager, NULL);
    if (r < 0) {
        sd_bus_message_unref(m);
        return bus_error_from(error, &e);
    }
    return 1;
}

int bus_method_cluster_move_domain(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Bus *b = userdata;
    Cluster *c = cluster_of(b, error);
    Error e = ERROR_NULL;
    const char *name, *host;
    int r;

    if (!c)
        return -EBUSY;
    r = bus_verify_manage(b, m, HVD_POLKIT_MANAGE_DOMAINS, "move domains", error);
    if (r <= 0)
        return r < 0 ? r : 1;
    r = sd_bus_message_read(m, "ss", &name, &host);
    if (r < 0)
        return r;
    bus_name_caller(b, m);
    r = cluster_move(c, name, host, entry_done, sd_bus_message_ref(m), &e);
    manager_set_caller(b->manager, NULL);
    if (r < 0) {
        sd_bus_message_unref(m);
        return bus_error_from(error, &e);
    }
    return 1;
}

/* ClusterCreateDomain (with_ha_from false: "bs" ha, host) and ClusterCreateHADomain ("ss" host,
 * ha_from) after the settings. */
static int cluster_create_domain(sd_bus_message *m, Bus *b, bool with_ha_from, sd_bus_error *error)
{
    Cluster *c = cluster_of(b, error);
    json_t *settings = NULL;
    Error e = ERROR_NULL;
    const char *host, *ha_from = NULL;
    int ha = true, r;

    if (!c)
        return -EBUSY;
    r = bus_verify_manage(b, m, HVD_POLKIT_MANAGE_DOMAINS, "create domains", error);
    if (r <= 0)
        return r < 0 ? r : 1; /* refused, or called again with the verdict */
    r = bus_read_settings(m, &settings, &e);
    if (r < 0)
        return bus_error_from(error, &e);
    r = with_ha_from ? sd_bus_message_read(m, "ss", &host, &ha_from)
                     : sd_bus_message_read(m, "bs", &ha, &host);
    if (r < 0) {
        json_decref(settings);
        return r;
    }
    (void)json_object_set_new(settings, "ha", json_boolean(ha));
    if (ha_from)
        (void)json_object_set_new(settings, "ha_from", json_string(ha_from));
    if (*host)
        (void)json_object_set_new(settings, "host", json_string(host));
    bus_name_caller(b, m);
    r = cluster_create(c, settings, entry_done, sd_bus_message_ref(m), &e);
    manager_set_caller(b->manager, NULL);
    json_decref(settings);
    if (r < 0) {
        sd_bus_message_unref(m);
        return bus_error_from(error, &e);
    }
    return 1;
}

int bus_method_cluster_create_domain(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return cluster_create_domain(m, userdata, false, error);
}

int bus_method_cluster_create_ha_domain(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return cluster_create_domain(m, userdata, true, error);
}
