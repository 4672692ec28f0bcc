/* Driver table: the built-in minihv driver and the kvm driver loaded from its module, and the
 * parsing of their configuration sections. */
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>

#include "build-config.h"
#include "drivers.h"
#include "minihv-driver.h"
#include "parse-util.h"

/* Why each driver that stands in for an unusable one cannot work. */
static char unavailable_reason[_DRIVER_KIND_MAX][512];

/* A driver that only says why it cannot work. */
static int unavailable_open(Driver *drv, Error *e)
{
    return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "%s", unavailable_reason[drv->ops->kind]);
}

/* The code that would check the section is not in use: its keys wait for it. */
static int unavailable_settings_parse(const ConfigSection *section, void **ret, Error *e)
{
    *ret = NULL;
    return 0;
}

static DriverOps unavailable_ops[_DRIVER_KIND_MAX];

static const DriverOps *unavailable(DriverKind kind, const char *fmt, const char *detail)
{
    unavailable_ops[kind] = (DriverOps){
        .name = driver_kind_to_string(kind),
        .kind = kind,
        .settings_parse = unavailable_settings_parse,
        .open = unavailable_open,
    };
    (void)snprintf(unavailable_reason[kind], sizeof(unavailable_reason[kind]), fmt, detail,
                   driver_kind_to_string(kind));
    return &unavailable_ops[kind];
}

/* [NAME] enabled: yes unless the section says no (a bad value is refused by the parse). */
static bool driver_enabled(const HvdConfig *config, const char *name)
{
    const char *v = config_section_get(config_section(config, name), "enabled");

    return !v || parse_boolean(v) != 0;
}

/* Where the module is: next to a build-tree hvd first (so a build never runs an older installed
 * module), then the installed one. */
static void *kvm_module_open(const char **why)
{
    char exe[PATH_MAX], path[PATH_MAX + 64];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    void *handle;

    if (len > 0) {
        exe[len] = 0;
        (void)snprintf(path, sizeof(path), "%s/../drivers/kvm/hvd-kvm.so", dirname(exe));
        if (access(path, R_OK) == 0 && (handle = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
            return handle;
    }
    handle = dlopen(HVD_MODULEDIR "/hvd-kvm.so", RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        *why = dlerror();
    return handle;
}

static const DriverOps *kvm_load(void)
{
    const DriverOps *(*entry)(unsigned);
    const DriverOps *ops;
    const char *why = NULL;
    void *handle;

    handle = kvm_module_open(&why);
    if (!handle)
        return unavailable(DRIVER_KVM, "its module cannot be loaded: %s", why);
    entry = (const DriverOps *(*)(unsigned))dlsym(handle, "hvd_kvm_driver");
    ops = entry ? entry(DRIVER_ABI) : NULL;
    if (!ops) {
        (void)dlclose(handle);
        return unavailable(DRIVER_KVM, "its module was built for another hvd%s", "");
    }
    /* The module stays loaded for the life of hvd. */
    return ops;
}

void hvd_drivers_load(const HvdConfig *config, const DriverOps *ret[_DRIVER_KIND_MAX])
{
    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++) {
        const char *name = driver_kind_to_string((DriverKind)i);

        if (!driver_enabled(config, name))
            ret[i] = unavailable(
                (DriverKind)i, "it is disabled in the configuration ([%2$s] enabled = no)%1$s", "");
        else
            ret[i] = i == DRIVER_KVM ? kvm_load() : &minihv_driver_ops;
    }
}

/* The lines of section s other than "enabled", as a view sharing s's strings. */
static int section_without_enabled(const ConfigSection *s, ConfigSection *view, Error *e)
{
    *view = (ConfigSection){.name = s->name, .origin = s->origin};
    view->lines = calloc(s->n_lines + 1, sizeof(ConfigLine));
    if (!view->lines)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    for (size_t i = 0; i < s->n_lines; i++) {
        if (!streq(s->lines[i].key, "enabled")) {
            view->lines[view->n_lines++] = s->lines[i];
            continue;
        }
        if (parse_boolean(s->lines[i].value) < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "%s: enabled must be yes or no, got '%s'",
                              s->lines[i].origin, s->lines[i].value);
    }
    return 0;
}

static const DriverOps *driver_named(const DriverOps *const ops[_DRIVER_KIND_MAX], const char *name)
{
    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++)
        if (ops[i] && streq(ops[i]->name, name))
            return ops[i];
    return NULL;
}

int hvd_drivers_parse(const DriverOps *const ops[_DRIVER_KIND_MAX], const HvdConfig *config,
                      void *settings[_DRIVER_KIND_MAX], Error *e)
{
    int r = 0;

    for (size_t i = 0; i < config->n_sections; i++)
        /* [cluster] belongs to the cluster membership (cluster-config.c). */
        if (!driver_named(ops, config->sections[i].name) &&
            !streq(config->sections[i].name, "cluster"))
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "%s: unknown section [%s] (hvd's own are [daemon], [allocation], "
                              "[http] and [cluster]; each driver has one of its name)",
                              config->sections[i].origin, config->sections[i].name);
    for (size_t i = 0; i < _DRIVER_KIND_MAX && r >= 0; i++) {
        const ConfigSection *s;
        ConfigSection view = {};

        settings[i] = NULL;
        if (!ops[i])
            continue;
        s = config_section(config, ops[i]->name);
        if (s)
            r = section_without_enabled(s, &view, e);
        if (r >= 0)
            r = driver_settings_parse(ops[i], s ? &view : NULL, &settings[i], e);
        free(view.lines);
    }
    if (r < 0)
        hvd_drivers_settings_free(ops, settings);
    return r;
}

void hvd_drivers_settings_free(const DriverOps *const ops[_DRIVER_KIND_MAX],
                               void *settings[_DRIVER_KIND_MAX])
{
    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++) {
        if (ops[i])
            driver_settings_free(ops[i], settings[i]);
        settings[i] = NULL;
    }
}

void hvd_drivers_print(const DriverOps *const ops[_DRIVER_KIND_MAX], const HvdConfig *config,
                       void *const settings[_DRIVER_KIND_MAX], FILE *f)
{
    for (size_t i = 0; i < _DRIVER_KIND_MAX; i++) {
        if (!ops[i])
            continue;
        fprintf(f, "\n[%s]\nenabled = %s\n", ops[i]->name,
                driver_enabled(config, ops[i]->name) ? "yes" : "no");
        if (ops[i]->settings_print && settings[i])
            ops[i]->settings_print(settings[i], f);
    }
}
