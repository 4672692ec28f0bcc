/* The graphical console of kvm domains: QEMU serves each domain's VGA screen as VNC on a unix
 * socket of its own under hvd's runtime directory (RUNTIME/vnc/<uuid>.sock, never TCP), which
 * hvd connects to for its clients. */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "kvm-internal.h"

int kvm_graphics_init(Driver *drv, Error *e)
{
    _cleanup_free_ char *dir = NULL;

    if (asprintf(&dir, "%s/vnc", drv->ctx.runtime_dir) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    /* Root's alone: a VNC socket asks for no password, so whoever can open it has the screen,
     * keyboard and mouse of the domain. */
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return error_set_errno(e, -errno, "Failed to create %s: %m", dir);
    return 0;
}

int kvm_graphics_socket_path(Driver *drv, const DomainConfig *c, char **ret)
{
    struct sockaddr_un sa;
    char *path;

    if (asprintf(&path, "%s/vnc/%s.sock", drv->ctx.runtime_dir, c->uuid) < 0)
        return -ENOMEM;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        free(path);
        return -ENAMETOOLONG;
    }
    *ret = path;
    return 0;
}

int kvm_graphics_validate(Driver *drv, const DomainConfig *c, Error *e)
{
    _cleanup_free_ char *path = NULL;
    struct sockaddr_un sa;
    int r = kvm_graphics_socket_path(drv, c, &path);

    if (r == -ENAMETOOLONG)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "the VNC socket of a kvm domain, %s/vnc/<uuid>.sock, would be longer "
                          "than a unix socket path can be (%zu bytes): give hvd a shorter "
                          "runtime directory",
                          drv->ctx.runtime_dir, sizeof(sa.sun_path) - 1);
    return r < 0 ? error_set_errno(e, r, "Out of memory") : 0;
}

/* A connect() to a unix stream socket never waits: it succeeds, or fails at once (EAGAIN when
 * QEMU's backlog is full). */
int kvm_graphics_open(Driver *drv, const DomainConfig *c, const DomainRuntime *rt, int *ret_fd,
                      unsigned flags, Error *e)
{
    KvmDomain *d = kvm_domain_find(drv, c->uuid);
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int fd = -EBADF;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int r;

    if (!d || !domain_state_is_active(d->state))
        return error_setf(e, ERROR_INVALID_STATE, "libvirt does not run domain '%s'", c->name);
    r = kvm_graphics_socket_path(drv, c, &path);
    if (r < 0)
        return error_set_errno(e, r, "No VNC socket path for domain '%s': %m", c->name);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set_errno(e, -errno, "Failed to make a socket: %m");
    if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED)
            return error_setf(e, ERROR_INVALID_STATE,
                              "domain '%s' has no VNC display at %s: it was started before hvd "
                              "gave kvm domains one; restart it to get one",
                              c->name, path);
        if (errno == EAGAIN)
            return error_setf(e, ERROR_FAILED,
                              "the VNC display of domain '%s' takes no more connections now",
                              c->name);
        return error_set_errno(e, -errno, "Failed to connect to the VNC display %s: %m", path);
    }
    *ret_fd = TAKE_FD(fd);
    return 0;
}
