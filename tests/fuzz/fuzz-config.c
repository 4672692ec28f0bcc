/* libFuzzer target: hvd's configuration parser (INI syntax, every key's value check, listen
 * addresses) on arbitrary text. */
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "ini.h"

static int handler(const char *section, const char *key, const char *value, const char *origin,
                   void *userdata, Error *e)
{
    return config_set(userdata, section, key, value, origin, e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    HvdConfig c;
    Error e = ERROR_NULL;

    if (!text || config_init(&c) < 0) {
        free(text);
        return 0;
    }
    memcpy(text, data, size);
    text[size] = 0;
    if (ini_parse_string(text, "fuzz.conf", handler, &c, &e) < 0 && !e.message[0])
        __builtin_trap(); /* every refusal must say why */
    config_done(&c);
    free(text);
    return 0;
}
