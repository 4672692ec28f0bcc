/* Start-up: image rows and files under STATE_DIR/images kept consistent (a row whose file is
 * gone, a managed save of a domain that runs, a file no row names: each removed), and a deleted
 * domain's images removed with it. */
#include <dirent.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "manager-images.h"

/* Start-up: the rows, with whether each file is there. */
typedef struct ReconcileImages {
    Manager *m;
    char **paths; /* of the rows whose file exists */
    size_t n_paths;
    int64_t *gone; /* rows whose file is gone */
    size_t n_gone;
    int64_t *stale; /* managed saves of domains that run */
    size_t n_stale;
} ReconcileImages;

static int push_id(int64_t **list, size_t *n, int64_t id)
{
    int64_t *l = reallocarray(*list, *n + 1, sizeof(**list));

    if (!l)
        return -ENOMEM;
    l[(*n)++] = id;
    *list = l;
    return 0;
}

static int reconcile_cb(const StoredImage *img, void *userdata)
{
    ReconcileImages *ri = userdata;
    Domain *d = manager_find_uuid(ri->m, img->domain_uuid);
    _cleanup_free_ char *copy = image_disk_copy_path(img->path);
    char **paths;

    if (!copy)
        return -ENOMEM;
    if (!d || access(img->path, F_OK) < 0 ||
        (streq(img->contents, IMAGE_CONTENTS_DISK) && access(copy, F_OK) < 0)) {
        log_warning("Image %s of %s is gone; forgetting it.", img->path,
                    d ? d->config.name : img->domain_uuid);
        return push_id(&ri->gone, &ri->n_gone, img->id);
    }
    if (streq(img->kind, KIND_MANAGED) &&
        (d->state == STATE_RUNNING || d->state == STATE_PAUSED || d->state == STATE_STOPPING)) {
        log_info("Domain %s runs again: its saved state %s is consumed.", d->config.name,
                 img->path);
        return push_id(&ri->stale, &ri->n_stale, img->id);
    }
    paths = reallocarray(ri->paths, ri->n_paths + 1, sizeof(char *));
    if (!paths)
        return -ENOMEM;
    ri->paths = paths;
    paths[ri->n_paths] = strdup(img->path);
    return paths[ri->n_paths++] ? 0 : -ENOMEM;
}

/* Whether path is the file of a row that stays, or that file's disk copy. */
static bool path_listed(ReconcileImages *ri, const char *path)
{
    size_t n;

    for (size_t i = 0; i < ri->n_paths; i++) {
        n = strlen(ri->paths[i]);
        if (strncmp(ri->paths[i], path, n) == 0 &&
            (!path[n] || streq(path + n, DRIVER_IMAGE_DISK_SUFFIX)))
            return true;
    }
    return false;
}

/* Removes the files under STATE_DIR/images that no row names (saves that hvd did not get to
 * record: temporary files, or files renamed into place before their row committed). */
static void remove_orphans(Manager *m, ReconcileImages *ri)
{
    _cleanup_free_ char *top = NULL;
    DIR *dir;
    struct dirent *de;

    if (asprintf(&top, "%s/images", m->config->state_dir) < 0)
        return;
    dir = opendir(top);
    if (!dir)
        return;
    while ((de = readdir(dir))) {
        _cleanup_free_ char *sub = NULL;
        DIR *inner;
        struct dirent *f;

        if (de->d_name[0] == '.' || asprintf(&sub, "%s/%s", top, de->d_name) < 0)
            continue;
        inner = opendir(sub);
        if (!inner)
            continue;
        while ((f = readdir(inner))) {
            _cleanup_free_ char *path = NULL;

            if (streq(f->d_name, ".") || streq(f->d_name, "..") ||
                asprintf(&path, "%s/%s", sub, f->d_name) < 0 || path_listed(ri, path))
                continue;
            log_warning("Removing image file %s: no recorded image names it (a save that was "
                        "not recorded).",
                        path);
            if (unlink(path) < 0)
                log_warning_errno(errno, "Failed to remove %s: %m", path);
        }
        closedir(inner);
        (void)rmdir(sub); /* when empty */
    }
    closedir(dir);
}

void manager_images_reconcile(Manager *m)
{
    ReconcileImages ri = {.m = m};
    int r;

    r = store_images_load(m->store, NULL, reconcile_cb, &ri);
    if (r < 0) {
        log_warning_errno(r, "Failed to read the recorded images, leaving them as they are: %s",
                          store_last_error(m->store));
        goto finish;
    }
    r = manager_change_begin(m);
    for (size_t i = 0; r >= 0 && i < ri.n_gone; i++)
        r = store_image_delete(m->store, ri.gone[i]);
    for (size_t i = 0; r >= 0 && i < ri.n_stale; i++)
        r = store_image_delete(m->store, ri.stale[i]);
    manager_change_end(m, r);
    if (r < 0) {
        log_warning_errno(r, "Failed to forget images: %s", store_last_error(m->store));
        goto finish;
    }
    manager_commit(m);
    /* Only files named by a row that stays are kept (a consumed managed save goes too). */
    remove_orphans(m, &ri);
    manager_clone_disks_reconcile(m);

finish:
    for (size_t i = 0; i < ri.n_paths; i++)
        free(ri.paths[i]);
    free(ri.paths);
    free(ri.gone);
    free(ri.stale);
}

void manager_images_domain_deleted(Manager *m, Domain *d)
{
    _cleanup_free_ char *dir = domain_images_dir(m, d);
    DIR *dd = dir ? opendir(dir) : NULL;
    struct dirent *f;

    manager_clone_disk_deleted(m, d);
    if (!dd)
        return;
    while ((f = readdir(dd))) {
        _cleanup_free_ char *path = NULL;

        if (f->d_name[0] == '.' && (!f->d_name[1] || streq(f->d_name, "..")))
            continue;
        if (asprintf(&path, "%s/%s", dir, f->d_name) >= 0 && unlink(path) < 0)
            log_warning_errno(errno, "Failed to remove %s: %m", path);
    }
    closedir(dd);
    if (rmdir(dir) < 0)
        log_warning_errno(errno, "Failed to remove %s: %m", dir);
}
