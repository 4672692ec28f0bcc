/* Unit tests: the WebSocket handshake values and frames of hvd's VNC bridge (RFC 6455's own
 * examples), and the frames a client must not send. */
#include <stdint.h>

#include "websocket.h"
#include "test.h"

static void test_handshake(void)
{
    char accept[WS_ACCEPT_LENGTH + 1];

    /* RFC 6455 section 1.3. */
    CHECK(ws_accept_value("dGhlIHNhbXBsZSBub25jZQ==", accept) == 0);
    CHECK_STREQ(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(ws_key_is_valid("dGhlIHNhbXBsZSBub25jZQ=="));
    CHECK(!ws_key_is_valid("dGhlIHNhbXBsZSBub25jZQ"));
    CHECK(!ws_key_is_valid("dGhlIHNhbXBsZSBub25jZQ=!"));
    CHECK(!ws_key_is_valid(NULL));

    CHECK(ws_header_has_token("keep-alive, Upgrade", "upgrade"));
    CHECK(ws_header_has_token("websocket", "websocket"));
    CHECK(ws_header_has_token(" base64 ,binary ", "binary"));
    CHECK(!ws_header_has_token("binaryx, base64", "binary"));
    CHECK(!ws_header_has_token("", "binary"));
    CHECK(!ws_header_has_token(NULL, "binary"));
}

static void test_frames(void)
{
    /* RFC 6455 section 5.7: a masked text frame "Hello". */
    uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    uint8_t unmasked[] = {0x82, 0x05, 'H', 'e', 'l', 'l', 'o'};
    uint8_t long_ping[4 + 4 + 126] = {0x89, 0x80 | 126, 0, 126};
    uint8_t fragmented_close[] = {0x08, 0x80, 0, 0, 0, 0};
    uint8_t reserved[] = {0xc2, 0x80, 0, 0, 0, 0};
    uint8_t opcode3[] = {0x83, 0x80, 0, 0, 0, 0};
    uint8_t huge[14] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0};
    uint8_t medium[4 + 4 + 300] = {0x82, 0x80 | 126, 0x01, 0x2c, 1, 2, 3, 4};
    uint8_t header[WS_SERVER_HEADER_MAX];
    WsFrame f;

    for (size_t n = 0; n < sizeof(hello); n++)
        CHECK(ws_frame_parse(hello, n, 1024, true, &f) == 0);
    CHECK(ws_frame_parse(hello, sizeof(hello), 1024, true, &f) == 1);
    CHECK(f.fin && f.opcode == WS_OP_TEXT && f.length == 5 && f.size == sizeof(hello));
    ws_frame_unmask(&f);
    CHECK(memcmp(f.payload, "Hello", 5) == 0);

    CHECK(ws_frame_parse(unmasked, sizeof(unmasked), 1024, true, &f) == -WS_CLOSE_PROTOCOL_ERROR);
    CHECK(ws_frame_parse(long_ping, sizeof(long_ping), 1024, true, &f) == -WS_CLOSE_PROTOCOL_ERROR);
    CHECK(ws_frame_parse(fragmented_close, sizeof(fragmented_close), 1024, true, &f) ==
          -WS_CLOSE_PROTOCOL_ERROR);
    CHECK(ws_frame_parse(reserved, sizeof(reserved), 1024, true, &f) == -WS_CLOSE_PROTOCOL_ERROR);
    CHECK(ws_frame_parse(opcode3, sizeof(opcode3), 1024, true, &f) == -WS_CLOSE_PROTOCOL_ERROR);
    /* A length above the limit is refused from the header alone, before its payload came. */
    CHECK(ws_frame_parse(huge, sizeof(huge), 1024, true, &f) == -WS_CLOSE_TOO_BIG);
    CHECK(ws_frame_parse(medium, 8, 299, true, &f) == -WS_CLOSE_TOO_BIG);
    CHECK(ws_frame_parse(medium, sizeof(medium) - 1, 1024, true, &f) == 0);
    CHECK(ws_frame_parse(medium, sizeof(medium), 1024, true, &f) == 1 && f.length == 300);

    /* A server's frames are not masked, and must not be. */
    CHECK(ws_frame_parse(unmasked, sizeof(unmasked), 1024, false, &f) == 1 && f.length == 5 &&
          f.opcode == WS_OP_BINARY && memcmp(f.payload, "Hello", 5) == 0);
    CHECK(ws_frame_parse(hello, sizeof(hello), 1024, false, &f) == -WS_CLOSE_PROTOCOL_ERROR);

    CHECK(ws_frame_header(WS_OP_BINARY, 5, header) == 2 && header[0] == 0x82 && header[1] == 5);
    CHECK(ws_frame_header(WS_OP_BINARY, 300, header) == 4 && header[1] == 126 &&
          header[2] == 0x01 && header[3] == 0x2c);
    CHECK(ws_frame_header(WS_OP_CLOSE, 70000, header) == 10 && header[0] == 0x88 &&
          header[1] == 127 && header[7] == 0x01 && header[8] == 0x11 && header[9] == 0x70);
}

/* What a client frames, a server parses back. */
static void test_client_frames(void)
{
    uint8_t out[300 + WS_MAX_HEADER], payload[300];
    char key[25];
    WsFrame f;
    size_t n;

    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)i;
    n = ws_client_frame(WS_OP_BINARY, payload, sizeof(payload), out);
    CHECK(n == 4 + 4 + sizeof(payload));
    CHECK(ws_frame_parse(out, n, 1024, true, &f) == 1 && f.size == n && f.length == 300);
    ws_frame_unmask(&f);
    CHECK(memcmp(f.payload, payload, sizeof(payload)) == 0);
    CHECK(ws_new_key(key) == 0 && ws_key_is_valid(key));
}

int main(void)
{
    test_client_frames();
    test_handshake();
    test_frames();
    return test_summary("test-websocket");
}
