/* hvctl vnc: where a kvm domain's graphical console is (the dashboard's Display, hvd's
 * WebSocket), and with --listen a TCP port on loopback for desktop VNC viewers, each
 * connection relayed to that WebSocket (as `virsh domdisplay` plus an SSH tunnel would give). */
#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "hvctl.h"
#include "parse-util.h"
#include "websocket.h"

#define DEFAULT_URL_FILE   "/run/hvd/http-url"
#define DEFAULT_TOKEN_FILE "/var/lib/hvd/http-token"
#define VNC_CHUNK          (16u * 1024)
#define VNC_MAX_FRAME      (1024u * 1024) /* a frame from hvd: hvd sends 16 KiB at most */
#define ANSWER_MAX         (16u * 1024)
#define ANSWER_TIMEOUT_MS  10000

enum {
    OPT_JSON = 0x100,
    OPT_LISTEN,
};

static volatile sig_atomic_t vnc_interrupted;

static void on_interrupt(int sig)
{
    vnc_interrupted = 1;
}

/* hvd's HTTP URL: --url (or $HVD_URL), else the first line hvd wrote to its runtime directory. */
static int http_url(char **ret, Error *e)
{
    _cleanup_fclose_ FILE *f = NULL;
    char line[512];

    if (arg.url) {
        *ret = strdup(arg.url);
        return *ret ? 0 : error_set_errno(e, -ENOMEM, "Out of memory");
    }
    f = fopen(DEFAULT_URL_FILE, "re");
    if (!f || !fgets(line, sizeof(line), f))
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "hvd's HTTP address is not known (%s cannot be read): pass --url",
                          DEFAULT_URL_FILE);
    line[strcspn(line, "\r\n")] = 0;
    *ret = strdup(line);
    return *ret ? 0 : error_set_errno(e, -ENOMEM, "Out of memory");
}

static int read_token(char out[128], Error *e)
{
    const char *path = arg.token_file ?: getenv("HVD_TOKEN_FILE") ?: DEFAULT_TOKEN_FILE;
    _cleanup_fclose_ FILE *f = fopen(path, "re");

    if (!f || !fgets(out, 128, f))
        return error_setf(e, ERROR_ACCESS_DENIED,
                          "the VNC display needs hvd's API token, and %s cannot be read (use "
                          "--token-file)",
                          path);
    out[strcspn(out, "\r\n")] = 0;
    return 0;
}

/* Connects to hvd at url: http://HOST[:PORT] or unix:PATH (TLS is curl's, which speaks no
 * WebSocket here). *ret_host is the Host header's value. */
static int connect_hvd(const char *url, char host[256], Error *e)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    char port[16] = "80";
    const char *p;
    size_t len;
    int fd;

    if (strneq(url, "unix:", 5)) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(url + 5) >= sizeof(sa.sun_path))
            return error_setf(e, ERROR_INVALID_ARGUMENT, "the unix socket path is too long");
        strcpy(sa.sun_path, url + 5);
        (void)snprintf(host, 256, "localhost");
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            int r = -errno;
            if (fd >= 0)
                (void)close(fd);
            return error_set_errno(e, r, "cannot reach hvd at %s: %m", url);
        }
        return fd;
    }
    if (strneq(url, "https://", 8))
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "hvctl's VNC relay speaks plain http:// or unix: to hvd, not https:// "
                          "(run it on hvd's host against its loopback listener)");
    if (!strneq(url, "http://", 7))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "--url must be http://HOST:PORT or unix:PATH");
    p = url + 7;
    len = strcspn(p, "/");
    if (len == 0 || len >= 256)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "no host in '%s'", url);
    memcpy(host, p, len);
    host[len] = 0;
    {
        char name[256];
        const char *colon = host[0] == '[' ? strchr(host, ']') : host;
        const char *port_sep = colon ? strchr(colon, ':') : NULL;
        size_t name_len = port_sep ? (size_t)(port_sep - host) : strlen(host);

        memcpy(name, host, name_len);
        name[name_len] = 0;
        if (port_sep)
            (void)snprintf(port, sizeof(port), "%s", port_sep + 1);
        if (name[0] == '[') {
            memmove(name, name + 1, strlen(name));
            name[strcspn(name, "]")] = 0;
        }
        if (getaddrinfo(name, port, &hints, &ai) != 0 || !ai)
            return error_setf(e, ERROR_FAILED, "cannot resolve '%s'", host);
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        int r = -errno;
        if (fd >= 0)
            (void)close(fd);
        freeaddrinfo(ai);
        return error_set_errno(e, r, "cannot reach hvd at %s: %m", url);
    }
    freeaddrinfo(ai);
    return fd;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The value of header name in the answer's head (up to the blank line), copied into out. */
