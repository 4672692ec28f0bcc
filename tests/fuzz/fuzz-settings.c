/* libFuzzer target: domain settings as they arrive on every surface — a JSON body (HTTP), or
 * a dictionary of typed entries (D-Bus a{sv}, modelled from the input: key, signature and
 * value) — through the one validator, for creation and for changes in every state. */
#include <stdint.h>
#include <string.h>

#include "domain-config.h"

/* Builds settings from "key\x00sig\x00value\x00..." triples the way the bus reader does. */
static void fuzz_dbus_entries(const char *p, const char *end)
{
    json_t *settings = json_object();
    DomainConfig c;
    Error e = ERROR_NULL;

    while (p < end) {
        const char *key = p, *sig = key + strnlen(key, (size_t)(end - key)) + 1, *value;
        const SettingField *f;
        json_t *v = NULL;

        if (sig >= end)
            break;
        value = sig + strnlen(sig, (size_t)(end - sig)) + 1;
        if (value > end)
            break;
        p = value < end ? value + strnlen(value, (size_t)(end - value)) + 1 : end;
        e = ERROR_NULL;
        if (domain_setting_check_entry(settings, key, sig, &f, &e) < 0) {
            if (!e.message[0])
                __builtin_trap();
            break;
        }
        switch (f->type) {
        case SETTING_STRING:
            v = json_string(value < end ? value : "");
            break;
        case SETTING_UINT32:
        case SETTING_UINT64:
            v = json_integer(value < end ? strtoll(value, NULL, 0) : 0);
            break;
        case SETTING_BOOL:
            v = json_boolean(value < end && *value == '1');
            break;
        }
        if (v)
            (void)json_object_set_new(settings, key, v);
    }
    e = ERROR_NULL;
    if (domain_config_from_json(settings, &c, &e) < 0 && !e.message[0])
        __builtin_trap();
    domain_config_done(&c);
    json_decref(settings);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body;
    DomainConfig c;
    Error e = ERROR_NULL;

    if (size == 0)
        return 0;
    if (data[0] == 'D') {
        /* A copy with a final NUL: the last value may run to the end of the input. */
        char *copy = malloc(size + 1);
        if (!copy)
            return 0;
        memcpy(copy, data, size);
        copy[size] = 0;
        fuzz_dbus_entries(copy + 1, copy + size);
        free(copy);
        return 0;
    }
    body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (!body)
        return 0;
    if (domain_config_from_json(body, &c, &e) < 0) {
        if (!e.message[0])
            __builtin_trap();
        json_t *base = json_pack("{s:s}", "name", "fuzz");
        domain_config_done(&c);
        e = ERROR_NULL;
        if (domain_config_from_json(base, &c, &e) < 0)
            __builtin_trap();
        json_decref(base);
    }
    /* The same body as a change, in the state the first byte names. */
    e = ERROR_NULL;
    if (domain_config_update_from_json(&c, body, (DomainState)(data[0] % _DOMAIN_STATE_MAX), &e) <
            0 &&
        !e.message[0])
        __builtin_trap();
    json_t *out = json_object();
    if (domain_config_to_json(&c, out) < 0)
        __builtin_trap();
    json_decref(out);
    domain_config_done(&c);
    json_decref(body);
    return 0;
}
