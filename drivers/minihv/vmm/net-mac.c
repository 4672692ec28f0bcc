/* MAC addresses for the network device: parsing --mac, the derived default, the tap check. */
#include <errno.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "net.h"

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int net_mac_parse(const char *s, uint8_t mac[NET_MAC_LEN])
{
    uint8_t m[NET_MAC_LEN];
    bool zero = true;

    if (strlen(s) != 17)
        return -EINVAL;
    for (unsigned i = 0; i < NET_MAC_LEN; i++) {
        int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < NET_MAC_LEN - 1 && s[3 * i + 2] != ':'))
            return -EINVAL;
        m[i] = (uint8_t)(hi << 4 | lo);
        zero = zero && m[i] == 0;
    }
    if (zero || (m[0] & 0x01))
        return -EINVAL; /* a station address is unicast and not all-zero */
    memcpy(mac, m, NET_MAC_LEN);
    return 0;
}

void net_mac_derive(const char *name, uint8_t mac[NET_MAC_LEN])
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (const char *p = name; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 0x100000001b3ull;
    }
    mac[0] = 0x02;
    for (unsigned i = 1; i < NET_MAC_LEN; i++)
        mac[i] = (uint8_t)(h >> (8 * (i - 1)));
}

void net_mac_format(const uint8_t mac[NET_MAC_LEN], char *buf)
{
    (void)snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                   mac[5]);
}

int net_tap_check(int fd, char *name)
{
    struct ifreq ifr = {0};

    if (ioctl(fd, TUNGETIFF, &ifr) < 0)
        return -ENOTTY;
    if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN | IFF_NO_PI | IFF_VNET_HDR)) != (IFF_TAP | IFF_NO_PI))
        return -EINVAL;
    memcpy(name, ifr.ifr_name, IFNAMSIZ);
    name[IFNAMSIZ - 1] = '\0';
    return 0;
}
