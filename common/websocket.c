/* WebSocket (RFC 6455) handshake values and frames, without I/O: the bridges that use them
 * (hvd/http-vnc.c, hvctl/verbs-vnc.c) own their sockets and buffers. */
#include <ctype.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "base64.h"
#include "websocket.h"
#include "macro.h"

/* RFC 6455 section 1.3: the GUID appended to the client's key. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

bool ws_header_has_token(const char *list, const char *token)
{
    size_t n = strlen(token);

    if (!list)
        return false;
    for (const char *p = list; *p;) {
        size_t len;

        p += strspn(p, " \t,");
        len = strcspn(p, ",");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == n && strncasecmp(p, token, n) == 0)
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

bool ws_key_is_valid(const char *key)
{
    _cleanup_free_ char *raw = NULL;
    size_t len;

    if (!key || strlen(key) != 24 || base64_decode(key, &raw, &len) < 0)
        return false;
    return len == 16;
}

int ws_accept_value(const char *key, char out[WS_ACCEPT_LENGTH + 1])
{
    _cleanup_free_ char *text = NULL, *encoded = NULL;
    unsigned char digest[20];

    if (asprintf(&text, "%s%s", key, WS_GUID) < 0)
        return -ENOMEM;
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, text, strlen(text), digest) < 0)
        return -EIO;
    if (base64_encode(digest, sizeof(digest), &encoded) < 0)
        return -ENOMEM;
    if (strlen(encoded) != WS_ACCEPT_LENGTH)
        return -EIO;
    memcpy(out, encoded, WS_ACCEPT_LENGTH + 1);
    return 0;
}

static bool opcode_is_control(unsigned opcode)
{
    return opcode & 0x8;
}

static bool opcode_is_known(unsigned opcode)
{
    switch (opcode) {
    case WS_OP_CONTINUATION:
    case WS_OP_TEXT:
    case WS_OP_BINARY:
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        return true;
    default:
        return false;
    }
}

int ws_frame_parse(uint8_t *buf, size_t len, size_t max_payload, bool from_client, WsFrame *ret)
{
    size_t header = 2, length, mask_len = from_client ? 4 : 0;
    unsigned opcode;
    uint8_t *mask;

    if (len < 2)
        return 0;
    opcode = buf[0] & 0x0f;
    if ((buf[0] & 0x70) || !opcode_is_known(opcode))
        return -WS_CLOSE_PROTOCOL_ERROR;
    /* Section 5.1: every frame from a client is masked, none from a server. */
    if (!(buf[1] & 0x80) != !from_client)
        return -WS_CLOSE_PROTOCOL_ERROR;
    length = buf[1] & 0x7f;
    if (length == 126) {
        if (len < 4)
            return 0;
        length = (size_t)buf[2] << 8 | buf[3];
        header = 4;
    } else if (length == 127) {
        uint64_t l = 0;
        if (len < 10)
            return 0;
        for (unsigned i = 0; i < 8; i++)
            l = l << 8 | buf[2 + i];
        if (l >> 63)
            return -WS_CLOSE_PROTOCOL_ERROR;
        if (l > max_payload)
            return -WS_CLOSE_TOO_BIG;
        length = (size_t)l;
        header = 10;
    }
    if (opcode_is_control(opcode) && (length > WS_MAX_CONTROL || !(buf[0] & 0x80)))
        return -WS_CLOSE_PROTOCOL_ERROR;
    if (length > max_payload)
        return -WS_CLOSE_TOO_BIG;
    if (len < header + mask_len || len - header - mask_len < length)
        return 0;
    mask = buf + header;
    *ret = (WsFrame){
        .fin = buf[0] & 0x80,
        .opcode = (WsOpcode)opcode,
        .payload = mask + mask_len,
        .length = length,
        .size = header + mask_len + length,
    };
    if (from_client)
        memcpy(ret->mask, mask, 4);
    return 1;
}

void ws_frame_unmask(WsFrame *f)
{
    for (size_t i = 0; i < f->length; i++)
        f->payload[i] ^= f->mask[i % 4];
}

size_t ws_frame_header(WsOpcode opcode, size_t length, uint8_t out[WS_SERVER_HEADER_MAX])
{
    out[0] = 0x80 | (uint8_t)opcode;
    if (length < 126) {
        out[1] = (uint8_t)length;
        return 2;
    }
    if (length <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(length >> 8);
        out[3] = (uint8_t)length;
        return 4;
    }
    out[1] = 127;
    for (unsigned i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)((uint64_t)length >> (56 - 8 * i));
    return 10;
}

size_t ws_client_frame(WsOpcode opcode, const void *payload, size_t len, uint8_t *out)
{
    uint8_t mask[4];
    size_t n = ws_frame_header(opcode, len, out);

    if (getrandom(mask, sizeof(mask), 0) != (ssize_t)sizeof(mask))
        return 0;
    out[1] |= 0x80;
    memcpy(out + n, mask, 4);
    n += 4;
    for (size_t i = 0; i < len; i++)
        out[n + i] = ((const uint8_t *)payload)[i] ^ mask[i % 4];
    return n + len;
}

int ws_new_key(char out[25])
{
    _cleanup_free_ char *encoded = NULL;
    uint8_t raw[16];

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -EIO;
    if (base64_encode(raw, sizeof(raw), &encoded) < 0)
        return -ENOMEM;
    memcpy(out, encoded, 25);
    return 0;
}
