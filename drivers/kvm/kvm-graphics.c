/* The graphical console of kvm domains: QEMU serves each domain's VGA screen as VNC on a unix
 * socket of its own under hvd's runtime directory (RUNTIME/vnc/<uuid>/vnc.sock, never TCP),
 * which hvd connects to for its clients. Each domain's directory belongs to the user libvirt
 * runs QEMU as, who must be able to reach it; where it cannot, the domain runs without a
 * display and the display says why. */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "kvm-internal.h"
#include "log.h"

int kvm_graphics_init(Driver *drv, Error *e)
{
    _cleanup_free_ char *dir = NULL;

    if (asprintf(&dir, "%s/vnc", drv->ctx.runtime_dir) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    /* Searchable, not listable: QEMU reaches its own domain's directory below, each of which
     * is its user's alone, since a VNC socket asks for no password. */
    if (mkdir(dir, 0711) < 0 && errno != EEXIST)
        return error_set_errno(e, -errno, "Failed to create %s: %m", dir);
    return 0;
}

static int socket_dir(Driver *drv, const DomainConfig *c, char **ret)
{
    return asprintf(ret, "%s/vnc/%s", drv->ctx.runtime_dir, c->uuid) < 0 ? -ENOMEM : 0;
}

int kvm_graphics_socket_path(Driver *drv, const DomainConfig *c, char **ret)
{
    struct sockaddr_un sa;
    char *path;

    if (asprintf(&path, "%s/vnc/%s/vnc.sock", drv->ctx.runtime_dir, c->uuid) < 0)
        return -ENOMEM;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        free(path);
        return -ENAMETOOLONG;
    }
    *ret = path;
    return 0;
}

/* Whether QEMU's user can create its socket in dir: every directory above searchable, dir
 * writable. Writes a sentence into why when not. */
static bool qemu_reaches(Driver *drv, const char *dir, char *why, size_t n)
{
    const KvmIdentity *id = &kvm(drv)->accel.qemu;
    char path[PATH_MAX];

    if (!id->known || id->uid == 0)
        return true;
    (void)snprintf(path, sizeof(path), "%s", dir);
    if (kvm_identity_access(id, path, W_OK | X_OK) < 0) {
        (void)snprintf(why, n, "libvirt runs QEMU as uid %u, which cannot write to %s",
                       (unsigned)id->uid, dir);
        return false;
    }
    for (char *slash = strrchr(path, '/'); slash && slash > path; slash = strrchr(path, '/')) {
        *slash = 0;
        if (kvm_identity_access(id, path, X_OK) < 0) {
            (void)snprintf(why, n, "libvirt runs QEMU as uid %u, which cannot reach %s through %s",
                           (unsigned)id->uid, dir, path);
            return false;
        }
    }
    return true;
}

int kvm_graphics_prepare(Driver *drv, const DomainConfig *c, char **ret)
{
    const KvmIdentity *id = &kvm(drv)->accel.qemu;
    _cleanup_free_ char *dir = NULL, *path = NULL;
    char why[PATH_MAX + 128];
    int r;

    r = kvm_graphics_socket_path(drv, c, &path);
    if (r >= 0)
        r = socket_dir(drv, c, &dir);
    if (r < 0)
        return r;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    if (id->known && chown(dir, id->uid, id->gid) < 0)
        return -errno;
    if (!qemu_reaches(drv, dir, why, sizeof(why))) {
        log_debug("kvm: %s starts without a display: %s", c->name, why);
        return -EACCES;
    }
    *ret = TAKE_PTR(path);
    return 0;
}

void kvm_graphics_forget(Driver *drv, const DomainConfig *c)
{
    _cleanup_free_ char *dir = NULL, *path = NULL;

    if (socket_dir(drv, c, &dir) < 0 || kvm_graphics_socket_path(drv, c, &path) < 0)
        return;
    (void)unlink(path);
    (void)rmdir(dir);
}

int kvm_graphics_validate(Driver *drv, const DomainConfig *c, Error *e)
{
    _cleanup_free_ char *path = NULL;
    struct sockaddr_un sa;
    int r = kvm_graphics_socket_path(drv, c, &path);

    if (r == -ENAMETOOLONG)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "the VNC socket of a kvm domain, %s/vnc/<uuid>/vnc.sock, would be "
                          "longer than a unix socket path can be (%zu bytes): give hvd a shorter "
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
    _cleanup_free_ char *path = NULL, *dir = NULL;
    _cleanup_close_ int fd = -EBADF;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char why[PATH_MAX + 128];
    int r;

    if (!d || !domain_state_is_active(d->state))
        return error_setf(e, ERROR_INVALID_STATE, "libvirt does not run domain '%s'", c->name);
    r = kvm_graphics_socket_path(drv, c, &path);
    if (r >= 0)
        r = socket_dir(drv, c, &dir);
    if (r < 0)
        return error_set_errno(e, r, "No VNC socket path for domain '%s': %m", c->name);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set_errno(e, -errno, "Failed to make a socket: %m");
    if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if ((errno == ENOENT || errno == ECONNREFUSED) && !qemu_reaches(drv, dir, why, sizeof(why)))
            return error_setf(e, ERROR_INVALID_STATE,
                              "domain '%s' has no VNC display: %s (make the runtime directory "
                              "reachable for it, then restart the domain)",
                              c->name, why);
        if (errno == ENOENT || errno == ECONNREFUSED)
            return error_setf(e, ERROR_INVALID_STATE,
                              "domain '%s' has no VNC display at %s: it was started before hvd "
                              "gave kvm domains one; restart it to get one",
                              c->name, path);
        if (errno == EAGAIN)
            return error_set_errno(e, -EAGAIN,
                                   "the VNC display of domain '%s' takes no more connections now",
                                   c->name);
        return error_set_errno(e, -errno, "Failed to connect to the VNC display %s: %m", path);
    }
    *ret_fd = TAKE_FD(fd);
    return 0;
}
