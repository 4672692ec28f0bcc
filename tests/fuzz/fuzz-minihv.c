/* libFuzzer target for minihv's guest-facing entry points: pv hypercalls, the block ring and the
 * net rings, full-mode port I/O (UART, ATA, RTC, power, NE2000), MMIO, the vCPU exit
 * dispatcher, the image loaders, and frames arriving from the host side of the tap. A VM is built
 * without KVM for each input; the input is a mode byte followed by a script of operations (see the
 * FuzzOp enum). */
#include <fcntl.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "console.h"
#include "io-bus.h"
#include "loader.h"
#include "net.h"
#include "pv.h"
#include "vcpu.h"
#include "vm.h"

#define FUZZ_MEMORY    (4u << 20)
#define FUZZ_DISK_SIZE (256u * 512u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef enum FuzzOp {
    OP_POKE,      /* u32 gpa, u8 len, bytes: write guest memory */
    OP_OUT,       /* u16 port, u8 size, u32 value */
    OP_IN,        /* u16 port, u8 size */
    OP_STRING,    /* u16 port, u8 size, u16 count, u8 write: rep ins/outs */
    OP_HYPERCALL, /* u8 nr, u64 gpa: the pv hypercall entry point */
    OP_DOORBELL,  /* process the block ring as the main loop does on a doorbell */
    OP_MMIO,      /* u64 addr, u8 len, u8 write */
    OP_INPUT,     /* u8 len, bytes: console input from a client */
    OP_EXIT,      /* u32 reason, u16 port, u8 size, u32 count, u64 offset: a forged kvm_run */
    OP_LOAD,      /* the rest of the input is a guest image for the mode's loader */
    OP_NET_FRAME, /* u16 len, bytes (zero-filled to len): a frame from the host side */
    OP_NET_RUN,   /* one round of the network thread (pv rings or NE2000 receive) */
    _OP_MAX,
} FuzzOp;

typedef struct Reader {
    const uint8_t *p;
    size_t left;
} Reader;

static bool take(Reader *r, void *out, size_t n)
{
    if (r->left < n)
        return false;
    memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
    return true;
}

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

static void fuzz_exit(Vcpu *v, Reader *r)
{
    static uint8_t page[3 * 4096] __attribute__((aligned(4096)));
    uint32_t reason, count;
    uint16_t port;
    uint8_t sz;
    uint64_t offset;

    if (!take(r, &reason, 4) || !take(r, &port, 2) || !take(r, &sz, 1) || !take(r, &count, 4) ||
        !take(r, &offset, 8))
        return;
    memset(page, 0, sizeof(page));
    v->run = (struct kvm_run *)page;
    v->run_size = sizeof(page);
    v->run->exit_reason = reason % 32;
    v->run->io.port = port;
    v->run->io.size = (uint8_t)(1u << (sz % 3));
    v->run->io.direction = sz & 0x80 ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
    v->run->io.count = count % 8192;
    v->run->io.data_offset = offset;
    if (v->run->exit_reason == KVM_EXIT_MMIO) {
        v->run->mmio.phys_addr = offset;
        v->run->mmio.len = count;
        v->run->mmio.is_write = sz & 1;
    }
    vcpu_handle_exit(v);
    v->run = NULL;
    v->run_size = 0;
}

/* A frame as the host would write it into the tap: the datagram socket keeps its bounds. */
static void fuzz_net_frame(int host_fd, Reader *r)
{
    static uint8_t frame[MINIHV_NET_FRAME_MAX + 64];
    uint16_t len;
    size_t have;

    if (!take(r, &len, 2))
        return;
    len %= sizeof(frame);
    have = MIN((size_t)len, r->left);
    memset(frame, 0, len);
    (void)take(r, frame, have);
    (void)send(host_fd, frame, len, MSG_DONTWAIT);
}

