/* IPv4: configuration from the command line, input checks, ICMP echo replies, the poll loop. */
#include "net-stack.h"

#define ICMP_ECHO_REPLY   0u
#define ICMP_ECHO_REQUEST 8u
#define RX_BATCH          64u /* frames handled before timers and a flush get their turn */

uint32_t ip_addr, ip_mask;
uint8_t ip_mac[6];
static bool ip_up;
static uint8_t rx_frame[NET_FRAME_MAX] __attribute__((aligned(8)));

int ip_parse(const char *s, uint32_t *addr, unsigned *prefix)
{
    uint8_t b[4];

    for (unsigned i = 0; i < 4; i++) {
        char *end;
        unsigned long long v;
        if (*s < '0' || *s > '9')
            return -SDK_EINVAL;
        v = strtoull(s, &end, 10);
        if (v > 255 || end - s > 3 || (i < 3 && *end != '.'))
            return -SDK_EINVAL;
        b[i] = (uint8_t)v;
        s = i < 3 ? end + 1 : end;
    }
    if (prefix) {
        char *end;
        *prefix = 32;
        if (*s == '/') {
            if (s[1] < '0' || s[1] > '9')
                return -SDK_EINVAL;
            *prefix = (unsigned)strtoull(s + 1, &end, 10);
            s = end;
            if (*prefix < 1 || *prefix > 30)
                return -SDK_EINVAL;
        }
    }
    if (*s)
        return -SDK_EINVAL;
    memcpy(addr, b, 4);
    return 0;
}

void ip_format(uint32_t a, char *buf)
{
    const uint8_t *b = (const uint8_t *)&a;

    snprintf(buf, 16, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
}

uint32_t ip_address(void)
{
    return ip_addr;
}

uint32_t ip_netmask(void)
{
    return ip_mask;
}

int ip_init(void)
{
    char word[64];
    NetInfo info;
    unsigned prefix = 0;
    int r;

    r = net_info(&info);
    if (r < 0)
        return r;
    r = -SDK_EINVAL;
    for (unsigned i = 0; cmdline_word(i, word, sizeof(word)); i++)
        if (strncmp(word, "ip=", 3) == 0)
            r = ip_parse(word + 3, &ip_addr, &prefix);
    if (r < 0)
        return r;
    ip_mask = htonl(prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix));
    memcpy(ip_mac, info.mac, 6);
    ip_up = true;
    return 0;
}

static void icmp_input(const struct ip_hdr *ip, const uint8_t *p, size_t len)
{
    uint8_t *f, *out;

    if (len < 8 || p[0] != ICMP_ECHO_REQUEST || csum_finish(csum_add(0, p, len)) != 0)
        return;
    f = ip_frame_begin(ip->src, IP_PROTO_ICMP, len);
    if (!f)
        return;
    out = f + ETH_HLEN + IP_HLEN;
    memcpy(out, p, len);
    out[0] = ICMP_ECHO_REPLY;
    out[2] = out[3] = 0;
    {
        uint16_t c = csum_finish(csum_add(0, out, len));
        memcpy(out + 2, &c, 2);
    }
    (void)ip_frame_submit(len);
}

void ip_input(const struct eth_hdr *eth, uint8_t *pkt, size_t len)
{
    const struct ip_hdr *ip = (const struct ip_hdr *)pkt;
    size_t hlen, total;

    if (len < IP_HLEN || (ip->vhl >> 4) != 4)
        return;
    hlen = (size_t)(ip->vhl & 0x0f) * 4;
    total = ntohs(ip->len);
    if (hlen < IP_HLEN || total < hlen || total > len || ip->dst != ip_addr)
        return;
    if (ntohs(ip->frag) & 0x3fff)
        return; /* fragments are not reassembled */
    if (csum_finish(csum_add(0, ip, hlen)) != 0)
        return;
    switch (ip->proto) {
    case IP_PROTO_ICMP:
        icmp_input(ip, pkt + hlen, total - hlen);
        break;
    case IP_PROTO_UDP:
        udp_input(ip, pkt + hlen, total - hlen);
        break;
    case IP_PROTO_TCP:
        tcp_input(ip, pkt + hlen, total - hlen);
        break;
    }
}

void ip_poll(uint64_t timeout_ns)
{
    unsigned handled = 0;
    uint64_t now, next;
    size_t n;

    if (!ip_up) {
        (void)sys_wait(timeout_ns);
        return;
    }
    while (handled < RX_BATCH && (n = net_recv(rx_frame, sizeof(rx_frame))) > 0) {
        eth_input(rx_frame, n);
        handled++;
    }
    now = clock_mono_ns();
    next = tcp_tick(now);
    net_flush();
    if (handled)
        return;
    if (next != UINT64_MAX) {
        uint64_t due = next > now ? next - now : 0;
        if (due < timeout_ns)
            timeout_ns = due;
    }
    if (timeout_ns)
        (void)net_wait(timeout_ns);
}