static bool answer_header(const char *head, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);

    for (const char *l = strstr(head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n"))
        if (strncasecmp(l + 2, name, n) == 0 && l[2 + n] == ':') {
            const char *v = l + 3 + n;
            v += strspn(v, " \t");
            (void)snprintf(out, size, "%.*s", (int)strcspn(v, "\r\n"), v);
            return true;
        }
    return false;
}

/* Turns a refusal (a problem document) into e. */
static int refusal(int status, const char *body, Error *e)
{
    json_t *doc = json_loads(body, 0, NULL);
    const char *detail = json_string_value(json_object_get(doc, "detail"));
    int r = error_setf(e, error_kind_from_http_status(status), "%s (HTTP %d)",
                       detail ? detail : "hvd refused the display", status);

    json_decref(doc);
    return r;
}

/* Asks hvd for the domain's display: with upgrade, a WebSocket (returns its fd; bytes that came
 * after the answer are in extra, *extra_len of them); without, only whether one would be given
 * (returns 0: hvd's 426). */
static int open_display(const char *url, const char *token, const char *name, bool upgrade,
                        uint8_t *extra, size_t *extra_len, Error *e)
{
    char host[256], key[25] = "", accept[WS_ACCEPT_LENGTH + 1], got[64], answer[ANSWER_MAX + 1];
    _cleanup_free_ char *request = NULL;
    size_t have = 0;
    char *end;
    int fd, status, r;

    fd = connect_hvd(url, host, e);
    if (fd < 0)
        return fd;
    if (upgrade && (ws_new_key(key) < 0 || ws_accept_value(key, accept) < 0)) {
        (void)close(fd);
        return error_setf(e, ERROR_FAILED, "cannot make a WebSocket key");
    }
    if (asprintf(&request,
                 "GET /api/v1/domains/%s/vnc HTTP/1.1\r\nHost: %s\r\n"
                 "Authorization: Bearer %s\r\n%s%s%s\r\n",
                 name, host, token,
                 upgrade ? "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n"
                           "Sec-WebSocket-Key: "
                         : "Connection: close\r\n",
                 key, upgrade ? "\r\n" : "") < 0) {
        (void)close(fd);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    r = write_all(fd, request, strlen(request));
    while (r >= 0 && !(end = memmem(answer, have, "\r\n\r\n", 4))) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;
        if (have == ANSWER_MAX || poll(&p, 1, ANSWER_TIMEOUT_MS) <= 0) {
            r = -ETIMEDOUT;
            break;
        }
        n = recv(fd, answer + have, ANSWER_MAX - have, 0);
        if (n <= 0)
            r = n == 0 ? -ECONNRESET : -errno;
        else
            have += (size_t)n;
        answer[have] = 0;
    }
    if (r < 0) {
        (void)close(fd);
        return error_set_errno(e, r, "hvd did not answer for the display: %m");
    }
    *end = 0;
    status = strneq(answer, "HTTP/1.1 ", 9) ? atoi(answer + 9) : 0;
    if (upgrade && status == 101) {
        if (!answer_header(answer, "Sec-WebSocket-Accept", got, sizeof(got)) ||
            !streq(got, accept)) {
            (void)close(fd);
            return error_setf(e, ERROR_FAILED, "hvd's WebSocket answer is not valid");
        }
        *extra_len = have - (size_t)(end + 4 - answer);
        memcpy(extra, end + 4, *extra_len);
        return fd;
    }
    if (!upgrade && status == 426) {
        (void)close(fd);
        return 0;
    }
    /* The problem document follows the head: what came with it, then the rest. */
    {
        size_t body = (size_t)(end + 4 - answer);
        memmove(answer, answer + body, have - body);
        have -= body;
        for (;;) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            ssize_t n;
            if (have == ANSWER_MAX || poll(&p, 1, ANSWER_TIMEOUT_MS) <= 0)
                break;
            n = recv(fd, answer + have, ANSWER_MAX - have, 0);
            if (n <= 0)
                break;
            have += (size_t)n;
        }
        answer[have] = 0;
    }
    (void)close(fd);
    return refusal(status, answer, e);
}

