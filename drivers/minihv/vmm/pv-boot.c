/* pv mode boot: GDT, IDT, TSS with I/O bitmap, exception stubs, page tables, boot info. */
#include <string.h>

#include "disk.h"
#include "macro.h"
#include "pv.h"
#include "vcpu.h"

/* VMM-private layout inside [0, MINIHV_PV_RESERVED_END); not part of the ABI. */
#define PV_CMDLINE    (MINIHV_PV_BOOT_INFO + 0x400u)
#define PV_GDT        0x4000u
#define PV_IDT        0x5000u
#define PV_STUBS      0x6000u
#define PV_STUB_SIZE  16u
#define PV_EXC_COUNT  32u
#define PV_TSS_BASE   0x8000u
#define PV_TSS_STRIDE 0x3000u
#define PV_TSS_IOMAP  104u
#define PV_TSS_LIMIT  (PV_TSS_IOMAP + 8192u) /* the byte after the bitmap must be 0xff */
#define PV_STACKS     (PV_TSS_BASE + VM_MAX_VCPUS * PV_TSS_STRIDE)
#define PV_PT_BASE    (PV_STACKS + VM_MAX_VCPUS * 0x1000u)
#define PV_PML4       PV_PT_BASE
#define PV_PDPT       (PV_PT_BASE + 0x1000u)
#define PV_PD(i)      (PV_PT_BASE + 0x2000u + (i)*0x1000u) /* up to 3 GiB: 3 tables */
#define PV_PT_LOW     (PV_PT_BASE + 0x5000u)               /* first 2 MiB in 4 KiB pages */
#define PV_PT_TAIL    (PV_PT_BASE + 0x6000u)               /* a last partial 2 MiB */
#define PV_VMM_END    (PV_PT_BASE + 0x7000u)

_Static_assert(MINIHV_PORT_BLK_DOORBELL >= MINIHV_HC_PORT_BASE + MINIHV_HC_PORT_COUNT + 3 &&
                   MINIHV_PORT_NET_DOORBELL >= MINIHV_PORT_BLK_DOORBELL + 4 &&
                   MINIHV_PORT_EXCEPTION >= MINIHV_PORT_NET_DOORBELL + 4,
               "ports opened at ring 3 must not reach the exception port");
_Static_assert(PV_VMM_END <= MINIHV_PV_RESERVED_END, "pv boot structures overflow");
_Static_assert(VM_MAX_MEMORY_MIB <= 3 * 1024, "pv page tables cover 3 GiB");
_Static_assert(sizeof(struct minihv_boot_info) <= PV_CMDLINE - MINIHV_PV_BOOT_INFO, "boot info");
_Static_assert(MINIHV_CMDLINE_MAX < 0x1000u - 0x400u, "command line fits the boot page");

/* GDT selectors, as on x86-64 Linux. */
#define SEL_KERNEL_CS 0x10u
#define SEL_KERNEL_DS 0x18u
#define SEL_USER_DS   0x2bu
#define SEL_USER_CS   0x33u
#define SEL_TSS(i)    (0x40u + 16u * (i))

#define PTE_P   0x001ull
#define PTE_RW  0x002ull
#define PTE_US  0x004ull
#define PTE_PS  0x080ull
#define PAGE_2M 0x200000ull

static uint64_t *pv_table(Vm *vm, uint64_t gpa)
{
    return gmem_vmm_ptr(&vm->mem, gpa, 4096);
}

static void pv_build_gdt(Vm *vm)
{
    uint64_t *gdt = pv_table(vm, PV_GDT);

    gdt[SEL_KERNEL_CS / 8] = 0x00209a0000000000ull; /* 64-bit code, DPL 0 */
    gdt[SEL_KERNEL_DS / 8] = 0x00cf92000000ffffull; /* data, DPL 0 */
    gdt[SEL_USER_DS / 8] = 0x00cff2000000ffffull;   /* data, DPL 3 */
    gdt[SEL_USER_CS / 8] = 0x0020fa0000000000ull;   /* 64-bit code, DPL 3 */
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        uint64_t base = PV_TSS_BASE + (uint64_t)i * PV_TSS_STRIDE, limit = PV_TSS_LIMIT;
        uint64_t *d = &gdt[SEL_TSS(i) / 8];

        d[0] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x8bull << 40 | /* busy TSS */
               ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
        d[1] = base >> 32;
    }
}

static bool vector_has_error_code(unsigned v)
{
    return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
}

/* Each vector's stub pushes a zero error code when the CPU pushes none, then the vector, and
 * jumps to a common tail that reports the frame on MINIHV_PORT_EXCEPTION. */
