/* Writes a process or thread id into cgroup membership files, one write each. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup-join.h"

int cgroup_join(const char *const *files, unsigned n, pid_t id, const char **ret_failed)
{
    char value[32];
    int len = snprintf(value, sizeof(value), "%d\n", (int)id);

    for (unsigned i = 0; i < n; i++) {
        int fd = open(files[i], O_WRONLY | O_CLOEXEC | O_NOCTTY);
        ssize_t k = fd < 0 ? -1 : write(fd, value, (size_t)len);
        int err = errno;

        if (fd >= 0)
            (void)close(fd);
        if (k != len) {
            *ret_failed = files[i];
            return k < 0 ? -err : -EIO;
        }
    }
    return 0;
}
