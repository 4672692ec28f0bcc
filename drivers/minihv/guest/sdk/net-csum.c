/* The Internet checksum (RFC 1071), summed 32 bits at a time. */
#include "net-stack.h"

typedef uint32_t __attribute__((may_alias, aligned(1))) u32_unaligned;
typedef uint16_t __attribute__((may_alias, aligned(1))) u16_unaligned;

/* Summing little-endian words of network-order bytes gives the byte-swapped sum, which is the
 * right checksum once stored back in memory order (RFC 1071, "byte order independence"). */
uint64_t csum_add(uint64_t sum, const void *data, size_t len)
{
    const uint8_t *p = data;

    while (len >= 4) {
        sum += *(const u32_unaligned *)p;
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        sum += *(const u16_unaligned *)p;
        p += 2;
        len -= 2;
    }
    if (len)
        sum += *p;
    return sum;
}

uint16_t csum_finish(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

uint64_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    return (uint64_t)src + dst + htons(proto) + htons(len);
}
