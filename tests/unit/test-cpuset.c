/* Unit tests: CPU list parsing and canonical formatting. */
#include "cpuset.h"
#include "test.h"

static void check_round_trip(const char *in, const char *canonical)
{
    CpuSet s;
    char buf[256];

    CHECK(cpuset_parse(in, &s) == 0);
    CHECK(cpuset_format(&s, buf, sizeof(buf)) == 0);
    CHECK_STREQ(buf, canonical);
}

int main(void)
{
    CpuSet s, t;
    char tiny[3];

    check_round_trip("0", "0");
    check_round_trip("0-3", "0-3");
    check_round_trip("3,1,2,0", "0-3");
    check_round_trip("0-1,4,6-7", "0-1,4,6-7");
    check_round_trip("5,5,5", "5");
    check_round_trip("", "");
    check_round_trip("1023", "1023");

    CHECK(cpuset_parse("3-1", &s) < 0);
    CHECK(cpuset_parse("a", &s) < 0);
    CHECK(cpuset_parse("1,", &s) < 0);
    CHECK(cpuset_parse(",1", &s) < 0);
    CHECK(cpuset_parse("1-", &s) < 0);
    CHECK(cpuset_parse("-1", &s) < 0);
    CHECK(cpuset_parse("1024", &s) < 0);
    CHECK(cpuset_parse("99999999999999999999", &s) < 0);
    CHECK(cpuset_parse(" 1", &s) < 0);

    CHECK(cpuset_parse("0-3,8", &s) == 0);
    CHECK(cpuset_count(&s) == 5);
    CHECK(cpuset_has(&s, 8) && !cpuset_has(&s, 4));
    CHECK(cpuset_last(&s) == 8);
    CHECK(cpuset_parse("4-7", &t) == 0);
    CHECK(!cpuset_intersects(&s, &t));
    CHECK(cpuset_parse("3", &t) == 0);
    CHECK(cpuset_intersects(&s, &t));
    CHECK(cpuset_format(&s, tiny, sizeof(tiny)) == -ENOBUFS);
    return test_summary("test-cpuset");
}
