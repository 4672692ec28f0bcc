/* Base64 encoding and decoding (RFC 4648 alphabet, with padding). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_encode(const void *data, size_t len, char **ret)
{
    const unsigned char *in = data;
    char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;

    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        *p++ = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
        *p++ = i + 2 < len ? alphabet[v & 63] : '=';
    }
    *p = 0;
    *ret = out;
    return 0;
}

static int value_of(char c)
{
    const char *p = c ? strchr(alphabet, c) : NULL;

    return p ? (int)(p - alphabet) : -1;
}

int base64_decode(const char *s, char **ret, size_t *ret_len)
{
    size_t n = strlen(s), len = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    char *out;

    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -EINVAL;
    out = malloc(n / 4 * 3 + 3);
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int v = value_of(s[i]);
        if (v < 0) {
            free(out);
            return -EINVAL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (char)(acc >> bits & 0xff);
        }
    }
    out[len] = 0;
    *ret = out;
    *ret_len = len;
    return 0;
}
