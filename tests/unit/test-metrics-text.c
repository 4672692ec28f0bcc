/* Unit tests: the /metrics text buffer writes numbers as printf would (integers, seconds from
 * nanoseconds and milliseconds, ratios), grows past its first block, and appends buffers. */
#include <inttypes.h>

#include "metrics-text.h"
#include "test.h"

/* metrics_text_scaled(v, decimals) against printf's %.Nf of v / 10^N. */
static void check_scaled(int64_t v, unsigned decimals, const char *expected)
{
    MetricsText t = {};

    metrics_text_scaled(&t, v, decimals);
    CHECK_STREQ(t.data, expected);
    metrics_text_done(&t);
}

int main(void)
{
    MetricsText t = {}, all = {};
    char expected[64];

    metrics_text_u64(&t, 0);
    metrics_text_str(&t, " ");
    metrics_text_u64(&t, UINT64_MAX);
    metrics_text_str(&t, " ");
    metrics_text_i64(&t, INT64_MIN);
    metrics_text_str(&t, " ");
    metrics_text_i64(&t, -42);
    (void)snprintf(expected, sizeof(expected), "0 %" PRIu64 " %" PRId64 " -42", UINT64_MAX,
                   INT64_MIN);
    CHECK_STREQ(t.data, expected);
    CHECK(t.len == strlen(expected));
    metrics_text_done(&t);
    CHECK(!t.data && t.len == 0);

    check_scaled(123456789012, 9, "123.456789012");
    check_scaled(5, 9, "0.000000005");
    check_scaled(0, 9, "0.000000000");
    check_scaled(1234, 3, "1.234");
    check_scaled(150, 2, "1.50");
    check_scaled(0, 2, "0.00");
    check_scaled(-1500, 3, "-1.500");
    check_scaled(7, 0, "7");

    metrics_text_double(&t, 1048576.0 * 2048);
    CHECK_STREQ(t.data, "2147483648");
    metrics_text_done(&t);
    metrics_text_double(&t, 1.5);
    CHECK_STREQ(t.data, "1.5");
    metrics_text_done(&t);

    /* Past the first 4 KiB block, and appended to another buffer whole. */
    for (unsigned i = 0; i < 10000; i++)
        metrics_text_str(&t, "hvd_domain_vcpus{domain=\"x\"} 1\n");
    CHECK(!t.failed && t.len == 10000 * 31 && strlen(t.data) == t.len);
    metrics_text_str(&all, "# TYPE\n");
    metrics_text_append(&all, &t);
    CHECK(all.len == 7 + t.len && memcmp(all.data + 7, t.data, t.len) == 0);
    metrics_text_done(&t);
    metrics_text_done(&all);

    return test_summary("test-metrics-text");
}
