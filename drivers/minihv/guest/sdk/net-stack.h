/* Internals of the SDK's IPv4 stack: wire formats and the calls between its layers. */
#pragma once

#include "sdk.h"

#define ETH_HLEN       14u
#define ETH_TYPE_IP    0x0800u
#define ETH_TYPE_ARP   0x0806u
#define IP_HLEN        20u
#define IP_PROTO_ICMP  1u
#define IP_PROTO_TCP   6u
#define IP_PROTO_UDP   17u
#define UDP_HLEN       8u
#define TCP_HLEN       20u
#define IP_PAYLOAD_MAX (1500u - IP_HLEN)

struct __attribute__((packed)) eth_hdr {
    uint8_t dst[6];
    uint8_t src[6];
    uint16_t type;
};

struct __attribute__((packed)) ip_hdr {
    uint8_t vhl;
    uint8_t tos;
    uint16_t len;
    uint16_t id;
    uint16_t frag;
    uint8_t ttl;
    uint8_t proto;
    uint16_t csum;
    uint32_t src;
    uint32_t dst;
};

struct __attribute__((packed)) udp_hdr {
    uint16_t sport;
    uint16_t dport;
    uint16_t len;
    uint16_t csum;
};

struct __attribute__((packed)) tcp_hdr {
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    uint32_t ack;
    uint8_t off;
    uint8_t flags;
    uint16_t win;
    uint16_t csum;
    uint16_t urg;
};

#define TCP_FIN 0x01u
#define TCP_SYN 0x02u
#define TCP_RST 0x04u
#define TCP_PSH 0x08u
#define TCP_ACK 0x10u

/* The one's-complement sum of len bytes added to sum (not folded, not inverted). */
uint64_t csum_add(uint64_t sum, const void *data, size_t len);
/* Folds a sum to 16 bits and inverts it: the value to store in a checksum field. */
uint16_t csum_finish(uint64_t sum);
/* The sum of the TCP/UDP pseudo-header. */
uint64_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

/* net-eth.c */
/* Looks dst up in the ARP cache; on a miss sends a request and returns false. */
bool arp_resolve(uint32_t dst, uint8_t mac[6]);
/* A frame for an IP packet to dst: returns the transmit buffer with the Ethernet and IP headers
 * written (payload_len bytes to follow at +ETH_HLEN+IP_HLEN), or NULL when dst is not on our
 * subnet or its MAC is not known yet. */
uint8_t *ip_frame_begin(uint32_t dst, uint8_t proto, size_t payload_len);
/* Submits a frame begun with ip_frame_begin. */
int ip_frame_submit(size_t payload_len);
void eth_input(uint8_t *frame, size_t len);

/* net-ip.c */
void ip_input(const struct eth_hdr *eth, uint8_t *pkt, size_t len);
extern uint32_t ip_addr, ip_mask;
extern uint8_t ip_mac[6];

/* net-udp.c */
void udp_input(const struct ip_hdr *ip, const uint8_t *seg, size_t len);

/* net-tcp.c */
void tcp_input(const struct ip_hdr *ip, const uint8_t *seg, size_t len);
/* Runs due timers and sends what the connections may; returns the next deadline (mono ns),
 * or UINT64_MAX when none. */
uint64_t tcp_tick(uint64_t now);
