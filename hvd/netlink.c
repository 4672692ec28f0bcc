/* rtnetlink requests through libmnl: create bridges, bring links up and enslave them, set
 * addresses, delete links, and list links with their kind and master. */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "netlink.h"

static void mnl_socket_closep(struct mnl_socket **nl)
{
    if (*nl)
        (void)mnl_socket_close(*nl);
}

static int socket_open(struct mnl_socket **ret, unsigned *ret_portid)
{
    struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);

    if (!nl)
        return -errno;
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        int r = -errno;
        (void)mnl_socket_close(nl);
        return r;
    }
    *ret_portid = mnl_socket_get_portid(nl);
    *ret = nl;
    return 0;
}

/* Sends nlh (a request asking for an ack) and runs cb over the answers until the kernel is
 * done: the ack, an error, or the end of a dump. */
static int request(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
    struct mnl_socket *nl __attribute__((cleanup(mnl_socket_closep))) = NULL;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    unsigned portid = 0, seq = (unsigned)time(NULL);
    ssize_t n;
    int r;

    r = socket_open(&nl, &portid);
    if (r < 0)
        return r;
    nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = seq;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    for (;;) {
        n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
        if (n < 0)
            return errno == EINTR ? -EINTR : -errno;
        errno = 0;
        r = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
        if (r < 0)
            return errno ? -errno : -EIO;
        if (r == MNL_CB_STOP)
            return 0;
    }
}

static struct nlmsghdr *link_message(char *buf, uint16_t type, uint16_t flags, int index)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ifinfomsg *ifi;

    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    return nlh;
}

static int link_index(const char *name)
{
    unsigned index = if_nametoindex(name);

    return index ? (int)index : -ENODEV;
}

/* Looks for the link called name and takes its kind ("" when it has none). */
typedef struct KindQuery {
    const char *name;
    char kind[32];
    bool found;
} KindQuery;

static int kind_of(const NetlinkLink *link, void *userdata)
{
    KindQuery *q = userdata;

    if (!streq(link->name, q->name))
        return 0;
    (void)snprintf(q->kind, sizeof(q->kind), "%s", link->kind);
    q->found = true;
    return 0;
}

int netlink_bridge_create(const char *name)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_message(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
    struct nlattr *info;
    KindQuery q = {.name = name};
    int r;

    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(nlh, info);
    r = request(nlh, NULL, NULL);
    if (r != -EEXIST)
        return r < 0 ? r : 1;
    r = netlink_links_foreach(kind_of, &q);
    if (r < 0)
        return r;
    return q.found && streq(q.kind, "bridge") ? 0 : -EEXIST;
}

int netlink_link_up(const char *name, const char *master)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    int index = link_index(name), master_index = master ? link_index(master) : 0;
    struct nlmsghdr *nlh;
    struct ifinfomsg *ifi;

    if (index < 0)
        return index;
    if (master_index < 0)
        return master_index;
    nlh = link_message(buf, RTM_NEWLINK, 0, index);
    ifi = mnl_nlmsg_get_payload(nlh);
    ifi->ifi_change = IFF_UP;
    ifi->ifi_flags = IFF_UP;
    if (master)
        mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master_index);
    return request(nlh, NULL, NULL);
}

int netlink_address_set(const char *name, uint32_t addr, unsigned prefix)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    int index = link_index(name);
    uint32_t mask = prefix ? ~UINT32_C(0) << (32 - prefix) : 0;
    struct ifaddrmsg *ifa;

    if (index < 0)
        return index;
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
    ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = (unsigned)index;
    mnl_attr_put_u32(nlh, IFA_LOCAL, htonl(addr));
    mnl_attr_put_u32(nlh, IFA_ADDRESS, htonl(addr));
    mnl_attr_put_u32(nlh, IFA_BROADCAST, htonl((addr & mask) | ~mask));
    return request(nlh, NULL, NULL);
}

int netlink_link_delete(const char *name)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    int index = link_index(name);

    if (index < 0)
        return index;
    return request(link_message(buf, RTM_DELLINK, 0, index), NULL, NULL);
}

typedef struct Dump {
    int (*cb)(const NetlinkLink *link, void *userdata);
    void *userdata;
    int result;
} Dump;

static int link_attr(const struct nlattr *attr, void *data)
{
    const struct nlattr **tb = data;
    int type = mnl_attr_get_type(attr);

    if (mnl_attr_type_valid(attr, IFLA_MAX) > 0)
        tb[type] = attr;
    return MNL_CB_OK;
}

static int info_attr(const struct nlattr *attr, void *data)
{
    const struct nlattr **tb = data;
    int type = mnl_attr_get_type(attr);

    if (mnl_attr_type_valid(attr, IFLA_INFO_MAX) > 0)
        tb[type] = attr;
    return MNL_CB_OK;
}

static int on_link(const struct nlmsghdr *nlh, void *data)
{
    const struct nlattr *tb[IFLA_MAX + 1] = {}, *info[IFLA_INFO_MAX + 1] = {};
    char master[IF_NAMESIZE] = "";
    Dump *d = data;
    NetlinkLink link = {.kind = "", .master = master};

    if (d->result < 0)
        return MNL_CB_OK;
    (void)mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_attr, tb);
    if (!tb[IFLA_IFNAME])
        return MNL_CB_OK;
    link.name = mnl_attr_get_str(tb[IFLA_IFNAME]);
    if (tb[IFLA_LINKINFO]) {
        (void)mnl_attr_parse_nested(tb[IFLA_LINKINFO], info_attr, info);
        if (info[IFLA_INFO_KIND])
            link.kind = mnl_attr_get_str(info[IFLA_INFO_KIND]);
    }
    if (tb[IFLA_MASTER] && !if_indextoname(mnl_attr_get_u32(tb[IFLA_MASTER]), master))
        master[0] = 0;
    d->result = d->cb(&link, d->userdata);
    return MNL_CB_OK;
}

int netlink_links_foreach(int (*cb)(const NetlinkLink *link, void *userdata), void *userdata)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct rtgenmsg *rt;
    Dump d = {.cb = cb, .userdata = userdata};
    int r;

    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_DUMP;
    rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
    rt->rtgen_family = AF_PACKET;
    r = request(nlh, on_link, &d);
    return r < 0 ? r : d.result;
}
