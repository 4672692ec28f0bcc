/* Saved state of domains: the managed save and the start that resumes it, named snapshots and
 * their revert, the image files under STATE_DIR/images/UUID/ (a file is complete and renamed
 * into place before its row commits). Clones are in manager-clone.c, the start-up check of files
 * against rows in manager-image-reconcile.c. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "manager-images.h"
#include "time-util.h"

/* A save or snapshot being written by the driver. */
struct ImageOp {
    bool managed;
    char *name; /* the snapshot's name (NULL for a managed save) */
    char *tmp_path;
    char *path;
    char *caller;
    DomainRuntime rt; /* the instance that wrote it (a managed save ends it afterwards) */
    ManagerDone done;
    void *userdata;
};

void image_row_done(ImageRow *row)
{
    row->path = mfree(row->path);
    row->disk = mfree(row->disk);
}

typedef struct ImageFind {
    const char *kind;
    const char *name; /* NULL: any */
    ImageRow *row;
    bool found;
} ImageFind;

static int find_cb(const StoredImage *img, void *userdata)
{
    ImageFind *f = userdata;

    if (f->found || !streq(img->kind, f->kind) || (f->name && !streq(img->name, f->name)) ||
        strlen(img->name) > DOMAIN_NAME_MAX)
        return 0;
    *f->row = (ImageRow){.id = img->id,
                         .created_us = img->created_us,
                         .size_bytes = img->size_bytes,
                         .path = strdup(img->path),
                         .disk = img->disk ? strdup(img->disk) : NULL,
                         .disk_copy = streq(img->contents, IMAGE_CONTENTS_DISK)};
    (void)snprintf(f->row->kind, sizeof(f->row->kind), "%s", img->kind);
    (void)snprintf(f->row->name, sizeof(f->row->name), "%s", img->name);
    if (!f->row->path)
        return -ENOMEM;
    f->found = true;
    return 0;
}

/* Finds d's image of kind (and name); returns 1 when found, 0 when not, or a negative errno. */
static int image_find(Manager *m, Domain *d, const char *kind, const char *name, ImageRow *ret)
{
    ImageFind f = {.kind = kind, .name = name, .row = ret};
    int r;

    *ret = (ImageRow){};
    r = store_images_load(m->store, d->config.uuid, find_cb, &f);
    if (r < 0) {
        image_row_done(ret);
        return r;
    }
    return f.found;
}

char *domain_images_dir(Manager *m, const Domain *d)
{
    char *p = NULL;

    return asprintf(&p, "%s/images/%s", m->config->state_dir, d->config.uuid) < 0 ? NULL : p;
}

/* Makes STATE_DIR/images/UUID (0700) and returns the path of the image file of a managed save
 * (name NULL) or of snapshot name. */
