/* Unit tests: etcd v3 gateway requests and answers (base64 keys, prefix ranges, transactions,
 * 64-bit numbers as strings), and the [cluster] section's checks. */
#include <unistd.h>

#include "base64.h"
#include "cluster-config.h"
#include "etcd-kv.h"
#include "test.h"

static char *b64_field(json_t *o, const char *key)
{
    char *out = NULL;
    size_t len;
    const char *s = json_string_value(json_object_get(o, key));

    if (!s || base64_decode(s, &out, &len) < 0)
        return NULL;
    return out;
}

static void test_requests(void)
{
    json_t *range = etcd_range_request("/hvd/", true), *put, *cmp, *txn;
    char *key = b64_field(range, "key"), *end = b64_field(range, "range_end");

    CHECK_STREQ(key, "/hvd/");
    CHECK_STREQ(end, "/hvd0"); /* '/' + 1 */
    free(key);
    free(end);
    json_decref(range);

    range = etcd_range_request("a\xff", true);
    end = b64_field(range, "range_end");
    CHECK_STREQ(end, "b"); /* a trailing 0xff is dropped, the byte before it raised */
    free(end);
    json_decref(range);

    put = etcd_put_request("/k", "v", 0x7fffffffffffffffll);
    CHECK_STREQ(json_string_value(json_object_get(put, "lease")), "9223372036854775807");
    json_decref(put);
    put = etcd_put_request("/k", "v", 0);
    CHECK(!json_object_get(put, "lease"));
    json_decref(put);

    cmp = etcd_compare("/k", "CREATE", "EQUAL", 0, NULL);
    CHECK_STREQ(json_string_value(json_object_get(cmp, "create_revision")), "0");
    CHECK_STREQ(json_string_value(json_object_get(cmp, "target")), "CREATE");
    txn = etcd_txn_request(json_pack("[o]", cmp), NULL, NULL);
    CHECK(json_array_size(json_object_get(txn, "compare")) == 1);
    CHECK(json_is_array(json_object_get(txn, "success")));
    CHECK(json_is_array(json_object_get(txn, "failure")));
    json_decref(txn);
}

static void test_answers(void)
{
    /* As etcd 3.4's gateway answers a range: "/hvd/x" = "{}" and "/hvd/y" = "" (empty value
     * left out), numbers as strings. */
    json_t *reply = json_loads("{\"header\":{\"revision\":\"42\"},\"kvs\":["
                               "{\"key\":\"L2h2ZC94\",\"value\":\"e30=\",\"create_revision\":\"5\","
                               "\"mod_revision\":\"7\",\"lease\":\"12\"},"
                               "{\"key\":\"L2h2ZC95\",\"create_revision\":6}]}",
                               0, NULL);
    EtcdKv *kvs = NULL;
    int n = etcd_reply_kvs(reply, &kvs);

    CHECK(n == 2);
    CHECK(etcd_reply_revision(reply) == 42);
    if (n == 2) {
        CHECK_STREQ(kvs[0].key, "/hvd/x");
        CHECK_STREQ(kvs[0].value, "{}");
        CHECK(kvs[0].create_revision == 5 && kvs[0].mod_revision == 7 && kvs[0].lease == 12);
        CHECK_STREQ(kvs[1].key, "/hvd/y");
        CHECK_STREQ(kvs[1].value, "");
        CHECK(kvs[1].create_revision == 6 && kvs[1].lease == 0);
    }
    etcd_kvs_free(kvs, n);
    json_decref(reply);

    reply = json_loads("{\"kvs\":[{\"key\":\"not base64!\"}]}", 0, NULL);
    CHECK(etcd_reply_kvs(reply, &kvs) == -EINVAL);
    json_decref(reply);
    reply = json_loads("{\"header\":{}}", 0, NULL);
    CHECK(etcd_reply_kvs(reply, &kvs) == 0 && !kvs);
    json_decref(reply);
    CHECK(etcd_int64(NULL) == 0);
}

static char path[] = "/tmp/hvd-test-cluster-XXXXXX";

