/* Validation of domain settings into a DomainConfig, and its JSON form. */
#include <string.h>
#include <systemd/sd-id128.h>

#include "cpuset.h"
#include "domain-config.h"

static const SettingField setting_fields[] = {
    {"name", SETTING_STRING, SETTING_IMMUTABLE},
    {"uuid", SETTING_STRING, SETTING_IMMUTABLE},
    {"driver", SETTING_STRING, SETTING_IMMUTABLE},
    {"mode", SETTING_STRING, 0},
    {"vcpus", SETTING_UINT32, 0},
    {"memory_mib", SETTING_UINT64, 0},
    {"kernel", SETTING_STRING, 0},
    {"initrd", SETTING_STRING, 0},
    {"disk", SETTING_STRING, 0},
    {"cmdline", SETTING_STRING, 0},
    {"cpuset", SETTING_STRING, 0},
    {"network", SETTING_STRING, 0},
    {"autostart", SETTING_BOOL, SETTING_LIVE},
    {"on_crash", SETTING_STRING, SETTING_LIVE},
    {"cpu_weight", SETTING_UINT32, SETTING_LIVE},
    {"cpu_cap", SETTING_UINT32, SETTING_LIVE},
    {"memory_limit", SETTING_UINT64, SETTING_LIVE},
};

const SettingField *domain_setting_fields(size_t *n_ret)
{
    *n_ret = ELEMENTSOF(setting_fields);
    return setting_fields;
}

const SettingField *domain_setting_lookup(const char *key)
{
    for (size_t i = 0; i < ELEMENTSOF(setting_fields); i++)
        if (streq(setting_fields[i].key, key))
            return &setting_fields[i];
    return NULL;
}

const char *setting_type_dbus_signature(SettingType t)
{
    switch (t) {
    case SETTING_STRING:
        return "s";
    case SETTING_UINT32:
        return "u";
    case SETTING_UINT64:
        return "t";
    case SETTING_BOOL:
        return "b";
    }
    return "?";
}

int domain_setting_check_entry(const json_t *settings, const char *key, const char *signature,
                               const SettingField **ret, Error *e)
{
    const SettingField *f = domain_setting_lookup(key);

    if (!f)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "unknown setting '%.64s'", key);
    if (json_object_get(settings, key))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "setting '%s' is given twice", key);
    if (!streq(signature, setting_type_dbus_signature(f->type)))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s' must be of D-Bus type '%s', got '%.16s'",
                          key, setting_type_dbus_signature(f->type), signature);
    *ret = f;
    return 0;
}

static const char *setting_type_json_name(SettingType t)
{
    switch (t) {
    case SETTING_STRING:
        return "a string";
    case SETTING_UINT32:
    case SETTING_UINT64:
        return "an integer";
    case SETTING_BOOL:
        return "a boolean";
    }
    return "?";
}

void domain_config_init(DomainConfig *c)
{
    *c = (DomainConfig){
        .driver = DRIVER_KVM,
        .mode = MODE_PV,
        .vcpus = 1,
        .memory_mib = 64,
        .on_crash = ON_CRASH_DESTROY,
        .cpu_weight = DOMAIN_CPU_WEIGHT_DEFAULT,
    };
}

void domain_config_done(DomainConfig *c)
{
    free(c->kernel);
    free(c->disk);
    free(c->cmdline);
    free(c->cpuset);
    free(c->network);
    free(c->initrd);
    domain_config_init(c);
}

static int strdup_or_null(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -ENOMEM;
}

int domain_config_copy(DomainConfig *dst, const DomainConfig *src)
{
    *dst = *src;
    dst->kernel = dst->disk = dst->cmdline = dst->cpuset = dst->network = dst->initrd = NULL;
    if (strdup_or_null(&dst->kernel, src->kernel) < 0 ||
        strdup_or_null(&dst->disk, src->disk) < 0 ||
        strdup_or_null(&dst->cmdline, src->cmdline) < 0 ||
        strdup_or_null(&dst->cpuset, src->cpuset) < 0 ||
        strdup_or_null(&dst->network, src->network) < 0 ||
        strdup_or_null(&dst->initrd, src->initrd) < 0) {
        domain_config_done(dst);
        return -ENOMEM;
    }
    return 0;
}

