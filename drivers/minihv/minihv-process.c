/* VMM processes reached by pid and start time through a pidfd opened on demand. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "minihv-process.h"

int minihv_process_start_ticks(int pid, uint64_t *ret)
{
    char path[64], buf[1024], *p;
    _cleanup_close_ int fd = -EBADF;
    unsigned long long ticks;
    ssize_t n;

    (void)snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return n < 0 && errno == ESRCH ? -ESRCH : -EIO;
    buf[n] = 0;
    p = strrchr(buf, ')'); /* the command name may contain anything but ends at the last ')' */
    if (p && (p[2] == 'Z' || p[2] == 'X'))
        return -ESRCH;
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
                     "%*d %*d %*d %llu",
                     &ticks) != 1)
        return -EBADMSG;
    *ret = ticks;
    return 0;
}

int minihv_process_open(int pid, uint64_t start_ticks)
{
    _cleanup_close_ int pidfd = -EBADF;
    uint64_t ticks = 0;
    int r;

    if (pid <= 0)
        return -ESRCH;
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* pidfds are close-on-exec */
    if (pidfd < 0)
        return -errno;
    r = minihv_process_start_ticks(pid, &ticks);
    if (r < 0)
        return r;
    if (start_ticks != 0 && ticks != start_ticks)
        return -ESRCH; /* the pid belongs to another process now */
    return TAKE_FD(pidfd);
}

int minihv_process_signal(int pid, uint64_t start_ticks, int sig)
{
    _cleanup_close_ int pidfd = minihv_process_open(pid, start_ticks);

    if (pidfd < 0)
        return pidfd;
    return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}
