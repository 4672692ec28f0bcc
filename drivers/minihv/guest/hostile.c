/* hostile: attacks the VMM. The first command-line word picks a scenario; each check prints
 * "hostile: <check>: got <value> want <value> ok|BAD", then the scenario prints
 * "hostile: <scenario> survived" and powers off, unless it is meant to end the domain. One
 * source for both modes: the raw hypercalls below are plain `out`s, which a full-mode VMM sees
 * as accesses to ports without a device. */
#include "minihv-abi.h"
#include "minihv-guest.h"
#include "pio.h"

static unsigned bad_checks;

static int32_t raw_hypercall(unsigned nr, uint64_t gpa)
{
    uint32_t v = (uint32_t)gpa;

    __asm__ volatile("outl %0, %w1"
                     : "+a"(v)
                     : "d"((uint16_t)(MINIHV_HC_PORT_BASE + nr))
                     : "memory");
    return (int32_t)v;
}

static void check(const char *what, int64_t got, int64_t want)
{
    bool ok = got == want;

    if (!ok)
        bad_checks++;
    printf("hostile: %s: got %lld want %lld %s\n", what, (long long)got, (long long)want,
           ok ? "ok" : "BAD");
}

static void survived(const char *scenario)
{
    if (bad_checks)
        panic("hostile: %s: %u check(s) failed", scenario, bad_checks);
    printf("hostile: %s survived\n", scenario);
    power_off();
}

static uint64_t mem(void)
{
    return sys_memory_size();
}

/* A request placed in guest memory, so that only the fields under test are wrong. */
static struct minihv_hc_console_write cw;
static struct minihv_hc_console_read cr;
static char small[64] = "hostile: this text must never reach the console\n";
static uint8_t page[4096] __attribute__((aligned(4096)));

static int32_t console_write_at(uint64_t buf, uint32_t len)
{
    cw = (struct minihv_hc_console_write){.buf = buf, .len = len};
    return raw_hypercall(MINIHV_HC_CONSOLE_WRITE, (uintptr_t)&cw);
}

static void scenario_bad_addresses(void)
{
    struct minihv_hc_blk_info *info_at_end;

    check("console buffer past the end", console_write_at(mem(), 16), MINIHV_EFAULT);
    check("console buffer straddling the end", console_write_at(mem() - 8, 16), MINIHV_EFAULT);
    check("console buffer wrapping around", console_write_at(UINT64_MAX - 15, 32), MINIHV_EFAULT);
    check("console buffer in VMM memory (boot info)", console_write_at(MINIHV_PV_BOOT_INFO, 16),
          MINIHV_EFAULT);
    check("console buffer at address 0", console_write_at(0, 0), MINIHV_EFAULT);
    check("request past the end", raw_hypercall(MINIHV_HC_CONSOLE_WRITE, mem()), MINIHV_EFAULT);
    check("request straddling the end", raw_hypercall(MINIHV_HC_CONSOLE_WRITE, mem() - 4),
          MINIHV_EFAULT);
    check("request at 4 GiB - 1", raw_hypercall(MINIHV_HC_CONSOLE_WRITE, 0xffffffffu),
          MINIHV_EFAULT);
    check("request in VMM memory (GDT page)", raw_hypercall(MINIHV_HC_CONSOLE_WRITE, 0x4000),
          MINIHV_EFAULT);
    cr = (struct minihv_hc_console_read){.buf = MINIHV_PV_SHARED_PAGE, .len = 64};
    check("console read into the shared page",
          raw_hypercall(MINIHV_HC_CONSOLE_READ, (uintptr_t)&cr), MINIHV_EFAULT);
    cr = (struct minihv_hc_console_read){.buf = 0x5000, .len = 64};
    check("console read into the IDT", raw_hypercall(MINIHV_HC_CONSOLE_READ, (uintptr_t)&cr),
          MINIHV_EFAULT);
    check("block info written past the end", raw_hypercall(MINIHV_HC_BLK_INFO, mem() - 8),
          MINIHV_EFAULT);
    info_at_end = (struct minihv_hc_blk_info *)(uintptr_t)(mem() - sizeof(*info_at_end));
    check("block info at the very end (no disk)",
          raw_hypercall(MINIHV_HC_BLK_INFO, (uintptr_t)info_at_end), MINIHV_ENODEV);
    check("poll request past the end", raw_hypercall(MINIHV_HC_POLL, mem() + 4096), MINIHV_EFAULT);
    check("vcpu-up request past the end", raw_hypercall(MINIHV_HC_VCPU_UP, mem()), MINIHV_EFAULT);
    printf("hostile: the console still works\n");
    survived("bad-addresses");
}

