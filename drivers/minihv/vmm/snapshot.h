/* Saving a paused domain into an image file and restoring one from it (see snapshot-format.h). */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "snapshot-format.h"
#include "vm.h"

/* A saved image whose header and state area were read and checked. */
typedef struct Snapshot {
    SnapshotHeader header;
    uint8_t *state; /* state_size bytes, owned */
    int fd;         /* the image, open read-only (-EBADF in the fuzzer) */
    dev_t dev;      /* which file it is, so that a restored domain never saves over it */
    ino_t ino;
    const SnapVm *vm;
    const SnapVcpu *vcpus[VM_MAX_VCPUS];
    const SnapConsole *console;
    const SnapUart *uart;
    const SnapAta *ata;
    const SnapRtc *rtc;
    const SnapPower *power;
    const SnapPvBlock *pv_block;
    const SnapPvNet *pv_net;
    const SnapNe2000 *ne2000;
} Snapshot;

/* snapshot-parse.c */

/* Checks the first len bytes of an image (header and state area) of file_size bytes in all: magic,
 * format and ABI versions, settings, offsets and sizes (overflow-safe, against file_size, so a
 * truncated file is refused), the checksum, and the state sections (known tags, exact sizes, the
 * set a domain of that mode and those devices has). On success *ret owns a copy of the state;
 * fd is -EBADF. Returns 0 or a negative errno with e saying what is wrong. */
int snapshot_parse(const uint8_t *buf, size_t len, uint64_t file_size, Snapshot **ret, Error *e);

/* The header checks of snapshot_parse alone, for a header whose state area is the first len
 * bytes' tail and whose file has file_size bytes. Returns 0 or -EINVAL with e set. */
int snapshot_check_header(const SnapshotHeader *h, size_t len, uint64_t file_size, Error *e);

/* Opens the image at path, reads its header and state and checks them with snapshot_parse.
 * *ret then owns the open descriptor too. Returns 0 or a negative errno with e set. */
int snapshot_open(const char *path, Snapshot **ret, Error *e);

/* Accepts NULL, returns NULL. */
Snapshot *snapshot_free(Snapshot *s);

/* Which settings the command line gave explicitly (the image supplies the others). */
typedef enum SnapshotGiven {
    SNAPSHOT_GIVEN_MODE = 1 << 0,
    SNAPSHOT_GIVEN_MEMORY = 1 << 1,
    SNAPSHOT_GIVEN_VCPUS = 1 << 2,
} SnapshotGiven;

/* Completes cfg for restoring s: mode, memory, vCPUs (each must equal the image's when given),
 * the disk (the image's path unless one is given), the network device (required exactly when
 * the saved domain had one; its MAC is the saved one unless mac_given). Strings point into s.
 * Returns 0 or -EINVAL with e set. */
int snapshot_apply_config(const Snapshot *s, VmConfig *cfg, unsigned given, bool mac_given,
                          Error *e);

/* snapshot-restore.c */

/* Maps the image's memory copy-on-write as the guest's memory (vm->mem); over vm->mem at the
 * same address when the VM has its memory already (a warm-pool VM: the sizes must agree). */
int snapshot_map_memory(Vm *vm, const Snapshot *s, Error *e);

/* Installs the saved vCPU and device state in a VM built from s (memory mapped, devices and
 * vCPUs created, nothing running) and re-anchors the guest clocks: guest monotonic time
 * continues from the save point; wall-clock time (pv shared page, RTC) tracks the host's.
 * Returns 0 or a negative errno with e set. */
int snapshot_restore(Vm *vm, const Snapshot *s, Error *e);

/* snapshot-save.c */

typedef struct SnapshotSaveInfo {
    uint64_t file_size;     /* bytes the image spans */
    uint64_t written_bytes; /* bytes written (memory pages that are all zero are left as holes) */
    uint64_t duration_ns;
} SnapshotSaveInfo;

/* Writes the paused domain into fd (a regular file open for writing, truncated first): header,
 * vCPU and device state, memory; then fdatasync. The caller paused every vCPU (vm_pause) and
 * keeps them paused. Refuses the image the domain was restored from. Main thread only. Returns 0
 * or a negative errno with e set. */
int snapshot_save(Vm *vm, int fd, SnapshotSaveInfo *info, Error *e);

/* Fills h as a save of the domain with a state area of state_size bytes would: settings, offsets,
 * the guest clocks now; checksum 0. */
void snapshot_fill_header(Vm *vm, size_t state_size, SnapshotHeader *h);

/* Builds the start of a saved image of the paused domain: the header page and the state area,
 * checksummed, as snapshot_save writes them before memory. *ret (malloc'd, *ret_len bytes) is
 * the caller's. Main thread only, every vCPU paused. Returns 0 or a negative errno with e set. */
int snapshot_state_image(Vm *vm, uint8_t **ret, size_t *ret_len, Error *e);

/* snapshot-vcpu.c */

/* Reads a paused vCPU's state into out (only id and up for a vCPU the guest never started).
 * Returns 0 or a negative errno. */
int snapshot_vcpu_save(Vcpu *vcpu, SnapVcpu *out);

/* Whether a saved vCPU is one minihv could have written for vCPU id. Returns 0 or -EINVAL. */
int snapshot_vcpu_check(const SnapVcpu *in, unsigned id);

/* Loads a checked saved state into a vCPU that has not run. Returns 0 or a negative errno. */
int snapshot_vcpu_load(Vcpu *vcpu, const SnapVcpu *in);
