/* Driver table: the built-in minihv driver and the kvm driver loaded from its module. */
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>

#include "build-config.h"
#include "drivers.h"
#include "minihv-driver.h"

static char kvm_unavailable_reason[512];

/* A kvm driver that only says why it cannot work. */
static int unavailable_open(Driver *drv, Error *e)
{
    return error_setf(e, ERROR_DRIVER_UNAVAILABLE, "%s", kvm_unavailable_reason);
}

static const DriverOps kvm_unavailable_ops = {
    .name = "kvm",
    .kind = DRIVER_KVM,
    .open = unavailable_open,
};

/* Where the module is: next to a build-tree hvd first (so a build never runs an older installed
 * module), then the installed one. */
static void *kvm_module_open(char *why, size_t n)
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
        (void)snprintf(why, n, "its module cannot be loaded: %s", dlerror());
    return handle;
}

static const DriverOps *kvm_load(const HvdConfig *config)
{
    const DriverOps *(*entry)(unsigned);
    const DriverOps *ops;
    void *handle;

    if (!config->kvm_enabled) {
        (void)snprintf(kvm_unavailable_reason, sizeof(kvm_unavailable_reason),
                       "it is disabled in the configuration ([kvm] enabled = no)");
        return &kvm_unavailable_ops;
    }
    handle = kvm_module_open(kvm_unavailable_reason, sizeof(kvm_unavailable_reason));
    if (!handle)
        return &kvm_unavailable_ops;
    entry = (const DriverOps *(*)(unsigned))dlsym(handle, "hvd_kvm_driver");
    ops = entry ? entry(DRIVER_ABI) : NULL;
    if (!ops) {
        (void)snprintf(kvm_unavailable_reason, sizeof(kvm_unavailable_reason),
                       "its module was built for another hvd");
        (void)dlclose(handle);
        return &kvm_unavailable_ops;
    }
    /* The module stays loaded for the life of hvd. */
    return ops;
}

void hvd_drivers_load(const HvdConfig *config, const DriverOps *ret[_DRIVER_KIND_MAX])
{
    ret[DRIVER_KVM] = kvm_load(config);
    ret[DRIVER_MINIHV] = &minihv_driver_ops;
}
