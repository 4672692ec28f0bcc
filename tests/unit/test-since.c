/* Unit tests: the "since" of event log queries — ids, Unix times, UTC times, times ago. */
#include "macro.h"
#include "since.h"
#include "test.h"
#include "time-util.h"

int main(void)
{
    const uint64_t now = UINT64_C(1796119876) * USEC_PER_SEC;
    Since s;

    CHECK(since_parse("42", now, &s) == 0 && s.after_id == 42 && s.time_us == 0);
    CHECK(since_parse("0", now, &s) == 0 && s.after_id == 0 && s.time_us == 0);
    CHECK(since_parse("@1767225600", now, &s) == 0 && s.after_id == 0 &&
          s.time_us == UINT64_C(1767225600) * USEC_PER_SEC);
    CHECK(since_parse("2026-01-01T00:00:00Z", now, &s) == 0 &&
          s.time_us == UINT64_C(1767225600) * USEC_PER_SEC);
    CHECK(since_parse("-90s", now, &s) == 0 && s.time_us == now - 90 * USEC_PER_SEC);
    CHECK(since_parse("-15m", now, &s) == 0 && s.time_us == now - 900 * USEC_PER_SEC);
    CHECK(since_parse("-2h", now, &s) == 0 && s.time_us == now - 7200 * USEC_PER_SEC);
    CHECK(since_parse("-7d", now, &s) == 0 && s.time_us == now - 7 * 86400 * USEC_PER_SEC);
    CHECK(since_parse("-100000d", now, &s) == 0 && s.time_us == 1); /* not before the epoch */

    const char *const bad[] = {"",
                               "x",
                               "-",
                               "-5",
                               "-5y",
                               "--5s",
                               "-s",
                               "12a",
                               "@",
                               "@x",
                               "2026-01-01T00:00:00",
                               "2026-01-01T00:00:00+01:00",
                               "-1e3s",
                               "99999999999999999999"};
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        CHECK(since_parse(bad[i], now, &s) == -EINVAL);
    CHECK(since_parse(NULL, now, &s) == -EINVAL);

    return test_summary("test-since");
}
