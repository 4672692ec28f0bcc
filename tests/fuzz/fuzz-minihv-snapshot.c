/* libFuzzer target for minihv's saved-image reader: the header and state checks, then loading the
 * state into a VM built without KVM and driving the devices that state configured (block ring,
 * ATA data port, UART, NE2000, network rings). The input is the start of an image file (header
 * and state area) with its checksum recomputed, so that mutations reach the section and device
 * checks; its memory is taken to follow, so the file-size check always passes. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices.h"
#include "io-bus.h"
#include "net.h"
#include "pv.h"
#include "snapshot.h"
#include "vm.h"

#define FUZZ_DISK_SIZE (256u * 512u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int disk_fd = -1;
static char disk_path[64];

static void fuzz_init(void)
{
    if (disk_fd >= 0)
        return;
    disk_fd = memfd_create("minihv-fuzz-disk", MFD_CLOEXEC);
    if (disk_fd < 0 || ftruncate(disk_fd, FUZZ_DISK_SIZE) < 0)
        abort();
    snprintf(disk_path, sizeof(disk_path), "/proc/self/fd/%d", disk_fd);
}

/* What a guest would do next with the restored devices. */
static void fuzz_drive(Vm *vm)
{
    uint8_t buf[4] = {0};

    if (vm->cfg.mode == VM_MODE_PV) {
        pv_block_process(vm);
    } else {
        for (unsigned i = 0; i < 600; i++)
            io_bus_access(vm->vcpus[0], ATA_CMD_BASE, i & 1, 2, 1, buf);
        for (uint16_t p = 0; p < 8; p++)
            io_bus_access(vm->vcpus[0], (uint16_t)(UART_COM1_BASE + p), false, 1, 1, buf);
        for (uint16_t p = 0; p < 0x20 && vm->ne2000; p++)
            io_bus_access(vm->vcpus[0], (uint16_t)(NE2000_BASE + p), false, 1, 1, buf);
    }
    if (vm->net)
        net_process(vm->net);
}

/* Rewrites the checksum of a copy of the input as a save would have computed it. */
static uint8_t *fuzz_fix_checksum(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    SnapshotHeader h;
    uint64_t sum;

    if (!copy)
        abort();
    memcpy(copy, data, size);
    if (size < SNAPSHOT_HEADER_SIZE)
        return copy;
    memcpy(&h, copy, sizeof(h));
    if (h.state_offset != SNAPSHOT_HEADER_SIZE || h.state_size > size - SNAPSHOT_HEADER_SIZE)
        return copy;
    h.checksum = 0;
    memcpy(copy, &h, sizeof(h));
    sum = snapshot_fnv1a(SNAPSHOT_FNV_OFFSET, copy, SNAPSHOT_HEADER_SIZE);
    h.checksum = snapshot_fnv1a(sum, copy + SNAPSHOT_HEADER_SIZE, h.state_size);
    memcpy(copy, &h, sizeof(h));
    return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *input = fuzz_fix_checksum(data, size);
    int pair[2] = {-EBADF, -EBADF};
    Error e = ERROR_NULL;
    Snapshot *s = NULL;
    VmConfig cfg;
    Vm *vm;
    int r;

    fuzz_init();
    r = snapshot_parse(input, size, UINT64_MAX, &s, &e);
    free(input);
    if (r < 0)
        return 0;
    cfg = (VmConfig){
        .mode = (VmMode)s->header.mode,
        .mem_size = s->header.mem_size,
        .vcpus = s->header.vcpus,
        .disk_path = (s->header.flags & SNAPSHOT_F_DISK) ? disk_path : NULL,
        .cmdline = "",
        .console_path = "/dev/null",
        .ready_fd = -1,
        .net_fd = -1,
        .mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02},
    };
    if ((s->header.flags & SNAPSHOT_F_NET) &&
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0)
        cfg.net_fd = pair[0]; /* the VM owns it from here on */
    /* anonymous memory (the fuzzer has no image file to map); the state goes on top of it */
    if (cfg.net_fd >= 0 || !(s->header.flags & SNAPSHOT_F_NET)) {
        if (vm_new(&cfg, VM_NEW_NO_KVM, &vm, &e) < 0)
            abort(); /* the header's settings were checked: set-up cannot refuse them */
        vm->wait_cap_ns = 0;
        if (snapshot_restore(vm, s, &e) >= 0)
            fuzz_drive(vm);
        vm_free(vm);
    }
    if (pair[1] >= 0)
        close(pair[1]);
    snapshot_free(s);
    return 0;
}