static int image_path_make(Manager *m, const Domain *d, const char *name, char **ret, Error *e)
{
    _cleanup_free_ char *top = NULL, *dir = domain_images_dir(m, d);

    if (!dir || asprintf(&top, "%s/images", m->config->state_dir) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if ((mkdir(top, 0700) < 0 && errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST))
        return error_set_errno(e, -errno, "Failed to create %s: %m", dir);
    if ((name ? asprintf(ret, "%s/snapshot-%s.img", dir, name)
              : asprintf(ret, "%s/managed-save.img", dir)) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    return 0;
}

/* The path of the disk copy of the image at path (new string), or NULL when out of memory. */
char *image_disk_copy_path(const char *path)
{
    char *p = NULL;

    return asprintf(&p, "%s%s", path, DRIVER_IMAGE_DISK_SUFFIX) < 0 ? NULL : p;
}

/* Moves the disk copy the driver wrote beside tmp_path, if any, next to path (before the image
 * itself, whose file is what start-up looks for) and adds its size; *ret_disk says whether there
 * was one. */
static int image_install_disk_copy(const char *tmp_path, const char *path, uint64_t *size,
                                   bool *ret_disk, Error *e)
{
    _cleanup_free_ char *tmp_copy = image_disk_copy_path(tmp_path);
    _cleanup_free_ char *copy = image_disk_copy_path(path);
    struct stat st;

    *ret_disk = false;
    if (!tmp_copy || !copy)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if (rename(tmp_copy, copy) < 0) {
        if (errno == ENOENT)
            return 0;
        return error_set_errno(e, -errno, "Failed to move the disk copy into place (%s): %m", copy);
    }
    if (stat(copy, &st) < 0)
        return error_set_errno(e, -errno, "Failed to read the size of %s: %m", copy);
    *size += (uint64_t)st.st_blocks * 512u;
    *ret_disk = true;
    return 0;
}

/* Removes the disk copy of the image at path, if any. */
static void image_remove_disk_copy(const char *path)
{
    _cleanup_free_ char *copy = image_disk_copy_path(path);

    if (copy && unlink(copy) < 0 && errno != ENOENT)
        log_warning_errno(errno, "Failed to remove %s: %m", copy);
}

/* Makes a finished image durable under its own name: rename over the temporary one (with its
 * disk copy, when the driver made one: *ret_disk), then sync the directory so the rename
 * survives a crash. */
static int image_install(const char *tmp_path, const char *path, uint64_t *ret_size, bool *ret_disk,
                         Error *e)
{
    _cleanup_free_ char *dir = strdup(path);
    _cleanup_close_ int dfd = -EBADF;
    struct stat st;
    uint64_t copy_size = 0;
    char *slash;
    int r;

    if (!dir)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    r = image_install_disk_copy(tmp_path, path, &copy_size, ret_disk, e);
    if (r < 0)
        return r;
    if (rename(tmp_path, path) < 0)
        return error_set_errno(e, -errno, "Failed to move the image into place (%s): %m", path);
    slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0)
        return error_set_errno(e, -errno, "Failed to sync %s: %m", dir);
    if (stat(path, &st) < 0)
        return error_set_errno(e, -errno, "Failed to read the size of %s: %m", path);
    /* on disk: pages that were all zero are holes */
    *ret_size = (uint64_t)st.st_blocks * 512u + copy_size;
    return 0;
}

static void image_op_free(struct ImageOp *op)
{
    if (!op)
        return;
    free(op->name);
    free(op->tmp_path);
    free(op->path);
    free(op->caller);
    free(op);
}

void manager_domain_images_free(Domain *d)
{
    if (d->image_op) {
        Error e = ERROR_NULL;
        (void)error_setf(&e, ERROR_FAILED, "hvd is stopping");
        if (d->image_op->done)
            d->image_op->done(d->image_op->userdata, NULL, &e);
        image_op_free(d->image_op);
        d->image_op = NULL;
    }
    d->restore_path = mfree(d->restore_path);
}

static int require_available(Manager *m, Domain *d, Driver **ret, Error *e)
{
    Driver *drv = manager_driver(m, d);

    if (!drv)
        return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "the %s driver is not built into this hvd",
                          driver_kind_to_string(d->config.driver));
    *ret = drv;
    return 0;
}

/* Asks the driver to write d's state into a new image (a managed save, or snapshot name). */
static int image_write(Manager *m, Domain *d, const char *name, ManagerDone done, void *userdata,
                       Error *e)
{
    struct ImageOp *op;
    Driver *drv = NULL;
    int r;

    r = manager_action_check(d, ACTION_SAVE, e);
    if (r < 0)
        return r;
    if (d->image_op)
        return error_setf(e, ERROR_INVALID_STATE, "a save or snapshot of '%s' is already under way",
                          d->config.name);
    r = require_available(m, d, &drv, e);
    if (r < 0)
        return r;
    op = calloc(1, sizeof(*op));
    if (!op)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    op->managed = !name;
    op->done = done;
    op->userdata = userdata;
    op->rt = d->runtime;
    r = image_path_make(m, d, name, &op->path, e);
    if (r >= 0 &&
        (asprintf(&op->tmp_path, "%s.tmp", op->path) < 0 || (name && !(op->name = strdup(name))) ||
         (m->caller[0] && !(op->caller = strdup(m->caller)))))
        r = error_set_errno(e, -ENOMEM, "Out of memory");
    if (r >= 0)
        r = driver_save(drv, &d->config, &d->runtime, op->tmp_path, name ? 0 : DRIVER_SAVE_PAUSE,
                        e);
    if (r < 0) {
        if (op->tmp_path)
            (void)unlink(op->tmp_path);
        image_op_free(op);
        return r;
    }
    d->image_op = op;
    if (r == DRIVER_DONE)
        manager_image_written(m, d, NULL, d->state);
    return done ? 1 : 0;
}