static void scenario_huge_lengths(void)
{
    check("console write of 4 GiB - 1", console_write_at((uintptr_t)small, UINT32_MAX),
          MINIHV_EINVAL);
    check("console write just over the limit",
          console_write_at((uintptr_t)small, MINIHV_CONSOLE_WRITE_MAX + 1), MINIHV_EINVAL);
    cr = (struct minihv_hc_console_read){.buf = (uintptr_t)page, .len = UINT32_MAX};
    check("console read of 4 GiB - 1 (clamped)",
          raw_hypercall(MINIHV_HC_CONSOLE_READ, (uintptr_t)&cr), MINIHV_OK);
    cr = (struct minihv_hc_console_read){.buf = mem() - 100, .len = UINT32_MAX};
    check("console read of 4 GiB - 1 near the end",
          raw_hypercall(MINIHV_HC_CONSOLE_READ, (uintptr_t)&cr), MINIHV_EFAULT);
    survived("huge-lengths");
}

static void scenario_unknown_hypercalls(void)
{
    char what[64];
    uint32_t v = 0;

    for (unsigned nr = MINIHV_HC_MAX; nr < MINIHV_HC_PORT_COUNT; nr++) {
        snprintf(what, sizeof(what), "hypercall %u", nr);
        check(what, raw_hypercall(nr, (uintptr_t)small), MINIHV_ENOSYS);
    }
    check("hypercall 0 (reserved)", raw_hypercall(MINIHV_HC_RESERVED, (uintptr_t)small),
          MINIHV_ENOSYS);
    __asm__ volatile("outb %b0, %w1"
                     : "+a"(v)
                     : "d"((uint16_t)(MINIHV_HC_PORT_BASE + MINIHV_HC_CONSOLE_WRITE))
                     : "memory");
    check("8-bit hypercall", (int32_t)v, MINIHV_EINVAL);
    __asm__ volatile("inl %w1, %0" : "=a"(v) : "d"((uint16_t)MINIHV_HC_PORT_BASE));
    check("reading a hypercall port", (int32_t)v, -1);
    survived("unknown-hypercalls");
}

static union {
    struct minihv_blk_ring head;
    uint8_t bytes[sizeof(struct minihv_blk_ring) + 8 * sizeof(struct minihv_blk_desc)];
} ring __attribute__((aligned(4096)));
static struct minihv_hc_blk_setup setup;
/* large enough for any nsectors the race scenarios pick (< 300) */
static uint8_t data[300 * BLK_SECTOR_SIZE];

static int32_t ring_setup(uint64_t gpa, uint32_t entries)
{
    setup = (struct minihv_hc_blk_setup){.ring = gpa, .entries = entries};
    return raw_hypercall(MINIHV_HC_BLK_SETUP, (uintptr_t)&setup);
}

/* Publishes one descriptor, processes the ring synchronously and returns its status. */
static int32_t ring_one(uint32_t op, uint32_t n, uint64_t sector, uint64_t buf)
{
    volatile struct minihv_blk_ring *h = &ring.head;
    uint32_t prod = h->req_prod;
    volatile struct minihv_blk_desc *d = &ring.head.desc[prod % 8];

    d->op = op;
    d->nsectors = n;
    d->sector = sector;
    d->buf = buf;
    d->status = 12345;
    __atomic_store_n(&h->req_prod, prod + 1, __ATOMIC_RELEASE);
    (void)raw_hypercall(MINIHV_HC_BLK_KICK, 0);
    if (h->rsp_prod != prod + 1)
        return 99999;
    return d->status;
}

static void scenario_ring_malformed(void)
{
    BlkInfo info;
    uint64_t cap;

    if (blk_info(&info) < 0)
        panic("hostile: ring-malformed needs a disk");
    cap = info.sectors;
    check("ring not page-aligned", ring_setup((uintptr_t)&ring + 64, 8), MINIHV_EINVAL);
    check("ring of 0 entries", ring_setup((uintptr_t)&ring, 0), MINIHV_EINVAL);
    check("ring of 3 entries", ring_setup((uintptr_t)&ring, 3), MINIHV_EINVAL);
    check("ring of 512 entries", ring_setup((uintptr_t)&ring, 512), MINIHV_EINVAL);
    check("ring past the end", ring_setup(mem() - 4096, 256), MINIHV_EFAULT);
    check("ring over the GDT", ring_setup(0x4000, 8), MINIHV_EFAULT);
    check("ring at 2^64 - 4096", ring_setup(UINT64_MAX - 4095, 8), MINIHV_EFAULT);
    check("valid ring", ring_setup((uintptr_t)&ring, 8), MINIHV_OK);

    check("unknown operation", ring_one(99, 1, 0, (uintptr_t)data), MINIHV_EINVAL);
    check("zero sectors", ring_one(MINIHV_BLK_OP_READ, 0, 0, (uintptr_t)data), MINIHV_EINVAL);
    check("too many sectors", ring_one(MINIHV_BLK_OP_READ, 100000, 0, (uintptr_t)data),
          MINIHV_EINVAL);
    check("sector at the capacity", ring_one(MINIHV_BLK_OP_READ, 1, cap, (uintptr_t)data),
          MINIHV_ERANGE);
    check("range past the capacity", ring_one(MINIHV_BLK_OP_READ, 8, cap - 4, (uintptr_t)data),
          MINIHV_ERANGE);
    check("sector range wrapping around",
          ring_one(MINIHV_BLK_OP_READ, 2, UINT64_MAX, (uintptr_t)data), MINIHV_ERANGE);
    check("buffer past the end", ring_one(MINIHV_BLK_OP_READ, 1, 0, mem()), MINIHV_EFAULT);
    check("buffer over the IDT", ring_one(MINIHV_BLK_OP_READ, 1, 0, 0x5000), MINIHV_EFAULT);
    check("buffer wrapping around", ring_one(MINIHV_BLK_OP_READ, 2, 0, UINT64_MAX - 511),
          MINIHV_EFAULT);
    check("valid write", ring_one(MINIHV_BLK_OP_WRITE, 8, 0, (uintptr_t)data), MINIHV_OK);
    check("valid read", ring_one(MINIHV_BLK_OP_READ, 8, 0, (uintptr_t)data), MINIHV_OK);
    check("flush", ring_one(MINIHV_BLK_OP_FLUSH, 0, 0, 0), MINIHV_OK);

    /* A producer index that runs ahead of the consumer by more than the ring holds. */
    __atomic_store_n(&ring.head.req_prod, ring.head.req_prod + 1000, __ATOMIC_RELEASE);
    (void)raw_hypercall(MINIHV_HC_BLK_KICK, 0);
    check("garbage producer index marks the ring broken", ring.head.error, MINIHV_EINVAL);
    check("set-up again", ring_setup((uintptr_t)&ring, 8), MINIHV_OK);
    check("ring works again", ring_one(MINIHV_BLK_OP_READ, 1, 0, (uintptr_t)data), MINIHV_OK);
    survived("ring-malformed");
}

