/* The result line both load tools (dbus-bench, http-bench) print: one JSON object. */
#pragma once

#include <jansson.h>
#include <stdint.h>

/* Sorts latency_us (count entries, one per operation) and prints on stdout, as one JSON line,
 * extra's fields followed by count, window, seconds, ops_per_s, median_us, p99_us, min_us,
 * errors and first_error. Takes over extra (which may be NULL). */
void bench_result_print(json_t *extra, unsigned count, unsigned window, uint64_t elapsed_us,
                        uint64_t *latency_us, unsigned errors, const char *first_error);
