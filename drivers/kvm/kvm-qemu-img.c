/* Runs qemu-img on a worker thread and waits for it there. hvd reaps every child of its own on
 * its loop (waitpid(-1)), so qemu-img runs under a forked helper that waits for it and writes its
 * exit status into a pipe: the worker learns the status without racing the loop's reaping, and
 * the helper's own exit is the loop's to reap. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvm-internal.h"

/* qemu-img's path from PATH (or the usual place), resolved before forking. */
static int find_qemu_img(char *buf, size_t size)
{
    const char *path = getenv("PATH") ?: "/usr/bin:/bin";

    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");

        if (n > 0 && snprintf(buf, size, "%.*s/qemu-img", (int)n, p) < (int)size &&
            access(buf, X_OK) == 0)
            return 0;
        p += n;
        if (*p == ':')
            p++;
    }
    return -ENOENT;
}

/* In the forked helper: only async-signal-safe calls from here on. */
static _Noreturn void helper_run(const char *exe, char *const argv[], int err_fd, int status_fd)
{
    sigset_t none;
    int status = 127 << 8;
    pid_t pid;

    (void)sigemptyset(&none);
    pid = fork();
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(err_fd, STDOUT_FILENO) < 0 ||
            dup2(err_fd, STDERR_FILENO) < 0)
            _exit(126);
        execv(exe, argv);
        _exit(127);
    }
    (void)close(err_fd); /* the worker sees EOF once qemu-img is done with it */
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    (void)!write(status_fd, &status, sizeof(status));
    _exit(0);
}

/* Reads fd to its end into buf (what does not fit is dropped). */
static void read_all(int fd, char *buf, size_t size)
{
    size_t n = 0;
    ssize_t k;
    char sink[256];

    for (;;) {
        k = n + 1 < size ? read(fd, buf + n, size - 1 - n) : read(fd, sink, sizeof(sink));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        if (n + 1 < size)
            n += (size_t)k;
    }
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
}

int kvm_qemu_img(char *const argv[], Error *e)
{
    char exe[4096], output[1024];
    int err_pipe[2] = {-EBADF, -EBADF}, status_pipe[2] = {-EBADF, -EBADF};
    int status = -1;
    ssize_t k;
    pid_t helper;

    if (find_qemu_img(exe, sizeof(exe)) < 0)
        return error_setf(e, ERROR_FAILED,
                          "qemu-img is not installed (Debian's qemu-utils): it makes the disks of "
                          "kvm clones");
    if (pipe2(err_pipe, O_CLOEXEC) < 0 || pipe2(status_pipe, O_CLOEXEC) < 0) {
        int r = error_set_errno(e, -errno, "Failed to make a pipe for qemu-img: %m");
        for (int i = 0; i < 2; i++) {
            if (err_pipe[i] >= 0)
                (void)close(err_pipe[i]);
            if (status_pipe[i] >= 0)
                (void)close(status_pipe[i]);
        }
        return r;
    }
    helper = fork();
    if (helper == 0) {
        (void)close(err_pipe[0]);
        (void)close(status_pipe[0]);
        helper_run(exe, argv, err_pipe[1], status_pipe[1]);
    }
    (void)close(err_pipe[1]);
    (void)close(status_pipe[1]);
    if (helper < 0) {
        (void)close(err_pipe[0]);
        (void)close(status_pipe[0]);
        return error_set_errno(e, -errno, "Failed to start qemu-img: %m");
    }
    read_all(err_pipe[0], output, sizeof(output));
    do
        k = read(status_pipe[0], &status, sizeof(status));
    while (k < 0 && errno == EINTR);
    (void)close(err_pipe[0]);
    (void)close(status_pipe[0]);
    if (k != sizeof(status))
        return error_setf(e, ERROR_FAILED, "qemu-img's helper ended without a word");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return error_setf(e, ERROR_FAILED, "Failed to run %s", exe);
    return error_setf(e, ERROR_FAILED, "qemu-img %s failed (%s %d): %s", argv[1],
                      WIFEXITED(status) ? "exit status" : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                      output[0] ? output : "(no message)");
}