/* Relays one viewer's connection and hvd's WebSocket until either ends. */
static void relay(int viewer, int ws, uint8_t *in, size_t in_len, const char *name)
{
    static uint8_t out[VNC_CHUNK + WS_MAX_HEADER];
    uint8_t buf[VNC_CHUNK];

    while (!vnc_interrupted) {
        struct pollfd p[2] = {{.fd = viewer, .events = POLLIN}, {.fd = ws, .events = POLLIN}};
        size_t used = 0;
        ssize_t n;
        WsFrame f;
        int r;

        /* Frames that came already, then new bytes. */
        while ((r = ws_frame_parse(in + used, in_len - used, VNC_MAX_FRAME, false, &f)) == 1) {
            if ((f.opcode == WS_OP_BINARY || f.opcode == WS_OP_CONTINUATION) &&
                write_all(viewer, f.payload, f.length) < 0)
                return;
            if (f.opcode == WS_OP_CLOSE) {
                if (f.length >= 2 && (f.payload[0] << 8 | f.payload[1]) != WS_CLOSE_NORMAL)
                    fprintf(stderr, "hvctl: hvd closed the display of %s: %.*s\n", name,
                            (int)f.length - 2, (const char *)f.payload + 2);
                return;
            }
            used += f.size;
        }
        if (r < 0) {
            fprintf(stderr, "hvctl: hvd sent a malformed frame\n");
            return;
        }
        memmove(in, in + used, in_len - used);
        in_len -= used;
        if (poll(p, 2, -1) < 0)
            return;
        if (p[0].revents) {
            n = recv(viewer, buf, sizeof(buf), 0);
            if (n <= 0) {
                size_t len = ws_client_frame(WS_OP_CLOSE, (uint8_t[]){0x03, 0xe8}, 2, out);
                (void)write_all(ws, out, len);
                return;
            }
            if (write_all(ws, out, ws_client_frame(WS_OP_BINARY, buf, (size_t)n, out)) < 0)
                return;
        }
        if (p[1].revents) {
            n = recv(ws, in + in_len, VNC_MAX_FRAME + WS_MAX_HEADER - in_len, 0);
            if (n <= 0) {
                fprintf(stderr, "hvctl: the connection to hvd ended\n");
                return;
            }
            in_len += (size_t)n;
        }
    }
}

/* [ADDR:]PORT on loopback: the port asks no password, so it stays on this host. */
static int parse_listen(const char *text, struct sockaddr_in *sa)
{
    const char *colon = strrchr(text, ':');
    char addr[64] = "127.0.0.1";
    unsigned port;

    if (colon && (size_t)(colon - text) < sizeof(addr))
        (void)snprintf(addr, sizeof(addr), "%.*s", (int)(colon - text), text);
    if (streq(addr, "localhost"))
        strcpy(addr, "127.0.0.1");
    *sa = (struct sockaddr_in){.sin_family = AF_INET};
    if (parse_uint(colon ? colon + 1 : text, 0, 65535, &port) < 0 ||
        inet_pton(AF_INET, addr, &sa->sin_addr) != 1)
        return usage_error("vnc", "--listen takes [ADDR:]PORT, got '%s'", text);
    if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127)
        return usage_error("vnc", "--listen binds loopback only (127.0.0.0/8): the port asks no "
                                  "password, and whoever reaches it has the guest's keyboard");
    sa->sin_port = htons((uint16_t)port);
    return EXIT_OK;
}

