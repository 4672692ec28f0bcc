/* a{sv} <-> JSON: settings in (strictly checked), information out. */
#include <string.h>

#include "bus.h"
#include "domain-config.h"

static int read_setting_value(sd_bus_message *m, const SettingField *f, json_t **ret, Error *e)
{
    const char *sig = setting_type_dbus_signature(f->type);
    int r = 0;

    switch (f->type) {
    case SETTING_STRING: {
        const char *s;
        r = sd_bus_message_read(m, "v", sig, &s);
        if (r >= 0)
            *ret = json_string(s);
        break;
    }
    case SETTING_UINT32: {
        uint32_t u;
        r = sd_bus_message_read(m, "v", sig, &u);
        if (r >= 0)
            *ret = json_integer(u);
        break;
    }
    case SETTING_UINT64: {
        uint64_t t;
        r = sd_bus_message_read(m, "v", sig, &t);
        if (r >= 0 && t > (uint64_t)INT64_MAX)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s' is out of range", f->key);
        if (r >= 0)
            *ret = json_integer((json_int_t)t);
        break;
    }
    case SETTING_BOOL: {
        int b;
        r = sd_bus_message_read(m, "v", sig, &b);
        if (r >= 0)
            *ret = json_boolean(b);
        break;
    }
    }
    if (r < 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'%s' could not be read: %s", f->key,
                          strerror(-r));
    return *ret ? 0 : error_set_errno(e, -ENOMEM, "Out of memory");
}

int bus_read_settings(sd_bus_message *m, json_t **ret, Error *e)
{
    json_t *settings = json_object();
    int r;

    if (!settings)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    r = sd_bus_message_enter_container(m, 'a', "{sv}");
    if (r < 0)
        goto bad;
    for (;;) {
        const SettingField *f;
        const char *key, *contents;
        json_t *value = NULL;
        char type;

        r = sd_bus_message_enter_container(m, 'e', "sv");
        if (r < 0)
            goto bad;
        if (r == 0)
            break;
        r = sd_bus_message_read(m, "s", &key);
        if (r < 0)
            goto bad;
        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
            goto bad;
        r = domain_setting_check_entry(settings, key, contents, &f, e);
        if (r < 0)
            goto fail;
        r = read_setting_value(m, f, &value, e);
        if (r < 0)
            goto fail;
        (void)json_object_set_new(settings, key, value);
        r = sd_bus_message_exit_container(m);
        if (r < 0)
            goto bad;
    }
    r = sd_bus_message_exit_container(m);
    if (r < 0)
        goto bad;
    *ret = settings;
    return 0;

bad:
    (void)error_setf(e, ERROR_INVALID_ARGUMENT, "settings must be an a{sv} dictionary: %s",
                     strerror(-r));
fail:
    json_decref(settings);
    return r < 0 ? r : -EINVAL;
}

static int append_json_value(sd_bus_message *m, const char *key, json_t *v);

int bus_append_json_dict(sd_bus_message *m, json_t *obj)
{
    const char *key;
    json_t *v;
    int r;

    r = sd_bus_message_open_container(m, 'a', "{sv}");
    if (r < 0)
        return r;
    json_object_foreach (obj, key, v) {
        if (json_is_null(v))
            continue;
        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
            r = sd_bus_message_append(m, "s", key);
        if (r >= 0)
            r = append_json_value(m, key, v);
        if (r >= 0)
            r = sd_bus_message_close_container(m);
        if (r < 0)
            return r;
    }
    return sd_bus_message_close_container(m);
}

static int append_json_value(sd_bus_message *m, const char *key, json_t *v)
{
    const SettingField *f = key ? domain_setting_lookup(key) : NULL;
    int r;

    switch (json_typeof(v)) {
    case JSON_STRING:
        return sd_bus_message_append(m, "v", "s", json_string_value(v));
    case JSON_TRUE:
    case JSON_FALSE:
        return sd_bus_message_append(m, "v", "b", json_is_true(v));
    case JSON_REAL:
        return sd_bus_message_append(m, "v", "d", json_real_value(v));
    case JSON_INTEGER:
        if (f && f->type == SETTING_UINT32)
            return sd_bus_message_append(m, "v", "u", (uint32_t)json_integer_value(v));
        if (json_integer_value(v) < 0)
            return sd_bus_message_append(m, "v", "x", (int64_t)json_integer_value(v));
        return sd_bus_message_append(m, "v", "t", (uint64_t)json_integer_value(v));
    case JSON_OBJECT:
        r = sd_bus_message_open_container(m, 'v', "a{sv}");
        if (r >= 0)
            r = bus_append_json_dict(m, v);
        if (r >= 0)
            r = sd_bus_message_close_container(m);
        return r;
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        r = sd_bus_message_open_container(m, 'v', "av");
        if (r >= 0)
            r = sd_bus_message_open_container(m, 'a', "v");
        json_array_foreach (v, i, item) {
            if (r < 0 || json_is_null(item))
                continue;
            r = append_json_value(m, NULL, item);
        }
        if (r >= 0)
            r = sd_bus_message_close_container(m);
        if (r >= 0)
            r = sd_bus_message_close_container(m);
        return r;
    }
    case JSON_NULL:
        return 0;
    }
    return -EINVAL;
}
