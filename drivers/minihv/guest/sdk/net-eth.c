/* Ethernet framing and ARP: replies for our address, a small cache, requests on a miss. */
#include "net-stack.h"

#define ARP_CACHE   16u
#define ARP_REQUEST 1u
#define ARP_REPLY   2u

struct __attribute__((packed)) arp_pkt {
    uint16_t htype;
    uint16_t ptype;
    uint8_t hlen;
    uint8_t plen;
    uint16_t op;
    uint8_t sha[6];
    uint32_t spa;
    uint8_t tha[6];
    uint32_t tpa;
};

typedef struct ArpEntry {
    uint32_t ip;
    uint8_t mac[6];
    bool valid;
} ArpEntry;

static ArpEntry arp_cache[ARP_CACHE];
static unsigned arp_next; /* round-robin replacement */
static uint8_t *tx_frame;

static void arp_learn(uint32_t ip, const uint8_t *mac)
{
    ArpEntry *free_slot = NULL;

    for (unsigned i = 0; i < ARP_CACHE; i++) {
        if (arp_cache[i].valid && arp_cache[i].ip == ip) {
            memcpy(arp_cache[i].mac, mac, 6);
            return;
        }
        if (!arp_cache[i].valid && !free_slot)
            free_slot = &arp_cache[i];
    }
    if (!free_slot)
        free_slot = &arp_cache[arp_next++ % ARP_CACHE];
    *free_slot = (ArpEntry){.ip = ip, .valid = true};
    memcpy(free_slot->mac, mac, 6);
}

static void arp_send(uint16_t op, const uint8_t *dst_mac, uint32_t tpa, const uint8_t *tha)
{
    uint8_t *f = net_tx_buffer();
    struct eth_hdr *eth = (struct eth_hdr *)f;
    struct arp_pkt *a = (struct arp_pkt *)(f + ETH_HLEN);

    memcpy(eth->dst, dst_mac, 6);
    memcpy(eth->src, ip_mac, 6);
    eth->type = htons(ETH_TYPE_ARP);
    *a = (struct arp_pkt){
        .htype = htons(1),
        .ptype = htons(ETH_TYPE_IP),
        .hlen = 6,
        .plen = 4,
        .op = htons(op),
        .spa = ip_addr,
        .tpa = tpa,
    };
    memcpy(a->sha, ip_mac, 6);
    memcpy(a->tha, tha, 6);
    (void)net_tx_submit(ETH_HLEN + sizeof(*a));
}

bool arp_resolve(uint32_t dst, uint8_t mac[6])
{
    static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t zero[6];

    for (unsigned i = 0; i < ARP_CACHE; i++)
        if (arp_cache[i].valid && arp_cache[i].ip == dst) {
            memcpy(mac, arp_cache[i].mac, 6);
            return true;
        }
    arp_send(ARP_REQUEST, broadcast, dst, zero);
    return false;
}

static void arp_input(const uint8_t *p, size_t len)
{
    struct arp_pkt a;

    if (len < sizeof(a))
        return;
    memcpy(&a, p, sizeof(a));
    if (a.htype != htons(1) || a.ptype != htons(ETH_TYPE_IP) || a.hlen != 6 || a.plen != 4)
        return;
    if ((a.spa & ip_mask) == (ip_addr & ip_mask) && a.spa != ip_addr)
        arp_learn(a.spa, a.sha);
    if (a.op == htons(ARP_REQUEST) && a.tpa == ip_addr)
        arp_send(ARP_REPLY, a.sha, a.spa, a.sha);
}

uint8_t *ip_frame_begin(uint32_t dst, uint8_t proto, size_t payload_len)
{
    static uint16_t ip_id;
    struct eth_hdr *eth;
    struct ip_hdr *ip;
    uint8_t mac[6];

    if ((dst & ip_mask) != (ip_addr & ip_mask) || dst == ip_addr || payload_len > IP_PAYLOAD_MAX)
        return NULL; /* only hosts on our own link: nothing is routed */
    if (!arp_resolve(dst, mac))
        return NULL;
    tx_frame = net_tx_buffer();
    eth = (struct eth_hdr *)tx_frame;
    ip = (struct ip_hdr *)(tx_frame + ETH_HLEN);
    memcpy(eth->dst, mac, 6);
    memcpy(eth->src, ip_mac, 6);
    eth->type = htons(ETH_TYPE_IP);
    *ip = (struct ip_hdr){
        .vhl = 0x45,
        .len = htons((uint16_t)(IP_HLEN + payload_len)),
        .id = htons(ip_id++),
        .frag = htons(0x4000), /* don't fragment */
        .ttl = 64,
        .proto = proto,
        .src = ip_addr,
        .dst = dst,
    };
    ip->csum = csum_finish(csum_add(0, ip, IP_HLEN));
    return tx_frame;
}

int ip_frame_submit(size_t payload_len)
{
    return net_tx_submit(ETH_HLEN + IP_HLEN + payload_len);
}

void eth_input(uint8_t *frame, size_t len)
{
    const struct eth_hdr *eth = (const struct eth_hdr *)frame;

    if (len < ETH_HLEN)
        return;
    if (eth->type == htons(ETH_TYPE_ARP))
        arp_input(frame + ETH_HLEN, len - ETH_HLEN);
    else if (eth->type == htons(ETH_TYPE_IP) && memcmp(eth->dst, ip_mac, 6) == 0)
        ip_input(eth, frame + ETH_HLEN, len - ETH_HLEN);
}
