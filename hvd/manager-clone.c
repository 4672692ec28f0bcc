/* Clones of a domain: defined from its configuration under new names, and started from one of
 * its snapshots when asked (manager_domain_clone), answered once every clone started. */
#include <string.h>

#include "log.h"
#include "manager-images.h"

/* Clones started from a snapshot, answered once every start has completed. */
typedef struct CloneOp {
    unsigned waiting;
    json_t *names;
    Error error;
    ManagerCloneDone done;
    void *userdata;
} CloneOp;

static void clone_op_finish(CloneOp *op)
{
    if (--op->waiting > 0)
        return;
    if (op->done)
        op->done(op->userdata, op->names, error_is_set(&op->error) ? &op->error : NULL);
    json_decref(op->names);
    free(op);
}

static void clone_started(void *userdata, Domain *d, const Error *e)
{
    CloneOp *op = userdata;

    if (e && !error_is_set(&op->error))
        (void)error_setf(&op->error, e->kind, "clone '%s' did not start: %s",
                         d ? d->config.name : "?", e->message);
    clone_op_finish(op);
}

/* The names of count clones of new_name, checked: valid, free, and not twice. */
static int clone_names(Manager *m, const char *new_name, unsigned count, json_t **ret, Error *e)
{
    json_t *names = json_array();

    if (!names)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    for (unsigned i = 1; i <= count; i++) {
        char name[DOMAIN_NAME_MAX + 16];

        if (count == 1)
            (void)snprintf(name, sizeof(name), "%s", new_name);
        else
            (void)snprintf(name, sizeof(name), "%s-%u", new_name, i);
        if (!domain_name_is_valid(name)) {
            json_decref(names);
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "bad clone name '%.70s': 1..64 characters from A-Z a-z 0-9 _ . -",
                              name);
        }
        if (manager_find(m, name)) {
            json_decref(names);
            return error_setf(e, ERROR_DOMAIN_EXISTS, "a domain named '%s' already exists", name);
        }
        if (json_array_append_new(names, json_string(name)) < 0) {
            json_decref(names);
            return error_set_errno(e, -ENOMEM, "Out of memory");
        }
    }
    *ret = names;
    return 0;
}

static int clone_define(Manager *m, Domain *d, const char *name, Domain **ret, Error *e)
{
    return manager_clone_define(m, d, name, NULL, NULL, ret, e);
}

int manager_clone_define(Manager *m, Domain *d, const char *name, const char *uuid,
                         const char *disk, Domain **ret, Error *e)
{
    json_t *settings = json_object(), *v;
    const char *key;
    void *tmp;
    int r;

    if (!settings || domain_config_to_json(&d->config, settings) < 0) {
        json_decref(settings);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    (void)json_object_del(settings, "uuid");
    if (uuid)
        (void)json_object_set_new(settings, "uuid", json_string(uuid));
    if (disk)
        (void)json_object_set_new(settings, "disk", json_string(disk));
    json_object_foreach_safe(settings, tmp, key, v) if (json_is_null(v))(void)
        json_object_del(settings, key); /* unset */
    (void)json_object_set_new(settings, "name", json_string(name));
    (void)json_object_set_new(settings, "autostart", json_false());
    r = manager_domain_create(m, settings, ret, e);
    json_decref(settings);
    return r;
}

int manager_domain_clone(Manager *m, Domain *d, const char *new_name, const char *snapshot,
                         unsigned count, ManagerCloneDone done, void *userdata, json_t **ret_names,
                         Error *e)
{
    _cleanup_free_ char *source_name = strdup(d->config.name);
    Domain **clones = NULL;
    ImageRow row = {};
    json_t *names = NULL;
    CloneOp *op;
    size_t i;
    int r;

    if (!source_name)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if (count < 1 || count > MANAGER_CLONE_COUNT_MAX)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'count' must be 1..%u, got %u",
                          MANAGER_CLONE_COUNT_MAX, count);
    if (snapshot && manager_driver(m, d) && manager_driver(m, d)->ops->images_per_domain)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "the %s driver cannot start clones from a snapshot: its images restore "
                          "only into the domain that made them (clone without --snapshot)",
                          driver_kind_to_string(d->config.driver));
    if (snapshot && snapshot_get(m, d, snapshot, &row, e) < 0)
        return -EINVAL;
    r = clone_names(m, new_name, count, &names, e);
    if (r >= 0 && !snapshot && manager_clone_needs_disks(m, d))
        return manager_clone_with_disks(m, d, names, done, userdata, e);
    clones = r >= 0 ? calloc(count, sizeof(*clones)) : NULL;
    if (r >= 0 && !clones)
        r = error_set_errno(e, -ENOMEM, "Out of memory");
    for (i = 0; r >= 0 && i < count; i++)
        r = clone_define(m, d, json_string_value(json_array_get(names, i)), &clones[i], e);
    if (r < 0) {
        /* Nothing half-made: the clones defined so far go again. */
        while (clones && i-- > 0)
            if (clones[i])
                (void)manager_domain_delete(m, clones[i], NULL);
        free(clones);
        json_decref(names);
        image_row_done(&row);
        return r;
    }
    log_info("Domain %s: %u clone(s) defined%s%s.", source_name, count,
             snapshot ? " from snapshot " : "", strempty(snapshot));
    if (!snapshot) {
        free(clones);
        *ret_names = names;
        return 0;
    }

    op = calloc(1, sizeof(*op));
    if (!op) {
        free(clones);
        json_decref(names);
        image_row_done(&row);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    *op = (CloneOp){.waiting = 1, .names = names, .done = done, .userdata = userdata};
    for (i = 0; i < count; i++) {
        Error start_error = ERROR_NULL;
        char *path = strdup(row.path);

        op->waiting++;
        r = path ? start_from(m, clones[i], path, clone_started, op, &start_error)
                 : error_set_errno(&start_error, -ENOMEM, "Out of memory");
        if (r < 0)
            clone_started(op, clones[i], &start_error);
        else if (r == 0)
            clone_started(op, clones[i], NULL);
    }
    free(clones);
    image_row_done(&row);
    clone_op_finish(op); /* the reference held while starting them */
    return 1;
}