static void outl_doorbell(void)
{
    __asm__ volatile("outl %0, %w1" : : "a"(0), "d"((uint16_t)MINIHV_PORT_BLK_DOORBELL) : "memory");
}

static volatile bool scribbling = true, scribbler_stopped;
static uint8_t scribbler_stack[16384] __attribute__((aligned(16)));

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A buffer address that is either our scratch buffer or one the VMM must refuse; a random
 * valid address would let disk reads overwrite this guest's own variables. */
static uint64_t racy_buffer(uint64_t *s)
{
    switch (xorshift(s) % 4) {
    case 0:
        return (uintptr_t)data;
    case 1:
        return mem() - xorshift(s) % 4096;
    case 2:
        return xorshift(s) % MINIHV_PV_RESERVED_END;
    default:
        return UINT64_MAX - xorshift(s) % 65536;
    }
}

/* Rewrites descriptors and the producer index with random values while the VMM reads them. */
static void scribble(void *arg)
{
    uint64_t s = 0x1234567 + (uintptr_t)arg;

    while (scribbling) {
        volatile struct minihv_blk_desc *d = &ring.head.desc[xorshift(&s) % 8];
        d->op = (uint32_t)(xorshift(&s) % 4);
        d->nsectors = (uint32_t)(xorshift(&s) % 300);
        d->sector = xorshift(&s) % 4 ? xorshift(&s) % 64 : xorshift(&s);
        d->buf = racy_buffer(&s);
        if (xorshift(&s) % 16 == 0)
            ring.head.req_prod += (uint32_t)(xorshift(&s) % 12);
    }
    scribbler_stopped = true;
}

static void scenario_ring_race(void)
{
    uint64_t s = 42;

    check("valid ring", ring_setup((uintptr_t)&ring, 8), MINIHV_OK);
    if (sys_ncpus() > 1)
        check("start the scribbler",
              cpu_start(1, scribble, NULL, scribbler_stack, sizeof(scribbler_stack)), 0);
    for (unsigned i = 0; i < 3000; i++) {
        if (sys_ncpus() == 1)
            for (unsigned k = 0; k < 4; k++) {
                volatile struct minihv_blk_desc *d = &ring.head.desc[xorshift(&s) % 8];
                d->op = (uint32_t)(xorshift(&s) % 4);
                d->nsectors = (uint32_t)(xorshift(&s) % 300);
                d->buf = racy_buffer(&s);
                ring.head.req_prod += (uint32_t)(xorshift(&s) % 3);
            }
        if (i % 2)
            outl_doorbell();
        else
            (void)raw_hypercall(MINIHV_HC_BLK_KICK, 0);
        if (ring.head.error)
            (void)ring_setup((uintptr_t)&ring, 8);
    }
    scribbling = false;
    while (sys_ncpus() > 1 && !scribbler_stopped)
        cpu_relax();
    check("set-up after the race", ring_setup((uintptr_t)&ring, 8), MINIHV_OK);
    check("ring works after the race", ring_one(MINIHV_BLK_OP_READ, 1, 0, (uintptr_t)data),
          MINIHV_OK);
    survived("ring-race");
}

