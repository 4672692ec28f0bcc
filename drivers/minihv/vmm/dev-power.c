/* ACPI PM1a event/control registers (power button, soft-off) and the PIIX reset register. */
#include <stdlib.h>

#include "devices.h"
#include "macro.h"

/* Offsets in the PM1 block: PM1a_STS (16 bits), PM1a_EN (16 bits), PM1a_CNT (16 bits). */
#define PM1_STS_OFF      0
#define PM1_EN_OFF       2
#define PM1_CNT_OFF      4
#define PM1_LEN          6
#define PM1_PWRBTN       0x0100 /* PWRBTN_STS / PWRBTN_EN */
#define PM1_WAK          0x8000
#define PM1_CNT_SCI_EN   0x0001
#define PM1_CNT_SLP_TYP  0x1c00
#define PM1_CNT_SLP_EN   0x2000
#define SLP_TYP_SOFT_OFF 0 /* S5, as QEMU's PIIX4 reports it */
#define RESET_SYS_RST    0x02
#define RESET_RST_CPU    0x04

struct Power {
    Vm *vm;
    uint16_t sts; /* accessed atomically: the main loop presses the button */
    uint16_t en;
    uint16_t cnt;
    uint8_t reset_reg;
};

void power_press_button(Vm *vm)
{
    if (vm->power)
        __atomic_fetch_or(&vm->power->sts, PM1_PWRBTN, __ATOMIC_RELAXED);
}

static uint16_t *pm1_register(Power *p, uint16_t off)
{
    switch (off & ~1u) {
    case PM1_STS_OFF:
        return &p->sts;
    case PM1_EN_OFF:
        return &p->en;
    default:
        return &p->cnt;
    }
}

static uint32_t pm1_read(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size)
{
    Power *p = dev->data;
    uint16_t v = off < PM1_CNT_OFF ? __atomic_load_n(pm1_register(p, off), __ATOMIC_RELAXED)
                                   : (uint16_t)(p->cnt & ~PM1_CNT_SLP_EN); /* SLP_EN reads 0 */

    return (off & 1) ? v >> 8 : (uint8_t)v;
}

static void pm1_write(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size, uint32_t value)
{
    Power *p = dev->data;
    uint16_t v = (off & 1) ? (uint16_t)((value & 0xff) << 8) : (uint16_t)(value & 0xff);
    uint16_t mask = (off & 1) ? 0xff00 : 0x00ff;

    switch (off & ~1u) {
    case PM1_STS_OFF:
        __atomic_fetch_and(&p->sts, (uint16_t)~v, __ATOMIC_RELAXED); /* write 1 to clear */
        break;
    case PM1_EN_OFF:
        p->en = (uint16_t)((p->en & ~mask) | v);
        break;
    default:
        p->cnt = (uint16_t)((p->cnt & ~mask) | (v & ~PM1_CNT_SLP_EN));
        if ((v & PM1_CNT_SLP_EN) && ((p->cnt & PM1_CNT_SLP_TYP) >> 10) == SLP_TYP_SOFT_OFF)
            vm_request_exit(p->vm, MINIHV_EXIT_POWEROFF, "guest powered off");
        /* other sleep states are not supported: the write is ignored */
        break;
    }
}

static const IoDeviceOps pm1_ops = {
    .read = pm1_read,
    .write = pm1_write,
};

static uint32_t reset_read(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size)
{
    Power *p = dev->data;
    return p->reset_reg;
}

static void reset_write(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size, uint32_t value)
{
    Power *p = dev->data;

    p->reset_reg = (uint8_t)(value & RESET_SYS_RST);
    if (value & RESET_RST_CPU)
        vm_request_exit(p->vm, MINIHV_EXIT_REBOOT, "guest asked for a reboot");
}

static const IoDeviceOps reset_ops = {
    .read = reset_read,
    .write = reset_write,
};

int power_init(Vm *vm, Error *e)
{
    Power *p = calloc(1, sizeof(*p));
    int r;

    if (!p)
        return error_set_errno(e, ENOMEM, "out of memory");
    p->vm = vm;
    p->cnt = PM1_CNT_SCI_EN; /* ACPI mode, as firmware hands over */
    r = vm_add_io_device(vm, &(IoDevice){
                                 .name = "power",
                                 .base = PM1_BASE,
                                 .len = PM1_LEN,
                                 .stat = STAT_DEV_POWER,
                                 .byte_registers = true,
                                 .ops = &pm1_ops,
                                 .data = p,
                             });
    if (r >= 0)
        r = vm_add_io_device(vm, &(IoDevice){
                                     .name = "reset",
                                     .base = RESET_PORT,
                                     .len = 1,
                                     .stat = STAT_DEV_POWER,
                                     .byte_registers = true,
                                     .ops = &reset_ops,
                                     .data = p,
                                 });
    if (r < 0) {
        free(p);
        return error_set_errno(e, r, "cannot register the power device: %m");
    }
    vm->power = p;
    return 0;
}

void power_fini(Vm *vm)
{
    vm->power = mfree(vm->power);
}

void power_save(Vm *vm, SnapPower *out)
{
    Power *p = vm->power;

    *out = (SnapPower){
        .sts = __atomic_load_n(&p->sts, __ATOMIC_RELAXED),
        .en = p->en,
        .cnt = p->cnt,
        .reset_reg = p->reset_reg,
    };
}

int power_load(Vm *vm, const SnapPower *in)
{
    Power *p = vm->power;

    if (in->cnt & PM1_CNT_SLP_EN || in->reset_reg & ~RESET_SYS_RST)
        return -EINVAL;
    __atomic_store_n(&p->sts, in->sts, __ATOMIC_RELAXED);
    p->en = in->en;
    p->cnt = in->cnt;
    p->reset_reg = in->reset_reg;
    return 0;
}
