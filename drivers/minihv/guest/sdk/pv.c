/* pv flavour of the SDK: hypercalls by `out`, the block ring, the shared clock page. */
#include "civil-time.h"
#include "pv.h"

#define BLK_RING_ENTRIES 32u

/* Marks the image as a minihv pv guest speaking this ABI version. */
__attribute__((section(".note.minihv"), used, aligned(4))) static const struct {
    uint32_t namesz, descsz, type;
    char name[8];
    uint32_t version;
} minihv_note = {sizeof(MINIHV_NOTE_NAME), 4, MINIHV_NOTE_ABI, MINIHV_NOTE_NAME,
                 MINIHV_ABI_VERSION};

static const struct minihv_boot_info *boot;
static volatile const struct minihv_shared_page *shared;

/* The ring header followed by its descriptors (the union keeps the flexible array last). */
static union {
    struct minihv_blk_ring head;
    uint8_t
        bytes[sizeof(struct minihv_blk_ring) + BLK_RING_ENTRIES * sizeof(struct minihv_blk_desc)];
} blk_ring __attribute__((aligned(4096)));
static bool blk_ready;

void sdk_pv_start(const struct minihv_boot_info *bi);
void sdk_pv_ap_main(uint64_t arg, uint64_t cpu);
void sdk_pv_ap_entry(void);

/* The request's address goes out in eax; the VMM answers with the status in eax. */
int32_t sdk_hypercall(unsigned nr, volatile void *req)
{
    uint32_t v = (uint32_t)(uintptr_t)req;

    __asm__ volatile("outl %0, %w1"
                     : "+a"(v)
                     : "Nd"((uint16_t)(MINIHV_HC_PORT_BASE + nr))
                     : "memory");
    return (int32_t)v;
}

const char *sys_mode(void)
{
    return "pv";
}

bool sys_is_pv(void)
{
    return true;
}

unsigned sys_ncpus(void)
{
    return boot->nr_vcpus;
}

void console_write(const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        size_t n = len < MINIHV_CONSOLE_WRITE_MAX ? len : MINIHV_CONSOLE_WRITE_MAX;
        struct minihv_hc_console_write req = {.buf = (uintptr_t)p, .len = (uint32_t)n};
        (void)sdk_hypercall(MINIHV_HC_CONSOLE_WRITE, &req);
        p += n;
        len -= n;
    }
}

size_t console_read(void *buf, size_t len)
{
    struct minihv_hc_console_read req = {.buf = (uintptr_t)buf, .len = (uint32_t)len};

    if (len > UINT32_MAX)
        req.len = UINT32_MAX;
    return sdk_hypercall(MINIHV_HC_CONSOLE_READ, &req) == 0 ? req.nread : 0;
}

bool sys_shutdown_requested(void)
{
    return __atomic_load_n(&shared->events, __ATOMIC_ACQUIRE) & MINIHV_EVENT_SHUTDOWN;
}

unsigned sys_wait(uint64_t timeout_ns)
{
    struct minihv_hc_poll req = {.timeout_ns = timeout_ns};
    unsigned ev = 0;

    if (sdk_hypercall(MINIHV_HC_POLL, &req) == 0) {
        if (req.events & MINIHV_EVENT_CONSOLE_INPUT)
            ev |= SYS_EVENT_CONSOLE_INPUT;
        if (req.events & MINIHV_EVENT_SHUTDOWN)
            ev |= SYS_EVENT_SHUTDOWN;
        if (req.events & MINIHV_EVENT_NET)
            ev |= SYS_EVENT_NET;
    }
    if (sys_shutdown_requested())
        ev |= SYS_EVENT_SHUTDOWN;
    return ev;
}

int blk_info(BlkInfo *ret)
{
    struct minihv_hc_blk_info info;
    int32_t r = sdk_hypercall(MINIHV_HC_BLK_INFO, &info);

    if (r < 0)
        return r;
    ret->sectors = info.sectors;
    ret->read_only = info.flags & MINIHV_BLK_F_READ_ONLY;
    return 0;
}

