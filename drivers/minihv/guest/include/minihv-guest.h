/* The minihv guest SDK: one small API over both device flavours, so one source builds for
 * pv (hypercalls, rings, shared page) and full mode (UART, ATA, CMOS RTC, ACPI ports, NE2000),
 * plus a small IPv4 stack (ARP, ICMP echo, UDP, a TCP server) over the network device. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SDK_ENODEV 19
#define SDK_EIO    5
#define SDK_EINVAL 22
#define SDK_ENOSYS 38
#define SDK_EAGAIN 11

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
#define SYS_EVENT_NET           0x4u /* a received frame waits (net_recv) */

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
/* Nanoseconds since boot, from the TSC: pv scales it with the shared page, full mode with the
 * TSC frequency the hypervisor's CPUID leaf 0x40000010 reports (no exit either way). */
uint64_t clock_mono_ns(void);
/* Formats seconds since the epoch as "YYYY-MM-DD HH:MM:SS". */
void clock_format(uint64_t seconds, char *buf, size_t len);

/* ---- network device ---- */

#define NET_FRAME_MAX 1514u /* an Ethernet frame without FCS, for an MTU of 1500 */

typedef struct NetInfo {
    uint8_t mac[6];
    bool link_up;
    uint32_t mtu;
} NetInfo;

/* Probes the network device (pv: NET_INFO and ring set-up; full: an NE2000 at 0x300, reset and
 * started). Returns 0, or -SDK_ENODEV when there is none. Later calls return the same answer. */
int net_info(NetInfo *ret);

/* A buffer of NET_FRAME_MAX bytes for the next frame to send, waiting while every transmit slot
 * is in flight. Fill it and pass its length to net_tx_submit. */
void *net_tx_buffer(void);
/* Sends the frame built in the net_tx_buffer() buffer: pv publishes it on the TX ring (the
 * doorbell rings at net_flush); full mode copies it into the NE2000 and transmits at once.
 * Returns 0 or a negative error. */
int net_tx_submit(size_t len);
/* Copies a frame into a transmit buffer and submits it. */
int net_send(const void *frame, size_t len);
/* pv: one doorbell for every frame submitted since the last flush. full: nothing to do. */
void net_flush(void);
/* Takes the next received frame into buf (truncated to cap); returns its length, 0 if none. */
size_t net_recv(void *buf, size_t cap);
/* Waits until a frame may wait, the host asks for a shutdown, or about timeout_ns passed;
 * returns SYS_EVENT_* bits. pv spins briefly on the RX ring (no exit) before POLL. */
unsigned net_wait(uint64_t timeout_ns);

/* ---- IPv4 ----
 * Addresses and ports are in network byte order, as they appear in packets. */

/* Reads "ip=A.B.C.D/N" from the command line and brings the stack up on the network device.
 * Returns 0, -SDK_ENODEV without a device, -SDK_EINVAL without a usable ip= word. */
int ip_init(void);
uint32_t ip_address(void);
uint32_t ip_netmask(void);
/* Formats a as dotted decimal into buf (at least 16 bytes). */
void ip_format(uint32_t a, char *buf);
/* Parses "A.B.C.D" (and "/N" when prefix is not NULL). Returns 0 or -SDK_EINVAL. */
int ip_parse(const char *s, uint32_t *addr, unsigned *prefix);
/* Handles every frame that waits (ARP, ICMP echo, UDP, TCP) and the TCP timers, sends what that
 * produced, and when nothing arrived waits up to timeout_ns (less when a timer is due). */
void ip_poll(uint64_t timeout_ns);

static inline uint16_t htons(uint16_t v)
{
    return (uint16_t)(v << 8 | v >> 8);
}

static inline uint32_t htonl(uint32_t v)
{
    return __builtin_bswap32(v);
}

#define ntohs htons
#define ntohl htonl

/* ---- UDP ---- */

typedef void (*UdpHandler)(uint32_t src, uint16_t sport, uint16_t dport, const void *data,
                           size_t len);
/* Delivers datagrams for port to fn (one port at a time per handler). Returns 0, or
 * -SDK_EINVAL when every binding is taken. */
int udp_bind(uint16_t port, UdpHandler fn);
/* Sends one datagram (at most the MTU less 28 bytes). Returns 0, -SDK_EINVAL when too long,
 * or -SDK_EAGAIN while dst's MAC is being resolved (an ARP request went out). */
int udp_send(uint32_t dst, uint16_t sport, uint16_t dport, const void *data, size_t len);

/* ---- TCP (passive open only) ---- */

#define TCP_MAX_CONNS 4u

typedef struct TcpConn TcpConn;

/* Callbacks of a listening port; any may be NULL. After `closed` the connection is gone. */
typedef struct TcpHandlers {
    void (*accepted)(TcpConn *c);
    void (*readable)(TcpConn *c); /* data to tcp_recv, or the peer closed its side */
    void (*writable)(TcpConn *c); /* the peer acknowledged data: send space grew */
    void (*closed)(TcpConn *c);
} TcpHandlers;

/* Accepts connections on port (one listener per port, a few ports). Returns 0 or -SDK_EINVAL. */
int tcp_listen(uint16_t port, const TcpHandlers *h);
/* Takes up to len received bytes; returns how many. */
size_t tcp_recv(TcpConn *c, void *buf, size_t len);
/* Queues up to len bytes for sending; returns how many fit in the send buffer. */
size_t tcp_send(TcpConn *c, const void *data, size_t len);
size_t tcp_send_space(TcpConn *c);
/* Whether the peer sent FIN (no more data will come). */
bool tcp_peer_closed(TcpConn *c);
/* Sends FIN after the queued data; `closed` follows once both sides are done. */
void tcp_close(TcpConn *c);
/* An application pointer per connection. */
void tcp_set_user(TcpConn *c, void *user);
void *tcp_user(TcpConn *c);

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
char *strstr(const char *haystack, const char *needle);
unsigned long long strtoull(const char *s, char **end, int base);
