/* QEMU's process of a kvm domain, for the pid hvd shows: libvirt has no call that names it, so
 * a local libvirtd's QEMU is found by the -uuid on its command line. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm-internal.h"

#define CMDLINE_MAX 65536

/* Whether libvirtd at uri runs its guests on this host. */
static bool uri_is_local(const char *uri)
{
    return strncmp(uri, "qemu:///", 8) == 0 || strncmp(uri, "qemu+unix:///", 13) == 0;
}

/* Whether process pid's command line holds "-uuid" followed by uuid. */
static bool runs_uuid(const char *pid, const char *uuid)
{
    char path[sizeof("/proc//cmdline") + 256], *buf;
    ssize_t n;
    bool found = false;
    int fd;

    (void)snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    buf = malloc(CMDLINE_MAX);
    n = buf ? read(fd, buf, CMDLINE_MAX - 1) : -1;
    (void)close(fd);
    if (n > 0) {
        buf[n] = 0;
        for (char *p = buf; p < buf + n && !found; p += strlen(p) + 1)
            found = streq(p, "-uuid") && p + strlen(p) + 1 < buf + n &&
                    strcasecmp(p + strlen(p) + 1, uuid) == 0;
    }
    free(buf);
    return found;
}

int kvm_qemu_pid(const char *uri, const char *uuid)
{
    DIR *proc;
    struct dirent *de;
    int pid = 0;

    if (!uri_is_local(uri))
        return 0;
    proc = opendir("/proc");
    if (!proc)
        return 0;
    while (pid == 0 && (de = readdir(proc)))
        if (isdigit((unsigned char)de->d_name[0]) && runs_uuid(de->d_name, uuid))
            pid = atoi(de->d_name);
    (void)closedir(proc);
    return pid;
}