/* Many cheap and expensive notifications: the VMM must count them and stay responsive. */
static void scenario_io_flood(void)
{
    unsigned doorbells = (unsigned)cmdline_u64("doorbells", 20000);
    unsigned calls = (unsigned)cmdline_u64("calls", 3000);

    if (sys_is_pv()) {
        check("valid ring", ring_setup((uintptr_t)&ring, 8), MINIHV_OK);
        for (unsigned i = 0; i < doorbells; i++)
            outl_doorbell();
        for (unsigned i = 0; i < calls; i++)
            (void)console_write_at((uintptr_t)small, 0);
        for (unsigned i = 0; i < calls; i++)
            (void)raw_hypercall(MINIHV_HC_PORT_COUNT - 1, 0);
    } else {
        for (unsigned i = 0; i < calls; i++)
            outb(0x80, (uint8_t)i); /* no device there */
        for (unsigned i = 0; i < calls; i++)
            outb(0x3ff, (uint8_t)i); /* UART scratch register */
    }
    printf("hostile: flood of %u doorbells and %u calls done\n", sys_is_pv() ? doorbells : 0,
           calls);
    survived("io-flood");
}

/* An exception that cannot be delivered: full mode shuts down (triple fault); in pv mode lidt
 * itself is privileged and faults. */
static void scenario_triple_fault(void)
{
    static const struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } no_idt = {0, 0};

    printf("hostile: loading an empty IDT and faulting\n");
    __asm__ volatile("lidt %0\n\tud2" : : "m"(no_idt) : "memory");
}

static void scenario_privileged(void)
{
    printf("hostile: executing hlt with interrupts off\n");
    if (!sys_is_pv())
        survived("privileged"); /* ring 0: allowed */
    __asm__ volatile("cli; hlt");
}

static void scenario_vmm_memory(void)
{
    if (!sys_is_pv())
        survived("vmm-memory"); /* full mode owns all of its memory */
    printf("hostile: writing to the VMM's GDT page\n");
    *(volatile uint64_t *)(uintptr_t)0x4000 = 0x00cffa000000ffffull;
}

static void scenario_hypercall(void)
{
    static const char text[] = "hostile: hello via hypercall\n";
    int32_t r = console_write_at((uintptr_t)text, sizeof(text) - 1);

    printf("hostile: hypercall returned %s\n", r == 0 ? "0" : "no status (no such device)");
    survived("hypercall");
}

static void scenario_mmio(void)
{
    volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)(512u << 20);
    uint32_t v;

    printf("hostile: touching an address with neither memory nor a device\n");
    v = *p;
    *p = 0x12345678;
    check("unassigned MMIO reads as all-ones", v, 0xffffffffu);
    survived("mmio");
}

static void scenario_internal_error(void)
{
    printf("hostile: int3\n");
    __asm__ volatile("int3");
    survived("internal-error");
}

static void scenario_crash_report(void)
{
    static char msg[600];

    for (unsigned i = 0; i < sizeof(msg) - 1; i++)
        msg[i] = (char)('a' + i % 26);
    memcpy(msg, "evil\x01\x1b[2J\n", 10);
    panic("%s", msg);
}

static void scenario_crash_unreadable(void)
{
    static struct minihv_hc_crash req;

    req = (struct minihv_hc_crash){.msg = mem() - 10, .len = 100};
    (void)raw_hypercall(MINIHV_HC_CRASH, (uintptr_t)&req);
    panic("hostile: the crash report returned");
}

static struct minihv_hc_vcpu_up up;
static uint8_t ap_stack[16384] __attribute__((aligned(16)));
static volatile unsigned ap_ran;

static void ap_main(void)
{
    ap_ran = 1;
    for (;;)
        (void)sys_wait(1000000000ull);
}

static int32_t vcpu_up(uint32_t cpu, uint64_t rip, uint64_t rsp)
{
    up = (struct minihv_hc_vcpu_up){.cpu = cpu, .rip = rip, .rsp = rsp};
    return raw_hypercall(MINIHV_HC_VCPU_UP, (uintptr_t)&up);
}

static void scenario_vcpu_up(void)
{
    uint64_t rip = (uintptr_t)ap_main, rsp = (uintptr_t)ap_stack + sizeof(ap_stack) - 8;

    check("start cpu 0", vcpu_up(0, rip, rsp), MINIHV_EINVAL);
    check("start cpu 99", vcpu_up(99, rip, rsp), MINIHV_EINVAL);
    check("start at rip in VMM memory", vcpu_up(1, 0x6000, rsp), MINIHV_EFAULT);
    check("start at rip past the end", vcpu_up(1, mem(), rsp), MINIHV_EFAULT);
    check("start with rsp past the end", vcpu_up(1, rip, mem() + 16), MINIHV_EFAULT);
    if (sys_ncpus() > 1) {
        check("start cpu 1", vcpu_up(1, rip, rsp), MINIHV_OK);
        check("start cpu 1 again", vcpu_up(1, rip, rsp), MINIHV_EBUSY);
        while (!ap_ran)
            cpu_relax();
    }
    survived("vcpu-up");
}

/* ---- full mode: device register abuse ---- */

