/* libFuzzer target: the HTTP API's route matching on arbitrary request paths against every
 * pattern hvd serves, and the parsing of listen addresses. */
#include <stdint.h>
#include <string.h>

#include "http-listen.h"
#include "http-route.h"

static const char *const patterns[] = {
    "/api/v1/domains",
    "/api/v1/domains/{name}",
    "/api/v1/domains/{name}/actions/{action}",
    "/api/v1/domains/{name}/stats",
    "/api/v1/domains/{name}/console",
    "/api/v1/host",
    "/api/v1/events",
    "/metrics",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char name[DOMAIN_NAME_MAX + 1], arg[DOMAIN_NAME_MAX + 1];
    HttpListen *list = NULL;
    size_t n = 0;
    Error e = ERROR_NULL;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
        /* A pattern without {action} leaves arg as it was: empty, not last round's stack. */
        if ((name[0] = arg[0] = 0, http_route_match(patterns[i], text, name, arg)) &&
            (strlen(name) > DOMAIN_NAME_MAX || strlen(arg) > DOMAIN_NAME_MAX))
            __builtin_trap();
    if (http_listen_parse(text, &list, &n, &e) >= 0)
        http_listen_free(list);
    else if (!e.message[0])
        __builtin_trap();
    free(text);
    return 0;
}
