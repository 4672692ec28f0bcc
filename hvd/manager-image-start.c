/* Saved state for the cluster's HA restarts: a domain's latest snapshot (its image's path), and a
 * start from an image file that is not one of the domain's own (another host's snapshot). */
#include <string.h>

#include "manager-internal.h"

static int latest_cb(const StoredImage *img, void *userdata)
{
    json_t **latest = userdata;

    if (!streq(img->kind, "snapshot"))
        return 0;
    /* Oldest first: the last one wins. */
    json_decref(*latest);
    *latest = json_pack("{s:s, s:I, s:s}", "name", img->name, "created_us",
                        (json_int_t)img->created_us, "path", img->path);
    return *latest ? 0 : -ENOMEM;
}

int manager_snapshot_latest(Manager *m, Domain *d, json_t **ret, Error *e)
{
    json_t *latest = NULL;
    int r = store_images_load(m->store, d->config.uuid, latest_cb, &latest);

    if (r < 0) {
        json_decref(latest);
        return error_set_errno(e, r, "Failed to read the snapshots of '%s': %s", d->config.name,
                               store_last_error(m->store));
    }
    *ret = latest;
    return 0;
}

int manager_domain_start_image(Manager *m, Domain *d, const char *path, ManagerDone done,
                               void *userdata, Error *e)
{
    int r;

    if (d->state != STATE_SHUTOFF || d->reason == REASON_SAVED || d->restore_path)
        return error_setf(e, ERROR_INVALID_STATE,
                          "domain '%s' must be shut off without saved state to start from an "
                          "image",
                          d->config.name);
    d->restore_path = strdup(path);
    if (!d->restore_path)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    d->restore_image_id = 0;
    r = manager_domain_action(m, d, ACTION_START, 0, done, userdata, e);
    if (r < 0)
        d->restore_path = mfree(d->restore_path);
    return r;
}
