/* hvd's own configuration keys ([daemon], [allocation], [http], [migrate], [history]), their
 * defaults (the web files of the build tree when hvd runs uninstalled from it) and parsing; every
 * other section is kept as read for the driver that owns it. */
#include <string.h>

#include "build-config.h"
#include "build-tree.h"
#include "config.h"
#include "http-listen.h"
#include "ini.h"

static const char *const store_sync_table[_STORE_SYNC_MAX] = {
    [STORE_SYNC_NORMAL] = "normal",
    [STORE_SYNC_FULL] = "full",
};
DEFINE_STRING_TABLE(store_sync, StoreSync, _STORE_SYNC_MAX);

static int check_listen(const char *value, Error *e)
{
    _cleanup_(http_listen_free_array) HttpListen *list = NULL;
    size_t n = 0;

    return http_listen_parse(value, &list, &n, e);
}

#define KEY(s, k, t, field, lo, hi)                                                         \
    {                                                                                       \
        .section = s, .key = k, .type = t, .offset = offsetof(HvdConfig, field), .min = lo, \
        .max = hi                                                                           \
    }

static const ConfigKey config_keys[] = {
    KEY("daemon", "state-dir", CONFIG_PATH, state_dir, 0, 0),
    KEY("daemon", "runtime-dir", CONFIG_PATH, runtime_dir, 0, 0),
    KEY("daemon", "admin-group", CONFIG_STRING, admin_group, 0, 0),
    {.section = "daemon",
     .key = "synchronous",
     .type = CONFIG_ENUM,
     .offset = offsetof(HvdConfig, synchronous),
     .names = store_sync_table,
     .n_names = _STORE_SYNC_MAX},
    KEY("daemon", "shutdown-timeout", CONFIG_UINT, shutdown_timeout_s, 1, 86400),
    KEY("allocation", "reserved-cpus", CONFIG_CPUSET, reserved_cpus, 0, 0),
    KEY("allocation", "reserved-memory-mib", CONFIG_UINT64, reserved_memory_mib, 0,
        1024.0 * 1024 * 1024),
    KEY("allocation", "cpu-overcommit", CONFIG_DOUBLE, cpu_overcommit, 0.1, 10000),
    KEY("allocation", "memory-overcommit", CONFIG_DOUBLE, memory_overcommit, 0.1, 100),
    {.section = "http",
     .key = "listen",
     .type = CONFIG_STRING,
     .offset = offsetof(HvdConfig, http_listen),
     .check = check_listen},
    KEY("http", "tls-cert", CONFIG_PATH, http_tls_cert, 0, 0),
    KEY("http", "tls-key", CONFIG_PATH, http_tls_key, 0, 0),
    KEY("http", "web-dir", CONFIG_PATH, http_web_dir, 0, 0),
    KEY("http", "max-body-kib", CONFIG_UINT, http_max_body_kib, 1, 16384),
    KEY("http", "max-connections", CONFIG_UINT, http_max_connections, 16, 65536),
    KEY("http", "request-timeout", CONFIG_UINT, http_request_timeout_s, 1, 3600),
    KEY("http", "idle-timeout", CONFIG_UINT, http_idle_timeout_s, 1, 86400),
    KEY("http", "max-connections-per-address", CONFIG_UINT, http_max_connections_per_address, 1,
        65536),
    KEY("http", "tls-client-ca", CONFIG_PATH, http_tls_client_ca, 0, 0),
    KEY("migrate", "tls-ca", CONFIG_PATH, migrate_tls_ca, 0, 0),
    KEY("migrate", "tls-cert", CONFIG_PATH, migrate_tls_cert, 0, 0),
    KEY("migrate", "tls-key", CONFIG_PATH, migrate_tls_key, 0, 0),
    KEY("history", "memory-mib", CONFIG_UINT, history_memory_mib, 0, 4096),
};

static const char *const own_sections[] = {"daemon", "allocation", "http", "migrate", "history"};

static bool own_section(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(own_sections); i++)
        if (streq(own_sections[i], name))
            return true;
    return false;
}

int config_init(HvdConfig *c)
{
    *c = (HvdConfig){
        .synchronous = STORE_SYNC_NORMAL,
        .shutdown_timeout_s = 60,
        .reserved_memory_mib = 512,
        .cpu_overcommit = 4.0,
        .memory_overcommit = 1.0,
        .http_max_body_kib = 64,
        .http_max_connections = 4096,
        .http_request_timeout_s = 10,
        .http_idle_timeout_s = 60,
        .http_max_connections_per_address = 64,
        .history_memory_mib = 16,
    };
    if (config_string_set(&c->state_dir, HVD_DEFAULT_STATE_DIR) < 0 ||
        config_string_set(&c->runtime_dir, HVD_DEFAULT_RUNTIME_DIR) < 0 ||
        config_string_set(&c->admin_group, "hvd") < 0 ||
        config_string_set(&c->http_listen, "127.0.0.1:8780") < 0 ||
        config_string_set(&c->http_web_dir, build_tree_or("web", HVD_PKGDATADIR "/web")) < 0) {
        config_done(c);
        return -ENOMEM;
    }
    return 0;
}

void config_done(HvdConfig *c)
{
    config_keys_free_strings(config_keys, ELEMENTSOF(config_keys), c);
    config_sections_free(c->sections, c->n_sections);
    *c = (HvdConfig){};
}

static int config_copy(HvdConfig *dst, const HvdConfig *src)
{
    int r;

    *dst = *src;
    dst->sections = NULL;
    dst->n_sections = 0;
    r = config_keys_dup_strings(config_keys, ELEMENTSOF(config_keys), dst);
    if (r >= 0)
        r = config_sections_dup(src->sections, src->n_sections, &dst->sections);
    if (r >= 0)
        dst->n_sections = src->n_sections;
    if (r < 0)
        config_done(dst);
    return r;
}

const ConfigSection *config_section(const HvdConfig *c, const char *name)
{
    for (size_t i = 0; i < c->n_sections; i++)
        if (streq(c->sections[i].name, name))
            return &c->sections[i];
    return NULL;
}

/* The kept section called name, added when it is new. */
static ConfigSection *section_get_or_add(HvdConfig *c, const char *name, const char *origin)
{
    ConfigSection *s = (ConfigSection *)config_section(c, name);

    if (s)
        return s;
    s = reallocarray(c->sections, c->n_sections + 1, sizeof(*s));
    if (!s)
        return NULL;
    c->sections = s;
    s = &c->sections[c->n_sections];
    *s = (ConfigSection){.name = strdup(name), .origin = strdup(origin)};
    if (!s->name || !s->origin) {
        free(s->name);
        free(s->origin);
        return NULL;
    }
    c->n_sections++;
    return s;
}

int config_set(HvdConfig *c, const char *section, const char *key, const char *value,
               const char *origin, Error *e)
{
    ConfigSection *s;

    if (own_section(section))
        return config_keys_set(config_keys, ELEMENTSOF(config_keys), c, section, key, value, e);
    s = section_get_or_add(c, section, origin);
    if (!s || config_section_add(s, key, value, origin) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    return 0;
}

void config_print(const HvdConfig *c, FILE *f)
{
    for (size_t i = 0; i < ELEMENTSOF(own_sections); i++) {
        fprintf(f, "%s[%s]\n", i ? "\n" : "", own_sections[i]);
        config_keys_print(config_keys, ELEMENTSOF(config_keys), c, own_sections[i], f);
    }
}

static int config_ini_handler(const char *section, const char *key, const char *value,
                              const char *origin, void *userdata, Error *e)
{
    return config_set(userdata, section, key, value, origin, e);
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
