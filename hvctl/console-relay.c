/* The interactive console loop of hvctl (used over D-Bus, where hvd hands over the console's
 * file descriptor). */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "console-relay.h"
#include "macro.h"

#define DRAIN_AFTER_EOF_MS 500

int terminal_raw(int fd, struct termios *saved)
{
    struct termios t;

    if (!isatty(fd) || tcgetattr(fd, saved) < 0)
        return -ENOTTY;
    t = *saved;
    cfmakeraw(&t);
    t.c_oflag |= OPOST | ONLCR;
    return tcsetattr(fd, TCSANOW, &t) < 0 ? -errno : 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            if (errno == EAGAIN) {
                struct pollfd w = {.fd = fd, .events = POLLOUT};
                (void)poll(&w, 1, 1000);
                continue;
            }
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int console_relay(int fd, int in_fd, int out_fd, char escape, Error *e)
{
    bool input_open = true;
    char buf[4096];

    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = in_fd, .events = POLLIN}};
        int r = poll(p, input_open ? 2 : 1, input_open ? -1 : DRAIN_AFTER_EOF_MS);
        ssize_t n;

        if (r < 0 && errno == EINTR)
            return 0;
        if (r < 0)
            return error_set_errno(e, -errno, "poll: %m");
        if (r == 0)
            return 0; /* input ended and output went quiet */
        if (p[0].revents) {
            n = read(fd, buf, sizeof(buf));
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n <= 0)
                return 1;
            if (write_all(out_fd, buf, (size_t)n) < 0)
                return 0;
        }
        if (input_open && p[1].revents) {
            char *esc;
            n = read(in_fd, buf, sizeof(buf));
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n <= 0) {
                input_open = false;
                continue;
            }
            esc = memchr(buf, escape, (size_t)n);
            if (write_all(fd, buf, esc ? (size_t)(esc - buf) : (size_t)n) < 0)
                return 1;
            if (esc)
                return 0;
        }
    }
}
