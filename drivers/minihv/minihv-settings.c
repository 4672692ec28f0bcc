/* The minihv driver's configuration section: which minihv program runs domains, where the
 * installed guests are (by default those of the build tree when hvd runs uninstalled from it),
 * resource enforcement (cgroups) and the warm pool. binary, guest-dir and memory-margin take
 * effect at the next start of a domain; resource-control and cgroup-root when hvd starts; the
 * warm-pool keys at once (a reload that changes them replaces the pool). */
#include <string.h>

#include "build-config.h"
#include "build-tree.h"
#include "minihv-internal.h"

static const char *const resource_control_names[] = {
    [MINIHV_RESOURCES_AUTO] = "auto",
    [MINIHV_RESOURCES_YES] = "yes",
    [MINIHV_RESOURCES_NO] = "no",
};

/* "auto" or a path inside each cgroup hierarchy, such as /hvd. */
static int check_cgroup_root(const char *value, Error *e)
{
    if (streq(value, "auto") ||
        (value[0] == '/' && value[1] && !strstr(value, "/.") && value[strlen(value) - 1] != '/'))
        return 0;
    return error_setf(e, ERROR_INVALID_ARGUMENT,
                      "must be \"auto\" or a path inside the cgroup hierarchy such as /hvd, got "
                      "\"%.64s\"",
                      value);
}

static const char *const warm_pool_mode_names[] = {
    [MODE_PV] = "pv",
    [MODE_FULL] = "full",
};

static const ConfigKey minihv_keys[] = {
    {.key = "binary", .type = CONFIG_PATH, .offset = offsetof(MinihvSettings, binary)},
    {.key = "guest-dir", .type = CONFIG_PATH, .offset = offsetof(MinihvSettings, guest_dir)},
    {.key = "resource-control",
     .type = CONFIG_ENUM,
     .offset = offsetof(MinihvSettings, resource_control),
     .names = resource_control_names,
     .n_names = ELEMENTSOF(resource_control_names)},
    {.key = "cgroup-root",
     .type = CONFIG_STRING,
     .offset = offsetof(MinihvSettings, cgroup_root),
     .check = check_cgroup_root},
    {.key = "memory-margin",
     .type = CONFIG_UINT64,
     .offset = offsetof(MinihvSettings, memory_margin_mib),
     .min = 0,
     .max = 65536},
    {.key = "warm-pool",
     .type = CONFIG_UINT,
     .offset = offsetof(MinihvSettings, warm_pool),
     .min = 0,
     .max = MINIHV_WARM_POOL_MAX},
    {.key = "warm-pool-mode",
     .type = CONFIG_ENUM,
     .offset = offsetof(MinihvSettings, warm_pool_mode),
     .names = warm_pool_mode_names,
     .n_names = ELEMENTSOF(warm_pool_mode_names)},
    {.key = "warm-pool-memory",
     .type = CONFIG_UINT64,
     .offset = offsetof(MinihvSettings, warm_pool_memory_mib),
     .min = 2,
     .max = 3072},
    {.key = "warm-pool-vcpus",
     .type = CONFIG_UINT,
     .offset = offsetof(MinihvSettings, warm_pool_vcpus),
     .min = 1,
     .max = 8},
};

/* A full-mode guest runs one vCPU: a pool of full-mode VMMs with more could take none. */
static int check_warm_pool_shape(const MinihvSettings *s, const ConfigSection *section, Error *e)
{
    const char *origin = section->origin;

    if (s->warm_pool_mode != MODE_FULL || s->warm_pool_vcpus == 1)
        return 0;
    for (size_t i = 0; i < section->n_lines; i++)
        if (streq(section->lines[i].key, "warm-pool-vcpus") ||
            streq(section->lines[i].key, "warm-pool-mode"))
            origin = section->lines[i].origin;
    return error_setf(e, ERROR_INVALID_ARGUMENT,
                      "%s: warm-pool-vcpus must be 1 with warm-pool-mode = full (full mode runs "
                      "one vCPU), got %u",
                      origin, s->warm_pool_vcpus);
}

void minihv_settings_free(void *settings)
{
    MinihvSettings *s = settings;

    if (!s)
        return;
    config_keys_free_strings(minihv_keys, ELEMENTSOF(minihv_keys), s);
    free(s);
}

int minihv_settings_parse(const ConfigSection *section, void **ret, Error *e)
{
    MinihvSettings *s = calloc(1, sizeof(*s));
    int r;

    if (!s ||
        config_string_set(&s->binary,
                          build_tree_or("drivers/minihv/vmm/minihv", HVD_BINDIR "/minihv")) < 0 ||
        config_string_set(&s->guest_dir, build_tree_or("drivers/minihv/guest", HVD_GUESTDIR)) < 0 ||
        config_string_set(&s->cgroup_root, "auto") < 0) {
        minihv_settings_free(s);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    s->resource_control = MINIHV_RESOURCES_AUTO;
    s->memory_margin_mib = MINIHV_MEMORY_MARGIN_MIB;
    s->warm_pool_mode = MODE_PV;
    s->warm_pool_memory_mib = MINIHV_WARM_POOL_MEMORY_MIB;
    s->warm_pool_vcpus = 1;
    if (section) {
        r = config_keys_set_section(minihv_keys, ELEMENTSOF(minihv_keys), s, section, e);
        if (r >= 0)
            r = check_warm_pool_shape(s, section, e);
        if (r < 0) {
            minihv_settings_free(s);
            return r;
        }
    }
    *ret = s;
    return 0;
}

void minihv_settings_print(const void *settings, FILE *f)
{
    config_keys_print(minihv_keys, ELEMENTSOF(minihv_keys), settings, NULL, f);
}
