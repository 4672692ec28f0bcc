/* CPU list parsing and formatting. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cpuset.h"
#include "parse-util.h"

void cpuset_add(CpuSet *s, unsigned cpu)
{
    if (cpu < CPUSET_MAX_CPUS)
        s->bits[cpu / 64] |= UINT64_C(1) << (cpu % 64);
}

bool cpuset_has(const CpuSet *s, unsigned cpu)
{
    return cpu < CPUSET_MAX_CPUS && (s->bits[cpu / 64] >> (cpu % 64)) & 1;
}

unsigned cpuset_count(const CpuSet *s)
{
    unsigned n = 0;
    for (size_t i = 0; i < CPUSET_MAX_CPUS / 64; i++)
        n += (unsigned)__builtin_popcountll(s->bits[i]);
    return n;
}

bool cpuset_is_empty(const CpuSet *s)
{
    return cpuset_count(s) == 0;
}

int cpuset_last(const CpuSet *s)
{
    for (int i = CPUSET_MAX_CPUS - 1; i >= 0; i--)
        if (cpuset_has(s, (unsigned)i))
            return i;
    return -1;
}

bool cpuset_intersects(const CpuSet *a, const CpuSet *b)
{
    for (size_t i = 0; i < CPUSET_MAX_CPUS / 64; i++)
        if (a->bits[i] & b->bits[i])
            return true;
    return false;
}

static int parse_cpu(const char *s, size_t len, unsigned *ret)
{
    char buf[16];

    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = 0;
    if (parse_uint(buf, 0, CPUSET_MAX_CPUS - 1, ret) < 0)
        return -EINVAL;
    return 0;
}

int cpuset_parse(const char *s, CpuSet *ret)
{
    CpuSet set = {};

    while (*s) {
        size_t len = strcspn(s, ",");
        const char *dash = memchr(s, '-', len);
        unsigned lo, hi;

        if (dash) {
            if (parse_cpu(s, (size_t)(dash - s), &lo) < 0 ||
                parse_cpu(dash + 1, len - (size_t)(dash - s) - 1, &hi) < 0 || hi < lo)
                return -EINVAL;
        } else {
            if (parse_cpu(s, len, &lo) < 0)
                return -EINVAL;
            hi = lo;
        }
        for (unsigned c = lo; c <= hi; c++)
            cpuset_add(&set, c);
        s += len;
        if (*s == ',') {
            s++;
            if (*s == 0)
                return -EINVAL;
        }
    }
    *ret = set;
    return 0;
}

int cpuset_format(const CpuSet *s, char *buf, size_t n)
{
    size_t used = 0;

    if (n == 0)
        return -ENOBUFS;
    buf[0] = 0;
    for (unsigned c = 0; c < CPUSET_MAX_CPUS; c++) {
        unsigned end = c;
        int k;

        if (!cpuset_has(s, c))
            continue;
        while (end + 1 < CPUSET_MAX_CPUS && cpuset_has(s, end + 1))
            end++;
        if (end == c)
            k = snprintf(buf + used, n - used, "%s%u", used ? "," : "", c);
        else
            k = snprintf(buf + used, n - used, "%s%u-%u", used ? "," : "", c, end);
        if (k < 0 || (size_t)k >= n - used)
            return -ENOBUFS;
        used += (size_t)k;
        c = end;
    }
    return 0;
}
