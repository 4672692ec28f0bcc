/* The disk backend shared by the ATA device (full mode) and the block ring (pv mode). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "vm.h"

#define DISK_SECTOR_SIZE 512u

struct Disk {
    int fd;
    uint64_t sectors;     /* file size / 512, rounded down */
    bool read_only;       /* the file could only be opened for reading */
    pthread_mutex_t lock; /* serialises users (vCPU threads and the main loop) */
};

/* Opens cfg->disk_path (read-write, or read-only when the file is not writable) and sets
 * vm->disk; does nothing without a disk. */
int disk_init(Vm *vm, Error *e);
void disk_fini(Vm *vm);

/* Reads/writes n sectors at sector into/from buf. The range must have been checked against
 * d->sectors. Return 0 or a negative errno (-EIO for a short transfer). */
int disk_read(Disk *d, uint64_t sector, uint32_t n, void *buf);
int disk_write(Disk *d, uint64_t sector, uint32_t n, const void *buf);
int disk_flush(Disk *d);

/* Whether [sector, sector + n) lies on the disk, without overflow. */
bool disk_range_ok(const Disk *d, uint64_t sector, uint64_t n);
