/* Route pattern matching for the HTTP API. */
#include <string.h>

#include "http-route.h"

bool http_route_match(const char *pattern, const char *url, char *name, char *arg)
{
    while (*pattern && *url) {
        if (*pattern == '{') {
            const char *end = strchr(pattern, '}');
            size_t len = strcspn(url, "/");
            char *dst = strneq(pattern, "{name}", 6) ? name : arg;
            if (!end || len == 0 || len > DOMAIN_NAME_MAX)
                return false;
            memcpy(dst, url, len);
            dst[len] = 0;
            pattern = end + 1;
            url += len;
            continue;
        }
        if (*pattern++ != *url++)
            return false;
    }
    return *pattern == 0 && *url == 0;
}
