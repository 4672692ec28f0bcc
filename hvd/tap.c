/* Opening a tap device for a VMM: /dev/net/tun, then netlink to put it on its bridge. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "macro.h"
#include "netlink.h"
#include "tap.h"

int tap_open(const char *name, const char *bridge, int *ret_fd)
{
    _cleanup_close_ int fd = -EBADF;
    struct ifreq ifr = {};
    int r;

    if (strlen(name) >= IFNAMSIZ)
        return -EINVAL;
    fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    (void)snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        return -errno;
    r = netlink_link_up(name, bridge);
    if (r < 0)
        return r;
    *ret_fd = TAKE_FD(fd);
    return 0;
}
