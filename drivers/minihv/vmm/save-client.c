/* `minihv save`: a control-socket client that hands the VMM an open image file to save into. */
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "minihv-status.h"
#include "save-client.h"

#define SAVE_REPLY_MAX 4096u

static int save_usage(const char *msg)
{
    fprintf(stderr, "minihv: %s\nUsage: minihv save --control SOCKET [--then resume|stop] IMAGE\n",
            msg);
    return MINIHV_EXIT_USAGE;
}

static int send_request(int sock, const char *line, int fd)
{
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(int))];
    } control = {0};
    struct iovec iov = {(void *)line, strlen(line)};
    struct msghdr mh = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = &control,
        .msg_controllen = sizeof(control),
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)iov.iov_len ? 0 : -errno;
}

/* Reads reply lines until one that is not an event; returns it parsed, or NULL. */
static json_t *read_reply(int sock)
{
    char buf[SAVE_REPLY_MAX + 1];
    size_t len = 0;

    for (;;) {
        char *nl = memchr(buf, '\n', len);
        ssize_t n;

        if (nl) {
            json_t *o = json_loadb(buf, (size_t)(nl - buf), 0, NULL);
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len);
            if (!o || !json_object_get(o, "event"))
                return o;
            json_decref(o);
            continue;
        }
        if (len == SAVE_REPLY_MAX)
            return NULL;
        n = read(sock, buf + len, SAVE_REPLY_MAX - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        len += (size_t)n;
    }
}

int save_client_main(int argc, char **argv)
{
    static const struct option options[] = {
        {"control", required_argument, NULL, 'c'},
        {"then", required_argument, NULL, 't'},
        {},
    };
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *control = NULL, *then = NULL, *error;
    _cleanup_close_ int fd = -EBADF, sock = -EBADF;
    char line[64];
    json_t *reply;
    char *text;
    int c, ok;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
        if (c == 'c')
            control = optarg;
        else if (c == 't')
            then = optarg;
        else
            return save_usage("unknown option or missing value");
    }
    if (!control || optind != argc - 1)
        return save_usage(control ? "expected one IMAGE" : "--control SOCKET is required");
    if (then && !streq(then, "resume") && !streq(then, "stop"))
        return save_usage("--then: expected resume or stop");
    if (strlen(control) >= sizeof(sa.sun_path))
        return save_usage("--control: path too long");
    memcpy(sa.sun_path, control, strlen(control) + 1);

    fd = open(argv[optind], O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        fprintf(stderr, "minihv: cannot open %s: %m\n", argv[optind]);
        return MINIHV_EXIT_HOST_ERROR;
    }
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "minihv: cannot connect to %s: %m\n", control);
        return MINIHV_EXIT_HOST_ERROR;
    }
    (void)snprintf(line, sizeof(line), "{\"cmd\":\"save\"%s%s%s}\n", then ? ",\"then\":\"" : "",
                   then ? then : "", then ? "\"" : "");
    if (send_request(sock, line, fd) < 0) {
        fprintf(stderr, "minihv: cannot send the request to %s: %m\n", control);
        return MINIHV_EXIT_HOST_ERROR;
    }
    reply = read_reply(sock);
    if (!reply) {
        fprintf(stderr, "minihv: no reply from %s\n", control);
        return MINIHV_EXIT_HOST_ERROR;
    }
    ok = json_is_true(json_object_get(reply, "ok"));
    error = json_string_value(json_object_get(reply, "error"));
    text = json_dumps(reply, JSON_COMPACT);
    if (ok && text)
        printf("%s\n", text);
    else
        fprintf(stderr, "minihv: %s\n", error ? error : "save failed");
    free(text);
    json_decref(reply);
    return ok ? 0 : MINIHV_EXIT_HOST_ERROR;
}
