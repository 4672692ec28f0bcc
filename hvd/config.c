/* Configuration keys, defaults and parsing. */
#include <string.h>

#include "build-config.h"
#include "config.h"
#include "http-listen.h"
#include "ini.h"
#include "parse-util.h"

static const char *const store_sync_table[_STORE_SYNC_MAX] = {
    [STORE_SYNC_NORMAL] = "normal",
    [STORE_SYNC_FULL] = "full",
};
DEFINE_STRING_TABLE(store_sync, StoreSync, _STORE_SYNC_MAX);

typedef enum ConfigType {
    CONFIG_STRING,
    CONFIG_UINT,
    CONFIG_UINT64,
    CONFIG_DOUBLE,
    CONFIG_CPUSET,
    CONFIG_SYNC,
    CONFIG_BOOL,
} ConfigType;

typedef struct ConfigKey {
    const char *section;
    const char *key;
    ConfigType type;
    size_t offset;
    double min, max;
} ConfigKey;

#define KEY(s, k, t, field, lo, hi)                 \
    {                                               \
        s, k, t, offsetof(HvdConfig, field), lo, hi \
    }

static const ConfigKey config_keys[] = {
    KEY("daemon", "state-dir", CONFIG_STRING, state_dir, 0, 0),
    KEY("daemon", "runtime-dir", CONFIG_STRING, runtime_dir, 0, 0),
    KEY("daemon", "admin-group", CONFIG_STRING, admin_group, 0, 0),
    KEY("daemon", "synchronous", CONFIG_SYNC, synchronous, 0, 0),
    KEY("daemon", "shutdown-timeout", CONFIG_UINT, shutdown_timeout_s, 1, 86400),
    KEY("allocation", "reserved-cpus", CONFIG_CPUSET, reserved_cpus, 0, 0),
    KEY("allocation", "reserved-memory-mib", CONFIG_UINT64, reserved_memory_mib, 0,
        1024.0 * 1024 * 1024),
    KEY("allocation", "cpu-overcommit", CONFIG_DOUBLE, cpu_overcommit, 0.1, 1000),
    KEY("allocation", "memory-overcommit", CONFIG_DOUBLE, memory_overcommit, 0.1, 100),
    KEY("kvm", "enabled", CONFIG_BOOL, kvm_enabled, 0, 0),
    KEY("kvm", "uri", CONFIG_STRING, kvm_uri, 0, 0),
    KEY("kvm", "domain-type", CONFIG_STRING, kvm_domain_type, 0, 0),
    KEY("kvm", "workers", CONFIG_UINT, kvm_workers, 1, 64),
    KEY("minihv", "binary", CONFIG_STRING, minihv_binary, 0, 0),
    KEY("minihv", "guest-dir", CONFIG_STRING, minihv_guest_dir, 0, 0),
    KEY("http", "listen", CONFIG_STRING, http_listen, 0, 0),
    KEY("http", "tls-cert", CONFIG_STRING, http_tls_cert, 0, 0),
    KEY("http", "tls-key", CONFIG_STRING, http_tls_key, 0, 0),
    KEY("http", "web-dir", CONFIG_STRING, http_web_dir, 0, 0),
    KEY("http", "max-body-kib", CONFIG_UINT, http_max_body_kib, 1, 16384),
    KEY("http", "max-connections", CONFIG_UINT, http_max_connections, 16, 65536),
    KEY("http", "request-timeout", CONFIG_UINT, http_request_timeout_s, 1, 3600),
    KEY("http", "idle-timeout", CONFIG_UINT, http_idle_timeout_s, 1, 86400),
    KEY("http", "max-connections-per-address", CONFIG_UINT, http_max_connections_per_address, 1,
        65536),
};

static int set_string(char **field, const char *value)
{
    char *copy = strdup(value);

    if (!copy)
        return -ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

int config_init(HvdConfig *c)
{
    *c = (HvdConfig){
        .synchronous = STORE_SYNC_NORMAL,
        .shutdown_timeout_s = 60,
        .reserved_memory_mib = 512,
        .cpu_overcommit = 4.0,
        .memory_overcommit = 1.0,
        .kvm_enabled = true,
        .kvm_workers = 4,
        .http_max_body_kib = 64,
        .http_max_connections = 4096,
        .http_request_timeout_s = 10,
        .http_idle_timeout_s = 60,
        .http_max_connections_per_address = 64,
    };
    if (set_string(&c->state_dir, HVD_DEFAULT_STATE_DIR) < 0 ||
        set_string(&c->runtime_dir, HVD_DEFAULT_RUNTIME_DIR) < 0 ||
        set_string(&c->admin_group, "hvd") < 0 || set_string(&c->kvm_uri, "qemu:///system") < 0 ||
        set_string(&c->kvm_domain_type, "auto") < 0 ||
        set_string(&c->minihv_binary, HVD_BINDIR "/minihv") < 0 ||
        set_string(&c->minihv_guest_dir, HVD_GUESTDIR) < 0 ||
        set_string(&c->http_listen, "127.0.0.1:8780") < 0 ||
        set_string(&c->http_web_dir, HVD_PKGDATADIR "/web") < 0) {
        config_done(c);
        return -ENOMEM;
    }
    return 0;
}

/* The string field behind key i of the table, or NULL for keys of other types. */
static char **string_field(HvdConfig *c, size_t i)
{
    if (config_keys[i].type != CONFIG_STRING)
        return NULL;
    return (char **)((char *)c + config_keys[i].offset);
}

void config_done(HvdConfig *c)
{
    for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
        char **field = string_field(c, i);
        if (field)
            free(*field);
    }
    *c = (HvdConfig){};
}

