/* Unit tests: the target URL of a live migration (http:// or https://) is parsed, or refused
 * saying why. */
#include "migrate-peer.h"
#include "test.h"

static void check_ok(const char *url, const char *host, const char *port)
{
    PeerAddress a;
    Error e = ERROR_NULL;

    CHECK(peer_address_parse(url, &a, &e) == 0);
    CHECK_STREQ(a.host, host);
    CHECK_STREQ(a.port, port);
}

static void check_tls(const char *url, bool tls)
{
    PeerAddress a;
    Error e = ERROR_NULL;

    CHECK(peer_address_parse(url, &a, &e) == 0);
    CHECK(a.tls == tls);
}

static void check_refused(const char *url, const char *why)
{
    PeerAddress a;
    Error e = ERROR_NULL;

    CHECK(peer_address_parse(url, &a, &e) < 0);
    CHECK(e.kind == ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(e.message, why);
}

int main(void)
{
    check_ok("http://127.0.0.1:8780", "127.0.0.1", "8780");
    check_ok("http://127.0.0.1:8780/", "127.0.0.1", "8780");
    check_ok("http://localhost:1", "127.0.0.1", "1");
    check_ok("http://[::1]:65535", "::1", "65535");
    check_ok("http://192.0.2.7:8080", "192.0.2.7", "8080");
    check_ok("https://192.0.2.7:8443", "192.0.2.7", "8443");
    check_tls("https://[::1]:8443", true);
    check_tls("http://127.0.0.1:8780", false);
    check_refused(NULL, "it must be http://ADDRESS:PORT");
    check_refused("", "it must be http://ADDRESS:PORT");
    check_refused("ftp://127.0.0.1:1", "it must be http://ADDRESS:PORT or https://ADDRESS:PORT");
    check_refused("https://127.0.0.1", "it has no :PORT");
    check_refused("http://127.0.0.1", "it has no :PORT");
    check_refused("http://:80", "no address");
    check_refused("http://example.com:80", "is not an IP address");
    check_refused("http://[::1:80", "an IPv6 address goes in brackets");
    check_refused("http://127.0.0.1:0", "the port must be 1..65535");
    check_refused("http://127.0.0.1:65536", "the port must be 1..65535");
    check_refused("http://127.0.0.1:80x", "with nothing after it");
    check_refused("http://127.0.0.1:80/api/v1", "with nothing after it");
    check_refused("http://127.0.0.1:123456789", "the port must be 1..65535");
    check_refused("http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1",
                  "no address");
    return test_summary("test-migrate-peer");
}
