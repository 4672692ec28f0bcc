/* WebSocket (RFC 6455): the opening handshake's checks and answer, and the framing of both
 * sides (a client masks its frames, a server does not). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_ACCEPT_LENGTH     28  /* base64 of a SHA-1 digest */
#define WS_MAX_HEADER        14  /* the longest frame header: 2 + 8 (length) + 4 (mask) */
#define WS_MAX_CONTROL       125 /* a control frame's payload at most */
#define WS_SERVER_HEADER_MAX 10  /* a server frame's header: no mask */

typedef enum WsOpcode {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xa,
} WsOpcode;

/* Close codes (RFC 6455 section 7.4.1). */
enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL_ERROR = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

/* Whether the comma-separated header value list (Connection, Upgrade, Sec-WebSocket-Protocol)
 * names token, compared without regard to case. NULL names nothing. */
bool ws_header_has_token(const char *list, const char *token);

/* Whether key is a valid Sec-WebSocket-Key: base64 of 16 bytes (24 characters). */
bool ws_key_is_valid(const char *key);

/* Writes the Sec-WebSocket-Accept value for the client's key into out (NUL-terminated).
 * Returns 0, or a negative errno when hashing failed. */
int ws_accept_value(const char *key, char out[WS_ACCEPT_LENGTH + 1]);

/* One frame, as ws_frame_parse() found it. payload points into the parsed buffer; a client's
 * is still masked until ws_frame_unmask(). */
typedef struct WsFrame {
    bool fin;
    WsOpcode opcode;
    uint8_t mask[4];
    uint8_t *payload;
    size_t length;
    size_t size; /* header and payload: what the frame takes of the buffer */
} WsFrame;

/* Parses the frame at the start of buf (len bytes), changing nothing: a client's (masked) when
 * from_client, else a server's (unmasked). Returns 1 with *ret filled when a whole frame is
 * there, 0 when more bytes are needed, or a negative close code: -WS_CLOSE_PROTOCOL_ERROR for a
 * malformed frame (masked or not against its side, reserved bits or opcodes, a long or
 * fragmented control frame), -WS_CLOSE_TOO_BIG for a payload above max_payload. */
int ws_frame_parse(uint8_t *buf, size_t len, size_t max_payload, bool from_client, WsFrame *ret);

/* Unmasks f's payload in place (once: a second call masks it again). */
void ws_frame_unmask(WsFrame *f);

/* Writes the header of a server frame (final, unmasked) carrying length bytes of payload into
 * out; returns its size (2, 4 or 10 bytes). */
size_t ws_frame_header(WsOpcode opcode, size_t length, uint8_t out[WS_SERVER_HEADER_MAX]);

/* Writes a client frame (final, masked with a random key) of payload into out, which has room
 * for len + WS_MAX_HEADER bytes; returns its size, or 0 when no random key could be had. */
size_t ws_client_frame(WsOpcode opcode, const void *payload, size_t len, uint8_t *out);

/* Writes a random Sec-WebSocket-Key into out (NUL-terminated). Returns 0 or a negative errno. */
int ws_new_key(char out[25]);
