/* Matching a request path against a route pattern such as "/api/v1/domains/{name}/stats". */
#pragma once

#include <stdbool.h>

#include "domain-types.h"

/* Matches url against pattern. "{name}" and any other "{...}" match one non-empty path
 * segment of at most DOMAIN_NAME_MAX bytes; on success name receives the {name} segment and
 * arg the other one (both buffers DOMAIN_NAME_MAX + 1 bytes). */
bool http_route_match(const char *pattern, const char *url, char *name, char *arg);
