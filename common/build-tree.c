/* Whether the running program is the one in its meson build tree, not an installed copy. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build-config.h"
#include "build-tree.h"

bool build_tree_running(void)
{
    char exe[PATH_MAX], root[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    size_t n;

    if (len <= 0 || !realpath(HVD_BUILD_ROOT, root))
        return false;
    exe[len] = 0;
    n = strlen(root);
    return strncmp(exe, root, n) == 0 && exe[n] == '/';
}

const char *build_tree_or(const char *rel, const char *installed)
{
    static char path[PATH_MAX];

    if (!build_tree_running())
        return installed;
    (void)snprintf(path, sizeof(path), "%s/%s", HVD_BUILD_ROOT, rel);
    return path;
}