static int blk_setup(void)
{
    struct minihv_hc_blk_setup req = {.ring = (uintptr_t)&blk_ring, .entries = BLK_RING_ENTRIES};
    int32_t r;

    if (blk_ready)
        return 0;
    memset(&blk_ring, 0, sizeof(blk_ring));
    r = sdk_hypercall(MINIHV_HC_BLK_SETUP, &req);
    if (r < 0)
        return r;
    blk_ready = true;
    return 0;
}

/* Publishes up to a ring's worth of requests, rings the doorbell once and waits for the
 * responses by watching rsp_prod (no exit when the doorbell is an ioeventfd). */
static int blk_batch(BlkIo *ios, unsigned n)
{
    volatile struct minihv_blk_ring *ring = &blk_ring.head;
    uint32_t prod = ring->req_prod, start = prod;
    unsigned spins = 0;

    for (unsigned i = 0; i < n; i++) {
        volatile struct minihv_blk_desc *d = &blk_ring.head.desc[(prod + i) % BLK_RING_ENTRIES];
        d->op = ios[i].op == BLK_WRITE ? MINIHV_BLK_OP_WRITE : MINIHV_BLK_OP_READ;
        d->nsectors = ios[i].nsectors;
        d->sector = ios[i].sector;
        d->buf = (uintptr_t)ios[i].buf;
        d->id = i;
        d->status = 1;
    }
    __atomic_store_n(&ring->req_prod, prod + n, __ATOMIC_RELEASE);
    __asm__ volatile("outl %0, %w1"
                     :
                     : "a"(0), "Nd"((uint16_t)MINIHV_PORT_BLK_DOORBELL)
                     : "memory");
    while (__atomic_load_n(&ring->rsp_prod, __ATOMIC_ACQUIRE) != prod + n) {
        if (ring->error)
            return ring->error;
        if (++spins % 100000 == 0)
            (void)sdk_hypercall(MINIHV_HC_BLK_KICK, NULL); /* process it ourselves */
        cpu_relax();
    }
    for (unsigned i = 0; i < n; i++)
        ios[i].status = blk_ring.head.desc[(start + i) % BLK_RING_ENTRIES].status;
    return 0;
}

int blk_submit(BlkIo *ios, unsigned n)
{
    int r = blk_setup(), first = 0;

    if (r < 0) {
        for (unsigned i = 0; i < n; i++)
            ios[i].status = r;
        return r;
    }
    for (unsigned done = 0; done < n;) {
        unsigned k = n - done < BLK_RING_ENTRIES ? n - done : BLK_RING_ENTRIES;
        r = blk_batch(ios + done, k);
        if (r < 0)
            return r;
        done += k;
    }
    for (unsigned i = 0; i < n && !first; i++)
        first = ios[i].status;
    return first;
}

int blk_read(uint64_t sector, uint32_t n, void *buf)
{
    BlkIo io = {.op = BLK_READ, .sector = sector, .nsectors = n, .buf = buf};
    return blk_submit(&io, 1);
}

int blk_write(uint64_t sector, uint32_t n, const void *buf)
{
    BlkIo io = {.op = BLK_WRITE, .sector = sector, .nsectors = n, .buf = (void *)buf};
    return blk_submit(&io, 1);
}

int blk_flush(void)
{
    volatile struct minihv_blk_ring *ring = &blk_ring.head;
    uint32_t prod;
    int r = blk_setup();

    if (r < 0)
        return r;
    prod = ring->req_prod;
    blk_ring.head.desc[prod % BLK_RING_ENTRIES] =
        (struct minihv_blk_desc){.op = MINIHV_BLK_OP_FLUSH};
    __atomic_store_n(&ring->req_prod, prod + 1, __ATOMIC_RELEASE);
    (void)sdk_hypercall(MINIHV_HC_BLK_KICK, NULL);
    while (__atomic_load_n(&ring->rsp_prod, __ATOMIC_ACQUIRE) != prod + 1)
        cpu_relax();
    return blk_ring.head.desc[prod % BLK_RING_ENTRIES].status;
}

