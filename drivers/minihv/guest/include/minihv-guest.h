/* The minihv guest SDK: one small API over both device flavours, so one source builds for
 * pv (hypercalls, rings, shared page) and full mode (UART, ATA, CMOS RTC, ACPI ports). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SDK_ENODEV 19
#define SDK_EIO    5
#define SDK_EINVAL 22
#define SDK_ENOSYS 38

/* The guest's entry point, called by the SDK's start-up code. Returning 0 powers off;
 * returning anything else panics (the domain ends as crashed). */
int main(void);

/* ---- system ---- */

/* "pv" or "full". */
const char *sys_mode(void);
bool sys_is_pv(void);
/* The command line given to minihv (--cmdline) or the boot loader; never NULL. */
const char *sys_cmdline(void);
/* Bytes of RAM. */
uint64_t sys_memory_size(void);
/* Number of CPUs the guest may start (1 in full mode). */
unsigned sys_ncpus(void);

#define SYS_EVENT_CONSOLE_INPUT 0x1u
#define SYS_EVENT_SHUTDOWN      0x2u

/* Idles until console input is waiting, a shutdown was requested, or about timeout_ns passed;
 * returns the SYS_EVENT_* bits that hold. pv: a POLL hypercall; full: hlt under minihv. Under
 * another loader (QEMU -kernel), where hlt without interrupts would never wake, full mode polls
 * briefly and returns: the guest then spins on its devices while it waits. */
unsigned sys_wait(uint64_t timeout_ns);
/* Whether the host asked the guest to power off (pv: shared page; full: ACPI PWRBTN_STS). */
bool sys_shutdown_requested(void);

/* The i-th space-separated word of the command line into buf; false when there is none. */
bool cmdline_word(unsigned i, char *buf, size_t len);
/* Whether the command line holds word (exactly). */
bool cmdline_has(const char *word);
/* The value of "key=N" on the command line, or def. */
uint64_t cmdline_u64(const char *key, uint64_t def);

/* ---- console ---- */

void console_write(const void *buf, size_t len);
/* Takes waiting console input without blocking; returns the number of bytes (0 if none). */
size_t console_read(void *buf, size_t len);

int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int snprintf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t len, const char *fmt, va_list ap);

/* ---- block ---- */

#define BLK_SECTOR_SIZE 512u

typedef struct BlkInfo {
    uint64_t sectors;
    bool read_only;
} BlkInfo;

/* Probes the disk. Returns 0, or -SDK_ENODEV when there is none. */
int blk_info(BlkInfo *ret);

enum {
    BLK_READ = 1,
    BLK_WRITE = 2,
};

typedef struct BlkIo {
    int op; /* BLK_READ or BLK_WRITE */
    uint64_t sector;
    uint32_t nsectors; /* 1..256 */
    void *buf;
    int status; /* out: 0 or a negative error */
} BlkIo;

/* Performs n requests. pv: up to a ring's worth per doorbell; full: one ATA command each.
 * Returns 0 when every request succeeded, else the first failing status. */
int blk_submit(BlkIo *ios, unsigned n);
int blk_read(uint64_t sector, uint32_t n, void *buf);
int blk_write(uint64_t sector, uint32_t n, const void *buf);
int blk_flush(void);

/* ---- clock ---- */

/* Nanoseconds since the Unix epoch. pv: shared page + rdtsc, no exit; full: CMOS RTC (whole
 * seconds). */
uint64_t clock_wall_ns(void);
/* Formats seconds since the epoch as "YYYY-MM-DD HH:MM:SS". */
void clock_format(uint64_t seconds, char *buf, size_t len);

/* ---- power ---- */

__attribute__((noreturn)) void power_off(void);
__attribute__((noreturn)) void power_reboot(void);
/* Reports a crash with a message (pv: crash hypercall; full: message on the console, then a
 * triple fault) and never returns. */
__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);

/* ---- CPUs ---- */

/* Starts CPU cpu (1..sys_ncpus()-1) running fn(arg) on the given stack. Returns 0 or a
 * negative error (-SDK_ENOSYS in full mode). When fn returns, the CPU idles. */
int cpu_start(unsigned cpu, void (*fn)(void *arg), void *arg, void *stack, size_t stack_size);

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static inline void cpu_relax(void)
{
    __asm__ volatile("pause" ::: "memory");
}

/* ---- freestanding libc subset ---- */

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
unsigned long long strtoull(const char *s, char **end, int base);