static int serve(const char *url, const char *name, const char *listen_text)
{
    static uint8_t in[VNC_MAX_FRAME + WS_MAX_HEADER];
    struct sigaction sa = {.sa_handler = on_interrupt};
    struct sockaddr_in addr;
    socklen_t addr_len = sizeof(addr);
    char token[128];
    Error e = ERROR_NULL;
    int lfd, r;

    r = parse_listen(listen_text, &addr);
    if (r != EXIT_OK)
        return r;
    if (read_token(token, &e) < 0 || open_display(url, token, name, false, NULL, NULL, &e) < 0)
        return exit_code_from_error(&e);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)) < 0 ||
        bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 4) < 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &addr_len) < 0) {
        (void)error_set_errno(&e, -errno, "cannot listen on %s: %m", listen_text);
        if (lfd >= 0)
            (void)close(lfd);
        return exit_code_from_error(&e);
    }
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    printf("Listening on 127.0.0.1:%u for VNC viewers of %s (one at a time), e.g.\n"
           "  vncviewer 127.0.0.1::%u\n"
           "Ctrl+C stops.\n",
           ntohs(addr.sin_port), name, ntohs(addr.sin_port));
    fflush(stdout);
    while (!vnc_interrupted) {
        size_t extra = 0;
        int viewer = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), ws;

        if (viewer < 0)
            continue; /* EINTR: the loop condition decides */
        ws = open_display(url, token, name, true, in, &extra, &e);
        if (ws < 0) {
            fprintf(stderr, "hvctl: %s\n", e.message);
            e = ERROR_NULL;
        } else {
            relay(viewer, ws, in, extra, name);
            (void)close(ws);
        }
        (void)close(viewer);
    }
    (void)close(lfd);
    return EXIT_OK;
}

/* Without --listen: where the display is, for a browser, a VNC viewer and WebSocket clients. */
static int describe(const char *url, const char *name, json_t *info)
{
    bool web = strneq(url, "http://", 7) || strneq(url, "https://", 8);
    const char *base = url + (strneq(url, "https://", 8) ? 8 : 7);
    _cleanup_free_ char *dashboard = NULL, *websocket = NULL;
    size_t base_len = strcspn(base, "/");

    if (web &&
        (asprintf(&dashboard, "%.*s/#/domains/%s", (int)(base - url + base_len), url, name) < 0 ||
         asprintf(&websocket, "%s://%.*s/api/v1/domains/%s/vnc",
                  strneq(url, "https://", 8) ? "wss" : "ws", (int)base_len, base, name) < 0))
        return exit_code_from_error(&(Error){.kind = ERROR_FAILED, .message = "Out of memory"});
    if (arg.json) {
        json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:s}", "domain", name, "protocol", "vnc",
                              "dashboard", dashboard, "websocket", websocket, "viewer_command",
                              "hvctl vnc NAME --listen PORT");
        print_json(o);
        json_decref(o);
        return EXIT_OK;
    }
    printf("Graphical console of %s (VNC, through hvd; %s):\n", name,
           json_string_value(json_object_get(info, "state")));
    if (web)
        printf("  Browser:     %s\n"
               "               (the Display card; the page asks for the API token once)\n",
               dashboard);
    printf("  VNC viewer:  hvctl vnc %s --listen 5900, then: vncviewer 127.0.0.1::5900\n", name);
    if (web)
        printf("  WebSocket:   %s\n"
               "               (subprotocol binary; token as Authorization: Bearer or "
               "?access_token=)\n",
               websocket);
    return EXIT_OK;
}

int verb_vnc(Client *client, int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {},
    };
    const char *listen_text = NULL, *name, *driver, *state;
    _cleanup_free_ char *url = NULL;
    Error e = ERROR_NULL;
    json_t *info = NULL;
    int c, r = EXIT_OK;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        if (c == OPT_JSON)
            arg.json = true;
        else if (c == OPT_LISTEN)
            listen_text = optarg;
        else
            return usage_error("vnc", "bad option");
    if (optind + 1 != argc)
        return usage_error("vnc", "takes one domain name");
    name = argv[optind];
    if (client->ops->info(client, name, &info, &e) < 0)
        return exit_code_from_error(&e);
    driver = json_string_value(json_object_get(info, "driver"));
    state = json_string_value(json_object_get(info, "state"));
    if (!driver || !streq(driver, "kvm"))
        (void)error_setf(&e, ERROR_INVALID_STATE,
                         "domain '%s' has no graphical console: %s domains have text consoles "
                         "only (hvctl console %s)",
                         name, strna(driver), name);
    else if (!state || (!streq(state, "running") && !streq(state, "paused")))
        (void)error_setf(&e, ERROR_INVALID_STATE,
                         "domain '%s' is %s; its graphical console is there while it runs "
                         "(start it first: hvctl start %s)",
                         name, strna(state), name);
    else if (http_url(&url, &e) >= 0)
        r = listen_text ? serve(url, name, listen_text) : describe(url, name, info);
    json_decref(info);
    return e.message[0] ? exit_code_from_error(&e) : r;
}
