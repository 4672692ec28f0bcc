/* The "since" of an event log query: an event id, or a time (absolute or ago). */
#pragma once

#include <stdint.h>

typedef struct Since {
    int64_t after_id; /* events with a larger id (0: any) */
    uint64_t time_us; /* events at or after this time (0: any) */
} Since;

/* Parses s as one of: an event id ("1234": the events after it), a Unix time in seconds
 * ("@1767225600"), a UTC time ("2026-12-01T10:00:00Z"), or a time ago ("-90s", "-15m", "-2h",
 * "-7d", counted back from now_us); the other field of *ret is 0. Returns 0 or -EINVAL. */
int since_parse(const char *s, uint64_t now_us, Since *ret);
