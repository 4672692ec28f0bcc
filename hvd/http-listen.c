/* Parsing and opening of the HTTP API's listening sockets. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "http-listen.h"
#include "parse-util.h"

void http_listen_free(HttpListen *list)
{
    if (!list)
        return;
    for (HttpListen *l = list; l->text; l++)
        free(l->text);
    free(list);
}

static int parse_one(const char *item, HttpListen *l, Error *e)
{
    const char *port_text;
    char host[256];
    unsigned port;

    if (strneq(item, "unix:", 5)) {
        struct sockaddr_un *un = (struct sockaddr_un *)&l->addr;
        const char *path = item + 5;
        if (path[0] != '/' || strlen(path) >= sizeof(un->sun_path))
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "'%s': a unix socket needs an absolute path shorter than %zu bytes",
                              item, sizeof(un->sun_path));
        l->type = HTTP_LISTEN_UNIX;
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        l->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
        return 0;
    }

    l->type = HTTP_LISTEN_INET;
    if (item[0] == '[') {
        const char *close = strchr(item, ']');
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&l->addr;
        if (!close || close[1] != ':' || (size_t)(close - item - 1) >= sizeof(host))
            return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s': expected [ADDRESS]:PORT", item);
        memcpy(host, item + 1, (size_t)(close - item - 1));
        host[close - item - 1] = 0;
        port_text = close + 2;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s': '%s' is not an IPv6 address", item,
                              host);
        in6->sin6_family = AF_INET6;
        l->addr_len = sizeof(*in6);
    } else {
        const char *colon = strrchr(item, ':');
        struct sockaddr_in *in = (struct sockaddr_in *)&l->addr;
        if (!colon || (size_t)(colon - item) >= sizeof(host))
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "'%s': expected HOST:PORT, [ADDRESS]:PORT or unix:PATH", item);
        memcpy(host, item, (size_t)(colon - item));
        host[colon - item] = 0;
        port_text = colon + 1;
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "'%s': '%s' is not an IPv4 address (write IPv6 as [ADDRESS]:PORT)",
                              item, host);
        in->sin_family = AF_INET;
        l->addr_len = sizeof(*in);
    }
    if (parse_uint(port_text, 0, 65535, &port) < 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s': the port must be 0..65535", item);
    if (l->addr.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&l->addr)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&l->addr)->sin_port = htons((uint16_t)port);
    return 0;
}

int http_listen_parse(const char *spec, HttpListen **ret, size_t *n_ret, Error *e)
{
    _cleanup_free_ char *copy = strdup(spec);
    HttpListen *list;
    size_t n = 0, max = 1;
    char *save = NULL;

    if (!copy)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    for (const char *p = spec; *p; p++)
        max += *p == ',';
    list = calloc(max + 1, sizeof(HttpListen));
    if (!list)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        int r;
        while (*item == ' ')
            item++;
        if (streq(item, "none") && n == 0 && !strchr(spec, ','))
            break;
        r = parse_one(item, &list[n], e);
        if (r >= 0 && !(list[n].text = strdup(item)))
            r = error_set_errno(e, -ENOMEM, "Out of memory");
        if (r < 0) {
            http_listen_free(list);
            return r;
        }
        n++;
    }
    if (n == 0 && !streq(spec, "none")) {
        http_listen_free(list);
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "no address to listen on (write \"none\" to turn HTTP off)");
    }
    *ret = list;
    *n_ret = n;
    return 0;
}

int http_listen_open(const HttpListen *l)
{
    int fd, one = 1;

    fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (l->type == HTTP_LISTEN_UNIX)
        (void)unlink(((const struct sockaddr_un *)&l->addr)->sun_path);
    else
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l->addr.ss_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&l->addr, l->addr_len) < 0 || listen(fd, 512) < 0) {
        int r = -errno;
        (void)close(fd);
        return r;
    }
    if (l->type == HTTP_LISTEN_UNIX)
        (void)chmod(((const struct sockaddr_un *)&l->addr)->sun_path, 0666);
    return fd;
}

int http_listen_url(int fd, const char *scheme, char *buf, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    switch (ss.ss_family) {
    case AF_INET: {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        (void)inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        (void)snprintf(buf, n, "%s://%s:%u", scheme, host, ntohs(in->sin_port));
        return 0;
    }
    case AF_INET6: {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        (void)inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        (void)snprintf(buf, n, "%s://[%s]:%u", scheme, host, ntohs(in6->sin6_port));
        return 0;
    }
    case AF_UNIX:
        (void)snprintf(buf, n, "unix:%s", ((struct sockaddr_un *)&ss)->sun_path);
        return 0;
    default:
        return -EAFNOSUPPORT;
    }
}
