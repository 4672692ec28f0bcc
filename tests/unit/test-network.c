/* Unit tests of the network model: names, subnets (bad ones refused with the reason), overlaps,
 * the host's and the leased address ranges. */
#include "network.h"
#include "test.h"

static void test_names(void)
{
    CHECK(network_name_is_valid("lan"));
    CHECK(network_name_is_valid("a.b_c-9"));
    CHECK(!network_name_is_valid(""));
    CHECK(!network_name_is_valid("."));
    CHECK(!network_name_is_valid(".."));
    CHECK(!network_name_is_valid("has space"));
    CHECK(!network_name_is_valid("slash/name"));
    CHECK(!network_name_is_valid("0123456789012345678901234567890123456789012345678901234567890"
                                 "12345"));
}

static void check_refused(const char *cidr, const char *reason)
{
    Error e = ERROR_NULL;
    uint32_t subnet;
    unsigned prefix;

    CHECK(network_parse_subnet(cidr, &subnet, &prefix, &e) == -EINVAL);
    CHECK(e.kind == ERROR_INVALID_ARGUMENT);
    if (!strstr(e.message, reason))
        fprintf(stderr, "%s: \"%s\" does not say \"%s\"\n", cidr, e.message, reason);
    CHECK(strstr(e.message, reason) != NULL);
}

static void test_subnets(void)
{
    Error e = ERROR_NULL;
    uint32_t subnet = 0;
    unsigned prefix = 0;
    char text[16];

    CHECK(network_parse_subnet("10.20.0.0/16", &subnet, &prefix, &e) == 0);
    CHECK(subnet == 0x0a140000 && prefix == 16);
    CHECK(network_parse_subnet("192.168.7.248/30", &subnet, &prefix, &e) == 0);
    network_format_ipv4(subnet, text);
    CHECK_STREQ(text, "192.168.7.248");

    check_refused("10.0.0.0", "A.B.C.D/N");
    check_refused("10.0.0/24", "A.B.C.D/N");
    check_refused("10.0.0.256/24", "A.B.C.D/N");
    check_refused("10.0.0.0/", "A.B.C.D/N");
    check_refused("10.0.0.0/x", "A.B.C.D/N");
    check_refused(" 10.0.0.0/24", "A.B.C.D/N");
    check_refused("10.0.0.0/31", "too small");
    check_refused("10.0.0.0/32", "too small");
    check_refused("10.0.0.0/7", "prefix must be /8 to /30");
    check_refused("10.0.0.0/33", "prefix must be /8 to /30");
    check_refused("10.0.0.5/24", "the network is 10.0.0.0/24");
    check_refused("127.0.0.0/24", "loopback");
    check_refused("169.254.1.0/24", "link-local");
    check_refused("224.0.0.0/24", "multicast");
}

static void test_ranges(void)
{
    Network n = {.subnet = 0x0a000000, .prefix = 24};

    CHECK(network_subnets_overlap(0x0a000000, 24, 0x0a000080, 25));
    CHECK(network_subnets_overlap(0x0a000000, 8, 0x0aff0000, 16));
    CHECK(!network_subnets_overlap(0x0a000000, 24, 0x0a000100, 24));
    CHECK(network_host_address(&n) == 0x0a000001);
    CHECK(network_last_address(&n) == 0x0a0000fe);
    CHECK(network_lease_last(&n) == 0x0a0000fe);
    n.dhcp = true; /* the upper half is dnsmasq's */
    CHECK(network_lease_last(&n) == 0x0a00007f);
    n = (Network){.subnet = 0x0a000000, .prefix = 30};
    CHECK(network_host_address(&n) + 1 == network_lease_last(&n));
}

int main(void)
{
    test_names();
    test_subnets();
    test_ranges();
    return test_summary("test-network");
}