int domain_uuid_canonicalize(const char *s, char out[DOMAIN_UUID_STRING_MAX])
{
    sd_id128_t id;

    /* Only the 8-4-4-4-12 form is a UUID to the user; sd-id128 also accepts 32 plain digits. */
    if (!s || strlen(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
        return -EINVAL;
    if (sd_id128_from_string(s, &id) < 0)
        return -EINVAL;
    (void)sd_id128_to_uuid_string(id, out);
    return 0;
}

int domain_uuid_generate(char out[DOMAIN_UUID_STRING_MAX])
{
    sd_id128_t id;
    int r = sd_id128_randomize(&id);

    if (r < 0)
        return r;
    (void)sd_id128_to_uuid_string(id, out);
    return 0;
}

static bool string_has_control_chars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* Replaces *field with a validated copy of s, or NULL when s is empty and empty is allowed. */
static int set_text(char **field, const char *key, const char *s, size_t max, Error *e)
{
    char *copy = NULL;

    if (strlen(s) > max)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s' is too long: at most %zu characters",
                          key, max);
    if (string_has_control_chars(s))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s' must not contain control characters",
                          key);
    if (*s && !(copy = strdup(s)))
        return error_set_errno(e, -ENOMEM, "Out of memory");
    free(*field);
    *field = copy;
    return 0;
}

static int set_cpuset(DomainConfig *c, const char *s, Error *e)
{
    CpuSet set;
    char buf[1024];

    if (*s == 0) {
        c->cpuset = mfree(c->cpuset);
        return 0;
    }
    if (cpuset_parse(s, &set) < 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'cpuset' must be a CPU list such as \"0-3,6\" with CPUs 0..%d, got "
                          "\"%.64s\"",
                          CPUSET_MAX_CPUS - 1, s);
    if (cpuset_format(&set, buf, sizeof(buf)) < 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'cpuset' is too long");
    return set_text(&c->cpuset, "cpuset", buf, sizeof(buf) - 1, e);
}

/* Checks value's JSON type against the field, so messages name the field and the type. */
static int check_type(const SettingField *f, const json_t *value, Error *e)
{
    bool ok = false;

    switch (f->type) {
    case SETTING_STRING:
        ok = json_is_string(value);
        break;
    case SETTING_UINT32:
    case SETTING_UINT64:
        ok = json_is_integer(value);
        break;
    case SETTING_BOOL:
        ok = json_is_boolean(value);
        break;
    }
    if (!ok)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s' must be %s", f->key,
                          setting_type_json_name(f->type));
    return 0;
}

