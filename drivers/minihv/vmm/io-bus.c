/* The port-I/O bus: finds the device for a port and splits string and wide accesses. */
#include <string.h>

#include "io-bus.h"

static IoDevice *io_bus_find(Vm *vm, uint16_t port)
{
    for (unsigned i = 0; i < vm->n_io; i++) {
        IoDevice *d = &vm->io[i];
        if (port >= d->base && port - d->base < d->len)
            return d;
    }
    return NULL;
}

static void put_le(uint8_t *p, unsigned size, uint32_t v)
{
    for (unsigned i = 0; i < size; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le(const uint8_t *p, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

/* One element: a device with byte registers sees each byte separately; bytes past its range
 * read as all-ones and writes to them are ignored. */
static void io_device_element(IoDevice *d, Vcpu *vcpu, uint16_t port, bool write, unsigned size,
                              uint8_t *p)
{
    uint16_t off = (uint16_t)(port - d->base);

    if (!d->byte_registers || size == 1) {
        if (write)
            d->ops->write(d, vcpu, off, size, get_le(p, size));
        else
            put_le(p, size, d->ops->read(d, vcpu, off, size));
        return;
    }
    for (unsigned i = 0; i < size; i++) {
        bool inside = (unsigned)off + i < d->len;
        if (write) {
            if (inside)
                d->ops->write(d, vcpu, (uint16_t)(off + i), 1, p[i]);
        } else
            p[i] = inside ? (uint8_t)d->ops->read(d, vcpu, (uint16_t)(off + i), 1) : 0xff;
    }
}

void io_bus_access(Vcpu *vcpu, uint16_t port, bool write, unsigned size, uint32_t count,
                   uint8_t *data)
{
    Vm *vm = vcpu->vm;
    IoDevice *d;

    if (size != 1 && size != 2 && size != 4)
        return;
    d = io_bus_find(vm, port);
    if (!d) {
        stats_add(&vm->stats->devices[STAT_DEV_UNASSIGNED_PORT], 1);
        if (vm->cfg.strict)
            vm_request_exit(vm, MINIHV_EXIT_CRASH,
                            "guest crashed: --strict: %s of %u byte(s) at port 0x%x, which has "
                            "no device",
                            write ? "write" : "read", size, port);
        if (!write)
            memset(data, 0xff, (size_t)size * count);
        return;
    }
    if (d->stat != STAT_DEV_SELF)
        stats_add(&vm->stats->devices[d->stat], 1);
    for (uint32_t i = 0; i < count; i++) {
        io_device_element(d, vcpu, port, write, size, data + (size_t)i * size);
        if (vm_exit_requested(vm))
            break;
    }
}

void mmio_access(Vcpu *vcpu, uint64_t addr, bool write, unsigned len, uint8_t *data)
{
    Vm *vm = vcpu->vm;

    stats_add(&vm->stats->devices[STAT_DEV_UNASSIGNED_MMIO], 1);
    if (vm->cfg.strict)
        vm_request_exit(vm, MINIHV_EXIT_CRASH,
                        "guest crashed: --strict: %s of %u byte(s) at address 0x%llx, which is "
                        "neither memory nor a device",
                        write ? "write" : "read", len, (unsigned long long)addr);
    if (!write)
        memset(data, 0xff, len > 8 ? 8 : len);
}
