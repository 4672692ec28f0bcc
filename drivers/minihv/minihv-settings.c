/* The minihv driver's configuration section: which minihv program runs domains and where the
 * installed guests are (by default those of the build tree when hvd runs uninstalled from it).
 * A change takes effect at the next start of a domain. */
#include <string.h>

#include "build-config.h"
#include "build-tree.h"
#include "minihv-internal.h"

static const ConfigKey minihv_keys[] = {
    {.key = "binary", .type = CONFIG_PATH, .offset = offsetof(MinihvSettings, binary)},
    {.key = "guest-dir", .type = CONFIG_PATH, .offset = offsetof(MinihvSettings, guest_dir)},
};

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
        config_string_set(&s->guest_dir, build_tree_or("drivers/minihv/guest", HVD_GUESTDIR)) < 0) {
        minihv_settings_free(s);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    if (section) {
        r = config_keys_set_section(minihv_keys, ELEMENTSOF(minihv_keys), s, section, e);
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