static void scenario_ata_abuse(void)
{
    static uint16_t junk[4096];
    BlkInfo info;
    uint8_t st;

    check("data port without a command", inw(0x1f0), 0xffff);
    outb(0x1f6, 0xf0); /* device 1, which does not exist */
    check("status of the missing device 1", inb(0x1f7), 0);
    outb(0x1f7, 0xec);
    check("IDENTIFY on device 1 is ignored", inb(0x1f7), 0);
    outb(0x1f6, 0xe0);
    outb(0x1f7, 0x99); /* no such command */
    st = inb(0x1f7);
    check("unknown command sets ERR", st & 0x01, 1);
    check("unknown command is ABRT", inb(0x1f1), 0x04);
    if (blk_info(&info) < 0)
        panic("hostile: ata-abuse needs a disk");
    outb(0x1f6, (uint8_t)(0xe0 | ((info.sectors >> 24) & 0x0f)));
    outb(0x1f2, 1);
    outb(0x1f3, (uint8_t)info.sectors);
    outb(0x1f4, (uint8_t)(info.sectors >> 8));
    outb(0x1f5, (uint8_t)(info.sectors >> 16));
    outb(0x1f7, 0x20);
    check("read at the capacity is IDNF", inb(0x1f1), 0x10);
    outb(0x1f6, 0xe0);
    outb(0x1f2, 0); /* 256 sectors */
    outb(0x1f3, (uint8_t)(info.sectors - 10));
    outb(0x1f4, (uint8_t)((info.sectors - 10) >> 8));
    outb(0x1f5, (uint8_t)((info.sectors - 10) >> 16));
    outb(0x1f7, 0x20);
    check("256 sectors across the end is IDNF", inb(0x1f1), 0x10);
    outb(0x1f6, 0xe0);
    outb(0x1f2, 1);
    outb(0x1f3, 0);
    outb(0x1f4, 0);
    outb(0x1f5, 0);
    outb(0x1f7, 0x20);
    insw(0x1f0, junk, 4096); /* 8 sectors' worth from a 1-sector command */
    check("reading past the transfer gives all-ones", junk[4095], 0xffff);
    outb(0x1f6, 0xe0);
    outb(0x1f2, 2);
    outb(0x1f7, 0x30);
    outsw(0x1f0, junk, 300); /* a sector and a bit, then a new command mid-transfer */
    outb(0x1f7, 0xec);
    insw(0x1f0, junk, 256);
    check("IDENTIFY after an aborted write", junk[0], 0x0040);
    outb(0x3f6, 0x04); /* soft reset */
    check("status during reset is BSY", inb(0x3f6) & 0x80, 0x80);
    outb(0x3f6, 0x00);
    check("device signature after reset", inb(0x1f2), 1);
    check("a normal read works", blk_read(0, 1, junk), 0);
    survived("ata-abuse");
}

/* While MCR loopback is on, the guest's own output loops back too: results are printed only
 * after loopback is off again. */
static void scenario_uart_abuse(void)
{
    uint8_t dll, ready, byte, overrun, overrun_after, cleared, msr, iir, scr;

    outb(0x3fb, 0x80); /* DLAB */
    outb(0x3f8, 0x55);
    dll = inb(0x3f8);
    outb(0x3fb, 0x03);
    outb(0x3fc, 0x10); /* loopback */
    outb(0x3f8, 'Z');
    ready = inb(0x3fd) & 0x01;
    byte = inb(0x3f8);
    for (unsigned i = 0; i < 40; i++)
        outb(0x3f8, (uint8_t)i); /* overflow the loopback FIFO */
    overrun = inb(0x3fd) & 0x02;
    overrun_after = inb(0x3fd) & 0x02;
    outb(0x3fa, 0x07); /* clear FIFOs */
    cleared = inb(0x3fd) & 0x01;
    outb(0x3fc, 0x1f);
    msr = inb(0x3fe);
    outb(0x3fc, 0x0b); /* loopback off */
    outb(0x3fd, 0xff); /* LSR is read-only */
    outb(0x3fe, 0xff); /* MSR is read-only */
    outb(0x3f9, 0x0f); /* every interrupt enabled: IIR must still answer */
    iir = inb(0x3fa);
    outb(0x3f9, 0x00);
    outb(0x3ff, 0xa5);
    scr = inb(0x3ff);

    check("divisor latch low", dll, 0x55);
    check("loopback data ready", ready, 1);
    check("loopback byte", byte, 'Z');
    check("overrun flagged", overrun, 0x02);
    check("overrun cleared by reading LSR", overrun_after, 0);
    check("FIFO clear empties receive", cleared, 0);
    check("modem status mirrors MCR in loopback", msr >> 4, 0xf);
    check("IIR reports THRE", iir & 0x0f, 0x02);
    check("scratch register", scr, 0xa5);
    survived("uart-abuse");
}