int manager_domain_save(Manager *m, Domain *d, ManagerDone done, void *userdata, Error *e)
{
    return image_write(m, d, NULL, done, userdata, e);
}

int manager_snapshot_create(Manager *m, Domain *d, const char *name, ManagerDone done,
                            void *userdata, Error *e)
{
    ImageRow row;
    int r;

    if (!domain_name_is_valid(name))
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "bad snapshot name '%.64s': 1..64 characters from A-Z a-z 0-9 _ . -, "
                          "not . or ..",
                          strempty(name));
    r = image_find(m, d, KIND_SNAPSHOT, name, &row);
    image_row_done(&row);
    if (r < 0)
        return error_set_errno(e, r, "Failed to read the snapshots of '%s': %s", d->config.name,
                               store_last_error(m->store));
    if (r > 0)
        return error_setf(e, ERROR_SNAPSHOT_EXISTS, "domain '%s' has a snapshot named '%s' already",
                          d->config.name, name);
    return image_write(m, d, name, done, userdata, e);
}

/* After the commit that recorded a managed save: the paused instance is ended (its state is in
 * the image), then the caller hears. */
static void snapshot_committed(void *userdata, Domain *d, const Error *e);

/* The saved instance ended: the save is complete whatever the end said. */
static void saved_instance_ended(void *userdata, Domain *d, const Error *e)
{
    if (e && d)
        log_warning("Domain %s: ending the saved instance: %s", d->config.name, e->message);
    snapshot_committed(userdata, d, NULL);
}

static void managed_save_committed(void *userdata, Domain *d, const Error *e)
{
    struct ImageOp *op = userdata;
    Error ignored = ERROR_NULL;
    int r;

    if (!d || e || !manager_driver(d->manager, d)) {
        snapshot_committed(op, d, e);
        return;
    }
    /* The caller hears once the instance is gone, so that a start right after finds none. */
    r = driver_destroy(manager_driver(d->manager, d), &d->config, &op->rt, 0, &ignored);
    if (r == DRIVER_PENDING && manager_wait_op(d, ACTION_DESTROY, saved_instance_ended, op) >= 0)
        return;
    snapshot_committed(op, d, NULL);
}

static void snapshot_committed(void *userdata, Domain *d, const Error *e)
{
    struct ImageOp *op = userdata;

    if (op->done)
        op->done(op->userdata, d, e);
    image_op_free(op);
}

/* Records the installed image of op in one change: its row, and for a managed save the move to
 * shutoff/saved (dropping an older managed save), or the snapshot-created event. */
