/* What the saved-state files of hvd share: an image row as the store gives it, and the helpers
 * that find, name and start from images (manager-snapshot.c), for clones and start-up. */
#pragma once

#include "manager-internal.h"

/* What every image holds; disks are referenced by path, except that a snapshot may keep a copy
 * of the disk beside its file (DRIVER_IMAGE_DISK_SUFFIX: kvm, of a qcow2 disk). */
#define IMAGE_CONTENTS      "memory+vcpu+devices"
#define IMAGE_CONTENTS_DISK "memory+vcpu+devices+disk"
#define KIND_MANAGED        "managed-save"
#define KIND_SNAPSHOT       "snapshot"

/* One image row, copied out of the store. */
typedef struct ImageRow {
    int64_t id;
    char kind[16];
    char name[DOMAIN_NAME_MAX + 1];
    uint64_t created_us;
    uint64_t size_bytes;
    char *path;
    char *disk;
    bool disk_copy; /* the image keeps a copy of disk beside its file */
} ImageRow;

/* Frees what row holds (not row itself). */
void image_row_done(ImageRow *row);

/* STATE_DIR/images/UUID of d (new string), or NULL when out of memory. */
char *domain_images_dir(Manager *m, const Domain *d);

/* The path of the disk copy of the image at path (new string), or NULL when out of memory. */
char *image_disk_copy_path(const char *path);

/* Finds d's snapshot name into *ret (release with image_row_done); fails with
 * ERROR_NO_SUCH_SNAPSHOT when there is none, ERROR_INVALID_ARGUMENT for a bad name. */
int snapshot_get(Manager *m, Domain *d, const char *name, ImageRow *ret, Error *e);

/* Starts d from the image at path (taken over, freed on failure), dropping a managed save it
 * had; done is called as for a start. */
int start_from(Manager *m, Domain *d, char *path, ManagerDone done, void *userdata, Error *e);
