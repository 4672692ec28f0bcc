/* Parsing the "since" of an event log query (hvctl events --since, GET /api/v1/events/log). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "parse-util.h"
#include "since.h"
#include "time-util.h"

/* "YYYY-MM-DDTHH:MM:SSZ" as microseconds since the epoch. */
static int parse_utc(const char *s, uint64_t *ret)
{
    struct tm tm = {};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    time_t t;

    if (!end || !streq(end, "Z"))
        return -EINVAL;
    t = timegm(&tm);
    if (t < 0)
        return -EINVAL;
    *ret = (uint64_t)t * USEC_PER_SEC;
    return 0;
}

/* "-<n><s|m|h|d>": that long before now_us (not before the epoch). */
static int parse_ago(const char *s, uint64_t now_us, uint64_t *ret)
{
    static const struct {
        char unit;
        uint64_t us;
    } units[] = {{'s', USEC_PER_SEC},
                 {'m', 60 * USEC_PER_SEC},
                 {'h', 3600 * USEC_PER_SEC},
                 {'d', 86400 * USEC_PER_SEC}};
    size_t len = strlen(s);
    char number[16];
    unsigned n;

    if (len < 3 || len - 2 >= sizeof(number))
        return -EINVAL;
    memcpy(number, s + 1, len - 2);
    number[len - 2] = 0;
    if (parse_uint(number, 0, 100000, &n) < 0)
        return -EINVAL;
    for (size_t i = 0; i < ELEMENTSOF(units); i++)
        if (s[len - 1] == units[i].unit) {
            uint64_t back = n * units[i].us;
            *ret = back < now_us ? now_us - back : 1;
            return 0;
        }
    return -EINVAL;
}

int since_parse(const char *s, uint64_t now_us, Since *ret)
{
    uint64_t v;

    *ret = (Since){};
    if (!s || !*s)
        return -EINVAL;
    if (s[0] == '@') {
        if (parse_uint64(s + 1, 0, UINT64_MAX / USEC_PER_SEC, &v) < 0)
            return -EINVAL;
        ret->time_us = MAX(v * USEC_PER_SEC, UINT64_C(1));
        return 0;
    }
    if (s[0] == '-')
        return parse_ago(s, now_us, &ret->time_us);
    if (strchr(s, 'T'))
        return parse_utc(s, &ret->time_us);
    if (parse_uint64(s, 0, INT64_MAX, &v) < 0)
        return -EINVAL;
    ret->after_id = (int64_t)v;
    return 0;
}
