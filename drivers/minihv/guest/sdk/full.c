/* full flavour: Multiboot start-up, ACPI power-off and power button, PIIX reset. */
#include "full.h"
#include "pio.h"

#define MB_BOOT_MAGIC     0x2badb002u
#define MB_INFO_MEMORY    0x1u
#define MB_INFO_CMDLINE   0x4u
#define MB_INFO_LOADER    0x200u
#define POLL_SPINS        20000u /* sys_wait's brief poll when hlt would not wake */
#define PM1_STS           0x600u
#define PM1_CNT           0x604u
#define PM1_PWRBTN        0x0100u
#define PM1_CNT_SLP_EN    0x2000u /* with SLP_TYP 0: soft off (S5) */
#define RESET_PORT        0xcf9u
#define RESET_SYS_RST_CPU 0x06u

void sdk_full_start(uint32_t magic, uint32_t info_addr);

/* Whether minihv loaded the guest: its hlt returns when the guest has something to do. */
static bool on_minihv;

void sdk_full_start(uint32_t magic, uint32_t info_addr)
{
    if (magic == MB_BOOT_MAGIC) {
        const uint32_t *info = (const uint32_t *)(uintptr_t)info_addr;
        if (info[0] & MB_INFO_CMDLINE)
            sdk_cmdline = (const char *)(uintptr_t)info[4];
        if (info[0] & MB_INFO_MEMORY)
            sdk_memory_size = ((uint64_t)info[2] + 1024) * 1024;
        if (info[0] & MB_INFO_LOADER)
            on_minihv = strcmp((const char *)(uintptr_t)info[16], "minihv") == 0;
    }
    uart_init();
    sdk_run_main();
}

/* The TSC frequency from the hypervisor's timing leaf (0x40000010: EAX = kHz), as VMware and KVM
 * publish it; without one the TSC is taken to run at 1 GHz. */
static uint64_t tsc_khz(void)
{
    static uint64_t khz;
    uint32_t a, b, c, d;

    if (khz)
        return khz;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000000u), "c"(0));
    if (a >= 0x40000010u) {
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000010u), "c"(0));
        khz = a;
    }
    if (!khz)
        khz = 1000000;
    return khz;
}

uint64_t clock_mono_ns(void)
{
    static uint64_t mul; /* ns per tick in 32.32 fixed point */

    if (!mul)
        mul = (1000000ull << 32) / tsc_khz();
    return (uint64_t)(((unsigned __int128)rdtsc() * mul) >> 32);
}

const char *sys_mode(void)
{
    return "full";
}

bool sys_is_pv(void)
{
    return false;
}

unsigned sys_ncpus(void)
{
    return 1;
}

bool sys_shutdown_requested(void)
{
    return inw(PM1_STS) & PM1_PWRBTN;
}

/* Without an interrupt controller, hlt is where the host lets an idle guest sleep; the guest
 * then polls its devices. */
unsigned sys_wait(uint64_t timeout_ns)
{
    unsigned ev = 0;

    if (uart_rx_ready())
        ev |= SYS_EVENT_CONSOLE_INPUT;
    if (sys_shutdown_requested())
        ev |= SYS_EVENT_SHUTDOWN;
    if (ev)
        return ev;
    if (on_minihv)
        __asm__ volatile("hlt" ::: "memory");
    else
        for (unsigned i = 0; i < POLL_SPINS; i++)
            __asm__ volatile("pause" ::: "memory");
    if (uart_rx_ready())
        ev |= SYS_EVENT_CONSOLE_INPUT;
    if (sys_shutdown_requested())
        ev |= SYS_EVENT_SHUTDOWN;
    return ev;
}

static __attribute__((noreturn)) void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt" ::: "memory");
}

void power_off(void)
{
    outw(PM1_CNT, PM1_CNT_SLP_EN);
    halt_forever();
}

void power_reboot(void)
{
    outb(RESET_PORT, RESET_SYS_RST_CPU);
    halt_forever();
}

/* An exception with an empty IDT cannot be delivered: the CPU shuts down (triple fault),
 * which the VMM reports as a crash. */
static __attribute__((noreturn)) void triple_fault(void)
{
    static const struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } no_idt = {0, 0};

    __asm__ volatile("lidt %0\n\tud2" : : "m"(no_idt) : "memory");
    __builtin_unreachable();
}

void panic(const char *fmt, ...)
{
    static char msg[256];
    va_list ap;

    va_start(ap, fmt);
    sdk_format_panic(msg, sizeof(msg) - 1, fmt, ap);
    va_end(ap);
    console_write(msg, strlen(msg));
    console_write("\n", 1);
    triple_fault();
}

int cpu_start(unsigned cpu, void (*fn)(void *arg), void *arg, void *stack, size_t stack_size)
{
    return -SDK_ENOSYS;
}
