/* Saved state on D-Bus: org.hvd1.Domain's Save, StartFresh, snapshot and Clone methods, in a
 * vtable of their own on the same fallback path as the domain's. Disks are referenced by the
 * images, never copied. */
#include <string.h>

#include "bus.h"

static Bus *bus_of(sd_bus_message *m)
{
    return sd_bus_slot_get_userdata(sd_bus_get_current_slot(sd_bus_message_get_bus(m)));
}

static int reply_error(sd_bus_message *m, const Error *e)
{
    sd_bus_error error = SD_BUS_ERROR_NULL;
    int r;

    (void)bus_error_from(&error, e);
    r = sd_bus_reply_method_error(m, &error);
    sd_bus_error_free(&error);
    return r;
}

static void done_reply(void *userdata, Domain *d, const Error *e)
{
    sd_bus_message *m = userdata;

    if (e)
        (void)reply_error(m, e);
    else
        (void)sd_bus_reply_method_return(m, NULL);
    sd_bus_message_unref(m);
}

/* An operation that may answer later: k < 0 refused, 0 done now, 1 done_reply answers. */
static int finish(sd_bus_message *m, Domain *d, int k, const Error *e, sd_bus_error *error)
{
    manager_set_caller(d->manager, NULL);
    if (k < 0) {
        sd_bus_message_unref(m);
        return bus_error_from(error, e);
    }
    if (k == 0) {
        sd_bus_message_unref(m);
        return sd_bus_reply_method_return(m, NULL);
    }
    return 1;
}

/* Asks polkit (or the admin group) first: returns 1 when the handler may go on, else what the
 * handler returns (refused, or called again with the verdict). */
static int authorize(sd_bus_message *m, const char *what, sd_bus_error *error, int *ret)
{
    int r = bus_verify_manage(bus_of(m), m, HVD_POLKIT_MANAGE_DOMAINS, what, error);

    if (r <= 0) {
        *ret = r < 0 ? r : 1;
        return 0;
    }
    bus_name_caller(bus_of(m), m);
    return 1;
}

static int method_save(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Domain *d = userdata;
    Error e = ERROR_NULL;
    int r, k;

    if (!authorize(m, "save domains", error, &r))
        return r;
    k = manager_domain_save(d->manager, d, done_reply, sd_bus_message_ref(m), &e);
    return finish(m, d, k, &e, error);
}

static int method_start_fresh(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Domain *d = userdata;
    Error e = ERROR_NULL;
    int r, k;

    if (!authorize(m, "start domains", error, &r))
        return r;
    k = manager_domain_start(d->manager, d, true, done_reply, sd_bus_message_ref(m), &e);
    return finish(m, d, k, &e, error);
}

static int method_create_snapshot(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Domain *d = userdata;
    Error e = ERROR_NULL;
    const char *name;
    int r, k;

    r = sd_bus_message_read(m, "s", &name);
    if (r < 0)
        return r;
    if (!authorize(m, "snapshot domains", error, &r))
        return r;
    k = manager_snapshot_create(d->manager, d, name, done_reply, sd_bus_message_ref(m), &e);
    return finish(m, d, k, &e, error);
}

static int method_revert_to_snapshot(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Domain *d = userdata;
    Error e = ERROR_NULL;
    const char *name;
    int r, k;

    r = sd_bus_message_read(m, "s", &name);
    if (r < 0)
        return r;
    if (!authorize(m, "revert domains to snapshots", error, &r))
        return r;
    k = manager_snapshot_revert(d->manager, d, name, done_reply, sd_bus_message_ref(m), &e);
    return finish(m, d, k, &e, error);
}

static int method_delete_snapshot(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Domain *d = userdata;
    Error e = ERROR_NULL;
    const char *name;
    int r;

    r = sd_bus_message_read(m, "s", &name);
    if (r < 0)
        return r;
    if (!authorize(m, "delete snapshots", error, &r))
        return r;
    r = manager_snapshot_delete(d->manager, d, name, &e);
    manager_set_caller(d->manager, NULL);
    if (r < 0)
        return bus_error_from(error, &e);
    return sd_bus_reply_method_return(m, NULL);
}

static int method_list_snapshots(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    Domain *d = userdata;
    Error e = ERROR_NULL;
    json_t *list = NULL, *v;
    size_t i;
    int r;

    if (manager_snapshot_list(d->manager, d, &list, &e) < 0)
        return bus_error_from(error, &e);
    r = sd_bus_message_new_method_return(m, &reply);
    if (r >= 0)
        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
    json_array_foreach (list, i, v) {
        if (r < 0)
            break;
        r = bus_append_json_dict(reply, v);
    }
    if (r >= 0)
        r = sd_bus_message_close_container(reply);
    json_decref(list);
    if (r < 0)
        return r;
    return sd_bus_send(NULL, reply, NULL);
}

static int reply_names(sd_bus_message *m, json_t *names)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    json_t *v;
    size_t i;
    int r;

    r = sd_bus_message_new_method_return(m, &reply);
    if (r >= 0)
        r = sd_bus_message_open_container(reply, 'a', "s");
    json_array_foreach (names, i, v)
        if (r >= 0)
            r = sd_bus_message_append(reply, "s", json_string_value(v));
    if (r >= 0)
        r = sd_bus_message_close_container(reply);
    if (r < 0)
        return r;
    return sd_bus_send(NULL, reply, NULL);
}

static void cloned(void *userdata, json_t *names, const Error *e)
{
    sd_bus_message *m = userdata;

    if (e)
        (void)reply_error(m, e);
    else
        (void)reply_names(m, names);
    sd_bus_message_unref(m);
}

static int method_clone(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Domain *d = userdata;
    Error e = ERROR_NULL;
    const char *name, *snapshot;
    json_t *names = NULL;
    uint32_t count;
    int r, k;

    r = sd_bus_message_read(m, "ssu", &name, &snapshot, &count);
    if (r < 0)
        return r;
    if (!authorize(m, "clone domains", error, &r))
        return r;
    k = manager_domain_clone(d->manager, d, name, isempty(snapshot) ? NULL : snapshot, count,
                             cloned, sd_bus_message_ref(m), &names, &e);
    manager_set_caller(d->manager, NULL);
    if (k <= 0)
        sd_bus_message_unref(m);
    if (k < 0)
        return bus_error_from(error, &e);
    if (k == 0) {
        r = reply_names(m, names);
        json_decref(names);
        return r;
    }
    return 1;
}

const sd_bus_vtable bus_snapshot_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Save", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_save,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("StartFresh", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_start_fresh,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CreateSnapshot", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
                            method_create_snapshot, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ListSnapshots", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", snapshots),
                            method_list_snapshots, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("RevertToSnapshot", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
                            method_revert_to_snapshot, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("DeleteSnapshot", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
                            method_delete_snapshot, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Clone", SD_BUS_ARGS("s", name, "s", snapshot, "u", count),
                            SD_BUS_RESULT("as", names), method_clone, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};