/* Reads the clock fields consistently (the VMM rewrites them under an odd sequence count) and
 * adds the TSC ticks since tsc_base to the base picked by `wall`. */
static uint64_t clock_read(bool wall)
{
    uint64_t base, tsc_base, mul, now;
    uint32_t seq;

    do {
        seq = __atomic_load_n(&shared->seq, __ATOMIC_ACQUIRE);
        base = wall ? shared->wall_ns_base : shared->boot_ns_base;
        tsc_base = shared->tsc_base;
        mul = shared->tsc_mul;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
    } while ((seq & 1) || seq != __atomic_load_n(&shared->seq, __ATOMIC_RELAXED));
    now = rdtsc();
    if (now < tsc_base)
        return base;
    return base + (uint64_t)(((unsigned __int128)(now - tsc_base) * mul) >> 32);
}

uint64_t clock_wall_ns(void)
{
    return clock_read(true);
}

uint64_t clock_mono_ns(void)
{
    return clock_read(false);
}

void power_off(void)
{
    (void)sdk_hypercall(MINIHV_HC_POWEROFF, NULL);
    for (;;)
        cpu_relax();
}

void power_reboot(void)
{
    (void)sdk_hypercall(MINIHV_HC_REBOOT, NULL);
    for (;;)
        cpu_relax();
}

void panic(const char *fmt, ...)
{
    static char msg[MINIHV_CRASH_MESSAGE_MAX];
    struct minihv_hc_crash req;
    va_list ap;

    va_start(ap, fmt);
    sdk_format_panic(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    req = (struct minihv_hc_crash){.msg = (uintptr_t)msg, .len = (uint32_t)strlen(msg)};
    (void)sdk_hypercall(MINIHV_HC_CRASH, &req);
    for (;;)
        cpu_relax();
}

typedef struct ApStart {
    void (*fn)(void *arg);
    void *arg;
} ApStart;

static ApStart ap_start[8];

void sdk_pv_ap_main(uint64_t arg, uint64_t cpu)
{
    ApStart *s = (ApStart *)(uintptr_t)arg;

    s->fn(s->arg);
    for (;;)
        (void)sys_wait(60000000000ull); /* idle: only a shutdown or the guest's end matters */
}

int cpu_start(unsigned cpu, void (*fn)(void *arg), void *arg, void *stack, size_t stack_size)
{
    struct minihv_hc_vcpu_up req;

    if (cpu == 0 || cpu >= sys_ncpus() || cpu >= sizeof(ap_start) / sizeof(ap_start[0]))
        return -SDK_EINVAL;
    ap_start[cpu] = (ApStart){fn, arg};
    req = (struct minihv_hc_vcpu_up){
        .cpu = cpu,
        .rip = (uintptr_t)sdk_pv_ap_entry,
        .rsp = ((uintptr_t)stack + stack_size) & ~(uintptr_t)15,
        .arg = (uintptr_t)&ap_start[cpu],
    };
    return sdk_hypercall(MINIHV_HC_VCPU_UP, &req);
}

void sdk_pv_start(const struct minihv_boot_info *bi)
{
    boot = bi;
    if (bi->magic != MINIHV_BOOT_MAGIC || bi->abi_version != MINIHV_ABI_VERSION)
        panic("unexpected boot information (magic 0x%x, ABI %u)", bi->magic, bi->abi_version);
    shared = (const struct minihv_shared_page *)(uintptr_t)bi->shared_page;
    sdk_cmdline = (const char *)(uintptr_t)bi->cmdline;
    sdk_memory_size = bi->mem_size;
    sdk_run_main();
}