static int image_record(Manager *m, Domain *d, struct ImageOp *op, uint64_t size, bool disk_copy,
                        Error *e)
{
    const char *contents = disk_copy ? IMAGE_CONTENTS_DISK : IMAGE_CONTENTS;
    StoredImage img = {
        .domain_uuid = d->config.uuid,
        .kind = op->managed ? KIND_MANAGED : KIND_SNAPSHOT,
        .name = op->managed ? KIND_MANAGED : op->name,
        .created_us = now_usec(CLOCK_REALTIME),
        .size_bytes = size,
        .contents = contents,
        .disk = d->config.disk,
        .path = op->path,
    };
    ImageRow old;
    int r;

    r = manager_change_begin(m);
    if (r >= 0 && op->managed && (r = image_find(m, d, KIND_MANAGED, NULL, &old)) > 0) {
        r = store_image_delete(m->store, old.id);
        image_row_done(&old);
    }
    if (r >= 0)
        r = store_image_insert(m->store, &img, NULL);
    if (r >= 0 && !op->managed) {
        json_t *detail = json_pack("{s:s, s:I, s:s, s:s*}", "snapshot", op->name, "size_bytes",
                                   (json_int_t)size, "contents", contents, "disk", d->config.disk);
        r = detail ? manager_log_event(m, d->config.name, "snapshot-created", detail, NULL)
                   : -ENOMEM;
        json_decref(detail);
    }
    if (r >= 0 && op->managed)
        r = manager_transition(m, d, STATE_SHUTOFF, REASON_SAVED, NULL,
                               "saved; the next start resumes it", false, e);
    manager_change_end(m, r < 0 ? r : 0);
    if (r < 0)
        return error_set_errno(e, r, "Failed to record the image of '%s': %s", d->config.name,
                               store_last_error(m->store));
    return 0;
}

void manager_image_written(Manager *m, Domain *d, const Error *e, DomainState observed)
{
    struct ImageOp *op = d->image_op;
    _cleanup_free_ char *outer = NULL;
    Error failed = ERROR_NULL;
    uint64_t size = 0;
    bool disk_copy = false;
    int r = 0;

    if (!op)
        return;
    d->image_op = NULL;
    if (op->caller) {
        outer = strdup(m->caller);
        manager_set_caller(m, op->caller);
    }
    if (e)
        failed = *e;
    else if (op->managed && !(d->state == STATE_RUNNING || d->state == STATE_PAUSED))
        (void)error_setf(&failed, ERROR_INVALID_STATE, "domain '%s' stopped during its save (%s)",
                         d->config.name, domain_state_to_string(d->state));
    else if ((r = image_install(op->tmp_path, op->path, &size, &disk_copy, &failed)) >= 0)
        r = image_record(m, d, op, size, disk_copy, &failed);

    if (error_is_set(&failed)) {
        (void)unlink(op->tmp_path);
        image_remove_disk_copy(op->tmp_path);
        if (r < 0) {
            (void)unlink(op->path);
            image_remove_disk_copy(op->path);
        }
        /* A managed save that failed once the guest was paused lets it run again. */
        if (op->managed && observed == STATE_PAUSED && d->state == STATE_RUNNING) {
            Error ignored = ERROR_NULL;
            (void)driver_resume(manager_driver(m, d), &d->config, &d->runtime, 0, &ignored);
        }
        log_warning("Domain %s: %s failed: %s", d->config.name,
                    op->managed ? "the save" : "the snapshot", failed.message);
        if (op->done)
            op->done(op->userdata, d, &failed);
        image_op_free(op);
    } else {
        log_info("Domain %s: %s written to %s.", d->config.name,
                 op->managed ? "saved state" : "snapshot", op->path);
        manager_after_commit_done(m, d, op->managed ? managed_save_committed : snapshot_committed,
                                  op, NULL);
    }
    if (op->caller || outer)
        manager_set_caller(m, outer);
}

/* Removes an image row and its file. The row's removal is committed before this returns (and
 * so before a caller is answered): earlier changes first, in their own commit. */
static int image_forget(Manager *m, Domain *d, const ImageRow *row, const char *event, Error *e)
{
    int r;

    manager_commit(m);
    r = store_begin(m->store);
    if (r >= 0)
        r = store_image_delete(m->store, row->id);
    if (r >= 0 && event) {
        json_t *detail = json_pack("{s:s}", "snapshot", row->name);
        r = detail ? manager_log_event(m, d->config.name, event, detail, NULL) : -ENOMEM;
        json_decref(detail);
    }
    if (r >= 0)
        r = store_commit(m->store);
    if (r < 0) {
        (void)error_set_errno(e, r, "Failed to forget the image %s: %s", row->path,
                              store_last_error(m->store));
        store_rollback(m->store);
        return r;
    }
    /* A crash before the file is gone leaves the file without its row: start-up removes it. */
    if (unlink(row->path) < 0 && errno != ENOENT)
        log_warning_errno(errno, "Failed to remove %s: %m", row->path);
    image_remove_disk_copy(row->path);
    return 0;
}

