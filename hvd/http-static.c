/* The web dashboard's static files (from the configured web directory) and the OpenAPI
 * document (embedded at build time from docs/openapi.json). */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "http-internal.h"
#include "openapi-document.h"

static const struct {
    const char *extension, *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.');

    for (size_t i = 0; dot && i < ELEMENTSOF(content_types); i++)
        if (streq(dot, content_types[i].extension))
            return content_types[i].type;
    return "application/octet-stream";
}

/* Accepts only plain relative paths: no "..", no hidden files, no doubled slashes. */
static bool path_is_safe(const char *p)
{
    if (*p != '/' || strstr(p, "//"))
        return false;
    for (const char *c = p; *c; c++)
        if (c[0] == '/' && c[1] == '.')
            return false;
    return strspn(p, "/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-@") ==
           strlen(p);
}

enum MHD_Result http_static_serve(HttpRequest *r, const char *path)
{
    _cleanup_free_ char *file = NULL;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    struct stat st;
    int fd;

    if (streq(path, "/"))
        path = "/index.html";
    if (!path_is_safe(path))
        return http_reply_problem(r, MHD_HTTP_NOT_FOUND, "no such resource: %.200s", r->url);
    if (asprintf(&file, "%s%s", r->http->web_dir, path) < 0)
        return MHD_NO;
    fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            (void)close(fd);
        if (streq(path, "/index.html"))
            return http_reply_problem(r, MHD_HTTP_NOT_FOUND,
                                      "the web dashboard is not installed in %s (build it with "
                                      "meson, or set [http] web-dir)",
                                      r->http->web_dir);
        return http_reply_problem(r, MHD_HTTP_NOT_FOUND, "no such resource: %.200s", r->url);
    }
    resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!resp) {
        (void)close(fd);
        return MHD_NO;
    }
    (void)MHD_add_response_header(resp, "Content-Type", content_type(path));
    (void)MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    (void)MHD_add_response_header(resp, "Content-Security-Policy",
                                  "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                  "img-src 'self' data:; connect-src 'self'; frame-ancestors "
                                  "'none'");
    (void)MHD_add_response_header(resp, "Cache-Control", "no-cache");
    ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result http_openapi_serve(HttpRequest *r)
{
    return http_reply_text(r, MHD_HTTP_OK, "application/json", openapi_document,
                           strlen(openapi_document));
}
