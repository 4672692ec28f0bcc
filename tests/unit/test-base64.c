/* Unit tests: base64 of console bytes, every length's padding, and text that is not base64. */
#include "base64.h"
#include "test.h"

static void round_trip(const char *data, size_t len, const char *expected)
{
    char *text = NULL, *back = NULL;
    size_t back_len = 0;

    CHECK(base64_encode(data, len, &text) == 0);
    CHECK_STREQ(text, expected);
    CHECK(base64_decode(text, &back, &back_len) == 0);
    CHECK(back_len == len && memcmp(back, data, len) == 0);
    free(text);
    free(back);
}

int main(void)
{
    char *out = NULL;
    size_t len;

    round_trip("", 0, "");
    round_trip("f", 1, "Zg==");
    round_trip("fo", 2, "Zm8=");
    round_trip("foo", 3, "Zm9v");
    round_trip("caf\xc3\xa9\r\n\x1b[6n", 11, "Y2Fmw6kNChtbNm4=");
    round_trip("\0\xff\x80", 3, "AP+A");
    CHECK(base64_decode("Zm9v!", &out, &len) == -EINVAL);
    CHECK(base64_decode("Z", &out, &len) == -EINVAL);
    CHECK(base64_decode("Zm8", &out, &len) == 0 && len == 2 && memcmp(out, "fo", 2) == 0);
    free(out);
    return test_summary("test-base64");
}
