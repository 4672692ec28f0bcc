/* full mode boot: the machine state of the Multiboot v1 hand-over. */
#include "full.h"
#include "vcpu.h"

#define MB_BOOT_MAGIC 0x2badb002u

static struct kvm_segment flat_segment(uint16_t sel, bool code)
{
    return (struct kvm_segment){
        .base = 0,
        .limit = 0xffffffff,
        .selector = sel,
        .type = code ? 0xb : 0x3,
        .present = 1,
        .dpl = 0,
        .db = 1,
        .s = 1,
        .g = 1,
    };
}

int full_boot_setup_vcpu(Vcpu *vcpu)
{
    Vm *vm = vcpu->vm;
    struct kvm_sregs s;
    struct kvm_regs r = {
        .rax = MB_BOOT_MAGIC,
        .rbx = vm->boot_arg,
        .rip = vm->entry,
        .rflags = 0x2,
    };
    int k;

    k = vcpu_get_sregs(vcpu, &s);
    if (k < 0)
        return k;
    s.cs = flat_segment(0x08, true);
    s.ds = flat_segment(0x10, false);
    s.es = s.fs = s.gs = s.ss = s.ds;
    s.gdt.base = 0; /* the Multiboot spec leaves GDTR undefined: the guest loads its own */
    s.gdt.limit = 0;
    s.idt.base = 0;
    s.idt.limit = 0;
    s.cr0 = 0x11; /* ET PE */
    s.cr3 = 0;
    s.cr4 = 0;
    s.efer = 0;
    k = vcpu_set_sregs(vcpu, &s);
    if (k < 0)
        return k;
    return vcpu_set_regs(vcpu, &r);
}