static void pv_build_idt_and_stubs(Vm *vm)
{
    uint8_t *stubs = gmem_vmm_ptr(&vm->mem, PV_STUBS, 4096);
    uint64_t *idt = pv_table(vm, PV_IDT);
    uint64_t common = PV_STUBS + PV_EXC_COUNT * PV_STUB_SIZE;
    uint8_t *c = stubs + (common - PV_STUBS);

    for (unsigned v = 0; v < PV_EXC_COUNT; v++) {
        uint64_t at = PV_STUBS + v * PV_STUB_SIZE;
        uint8_t *p = stubs + v * PV_STUB_SIZE;
        int32_t rel;

        if (!vector_has_error_code(v)) {
            *p++ = 0x6a; /* push $0 */
            *p++ = 0x00;
        }
        *p++ = 0x6a; /* push $v */
        *p++ = (uint8_t)v;
        *p++ = 0xe9; /* jmp rel32 common */
        rel = (int32_t)((int64_t)common -
                        (int64_t)(at + (uint64_t)(p - (stubs + v * PV_STUB_SIZE)) + 4));
        memcpy(p, &rel, 4);

        idt[2 * v] = (at & 0xffff) | (uint64_t)SEL_KERNEL_CS << 16 |
                     0x8eull << 40 | /* present, DPL 0, 64-bit interrupt gate */
                     ((at >> 16) & 0xffff) << 48;
        idt[2 * v + 1] = at >> 32;
    }
    /* mov $MINIHV_PORT_EXCEPTION, %dx; out %eax, %dx; jmp . */
    c[0] = 0x66;
    c[1] = 0xba;
    c[2] = (uint8_t)MINIHV_PORT_EXCEPTION;
    c[3] = (uint8_t)(MINIHV_PORT_EXCEPTION >> 8);
    c[4] = 0xef;
    c[5] = 0xeb;
    c[6] = 0xfe;
}

static void pv_build_tss(Vm *vm, unsigned i)
{
    uint64_t base = PV_TSS_BASE + (uint64_t)i * PV_TSS_STRIDE;
    uint8_t *t = gmem_vmm_ptr(&vm->mem, base, PV_TSS_LIMIT + 1);
    uint64_t rsp0 = PV_STACKS + (uint64_t)(i + 1) * 0x1000u;
    uint16_t iomap = PV_TSS_IOMAP;
    uint8_t *bitmap = t + PV_TSS_IOMAP;

    memset(t, 0, PV_TSS_IOMAP);
    memcpy(t + 4, &rsp0, sizeof(rsp0));
    memcpy(t + 102, &iomap, sizeof(iomap));
    memset(bitmap, 0xff, 8192 + 1); /* every port closed, plus the terminating byte */
    /* the CPU checks one bit per byte of an access: a 32-bit out at the last hypercall port
     * touches three ports more */
    for (unsigned p = MINIHV_HC_PORT_BASE; p < MINIHV_HC_PORT_BASE + MINIHV_HC_PORT_COUNT + 3; p++)
        bitmap[p / 8] &= (uint8_t) ~(1u << (p % 8));
    for (unsigned p = MINIHV_PORT_BLK_DOORBELL; p < MINIHV_PORT_BLK_DOORBELL + 4; p++)
        bitmap[p / 8] &= (uint8_t) ~(1u << (p % 8));
    for (unsigned p = MINIHV_PORT_NET_DOORBELL; p < MINIHV_PORT_NET_DOORBELL + 4; p++)
        bitmap[p / 8] &= (uint8_t) ~(1u << (p % 8));
}

static uint64_t pv_low_page_flags(Vm *vm, uint64_t addr)
{
    if (addr >= vm->mem.size)
        return 0;
    if (addr == MINIHV_PV_BOOT_INFO || addr == MINIHV_PV_SHARED_PAGE)
        return PTE_P | PTE_US; /* readable at ring 3, written only by the VMM */
    if (addr >= PV_GDT && addr < PV_VMM_END)
        return PTE_P | PTE_RW; /* supervisor only */
    if (addr >= MINIHV_PV_RESERVED_END)
        return PTE_P | PTE_RW | PTE_US;
    return 0; /* page 0 and the unused rest of the reserved area */
}

static void pv_build_page_tables(Vm *vm)
{
    uint64_t *pml4 = pv_table(vm, PV_PML4), *pdpt = pv_table(vm, PV_PDPT);
    uint64_t *low = pv_table(vm, PV_PT_LOW), *tail = pv_table(vm, PV_PT_TAIL);
    uint64_t mem = vm->mem.size;

    pml4[0] = PV_PDPT | PTE_P | PTE_RW | PTE_US;
    for (uint64_t g = 0; g * 512 * PAGE_2M < mem; g++)
        pdpt[g] = PV_PD(g) | PTE_P | PTE_RW | PTE_US;
    for (uint64_t i = 0; i < 512; i++) {
        uint64_t flags = pv_low_page_flags(vm, i * 4096);
        low[i] = flags ? (i * 4096) | flags : 0;
    }
    for (uint64_t a = 0; a < mem; a += PAGE_2M) {
        uint64_t *pd = pv_table(vm, PV_PD(a / (512 * PAGE_2M)));
        uint64_t idx = (a / PAGE_2M) % 512;

        if (a == 0)
            pd[idx] = PV_PT_LOW | PTE_P | PTE_RW | PTE_US;
        else if (a + PAGE_2M <= mem)
            pd[idx] = a | PTE_P | PTE_RW | PTE_US | PTE_PS;
        else {
            pd[idx] = PV_PT_TAIL | PTE_P | PTE_RW | PTE_US;
            for (uint64_t i = 0; i < 512 && a + i * 4096 < mem; i++)
                tail[i] = (a + i * 4096) | PTE_P | PTE_RW | PTE_US;
        }
    }
}

