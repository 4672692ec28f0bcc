/* Clones that get a copy-on-write disk of their own (kvm: a qcow2 overlay on the original's
 * disk): the disks are made first, as STATE_DIR/disks/UUID.qcow2 on the driver's workers, then
 * the clones are defined naming them, so a failure or a crash never leaves a clone without its
 * disk; disks no domain names are removed at start-up, and a clone's disk goes with it. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "manager-internal.h"

typedef struct CloneDiskOp {
    Manager *m;
    char *source;  /* the original's name (it may go meanwhile) */
    json_t *names; /* of the clones */
    char (*uuids)[DOMAIN_UUID_STRING_MAX];
    char **paths; /* their disks */
    unsigned count;
    unsigned waiting;
    Error error;
    char *caller;
    ManagerCloneDone done;
    void *userdata;
} CloneDiskOp;

static char *disks_dir(Manager *m)
{
    char *p = NULL;

    return asprintf(&p, "%s/disks", m->config->state_dir) < 0 ? NULL : p;
}

static void op_free(CloneDiskOp *op)
{
    for (unsigned i = 0; op->paths && i < op->count; i++)
        free(op->paths[i]);
    free(op->paths);
    free(op->uuids);
    free(op->source);
    free(op->caller);
    json_decref(op->names);
    free(op);
}

/* Whether path is a disk hvd made for a clone (under STATE_DIR/disks/). */
static bool is_clone_disk(Manager *m, const char *path)
{
    _cleanup_free_ char *dir = disks_dir(m);
    size_t n = dir ? strlen(dir) : 0;

    return dir && path && strncmp(path, dir, n) == 0 && path[n] == '/' &&
           !strchr(path + n + 1, '/');
}

bool manager_clone_needs_disks(Manager *m, Domain *d)
{
    Driver *drv = manager_driver(m, d);

    return drv && driver_has_clone_disk(drv) && d->config.disk;
}

/* Every disk made, the clones defined, or the first failure (everything made removed). */
static void clones_define(CloneDiskOp *op)
{
    Manager *m = op->m;
    Domain *d = manager_find(m, op->source);
    _cleanup_free_ char *outer = op->caller ? strdup(m->caller) : NULL;
    Domain **clones = calloc(op->count, sizeof(*clones));
    unsigned i = 0;
    int r = 0;

    if (op->caller)
        manager_set_caller(m, op->caller);
    if (error_is_set(&op->error))
        r = -EIO;
    else if (!clones)
        r = error_set_errno(&op->error, -ENOMEM, "Out of memory");
    else if (!d)
        r = error_setf(&op->error, ERROR_NO_SUCH_DOMAIN, "domain '%s' was deleted meanwhile",
                       op->source);
    for (; r >= 0 && i < op->count; i++)
        r = manager_clone_define(m, d, json_string_value(json_array_get(op->names, i)),
                                 op->uuids[i], op->paths[i], &clones[i], &op->error);
    if (r < 0) {
        while (clones && i-- > 0)
            if (clones[i])
                (void)manager_domain_delete(m, clones[i], NULL); /* removes its disk */
        for (i = 0; i < op->count; i++)
            (void)unlink(op->paths[i]);
        log_warning("Domain %s: cloning failed: %s", op->source, op->error.message);
    } else
        log_info("Domain %s: %u clone(s) defined, each on a copy-on-write disk.", op->source,
                 op->count);
    if (op->done)
        op->done(op->userdata, op->names, r < 0 ? &op->error : NULL);
    if (op->caller)
        manager_set_caller(m, outer);
    free(clones);
    op_free(op);
}

static void disk_made(void *userdata, const Error *e)
{
    CloneDiskOp *op = userdata;

    if (e && !error_is_set(&op->error))
        op->error = *e;
    if (--op->waiting == 0)
        clones_define(op);
}

int manager_clone_with_disks(Manager *m, Domain *d, json_t *names, ManagerCloneDone done,
                             void *userdata, Error *e)
{
    _cleanup_free_ char *dir = disks_dir(m);
    Driver *drv = manager_driver(m, d);
    CloneDiskOp *op;
    int r = 0;

    if (d->state != STATE_SHUTOFF) {
        json_decref(names);
        return error_setf(e, ERROR_INVALID_STATE,
                          "domain '%s' is %s: clone it once it is shut off (its disk becomes the "
                          "clones' backing file)",
                          d->config.name, domain_state_to_string(d->state));
    }
    if (is_clone_disk(m, d->config.disk)) {
        json_decref(names);
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "domain '%s' is itself a clone on a copy-on-write disk: clone its "
                          "original instead",
                          d->config.name);
    }
    op = calloc(1, sizeof(*op));
    if (!op || !dir) {
        free(op);
        json_decref(names);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    *op = (CloneDiskOp){.m = m, .names = names, .done = done, .userdata = userdata};
    op->count = (unsigned)json_array_size(names);
    op->source = strdup(d->config.name);
    op->uuids = calloc(op->count, sizeof(*op->uuids));
    op->paths = calloc(op->count, sizeof(*op->paths));
    op->caller = m->caller[0] ? strdup(m->caller) : NULL;
    if (!op->source || !op->uuids || !op->paths || (m->caller[0] && !op->caller))
        r = error_set_errno(e, -ENOMEM, "Out of memory");
    /* Readable by QEMU's user, as the original's directory is. */
    if (r >= 0 && mkdir(dir, 0755) < 0 && errno != EEXIST)
        r = error_set_errno(e, -errno, "Failed to create %s: %m", dir);
    for (unsigned i = 0; r >= 0 && i < op->count; i++) {
        r = domain_uuid_generate(op->uuids[i]);
        if (r < 0 || asprintf(&op->paths[i], "%s/%s.qcow2", dir, op->uuids[i]) < 0) {
            op->paths[i] = NULL;
            r = error_set_errno(e, -ENOMEM, "Out of memory");
        }
    }
    if (r < 0) {
        op_free(op);
        return r;
    }
    /* One reference for the loop below, so that an early answer does not finish the op. */
    op->waiting = 1;
    for (unsigned i = 0; i < op->count; i++) {
        Error disk_error = ERROR_NULL;

        op->waiting++;
        if (driver_clone_disk(drv, &d->config, op->paths[i], disk_made, op, &disk_error) < 0)
            disk_made(op, &disk_error);
    }
    disk_made(op, NULL);
    return 1;
}

void manager_clone_disk_deleted(Manager *m, Domain *d)
{
    if (!is_clone_disk(m, d->config.disk))
        return;
    if (unlink(d->config.disk) < 0 && errno != ENOENT)
        log_warning_errno(errno, "Failed to remove %s: %m", d->config.disk);
}

static bool named_by_a_domain(Manager *m, const char *path)
{
    for (size_t i = 0; i < m->n_domains; i++)
        if (m->domains[i]->config.disk && streq(m->domains[i]->config.disk, path))
            return true;
    return false;
}

void manager_clone_disks_reconcile(Manager *m)
{
    _cleanup_free_ char *dir = disks_dir(m);
    DIR *dd = dir ? opendir(dir) : NULL;
    struct dirent *f;

    if (!dd)
        return;
    while ((f = readdir(dd))) {
        _cleanup_free_ char *path = NULL;

        if (f->d_name[0] == '.' || asprintf(&path, "%s/%s", dir, f->d_name) < 0 ||
            named_by_a_domain(m, path))
            continue;
        log_warning("Removing clone disk %s: no domain names it (a clone that was not defined).",
                    path);
        if (unlink(path) < 0)
            log_warning_errno(errno, "Failed to remove %s: %m", path);
    }
    closedir(dd);
}