void manager_image_prepare_start(Manager *m, Domain *d)
{
    ImageRow row;

    if (d->restore_path || d->state != STATE_SHUTOFF)
        return;
    if (image_find(m, d, KIND_MANAGED, NULL, &row) <= 0)
        return;
    d->restore_path = TAKE_PTR(row.path);
    d->restore_image_id = row.id;
    image_row_done(&row);
}

void manager_image_start_done(Manager *m, Domain *d, bool ok)
{
    ImageRow row;
    Error e = ERROR_NULL;

    if (ok && d->restore_image_id > 0 && image_find(m, d, KIND_MANAGED, NULL, &row) > 0) {
        if (row.id == d->restore_image_id && image_forget(m, d, &row, NULL, &e) < 0)
            log_warning("Domain %s: %s", d->config.name, e.message);
        image_row_done(&row);
    }
    d->restore_path = mfree(d->restore_path);
    d->restore_image_id = 0;
}

int manager_domain_start(Manager *m, Domain *d, bool fresh, ManagerDone done, void *userdata,
                         Error *e)
{
    ImageRow row;
    int r;

    if (fresh && d->state == STATE_SHUTOFF && image_find(m, d, KIND_MANAGED, NULL, &row) > 0) {
        r = image_forget(m, d, &row, NULL, e);
        image_row_done(&row);
        if (r < 0)
            return r;
        log_info("Domain %s: its saved state was discarded (start --fresh).", d->config.name);
    }
    return manager_domain_action(m, d, ACTION_START, 0, done, userdata, e);
}

int snapshot_get(Manager *m, Domain *d, const char *name, ImageRow *ret, Error *e)
{
    int r;

    if (!domain_name_is_valid(name))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "bad snapshot name '%.64s'", strempty(name));
    r = image_find(m, d, KIND_SNAPSHOT, name, ret);
    if (r < 0)
        return error_set_errno(e, r, "Failed to read the snapshots of '%s': %s", d->config.name,
                               store_last_error(m->store));
    if (r == 0)
        return error_setf(e, ERROR_NO_SUCH_SNAPSHOT, "domain '%s' has no snapshot named '%s'",
                          d->config.name, name);
    return 0;
}

static int list_cb(const StoredImage *img, void *userdata)
{
    json_t *list = userdata;

    if (!streq(img->kind, KIND_SNAPSHOT))
        return 0;
    return json_array_append_new(
               list,
               json_pack("{s:s, s:I, s:I, s:s, s:s*, s:s}", "name", img->name, "created_us",
                         (json_int_t)img->created_us, "size_bytes", (json_int_t)img->size_bytes,
                         "contents", img->contents, "disk", img->disk, "disks",
                         streq(img->contents, IMAGE_CONTENTS_DISK) ? "copied with the snapshot"
                                                                   : "referenced, not copied")) < 0
               ? -ENOMEM
               : 0;
}

int manager_snapshot_list(Manager *m, Domain *d, json_t **ret, Error *e)
{
    json_t *list = json_array();
    int r;

    if (!list)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    r = store_images_load(m->store, d->config.uuid, list_cb, list);
    if (r < 0) {
        json_decref(list);
        return error_set_errno(e, r, "Failed to read the snapshots of '%s': %s", d->config.name,
                               store_last_error(m->store));
    }
    *ret = list;
    return 0;
}

