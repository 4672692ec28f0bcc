/* httpd: an HTTP/1.1 server. GET / answers a small page, GET /bytes/N a generated body of N
 * bytes (byte i is 'a' + i % 26, so a client can check it); keep-alive unless the client says
 * "Connection: close". Answers ping. Command line: ip=A.B.C.D/N (required), port=P (default 80).
 * Runs until the host asks for a shutdown. */
#include "minihv-guest.h"

#define REQUEST_MAX 2048u
#define BODY_MAX    (1ull << 40)

typedef struct Client {
    bool used;
    char req[REQUEST_MAX];
    size_t req_len;
    uint64_t body_left; /* bytes of the generated body still to queue */
    uint64_t body_sent;
    const char *text; /* a fixed body still to queue */
    size_t text_left;
    bool close_after;
} Client;

static Client clients[TCP_MAX_CONNS];
static unsigned long long served;

static const char index_page[] =
    "<!DOCTYPE html>\n<html><head><title>minihv httpd</title></head>\n"
    "<body><h1>Hello from minihv httpd</h1>\n"
    "<p>Try <a href=\"/bytes/1024\">/bytes/N</a> for a generated body of N bytes.</p>\n"
    "</body></html>\n";

static void client_pump(TcpConn *c)
{
    Client *cl = tcp_user(c);
    char chunk[1460];

    while (cl->text_left) {
        size_t n = tcp_send(c, cl->text, cl->text_left);
        if (n == 0)
            return;
        cl->text += n;
        cl->text_left -= n;
    }
    while (cl->body_left) {
        size_t n = tcp_send_space(c), k;
        if (n > sizeof(chunk))
            n = sizeof(chunk);
        if (n > cl->body_left)
            n = (size_t)cl->body_left;
        if (n == 0)
            return;
        for (k = 0; k < n; k++)
            chunk[k] = (char)('a' + (cl->body_sent + k) % 26);
        (void)tcp_send(c, chunk, n);
        cl->body_left -= n;
        cl->body_sent += n;
    }
    if (cl->close_after)
        tcp_close(c);
}

static bool header_says_close(const char *req)
{
    for (const char *p = req; (p = strchr(p, '\n')) != NULL;) {
        p++;
        if (strncmp(p, "Connection:", 11) == 0 || strncmp(p, "connection:", 11) == 0) {
            const char *v = p + 11;
            while (*v == ' ')
                v++;
            return strncmp(v, "close", 5) == 0 || strncmp(v, "Close", 5) == 0;
        }
    }
    return false;
}

/* HTTP/1.0 closes after each answer unless asked otherwise; this server simply closes. */
static bool is_http10(const char *req)
{
    const char *eol = strchr(req, '\r'), *v = strstr(req, " HTTP/1.0");

    return v && (!eol || v < eol);
}

/* Answers one complete request held in cl->req (NUL-terminated at the blank line). */
static void respond(TcpConn *c, Client *cl)
{
    static char head[256];
    const char *status = "200 OK", *type = "text/html";
    uint64_t length = 0;
    bool ok_method = strncmp(cl->req, "GET ", 4) == 0 || strncmp(cl->req, "HEAD ", 5) == 0;
    bool head_only = strncmp(cl->req, "HEAD ", 5) == 0;
    const char *path = strchr(cl->req, ' ');
    int n;

    cl->close_after = header_says_close(cl->req) || is_http10(cl->req);
    cl->text = NULL;
    cl->text_left = 0;
    cl->body_left = cl->body_sent = 0;
    path = path ? path + 1 : "";
    if (!ok_method) {
        status = "405 Method Not Allowed";
        type = "text/plain";
        cl->text = "only GET and HEAD\n";
    } else if (strncmp(path, "/ ", 2) == 0) {
        cl->text = index_page;
    } else if (strncmp(path, "/bytes/", 7) == 0 && path[7] >= '0' && path[7] <= '9') {
        char *end;
        uint64_t want = strtoull(path + 7, &end, 10);
        if (*end != ' ' || want > BODY_MAX) {
            status = "400 Bad Request";
            type = "text/plain";
            cl->text = "bad length\n";
        } else {
            type = "application/octet-stream";
            length = want;
            cl->body_left = head_only ? 0 : want;
        }
    } else {
        status = "404 Not Found";
        type = "text/plain";
        cl->text = "not found\n";
    }
    if (cl->text) {
        length = strlen(cl->text);
        cl->text_left = head_only ? 0 : (size_t)length;
    }
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %s\r\nServer: minihv-httpd\r\nContent-Type: %s\r\n"
                 "Content-Length: %llu\r\nConnection: %s\r\n\r\n",
                 status, type, (unsigned long long)length,
                 cl->close_after ? "close" : "keep-alive");
    (void)tcp_send(c, head, (size_t)n); /* the send buffer is empty between requests */
    served++;
    client_pump(c);
}

static void on_accepted(TcpConn *c)
{
    for (unsigned i = 0; i < TCP_MAX_CONNS; i++)
        if (!clients[i].used) {
            clients[i] = (Client){.used = true};
            tcp_set_user(c, &clients[i]);
            return;
        }
    tcp_close(c); /* cannot happen: there are as many clients as connections */
}

static void on_readable(TcpConn *c)
{
    Client *cl = tcp_user(c);
    char *end;

    if (!cl)
        return;
    cl->req_len += tcp_recv(c, cl->req + cl->req_len, REQUEST_MAX - 1 - cl->req_len);
    cl->req[cl->req_len] = '\0';
    /* one request at a time: the next is read once this answer is queued */
    while (!cl->body_left && !cl->text_left && (end = strstr(cl->req, "\r\n\r\n")) != NULL) {
        size_t used = (size_t)(end - cl->req) + 4;
        *end = '\0';
        respond(c, cl);
        memmove(cl->req, cl->req + used, cl->req_len - used + 1);
        cl->req_len -= used;
        if (cl->close_after)
            return;
    }
    if (cl->req_len == REQUEST_MAX - 1 || (tcp_peer_closed(c) && !cl->body_left))
        tcp_close(c);
}

static void on_writable(TcpConn *c)
{
    Client *cl = tcp_user(c);

    if (cl) {
        client_pump(c);
        if (!cl->body_left && !cl->text_left && !cl->close_after)
            on_readable(c); /* a pipelined request may wait */
    }
}

static void on_closed(TcpConn *c)
{
    Client *cl = tcp_user(c);

    if (cl)
        cl->used = false;
}

static const TcpHandlers handlers = {
    .accepted = on_accepted,
    .readable = on_readable,
    .writable = on_writable,
    .closed = on_closed,
};

int main(void)
{
    unsigned port = (unsigned)cmdline_u64("port", 80);
    char addr[16];
    int r;

    r = ip_init();
    if (r < 0) {
        printf("httpd: FAIL: %s\n", r == -SDK_ENODEV ? "no network device" : "no ip=A.B.C.D/N");
        return 1;
    }
    if (port == 0 || port > 65535 || tcp_listen(htons((uint16_t)port), &handlers) < 0) {
        printf("httpd: FAIL: bad port %u\n", port);
        return 1;
    }
    ip_format(ip_address(), addr);
    printf("httpd: listening on %s port %u (%s mode)\n", addr, port, sys_mode());
    while (!sys_shutdown_requested())
        ip_poll(100000000ull);
    printf("httpd: shutdown requested after %llu requests, powering off\n", served);
    return 0;
}
