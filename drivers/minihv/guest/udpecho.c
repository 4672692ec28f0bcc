/* udpecho: echoes every UDP datagram on a port back to its sender and answers ping, until the
 * host asks for a shutdown. Command line: ip=A.B.C.D/N (required), port=P (default 7). */
#include "minihv-guest.h"

static unsigned long long echoed;

static void echo(uint32_t src, uint16_t sport, uint16_t dport, const void *data, size_t len)
{
    if (udp_send(src, dport, sport, data, len) == 0)
        echoed++;
}

int main(void)
{
    unsigned port = (unsigned)cmdline_u64("port", 7);
    char addr[16];
    int r;

    r = ip_init();
    if (r < 0) {
        printf("udpecho: FAIL: %s\n", r == -SDK_ENODEV ? "no network device" : "no ip=A.B.C.D/N");
        return 1;
    }
    if (port == 0 || port > 65535 || udp_bind(htons((uint16_t)port), echo) < 0) {
        printf("udpecho: FAIL: bad port %u\n", port);
        return 1;
    }
    ip_format(ip_address(), addr);
    printf("udpecho: listening on %s port %u (%s mode)\n", addr, port, sys_mode());
    while (!sys_shutdown_requested())
        ip_poll(100000000ull);
    printf("udpecho: shutdown requested after %llu datagrams, powering off\n", echoed);
    return 0;
}
