/* A growable text buffer for the Prometheus exposition: appends strings and numbers without
 * printf, so /metrics with thousands of domains costs little more than the bytes it writes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct MetricsText {
    char *data; /* NUL-terminated while not failed; owned */
    size_t len, size;
    bool failed; /* an allocation failed: the text is incomplete */
} MetricsText;

/* Appends n bytes of s. On allocation failure marks t failed and appends nothing more. */
void metrics_text_add(MetricsText *t, const char *s, size_t n);

/* Appends the NUL-terminated s. */
void metrics_text_str(MetricsText *t, const char *s);

/* Appends v in decimal. */
void metrics_text_u64(MetricsText *t, uint64_t v);
void metrics_text_i64(MetricsText *t, int64_t v);

/* Appends v / 10^decimals with exactly that many decimals (1234, 3 → "1.234"); the way
 * nanoseconds become seconds without a float. */
void metrics_text_scaled(MetricsText *t, int64_t v, unsigned decimals);

/* Appends a double as printf's %.17g does (for the few host gauges). */
void metrics_text_double(MetricsText *t, double v);

/* Appends the text of src (it stays src's). */
void metrics_text_append(MetricsText *t, const MetricsText *src);

/* Frees t's data and empties it. */
void metrics_text_done(MetricsText *t);