static void scenario_rtc_abuse(void)
{
    uint8_t b;

    outb(0x70, 0xff); /* index with the NMI bit, register 0x7f */
    outb(0x71, 0x42);
    check("CMOS RAM byte 0x7f", inb(0x71), 0x42);
    check("the index port reads all-ones", inb(0x70), 0xff);
    outb(0x70, 0x0d);
    check("status D says valid", inb(0x71), 0x80);
    outb(0x70, 0x0b);
    b = inb(0x71);
    outb(0x70, 0x0b);
    outb(0x71, (uint8_t)(b | 0x80 | 0x04)); /* SET, binary */
    outb(0x70, 0x09);
    outb(0x71, 99); /* year 99 */
    outb(0x70, 0x32);
    outb(0x71, 19); /* century 19 */
    outb(0x70, 0x08);
    outb(0x71, 12);
    outb(0x70, 0x07);
    outb(0x71, 31);
    outb(0x70, 0x04);
    outb(0x71, 23);
    outb(0x70, 0x02);
    outb(0x71, 59);
    outb(0x70, 0x00);
    outb(0x71, 58);
    outb(0x70, 0x0b);
    outb(0x71, (uint8_t)((b | 0x04) & ~0x80)); /* run again */
    outb(0x70, 0x09);
    check("year after setting the clock", inb(0x71), 99);
    outb(0x70, 0x32);
    check("century after setting the clock", inb(0x71), 19);
    outb(0x70, 0x0b);
    outb(0x71, b); /* back to BCD */
    survived("rtc-abuse");
}

/* ---- network device ---- */

#define NET_TEST_ENTRIES 8u

typedef union HostileNetRing {
    struct minihv_net_ring head;
    uint8_t
        bytes[sizeof(struct minihv_net_ring) + NET_TEST_ENTRIES * sizeof(struct minihv_net_desc)];
} HostileNetRing;

static HostileNetRing ntx __attribute__((aligned(4096)));
static HostileNetRing nrx __attribute__((aligned(4096)));
static struct minihv_hc_net_setup nsetup;
static uint8_t nframe[MINIHV_NET_FRAME_MAX + 16] __attribute__((aligned(16)));
static uint8_t nrxbuf[4][2048];

static int32_t net_setup_at(uint64_t tx, uint64_t rx, uint32_t entries)
{
    nsetup = (struct minihv_hc_net_setup){.tx_ring = tx, .rx_ring = rx, .entries = entries};
    return raw_hypercall(MINIHV_HC_NET_SETUP, (uintptr_t)&nsetup);
}

static void net_doorbell(void)
{
    __asm__ volatile("outl %0, %w1" : : "a"(0), "d"((uint16_t)MINIHV_PORT_NET_DOORBELL) : "memory");
}

/* Waits (at most two seconds) until the VMM's consumer index of ring reaches want. */
static bool net_wait_cons(volatile struct minihv_net_ring *r, uint32_t want)
{
    uint64_t until = clock_mono_ns() + 2000000000ull;

    while (__atomic_load_n(&r->cons, __ATOMIC_ACQUIRE) != want)
        if (clock_mono_ns() > until)
            return false;
    return true;
}

static int32_t net_tx_one(uint64_t buf, uint32_t len)
{
    volatile struct minihv_net_ring *h = &ntx.head;
    uint32_t prod = h->prod;
    volatile struct minihv_net_desc *d = &ntx.head.desc[prod % NET_TEST_ENTRIES];

    d->buf = buf;
    d->len = len;
    d->status = 12345;
    __atomic_store_n(&h->prod, prod + 1, __ATOMIC_SEQ_CST);
    net_doorbell();
    return net_wait_cons(h, prod + 1) ? d->status : 99999;
}

static void net_fill_frame(void)
{
    memset(nframe, 0, sizeof(nframe));
    memset(nframe, 0xff, 6); /* broadcast */
    nframe[6] = 0x02;        /* a locally administered source */
    nframe[12] = 0x88;       /* the local experimental EtherType 0x88b5 */
    nframe[13] = 0xb5;
}

