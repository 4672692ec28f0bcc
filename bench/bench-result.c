/* The result line both load tools print: latencies summarised as one JSON object. */
#include <stdio.h>
#include <stdlib.h>

#include "bench-result.h"

static int compare_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

void bench_result_print(json_t *extra, unsigned count, unsigned window, uint64_t elapsed_us,
                        uint64_t *latency_us, unsigned errors, const char *first_error)
{
    json_t *out = extra ? extra : json_object();
    char *text;

    qsort(latency_us, count, sizeof(uint64_t), compare_u64);
    (void)json_object_update_new(
        out,
        json_pack("{s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:s}", "count", (json_int_t)count,
                  "window", (json_int_t)window, "seconds", (double)elapsed_us / 1e6, "ops_per_s",
                  count * 1e6 / (double)elapsed_us, "median_us", (double)latency_us[count / 2],
                  "p99_us", (double)latency_us[count * 99 / 100], "min_us", (double)latency_us[0],
                  "errors", (json_int_t)errors, "first_error", first_error));
    text = json_dumps(out, JSON_PRESERVE_ORDER);
    if (text)
        puts(text);
    free(text);
    json_decref(out);
}
