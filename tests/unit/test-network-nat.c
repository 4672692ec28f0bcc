/* Unit tests of NAT's nftables script: the table removed without a NAT network, and with one a
 * masquerade and the forward rules for each NAT subnet alone. */
#include <string.h>

#include "network-nat.h"
#include "test.h"

static Network net(const char *bridge, uint32_t subnet, unsigned prefix, bool nat)
{
    Network n = {.subnet = subnet, .prefix = prefix, .nat = nat};

    strcpy(n.bridge, bridge);
    return n;
}

static void test_without_nat(void)
{
    Network a = net("hvdbr0", 0x0a5b0000, 24, false);
    Network *list[] = {&a};
    char *text = network_nat_ruleset(list, 1);

    CHECK(!network_nat_wanted(list, 1));
    CHECK(text && streq(text, "add table ip hvd\ndelete table ip hvd\n"));
    free(text);
    text = network_nat_ruleset(NULL, 0);
    CHECK(text && streq(text, "add table ip hvd\ndelete table ip hvd\n"));
    free(text);
}

static void test_with_nat(void)
{
    Network a = net("hvdbr0", 0x0a5b0000, 24, true), b = net("hvdbr1", 0x0a5c0000, 16, false);
    Network *list[] = {&a, &b};
    char *text = network_nat_ruleset(list, 2);

    CHECK(network_nat_wanted(list, 2));
    CHECK(text != NULL);
    CHECK(strstr(text, "add table ip hvd\ndelete table ip hvd\ntable ip hvd {\n") == text);
    CHECK(strstr(text, "ip saddr 10.91.0.0/24 ip daddr != 10.91.0.0/24 oifname != \"hvdbr*\" "
                       "masquerade\n"));
    CHECK(strstr(text, "iifname \"hvdbr0\" ip saddr 10.91.0.0/24 oifname != \"hvdbr*\" accept\n"));
    CHECK(strstr(text, "oifname \"hvdbr0\" ip daddr 10.91.0.0/24 ct state established,related "
                       "accept\n"));
    CHECK(strstr(text, "iifname \"hvdbr*\" drop\n") && strstr(text, "oifname \"hvdbr*\" drop\n"));
    /* Bridged within a network (br_netfilter): every network's own bridge, NAT or not. */
    CHECK(strstr(text, "iifname \"hvdbr0\" oifname \"hvdbr0\" accept\n"));
    CHECK(strstr(text, "iifname \"hvdbr1\" oifname \"hvdbr1\" accept\n"));
    CHECK(!strstr(text, "10.92.0.0"));
    free(text);
}

int main(void)
{
    test_without_nat();
    test_with_nat();
    return test_summary("test-network-nat");
}