/* Reads and forgets what the VMM sent, so its sends never find the socket full for long. */
static void fuzz_net_drain(int host_fd)
{
    static uint8_t frame[NET_SCRATCH_LEN];

    while (recv(host_fd, frame, sizeof(frame), MSG_DONTWAIT) > 0)
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int pair[2] = {-EBADF, -EBADF};
    Reader r = {data, size};
    VmConfig cfg;
    Error e = ERROR_NULL;
    uint8_t flags, op;
    Vm *vm;
    Vcpu *v;

    fuzz_init();
    if (!take(&r, &flags, 1))
        return 0;
    cfg = (VmConfig){
        .mode = flags & 1 ? VM_MODE_FULL : VM_MODE_PV,
        .mem_size = FUZZ_MEMORY,
        .vcpus = (flags & 1) ? 1 : 2,
        .disk_path = flags & 2 ? disk_path : NULL,
        .cmdline = "fuzz",
        .console_path = "/dev/null",
        .strict = flags & 4,
        .ready_fd = -1,
        .net_fd = -1,
        .mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01},
    };
    if ((flags & 8) && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0)
        cfg.net_fd = pair[0]; /* the VM owns it from here on */
    if (vm_new(&cfg, VM_NEW_NO_KVM, &vm, &e) < 0)
        abort();         /* nothing in this configuration depends on the input */
    vm->wait_cap_ns = 0; /* POLL and hlt never block */
    vm->released = true;
    v = vm->vcpus[0];

    while (!vm_exit_requested(vm) && take(&r, &op, 1)) {
        uint8_t len, sz, write, buf[256];
        uint16_t port, count;
        uint32_t gpa, value;
        uint64_t addr;

        switch (op % _OP_MAX) {
        case OP_POKE:
            if (take(&r, &gpa, 4) && take(&r, &len, 1) && take(&r, buf, len)) {
                gpa %= FUZZ_MEMORY - 256;
                memcpy(vm->mem.base + gpa, buf, len);
            }
            break;
        case OP_OUT:
            if (take(&r, &port, 2) && take(&r, &sz, 1) && take(&r, &value, 4))
                io_bus_access(v, port, true, 1u << (sz % 3), 1, (uint8_t *)&value);
            break;
        case OP_IN:
            if (take(&r, &port, 2) && take(&r, &sz, 1))
                io_bus_access(v, port, false, 1u << (sz % 3), 1, (uint8_t *)&value);
            break;
        case OP_STRING:
            if (take(&r, &port, 2) && take(&r, &sz, 1) && take(&r, &count, 2) &&
                take(&r, &write, 1)) {
                static uint8_t strbuf[4096 * 4];
                unsigned bytes = 1u << (sz % 3);
                count = (uint16_t)(count % (sizeof(strbuf) / bytes + 1));
                io_bus_access(v, port, write & 1, bytes, count, strbuf);
            }
            break;
        case OP_HYPERCALL:
            /* only pv guests reach the dispatcher (their ports exist only in pv mode) */
            if (take(&r, &len, 1) && take(&r, &addr, 8) && cfg.mode == VM_MODE_PV)
                (void)hypercall_dispatch(vm->vcpus[len % vm->nr_vcpus], len % 32, addr);
            break;
        case OP_DOORBELL:
            pv_block_process(vm);
            break;
        case OP_MMIO:
            if (take(&r, &addr, 8) && take(&r, &len, 1) && take(&r, &write, 1))
                mmio_access(v, addr, write & 1, len % 9, buf);
            break;
        case OP_INPUT:
            if (take(&r, &len, 1) && take(&r, buf, len))
                (void)console_input_push(vm, buf, len);
            break;
        case OP_EXIT:
            fuzz_exit(v, &r);
            break;
        case OP_LOAD:
            (void)loader_load_buffer(vm, r.p, r.left, &e);
            r.left = 0;
            break;
        case OP_NET_FRAME:
            if (vm->net)
                fuzz_net_frame(pair[1], &r);
            break;
        case OP_NET_RUN:
            if (vm->net) {
                net_process(vm->net);
                fuzz_net_drain(pair[1]);
            }
            break;
        }
    }
    vm_free(vm);
    if (pair[1] >= 0)
        (void)close(pair[1]);
    return 0;
}