static int set_field(DomainConfig *c, const SettingField *f, const json_t *value, Error *e)
{
    const char *s = json_is_string(value) ? json_string_value(value) : NULL;
    json_int_t n = json_is_integer(value) ? json_integer_value(value) : 0;
    int r;

    r = check_type(f, value, e);
    if (r < 0)
        return r;

    if (streq(f->key, "name")) {
        if (!domain_name_is_valid(s))
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "'name' must be 1..%d characters from A-Z a-z 0-9 _ . - (and not "
                              "\".\" or \"..\"), got \"%.80s\"",
                              DOMAIN_NAME_MAX, s);
        strcpy(c->name, s);
    } else if (streq(f->key, "uuid")) {
        if (domain_uuid_canonicalize(s, c->uuid) < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "'uuid' must be a UUID such as "
                              "\"2f0c1a9e-5d3b-4c7e-9a41-0b6f1d2e3c4d\", got \"%.64s\"",
                              s);
    } else if (streq(f->key, "driver")) {
        DriverKind k = driver_kind_from_string(s);
        if (k < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "'driver' must be \"kvm\" or \"minihv\", got \"%.64s\"", s);
        c->driver = k;
    } else if (streq(f->key, "mode")) {
        DomainMode m = domain_mode_from_string(s);
        if (m < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "'mode' must be \"pv\" or \"full\", got \"%.64s\"", s);
        c->mode = m;
    } else if (streq(f->key, "vcpus")) {
        if (n < 1 || n > DOMAIN_VCPUS_MAX)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "'vcpus' must be 1..%u, got %lld",
                              DOMAIN_VCPUS_MAX, (long long)n);
        c->vcpus = (unsigned)n;
    } else if (streq(f->key, "memory_mib")) {
        if (n < 1 || (uint64_t)n > DOMAIN_MEMORY_MIB_MAX)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "'memory_mib' must be 1..%llu MiB, got %lld",
                              (unsigned long long)DOMAIN_MEMORY_MIB_MAX, (long long)n);
        c->memory_mib = (uint64_t)n;
    } else if (streq(f->key, "kernel")) {
        return set_text(&c->kernel, "kernel", s, DOMAIN_PATH_MAX, e);
    } else if (streq(f->key, "initrd")) {
        return set_text(&c->initrd, "initrd", s, DOMAIN_PATH_MAX, e);
    } else if (streq(f->key, "disk")) {
        return set_text(&c->disk, "disk", s, DOMAIN_PATH_MAX, e);
    } else if (streq(f->key, "cmdline")) {
        return set_text(&c->cmdline, "cmdline", s, DOMAIN_CMDLINE_MAX, e);
    } else if (streq(f->key, "cpuset")) {
        return set_cpuset(c, s, e);
    } else if (streq(f->key, "network")) {
        return set_text(&c->network, "network", s, DOMAIN_NETWORK_MAX, e);
    } else if (streq(f->key, "autostart")) {
        c->autostart = json_is_true(value);
    } else if (streq(f->key, "on_crash")) {
        OnCrash o = on_crash_from_string(s);
        if (o < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "'on_crash' must be \"destroy\", \"restart\" or \"preserve\", got "
                              "\"%.64s\"",
                              s);
        c->on_crash = o;
    } else if (streq(f->key, "cpu_weight")) {
        if (n < DOMAIN_CPU_WEIGHT_MIN || n > DOMAIN_CPU_WEIGHT_MAX)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "'cpu_weight' must be %u..%u, got %lld",
                              DOMAIN_CPU_WEIGHT_MIN, DOMAIN_CPU_WEIGHT_MAX, (long long)n);
        c->cpu_weight = (unsigned)n;
    } else if (streq(f->key, "cpu_cap")) {
        if (n < 0 || n > DOMAIN_VCPUS_MAX * 100)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "'cpu_cap' must be 0 (no cap) or a percentage of one host CPU up to "
                              "vcpus x 100, got %lld",
                              (long long)n);
        c->cpu_cap = (unsigned)n;
    } else if (streq(f->key, "memory_limit")) {
        if (n < 0 || (uint64_t)n > DOMAIN_MEMORY_MIB_MAX)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "'memory_limit' must be 0 (the default) or 1..%llu MiB, got %lld",
                              (unsigned long long)DOMAIN_MEMORY_MIB_MAX, (long long)n);
        c->memory_limit = (uint64_t)n;
    }
    return 0;
}

/* Rules between settings, checked once all of them are applied. */
static int check_combination(const DomainConfig *c, Error *e)
{
    if (c->cpu_cap > c->vcpus * 100)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'cpu_cap' must be at most vcpus x 100 = %u (%u vCPUs), got %u",
                          c->vcpus * 100, c->vcpus, c->cpu_cap);
    return 0;
}