static int config_copy(HvdConfig *dst, const HvdConfig *src)
{
    int r = 0;

    *dst = *src;
    for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
        char **field = string_field(dst, i);
        /* A failed copy leaves NULL, so config_done() frees exactly the copies made. */
        if (field && *field && !(*field = strdup(*field)))
            r = -ENOMEM;
    }
    if (r < 0)
        config_done(dst);
    return r;
}

static int check_string(const ConfigKey *k, const char *value, Error *e)
{
    if (*value == 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "%s must not be empty", k->key);
    if (streq(k->key, "state-dir") || streq(k->key, "runtime-dir")) {
        if (value[0] != '/')
            return error_setf(e, ERROR_INVALID_ARGUMENT, "%s must be an absolute path, got '%s'",
                              k->key, value);
    } else if (streq(k->key, "domain-type")) {
        if (!streq(value, "auto") && !streq(value, "kvm") && !streq(value, "qemu"))
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "domain-type must be auto, kvm or qemu, got '%s'", value);
    } else if (streq(k->key, "listen")) {
        _cleanup_(http_listen_free_array) HttpListen *list = NULL;
        size_t n = 0;
        return http_listen_parse(value, &list, &n, e);
    } else if (streq(k->key, "tls-cert") || streq(k->key, "tls-key") || streq(k->key, "web-dir") ||
               streq(k->key, "binary") || streq(k->key, "guest-dir")) {
        if (value[0] != '/')
            return error_setf(e, ERROR_INVALID_ARGUMENT, "%s must be an absolute path, got '%s'",
                              k->key, value);
    } else if (streq(k->key, "uri")) {
        if (!strstr(value, ":/"))
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "uri must be a libvirt URI such as qemu:///system, got '%s'", value);
    }
    return 0;
}

int config_set(HvdConfig *c, const char *section, const char *key, const char *value, Error *e)
{
    const ConfigKey *k = NULL;
    void *field;

    for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
        if (streq(config_keys[i].section, section) && streq(config_keys[i].key, key)) {
            k = &config_keys[i];
            break;
        }
    if (!k)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "unknown key '%s' in section [%s]", key,
                          section);
    field = (char *)c + k->offset;

    switch (k->type) {
    case CONFIG_STRING: {
        int r = check_string(k, value, e);
        if (r < 0)
            return r;
        if (set_string(field, value) < 0)
            return error_set_errno(e, -ENOMEM, "Out of memory");
        return 0;
    }
    case CONFIG_UINT:
        if (parse_uint(value, (unsigned)k->min, (unsigned)k->max, field) < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "%s must be an integer in %.0f..%.0f, got '%s'", key, k->min, k->max,
                              value);
        return 0;
    case CONFIG_UINT64:
        if (parse_uint64(value, (uint64_t)k->min, (uint64_t)k->max, field) < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "%s must be an integer in %.0f..%.0f, got '%s'", key, k->min, k->max,
                              value);
        return 0;
    case CONFIG_DOUBLE:
        if (parse_double(value, k->min, k->max, field) < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "%s must be a number in %g..%g, got '%s'",
                              key, k->min, k->max, value);
        return 0;
    case CONFIG_CPUSET:
        if (cpuset_parse(value, field) < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT,
                              "%s must be a CPU list such as '0' or '0-1,4', got '%s'", key, value);
        return 0;
    case CONFIG_BOOL: {
        int b = parse_boolean(value);
        if (b < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "%s must be yes or no, got '%s'", key,
                              value);
        *(bool *)field = b;
        return 0;
    }
    case CONFIG_SYNC: {
        StoreSync s = store_sync_from_string(value);
        if (s < 0)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "%s must be 'normal' or 'full', got '%s'",
                              key, value);
        *(StoreSync *)field = s;
        return 0;
    }
    }
    return error_setf(e, ERROR_FAILED, "internal error: bad key type");
}

static int config_ini_handler(const char *section, const char *key, const char *value,
                              void *userdata, Error *e)
{
    return config_set(userdata, section, key, value, e);
}

int config_load(HvdConfig *c, const char *path, bool required, Error *e)
{
    HvdConfig loaded;
    int r;

    r = config_copy(&loaded, c);
    if (r < 0)
        return error_set_errno(e, r, "Out of memory");
    r = ini_parse_file(path, config_ini_handler, &loaded, e);
    if (r == -ENOENT && !required) {
        config_done(&loaded);
        return 0;
    }
    if (r == -ENOENT)
        r = error_set_errno(e, r, "%s: %m", path);
    if (r < 0) {
        config_done(&loaded);
        return r;
    }
    config_done(c);
    *c = loaded;
    return 0;
}