static void scenario_net_ring_malformed(void)
{
    volatile struct minihv_net_ring *rx = &nrx.head;
    uint64_t tx_gpa = (uintptr_t)&ntx, rx_gpa = (uintptr_t)&nrx;
    uint32_t cons;

    check("net ring not page-aligned", net_setup_at(tx_gpa + 64, rx_gpa, 8), MINIHV_EINVAL);
    check("net ring of 0 entries", net_setup_at(tx_gpa, rx_gpa, 0), MINIHV_EINVAL);
    check("net ring of 3 entries", net_setup_at(tx_gpa, rx_gpa, 3), MINIHV_EINVAL);
    check("net ring of 512 entries", net_setup_at(tx_gpa, rx_gpa, 512), MINIHV_EINVAL);
    check("net ring past the end", net_setup_at(tx_gpa, mem() - 4096, 256), MINIHV_EFAULT);
    check("net ring over the GDT", net_setup_at(0x4000, rx_gpa, 8), MINIHV_EFAULT);
    check("net ring at 2^64 - 4096", net_setup_at(tx_gpa, UINT64_MAX - 4095, 8), MINIHV_EFAULT);
    check("TX and RX rings overlap", net_setup_at(tx_gpa, tx_gpa, 8), MINIHV_EINVAL);
    check("net info past the end", raw_hypercall(MINIHV_HC_NET_INFO, mem() - 8), MINIHV_EFAULT);
    check("valid net rings", net_setup_at(tx_gpa, rx_gpa, 8), MINIHV_OK);

    net_fill_frame();
    check("zero-length frame", net_tx_one((uintptr_t)nframe, 0), MINIHV_EINVAL);
    check("frame shorter than a header", net_tx_one((uintptr_t)nframe, 13), MINIHV_EINVAL);
    check("oversized frame", net_tx_one((uintptr_t)nframe, MINIHV_NET_FRAME_MAX + 1),
          MINIHV_EINVAL);
    check("frame of 4 GiB - 1", net_tx_one((uintptr_t)nframe, UINT32_MAX), MINIHV_EINVAL);
    check("frame past the end", net_tx_one(mem() - 30, 60), MINIHV_EFAULT);
    check("frame over the IDT", net_tx_one(0x5000, 60), MINIHV_EFAULT);
    check("frame wrapping around", net_tx_one(UINT64_MAX - 29, 60), MINIHV_EFAULT);
    check("valid minimum frame", net_tx_one((uintptr_t)nframe, 60), MINIHV_OK);
    check("valid full-size frame", net_tx_one((uintptr_t)nframe, 1514), MINIHV_OK);

    /* RX: three refused buffers and a good one, which the host's traffic fills */
    cons = rx->cons;
    nrx.head.desc[(cons + 0) % NET_TEST_ENTRIES] =
        (struct minihv_net_desc){(uintptr_t)nrxbuf[0], 0, 0};
    nrx.head.desc[(cons + 1) % NET_TEST_ENTRIES] =
        (struct minihv_net_desc){(uintptr_t)nrxbuf[1], MINIHV_NET_FRAME_MAX + 1, 0};
    nrx.head.desc[(cons + 2) % NET_TEST_ENTRIES] = (struct minihv_net_desc){mem() - 100, 2048, 0};
    nrx.head.desc[(cons + 3) % NET_TEST_ENTRIES] =
        (struct minihv_net_desc){(uintptr_t)nrxbuf[3], 2048, 0};
    __atomic_store_n(&rx->prod, cons + 4, __ATOMIC_SEQ_CST);
    net_doorbell();
    check("RX buffers refused or filled",
          net_wait_cons(rx, cons + 3) || net_wait_cons(rx, cons + 4), 1);
    check("RX buffer of 0 bytes", nrx.head.desc[(cons + 0) % NET_TEST_ENTRIES].status,
          MINIHV_EINVAL);
    check("RX buffer over the maximum", nrx.head.desc[(cons + 1) % NET_TEST_ENTRIES].status,
          MINIHV_EINVAL);
    check("RX buffer past the end", nrx.head.desc[(cons + 2) % NET_TEST_ENTRIES].status,
          MINIHV_EFAULT);
    check("a frame arrived in the good buffer",
          net_wait_cons(rx, cons + 4) && nrx.head.desc[(cons + 3) % NET_TEST_ENTRIES].status >= 14,
          1);

    /* producer indexes that run ahead of the consumer by more than a ring */
    __atomic_store_n(&ntx.head.prod, ntx.head.prod + 1000, __ATOMIC_SEQ_CST);
    net_doorbell();
    __atomic_store_n(&rx->prod, rx->prod + 1000, __ATOMIC_SEQ_CST);
    net_doorbell();
    for (uint64_t until = clock_mono_ns() + 2000000000ull;
         (!ntx.head.error || !rx->error) && clock_mono_ns() < until;)
        cpu_relax();
    check("garbage TX producer index marks the ring broken", ntx.head.error, MINIHV_EINVAL);
    check("garbage RX producer index marks the ring broken", rx->error, MINIHV_EINVAL);
    memset(&ntx, 0, sizeof(ntx));
    memset(&nrx, 0, sizeof(nrx));
    check("set-up again", net_setup_at(tx_gpa, rx_gpa, 8), MINIHV_OK);
    check("TX works again", net_tx_one((uintptr_t)nframe, 60), MINIHV_OK);
    survived("net-ring-malformed");
}

/* Sends frames=N broadcast frames (default 100000 in pv, 500 in full mode) as fast as the SDK's
 * driver can: the VMM must count every one and stay responsive. */
static void scenario_net_tx_flood(void)
{
    unsigned n = (unsigned)cmdline_u64("frames", sys_is_pv() ? 100000 : 500);
    NetInfo info;
    unsigned sent = 0;

    if (net_info(&info) < 0)
        panic("hostile: net-tx-flood needs a network device");
    net_fill_frame();
    for (unsigned i = 0; i < n; i++) {
        nframe[14] = (uint8_t)i;
        if (net_send(nframe, 60) == 0)
            sent++;
        if (i % 64 == 63)
            net_flush();
    }
    net_flush();
    printf("hostile: flood of %u frames sent\n", sent);
    check("every frame was accepted by the driver", sent, n);
    survived("net-tx-flood");
}