static void pv_build_boot_info(Vm *vm)
{
    struct minihv_boot_info *bi = gmem_vmm_ptr(&vm->mem, MINIHV_PV_BOOT_INFO, sizeof(*bi));
    size_t cmdlen = strlen(vm->cfg.cmdline);
    char *cmd = gmem_vmm_ptr(&vm->mem, PV_CMDLINE, cmdlen + 1);
    unsigned n = 0;

    memcpy(cmd, vm->cfg.cmdline, cmdlen + 1);
    *bi = (struct minihv_boot_info){
        .magic = MINIHV_BOOT_MAGIC,
        .abi_version = MINIHV_ABI_VERSION,
        .mem_size = vm->mem.size,
        .cmdline = PV_CMDLINE,
        .cmdline_len = (uint32_t)cmdlen,
        .nr_vcpus = vm->nr_vcpus,
        .shared_page = MINIHV_PV_SHARED_PAGE,
    };
    bi->devices[n++] = (struct minihv_device_info){.type = MINIHV_DEV_CONSOLE};
    bi->devices[n++] = (struct minihv_device_info){.type = MINIHV_DEV_CLOCK};
    bi->devices[n++] = (struct minihv_device_info){.type = MINIHV_DEV_POWER};
    if (vm->disk)
        bi->devices[n++] = (struct minihv_device_info){
            .type = MINIHV_DEV_BLOCK,
            .flags = vm->disk->read_only ? MINIHV_BLK_F_READ_ONLY : 0,
            .size = vm->disk->sectors,
        };
    if (vm->cfg.net_fd >= 0) {
        uint64_t mac = 0;
        for (unsigned i = 0; i < 6; i++)
            mac |= (uint64_t)vm->cfg.mac[i] << (8 * i);
        bi->devices[n++] = (struct minihv_device_info){
            .type = MINIHV_DEV_NET,
            .flags = MINIHV_NET_F_LINK_UP,
            .size = mac,
        };
    }
    bi->ndevices = n;
}

int pv_boot_init(Vm *vm, Error *e)
{
    if (strlen(vm->cfg.cmdline) > MINIHV_CMDLINE_MAX)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "command line longer than %u bytes",
                          MINIHV_CMDLINE_MAX);
    pv_build_gdt(vm);
    pv_build_idt_and_stubs(vm);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        pv_build_tss(vm, i);
    pv_build_page_tables(vm);
    pv_build_boot_info(vm);
    pv_shared_update(vm);
    vm->boot_arg = MINIHV_PV_BOOT_INFO;
    return 0;
}

static void segment(struct kvm_segment *s, uint16_t sel, bool code)
{
    *s = (struct kvm_segment){
        .base = 0,
        .limit = 0xffffffff,
        .selector = sel,
        .type = code ? 0xb : 0x3, /* execute/read accessed, read/write accessed */
        .present = 1,
        .dpl = 3,
        .db = code ? 0 : 1,
        .s = 1,
        .l = code ? 1 : 0,
        .g = 1,
    };
}

int pv_boot_setup_vcpu(Vcpu *vcpu, uint64_t rip, uint64_t rsp, uint64_t rdi, uint64_t rsi)
{
    struct kvm_sregs s;
    struct kvm_regs r = {
        .rip = rip,
        .rsp = rsp,
        .rdi = rdi,
        .rsi = rsi,
        .rflags = 0x2, /* IF clear, IOPL 0: the I/O bitmap decides */
    };
    int k;

    k = vcpu_get_sregs(vcpu, &s);
    if (k < 0)
        return k;
    segment(&s.cs, SEL_USER_CS, true);
    segment(&s.ds, SEL_USER_DS, false);
    s.es = s.fs = s.gs = s.ss = s.ds;
    s.tr = (struct kvm_segment){
        .base = PV_TSS_BASE + (uint64_t)vcpu->id * PV_TSS_STRIDE,
        .limit = PV_TSS_LIMIT,
        .selector = (uint16_t)SEL_TSS(vcpu->id),
        .type = 0xb,
        .present = 1,
    };
    s.ldt = (struct kvm_segment){.type = 0x2, .unusable = 1};
    s.gdt.base = PV_GDT;
    s.gdt.limit = (uint16_t)(SEL_TSS(vcpu->vm->nr_vcpus) - 1);
    s.idt.base = PV_IDT;
    s.idt.limit = PV_EXC_COUNT * 16 - 1;
    s.cr0 = 0x80050033; /* PG AM WP NE ET MP PE */
    s.cr3 = PV_PML4;
    s.cr4 = 0x620;  /* OSXMMEXCPT OSFXSR PAE */
    s.efer = 0x500; /* LMA LME */
    k = vcpu_set_sregs(vcpu, &s);
    if (k < 0)
        return k;
    return vcpu_set_regs(vcpu, &r);
}
