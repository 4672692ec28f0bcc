/* UDP: a few port bindings, checksummed datagrams both ways. */
#include "net-stack.h"

#define UDP_BINDINGS 4u

static struct {
    uint16_t port;
    UdpHandler fn;
} bindings[UDP_BINDINGS];

int udp_bind(uint16_t port, UdpHandler fn)
{
    for (unsigned i = 0; i < UDP_BINDINGS; i++)
        if (!bindings[i].fn) {
            bindings[i].port = port;
            bindings[i].fn = fn;
            return 0;
        }
    return -SDK_EINVAL;
}

void udp_input(const struct ip_hdr *ip, const uint8_t *seg, size_t len)
{
    const struct udp_hdr *u = (const struct udp_hdr *)seg;
    size_t ulen;

    if (len < UDP_HLEN)
        return;
    ulen = ntohs(u->len);
    if (ulen < UDP_HLEN || ulen > len)
        return;
    if (u->csum && csum_finish(csum_add(csum_pseudo(ip->src, ip->dst, IP_PROTO_UDP, (uint16_t)ulen),
                                        seg, ulen)) != 0)
        return;
    for (unsigned i = 0; i < UDP_BINDINGS; i++)
        if (bindings[i].fn && bindings[i].port == u->dport) {
            bindings[i].fn(ip->src, u->sport, u->dport, seg + UDP_HLEN, ulen - UDP_HLEN);
            return;
        }
}

int udp_send(uint32_t dst, uint16_t sport, uint16_t dport, const void *data, size_t len)
{
    size_t ulen = UDP_HLEN + len;
    struct udp_hdr *u;
    uint8_t *f;
    uint16_t c;

    if (ulen > IP_PAYLOAD_MAX)
        return -SDK_EINVAL;
    f = ip_frame_begin(dst, IP_PROTO_UDP, ulen);
    if (!f)
        return -SDK_EAGAIN;
    u = (struct udp_hdr *)(f + ETH_HLEN + IP_HLEN);
    *u = (struct udp_hdr){.sport = sport, .dport = dport, .len = htons((uint16_t)ulen)};
    memcpy(u + 1, data, len);
    c = csum_finish(csum_add(csum_pseudo(ip_addr, dst, IP_PROTO_UDP, (uint16_t)ulen), u, ulen));
    u->csum = c ? c : 0xffff;
    return ip_frame_submit(ulen);
}
