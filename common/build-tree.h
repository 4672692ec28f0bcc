/* Whether the running program is the one in its meson build tree, not an installed copy. */
#pragma once

#include <stdbool.h>

/* True when /proc/self/exe lies under the build tree this program was built in (HVD_BUILD_ROOT):
 * an uninstalled program then takes its companions (minihv, guests, web files, modules) from
 * that tree instead of the installed locations. */
bool build_tree_running(void);

/* HVD_BUILD_ROOT "/" rel when build_tree_running(), else installed: a static buffer valid until
 * the next call (copy it), or installed itself. Not thread-safe. */
const char *build_tree_or(const char *rel, const char *installed);