/* full mode: NE2000 register abuse before the SDK's driver initialises the board properly. */
static void ne_dma(uint16_t addr, uint16_t count, uint8_t cmd)
{
    outb(0x30a, (uint8_t)count);
    outb(0x30b, (uint8_t)(count >> 8));
    outb(0x308, (uint8_t)addr);
    outb(0x309, (uint8_t)(addr >> 8));
    outb(0x300, cmd);
}

static void ne_transmit(uint8_t tx_page, uint16_t len)
{
    outb(0x307, 0xff); /* clear ISR */
    outb(0x304, tx_page);
    outb(0x305, (uint8_t)len);
    outb(0x306, (uint8_t)(len >> 8));
    outb(0x300, 0x26); /* TXP, start, no DMA */
}

static void scenario_ne2000_abuse(void)
{
    static uint16_t words[512];
    NetInfo info;
    uint8_t isr;

    (void)inb(0x31f); /* reset */
    check("reset sets ISR.RST", inb(0x307) & 0x80, 0x80);
    outb(0x30e, 0x49); /* word mode */
    outb(0x300, 0x22); /* start, page 0 */
    ne_transmit(0x40, 0);
    check("zero-length transmit is aborted (TXE)", inb(0x307) & 0x0a, 0x08);
    ne_transmit(0x40, 0xffff);
    check("64 KiB transmit is aborted (TXE)", inb(0x307) & 0x0a, 0x08);
    ne_transmit(0xff, 100);
    check("transmit from page 0xff is aborted (TXE)", inb(0x307) & 0x0a, 0x08);
    ne_transmit(0xbf, 1514);
    check("transmit across the end of memory is aborted", inb(0x307) & 0x0a, 0x08);
    ne_dma(0xfff0, 0x200, 0x0a); /* remote read from past the memory, wrapping at 64 KiB */
    insw(0x310, words, 0x100);
    check("remote read past memory gives all-ones", words[0], 0xffff);
    isr = inb(0x307);
    check("remote DMA complete after the count", isr & 0x40, 0x40);
    check("reading past the count gives all-ones", inw(0x310), 0xffff);
    ne_dma(0x0000, 32, 0x12); /* remote write over the PROM */
    for (unsigned i = 0; i < 16; i++)
        outw(0x310, 0xdead);
    ne_dma(0x0000, 32, 0x0a);
    insw(0x310, words, 16);
    check("the PROM keeps its signature", words[14] & 0xff, 0x57);
    outb(0x301, 0x80); /* PSTART above PSTOP */
    outb(0x302, 0x40);
    outb(0x303, 0x90);
    outb(0x300, 0x62); /* page 1 */
    outb(0x307, 0xee); /* CURR outside the ring */
    outb(0x300, 0x22);
    outb(0x30c, 0x1c); /* promiscuous: every frame the host sends is a candidate */
    for (uint64_t until = clock_mono_ns() + 300000000ull; clock_mono_ns() < until;)
        (void)sys_wait(10000000ull);
    check("an inverted ring stores nothing", inb(0x307) & 0x01, 0);
    outb(0x300, 0xe2); /* page 3, which does not exist */
    check("page 3 reads zero", inb(0x305), 0);
    outb(0x305, 0x55);
    outb(0x300, 0x22);
    check("the SDK's driver still brings the board up", net_info(&info), 0);
    net_fill_frame();
    check("a normal transmit works", net_send(nframe, 60), 0);
    survived("ne2000-abuse");
}

static const struct {
    const char *name;
    void (*run)(void);
} scenarios[] = {
    {"bad-addresses", scenario_bad_addresses},
    {"huge-lengths", scenario_huge_lengths},
    {"unknown-hypercalls", scenario_unknown_hypercalls},
    {"ring-malformed", scenario_ring_malformed},
    {"ring-race", scenario_ring_race},
    {"io-flood", scenario_io_flood},
    {"triple-fault", scenario_triple_fault},
    {"privileged", scenario_privileged},
    {"vmm-memory", scenario_vmm_memory},
    {"hypercall", scenario_hypercall},
    {"mmio", scenario_mmio},
    {"internal-error", scenario_internal_error},
    {"crash-report", scenario_crash_report},
    {"crash-unreadable", scenario_crash_unreadable},
    {"vcpu-up", scenario_vcpu_up},
    {"ata-abuse", scenario_ata_abuse},
    {"uart-abuse", scenario_uart_abuse},
    {"rtc-abuse", scenario_rtc_abuse},
    {"net-ring-malformed", scenario_net_ring_malformed},
    {"net-tx-flood", scenario_net_tx_flood},
    {"ne2000-abuse", scenario_ne2000_abuse},
};

int main(void)
{
    char name[64];

    if (!cmdline_word(0, name, sizeof(name)))
        name[0] = '\0';
    for (unsigned i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        if (strcmp(scenarios[i].name, name) == 0) {
            printf("hostile: %s (%s mode)\n", name, sys_mode());
            scenarios[i].run();
            panic("hostile: %s returned", name);
        }
    printf("hostile: unknown scenario '%s'\n", name);
    return 1;
}
