/* Strict number and boolean parsing. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

#include "macro.h"
#include "parse-util.h"

int parse_uint64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    char *end;
    unsigned long long v;

    if (!s || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != 0)
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
    uint64_t v;
    int r = parse_uint64(s, min, max, &v);

    if (r < 0)
        return r;
    *ret = (unsigned)v;
    return 0;
}

int parse_double(const char *s, double min, double max, double *ret)
{
    char *end;
    double v;

    if (!s || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
        return -EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (*end != 0 || !isfinite(v))
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

int parse_boolean(const char *s)
{
    static const char *const yes[] = {"1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};

    for (size_t i = 0; i < ELEMENTSOF(yes); i++)
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
    for (size_t i = 0; i < ELEMENTSOF(no); i++)
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    return -EINVAL;
}
