/* Where the HTTP API listens: parsing "127.0.0.1:8780,[::1]:8780,unix:/run/hvd/http.sock" and
 * opening the sockets. */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

#include "error.h"

typedef enum HttpListenType {
    HTTP_LISTEN_INET,
    HTTP_LISTEN_UNIX,
} HttpListenType;

typedef struct HttpListen {
    HttpListenType type;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char *text; /* as written, for messages */
} HttpListen;

/* Parses a comma-separated list of HOST:PORT (IPv4), [ADDR]:PORT (IPv6) and unix:PATH entries;
 * "none" gives an empty list. Port 0 picks a free port. e names the bad entry. */
int http_listen_parse(const char *spec, HttpListen **ret, size_t *n_ret, Error *e);

/* Frees a list from http_listen_parse (the array is NULL-text terminated). */
void http_listen_free(HttpListen *list);
static inline void http_listen_free_array(HttpListen **list)
{
    http_listen_free(*list);
}

/* Opens a listening socket (close-on-exec, non-blocking) for l; a unix socket path is replaced
 * and made 0666 (the API authenticates mutations itself). Returns the fd or a negative errno. */
int http_listen_open(const HttpListen *l);

/* Formats the address a listening socket is bound to as a URL base ("http://127.0.0.1:8780",
 * "http://[::1]:8780" or "unix:/path"). Returns 0 or a negative errno. */
int http_listen_url(int fd, const char *scheme, char *buf, size_t n);
