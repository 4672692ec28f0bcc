/* The kvm driver's configuration section: the libvirt URI, the domain type and the number of
 * libvirt worker threads. The URI and the workers take effect at the next start of hvd; the
 * domain type at the next start of a domain. */
#include <string.h>

#include "kvm-internal.h"

static const char *const domain_type_table[_KVM_DOMAIN_TYPE_MAX] = {
    [KVM_DOMAIN_TYPE_AUTO] = "auto",
    [KVM_DOMAIN_TYPE_KVM] = "kvm",
    [KVM_DOMAIN_TYPE_QEMU] = "qemu",
};

static int check_uri(const char *value, Error *e)
{
    if (!strstr(value, ":/"))
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "uri must be a libvirt URI such as qemu:///system, got '%s'", value);
    return 0;
}

static const ConfigKey kvm_keys[] = {
    {.key = "uri", .type = CONFIG_STRING, .offset = offsetof(KvmSettings, uri), .check = check_uri},
    {.key = "domain-type",
     .type = CONFIG_ENUM,
     .offset = offsetof(KvmSettings, domain_type),
     .names = domain_type_table,
     .n_names = _KVM_DOMAIN_TYPE_MAX},
    {.key = "workers",
     .type = CONFIG_UINT,
     .offset = offsetof(KvmSettings, workers),
     .min = 1,
     .max = 64},
};

const char *kvm_domain_type_to_string(KvmDomainType t)
{
    return t >= 0 && t < _KVM_DOMAIN_TYPE_MAX ? domain_type_table[t] : NULL;
}

void kvm_settings_free(void *settings)
{
    KvmSettings *s = settings;

    if (!s)
        return;
    config_keys_free_strings(kvm_keys, ELEMENTSOF(kvm_keys), s);
    free(s);
}

int kvm_settings_parse(const ConfigSection *section, void **ret, Error *e)
{
    KvmSettings *s = calloc(1, sizeof(*s));
    int r;

    if (!s || config_string_set(&s->uri, "qemu:///system") < 0) {
        kvm_settings_free(s);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    s->domain_type = KVM_DOMAIN_TYPE_AUTO;
    s->workers = 4;
    if (section) {
        r = config_keys_set_section(kvm_keys, ELEMENTSOF(kvm_keys), s, section, e);
        if (r < 0) {
            kvm_settings_free(s);
            return r;
        }
    }
    *ret = s;
    return 0;
}

void kvm_settings_print(const void *settings, FILE *f)
{
    config_keys_print(kvm_keys, ELEMENTSOF(kvm_keys), settings, NULL, f);
}