/* Parses text as hvd.conf and returns the [cluster] error ("" when fine). */
static const char *parse(const char *text, ClusterConfig *cc)
{
    static Error e;
    HvdConfig c;
    FILE *f = fopen(path, "w");

    fputs(text, f);
    fclose(f);
    e = ERROR_NULL;
    (void)config_init(&c);
    if (config_load(&c, path, true, &e) == 0 && cluster_config_parse(&c, cc, &e) >= 0)
        e.message[0] = 0;
    config_done(&c);
    return e.message;
}

static void test_config(void)
{
    ClusterConfig cc;

    CHECK_STREQ(parse("[daemon]\n", &cc), "");
    CHECK(!cc.etcd);
    CHECK_STREQ(parse("[cluster]\netcd = http://a:1, http://b:2/\nhost = n1\n", &cc), "");
    CHECK_STREQ(cc.etcd, "http://a:1, http://b:2/");
    CHECK(cc.lease_ttl_s == 10 && cc.fence_s == 5 && cc.request_timeout_ms == 2000);
    cluster_config_done(&cc);
    CHECK_CONTAINS(parse("[cluster]\netcd = http://a:1\nhost = bad name\n", &cc),
                   "host must be 1-64 characters");
    CHECK_CONTAINS(parse("[cluster]\netcd = http://a:1/v3\nhost = n\n", &cc),
                   "must be http[s]://HOST:PORT");
    CHECK_STREQ(parse("[cluster]\netcd = https://a:1\nhost = n\netcd-ca = /ca.pem\n", &cc), "");
    cluster_config_done(&cc);
    CHECK_CONTAINS(parse("[cluster]\netcd = https://a:1\nhost = n\netcd-cert = /c.pem\n", &cc),
                   "etcd-cert and etcd-key go together");
    CHECK_CONTAINS(parse("[cluster]\netcd = http://a:1\nhost = n\netcd-ca = /ca.pem\n", &cc),
                   "need https:// etcd endpoints");
    CHECK_CONTAINS(parse("[cluster]\netcd = http://a:1\nhost = n\nadvertise = a:1\n", &cc),
                   "advertise must be an http:// or https:// URL");
    CHECK_CONTAINS(parse("[cluster]\netcd = http://a:1\nhost = n\nlease-ttl = 5\n"
                         "fence-time = 4\n",
                         &cc),
                   "must be shorter than lease-ttl (5 s)");
    CHECK_CONTAINS(parse("[cluster]\nhost = n\n", &cc), "[cluster] needs etcd = URL");
    CHECK_CONTAINS(parse("[cluster]\netcd = http://a:1\nwhat = 1\n", &cc),
                   "unknown key 'what' in section [cluster]");
}

/* fence-watchdog: after hvd's own fencing, before the lease expires. */
static void test_config_watchdog(void)
{
    ClusterConfig cc;

    CHECK_STREQ(parse("[cluster]\netcd = http://a:1\nhost = n\n", &cc), "");
    CHECK(cc.watchdog_s == 9);
    cluster_config_done(&cc);
    CHECK_STREQ(parse("[cluster]\netcd = http://a:1\nhost = n\nlease-ttl = 2\n"
                      "request-timeout-ms = 500\n",
                      &cc),
                "");
    CHECK(cc.fence_s == 1 && cc.watchdog_s == 1);
    cluster_config_done(&cc);
    CHECK_STREQ(parse("[cluster]\netcd = http://a:1\nhost = n\nfence-watchdog = 6\n", &cc), "");
    CHECK(cc.watchdog_s == 6);
    cluster_config_done(&cc);
    CHECK_CONTAINS(parse("[cluster]\netcd = http://a:1\nhost = n\nfence-watchdog = 10\n", &cc),
                   "fence-watchdog (10 s) must be at least fence-time (5 s) and shorter than "
                   "lease-ttl (10 s)");
    CHECK_CONTAINS(parse("[cluster]\netcd = http://a:1\nhost = n\nfence-watchdog = 4\n", &cc),
                   "fence-watchdog (4 s) must be at least fence-time (5 s)");
}

int main(void)
{
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    close(fd);
    test_requests();
    test_answers();
    test_config();
    test_config_watchdog();
    unlink(path);
    return test_summary("test-etcd");
}
