/* The HTTP API's bearer token: created once in the state directory (mode 0600), required for
 * every mutation and for reads from beyond loopback; a missing or wrong one is a 401 (RFC 6750). */
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "http-internal.h"

static int token_create(const char *path, char out[HTTP_TOKEN_LENGTH + 1])
{
    unsigned char raw[HTTP_TOKEN_LENGTH / 2];
    _cleanup_close_ int fd = -EBADF;

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -EIO;
    for (size_t i = 0; i < sizeof(raw); i++)
        (void)snprintf(out + 2 * i, 3, "%02x", raw[i]);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    if (write(fd, out, HTTP_TOKEN_LENGTH) != HTTP_TOKEN_LENGTH || write(fd, "\n", 1) != 1)
        return -EIO;
    return fsync(fd) < 0 ? -errno : 0;
}

int http_token_load(Http *h, const char *state_dir, Error *e)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int fd = -EBADF;
    char buf[HTTP_TOKEN_LENGTH + 2];
    struct stat st;
    ssize_t n;
    int r;

    if (asprintf(&path, "%s/http-token", state_dir) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        r = token_create(path, h->token);
        if (r < 0)
            return error_set_errno(e, r, "Failed to create the API token %s: %m", path);
        return 0;
    }
    if (fd < 0)
        return error_set_errno(e, -errno, "Failed to read the API token %s: %m", path);
    if (fstat(fd, &st) < 0 || (st.st_mode & 077))
        return error_setf(e, ERROR_FAILED,
                          "the API token %s is readable by others (mode %03o); it must be 0600",
                          path, (unsigned)(st.st_mode & 0777));
    n = read(fd, buf, sizeof(buf));
    if (n < HTTP_TOKEN_LENGTH || strspn(buf, "0123456789abcdef") < HTTP_TOKEN_LENGTH)
        return error_setf(e, ERROR_FAILED,
                          "the API token %s is damaged: delete it and hvd makes a new one", path);
    memcpy(h->token, buf, HTTP_TOKEN_LENGTH);
    h->token[HTTP_TOKEN_LENGTH] = 0;
    return 0;
}

/* Compares in time independent of where the strings differ. */
static bool token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;

    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(i < la ? a[i] : 0) ^ (unsigned char)b[i];
    return diff == 0;
}

/* Answers 401 for a missing token (RFC 6750: "Bearer") or a wrong one ("invalid_token"). */
static bool refuse(HttpRequest *r, bool wrong, const char *needs, enum MHD_Result *ret)
{
    if (wrong)
        *ret = http_reply_problem_header(r, MHD_HTTP_UNAUTHORIZED, "WWW-Authenticate",
                                         "Bearer error=\"invalid_token\"",
                                         "the bearer token is not valid (the token is in hvd's "
                                         "state directory, file http-token)");
    else
        *ret = http_reply_problem_header(r, MHD_HTTP_UNAUTHORIZED, "WWW-Authenticate", "Bearer",
                                         "%s (the token is in hvd's state directory, file "
                                         "http-token)",
                                         needs);
    return false;
}

bool http_authorize_token(HttpRequest *r, enum MHD_Result *ret)
{
    const char *auth = http_header(r, "Authorization");
    const char *token = auth && strneq(auth, "Bearer ", 7) ? auth + 7 : NULL;

    if (!token && !auth)
        token = http_query(r, "access_token");
    if (token && token_equal(token, r->http->token))
        return true;
    return refuse(r, token,
                  "the VNC display needs the token, as 'Authorization: Bearer TOKEN' "
                  "or '?access_token=TOKEN' (a browser's WebSocket sends no headers)",
                  ret);
}

bool http_authorize(HttpRequest *r, bool mutate, enum MHD_Result *ret)
{
    const char *auth = http_header(r, "Authorization");
    const char *token = auth && strneq(auth, "Bearer ", 7) ? auth + 7 : NULL;

    if (!mutate && r->local)
        return true;
    /* A browser's EventSource cannot send headers: reads may carry the token in the query
     * (RFC 6750 section 2.3). Changes take it only from the header. */
    if (!token && !auth && !mutate)
        token = http_query(r, "access_token");
    if (token) {
        if (token_equal(token, r->http->token))
            return true;
        /* RFC 6750 section 3.1: a token that does not match is "invalid_token", with 401. */
        *ret = http_reply_problem_header(r, MHD_HTTP_UNAUTHORIZED, "WWW-Authenticate",
                                         "Bearer error=\"invalid_token\"",
                                         "the bearer token is not valid (the token is in hvd's "
                                         "state directory, file http-token)");
        return false;
    }
    *ret = http_reply_problem_header(r, MHD_HTTP_UNAUTHORIZED, "WWW-Authenticate", "Bearer",
                                     "%s needs 'Authorization: Bearer TOKEN' (the token is in "
                                     "hvd's state directory, file http-token)",
                                     mutate ? "changing anything" : "reading from beyond loopback");
    return false;
}
