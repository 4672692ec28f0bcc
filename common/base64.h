/* Base64 (RFC 4648, with padding) for bytes carried in JSON: console output on the event
 * stream. */
#pragma once

#include <stddef.h>

/* Encodes the len bytes of data as a new NUL-terminated string in *ret. Returns 0 or -ENOMEM. */
int base64_encode(const void *data, size_t len, char **ret);

/* Decodes the base64 text s (padding optional, no whitespace) into a new buffer *ret of *ret_len
 * bytes (NUL-terminated for convenience). Returns 0, -EINVAL for text that is not base64, or
 * -ENOMEM. */
int base64_decode(const char *s, char **ret, size_t *ret_len);
