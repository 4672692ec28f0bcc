/* libFuzzer target: WebSocket frames as hvd's VNC bridge (client frames) and hvctl's relay
 * (server frames) parse them, and the handshake's header values. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "websocket.h"

/* Parses back-to-back frames of one side the way the bridges do; every frame lies inside the
 * buffer, and its payload within the limit. */
static void parse_all(uint8_t *buf, size_t len, bool from_client)
{
    size_t used = 0;

    for (;;) {
        WsFrame f;
        int r = ws_frame_parse(buf + used, len - used, 4096, from_client, &f);
        if (r <= 0)
            return;
        assert(f.size <= len - used && f.length <= 4096);
        assert(f.payload >= buf + used && f.payload + f.length <= buf + used + f.size);
        if (from_client)
            ws_frame_unmask(&f);
        used += f.size;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    char *text = malloc(size + 1);

    if (!buf || !text) {
        free(buf);
        free(text);
        return 0;
    }
    memcpy(buf, data, size);
    parse_all(buf, size, true);
    memcpy(buf, data, size);
    parse_all(buf, size, false);
    memcpy(text, data, size);
    text[size] = 0;
    (void)ws_header_has_token(text, "binary");
    (void)ws_key_is_valid(text);
    free(buf);
    free(text);
    return 0;
}