int manager_snapshot_delete(Manager *m, Domain *d, const char *name, Error *e)
{
    ImageRow row;
    int r;

    r = snapshot_get(m, d, name, &row, e);
    if (r < 0)
        return r;
    r = image_forget(m, d, &row, "snapshot-deleted", e);
    image_row_done(&row);
    return r;
}

/* A revert waiting for the destroy of the current instance before it starts from the image. */
typedef struct RevertOp {
    Manager *m;
    char *path;
    char *caller;
    ManagerDone done;
    void *userdata;
} RevertOp;

static void revert_op_free(RevertOp *op)
{
    free(op->path);
    free(op->caller);
    free(op);
}

/* Starts d from the image at path (taken over). */
int start_from(Manager *m, Domain *d, char *path, ManagerDone done, void *userdata, Error *e)
{
    ImageRow row;
    int r;

    /* Whatever a managed save held is no longer the domain's state. */
    if (image_find(m, d, KIND_MANAGED, NULL, &row) > 0) {
        r = image_forget(m, d, &row, NULL, e);
        image_row_done(&row);
        if (r < 0) {
            free(path);
            return r;
        }
    }
    free(d->restore_path);
    d->restore_path = path;
    d->restore_image_id = 0;
    r = manager_domain_action(m, d, ACTION_START, 0, done, userdata, e);
    if (r < 0)
        d->restore_path = mfree(d->restore_path);
    return r;
}

static void revert_destroyed(void *userdata, Domain *d, const Error *e)
{
    RevertOp *op = userdata;
    _cleanup_free_ char *outer = NULL;
    Error start_error = ERROR_NULL;
    int r;

    if (!d || e) {
        if (op->done)
            op->done(op->userdata, d, e);
        revert_op_free(op);
        return;
    }
    outer = strdup(op->m->caller);
    manager_set_caller(op->m, op->caller);
    r = start_from(op->m, d, TAKE_PTR(op->path), op->done, op->userdata, &start_error);
    manager_set_caller(op->m, outer);
    if (r < 0 && op->done)
        op->done(op->userdata, d, &start_error);
    else if (r == 0 && op->done)
        op->done(op->userdata, d, NULL);
    revert_op_free(op);
}

int manager_snapshot_revert(Manager *m, Domain *d, const char *name, ManagerDone done,
                            void *userdata, Error *e)
{
    ImageRow row;
    RevertOp *op;
    int r;

    r = snapshot_get(m, d, name, &row, e);
    if (r < 0)
        return r;
    /* The copy goes back over the domain's disk: only over the disk it was taken of. */
    if (row.disk_copy && (!row.disk || !d->config.disk || !streq(row.disk, d->config.disk))) {
        r = error_setf(e, ERROR_INVALID_ARGUMENT,
                       "snapshot '%s' of '%s' holds a copy of the disk %s, and the domain's disk "
                       "is now %s: set the disk back to revert to it",
                       name, d->config.name, strempty(row.disk),
                       d->config.disk ? d->config.disk : "none");
        image_row_done(&row);
        return r;
    }
    free(row.disk);
    if (d->state == STATE_SHUTOFF)
        return start_from(m, d, row.path, done, userdata, e);
    if (d->state == STATE_STARTING || d->state == STATE_STOPPING || d->image_op) {
        free(row.path);
        return error_setf(e, ERROR_INVALID_STATE,
                          "domain '%s' is %s; revert it once it is running, paused or shut off",
                          d->config.name,
                          d->image_op ? "being saved" : domain_state_to_string(d->state));
    }
    op = calloc(1, sizeof(*op));
    if (!op) {
        free(row.path);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    *op = (RevertOp){.m = m, .path = row.path, .done = done, .userdata = userdata};
    op->caller = m->caller[0] ? strdup(m->caller) : NULL;
    r = manager_domain_action(m, d, ACTION_DESTROY, 0, revert_destroyed, op, e);
    if (r < 0) {
        revert_op_free(op);
        return r;
    }
    if (r == 0)
        revert_destroyed(op, d, NULL); /* answers done itself */
    return 1;
}