static int apply_settings(DomainConfig *c, const json_t *settings, bool creating, DomainState state,
                          Error *e)
{
    const char *key;
    json_t *value;

    if (!json_is_object(settings))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "settings must be an object");

    json_object_foreach ((json_t *)settings, key, value) {
        const SettingField *f = domain_setting_lookup(key);
        int r;

        if (!f)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "unknown setting '%.64s'", key);
        if (!creating && (f->flags & SETTING_IMMUTABLE))
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "'%s' cannot be changed after the domain is created", key);
        if (!creating && !(f->flags & SETTING_LIVE) && domain_state_is_active(state))
            return error_setf(e, ERROR_INVALID_STATE,
                              "'%s' can only be changed while the domain is shut off (it is %s)",
                              key, domain_state_to_string(state));
        r = set_field(c, f, value, e);
        if (r < 0)
            return r;
    }
    return check_combination(c, e);
}

static int config_from_json(const json_t *settings, DomainConfig *ret, Error *e)
{
    int r;

    r = apply_settings(ret, settings, true, STATE_SHUTOFF, e);
    if (r < 0)
        return r;
    if (ret->name[0] == 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'name' is required");
    if (ret->uuid[0] == 0) {
        r = domain_uuid_generate(ret->uuid);
        if (r < 0)
            return error_set_errno(e, r, "Failed to generate a UUID: %m");
    }
    return 0;
}

int domain_config_from_json(const json_t *settings, DomainConfig *ret, Error *e)
{
    int r;

    domain_config_init(ret);
    r = config_from_json(settings, ret, e);
    if (r < 0)
        domain_config_done(ret); /* what the settings before the bad one set is let go */
    return r;
}

int domain_config_update_from_json(DomainConfig *c, const json_t *settings, DomainState state,
                                   Error *e)
{
    DomainConfig updated;
    int r;

    r = domain_config_copy(&updated, c);
    if (r < 0)
        return error_set_errno(e, r, "Out of memory");
    r = apply_settings(&updated, settings, false, state, e);
    if (r < 0) {
        domain_config_done(&updated);
        return r;
    }
    domain_config_done(c);
    *c = updated;
    return 0;
}

bool domain_config_resources_differ(const DomainConfig *a, const DomainConfig *b)
{
    return a->cpu_weight != b->cpu_weight || a->cpu_cap != b->cpu_cap ||
           a->memory_limit != b->memory_limit;
}

static json_t *json_string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

int domain_config_to_json(const DomainConfig *c, json_t *obj)
{
    int r = 0;

    r |= json_object_set_new(obj, "name", json_string(c->name));
    r |= json_object_set_new(obj, "uuid", json_string(c->uuid));
    r |= json_object_set_new(obj, "driver", json_string(driver_kind_to_string(c->driver)));
    r |= json_object_set_new(obj, "mode", json_string(domain_mode_to_string(c->mode)));
    r |= json_object_set_new(obj, "vcpus", json_integer(c->vcpus));
    r |= json_object_set_new(obj, "memory_mib", json_integer((json_int_t)c->memory_mib));
    r |= json_object_set_new(obj, "kernel", json_string_or_null(c->kernel));
    r |= json_object_set_new(obj, "initrd", json_string_or_null(c->initrd));
    r |= json_object_set_new(obj, "disk", json_string_or_null(c->disk));
    r |= json_object_set_new(obj, "cmdline", json_string_or_null(c->cmdline));
    r |= json_object_set_new(obj, "cpuset", json_string_or_null(c->cpuset));
    r |= json_object_set_new(obj, "network", json_string_or_null(c->network));
    r |= json_object_set_new(obj, "autostart", json_boolean(c->autostart));
    r |= json_object_set_new(obj, "on_crash", json_string(on_crash_to_string(c->on_crash)));
    r |= json_object_set_new(obj, "cpu_weight", json_integer(c->cpu_weight));
    r |= json_object_set_new(obj, "cpu_cap", json_integer(c->cpu_cap));
    r |= json_object_set_new(obj, "memory_limit", json_integer((json_int_t)c->memory_limit));
    return r ? -ENOMEM : 0;
}
