/* libFuzzer target: what other hosts write to etcd, as hvd reads it back: a range answer of
 * arbitrary keys and values (from the input: "key\0value\0..." pairs, base64-encoded as the
 * gateway sends them, with revisions and leases), or the input itself as the answer's JSON,
 * through the cluster view's parser and what the surfaces show of each domain and host. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "cluster-internal.h"

static json_t *b64(const char *p, size_t len)
{
    char *text = NULL;
    json_t *s = base64_encode(p, len, &text) < 0 ? NULL : json_string(text);

    free(text);
    return s;
}

/* A range answer of the pairs in [p, end): every other field as etcd would send it, the
 * revisions drawn from the input too. */
static json_t *reply_of_pairs(const char *p, const char *end)
{
    json_t *kvs = json_array();
    unsigned i = 0;

    while (p < end && kvs) {
        const char *key = p, *value = key + strnlen(key, (size_t)(end - key)) + 1;
        size_t value_len = value < end ? strnlen(value, (size_t)(end - value)) : 0;

        (void)json_array_append_new(
            kvs, json_pack("{s:o,s:o,s:s,s:s,s:i}", "key", b64(key, (size_t)(value - key - 1)),
                           "value", b64(value < end ? value : "", value_len), "create_revision",
                           (i & 1) ? "7" : "-1", "mod_revision", (i & 2) ? "9x" : "12", "lease",
                           (int)i));
        p = value + value_len + 1;
        i++;
    }
    return json_pack("{s:{s:s},s:o,s:s}", "header", "revision", "42", "kvs", kvs, "count", "1");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ClusterView v = {};
    const char *key;
    json_t *reply, *entry;

    if (size < 1)
        return 0;
    if (data[0] & 1)
        reply = json_loadb((const char *)data + 1, size - 1, 0, NULL);
    else
        reply = reply_of_pairs((const char *)data + 1, (const char *)data + size);
    if (!reply)
        return 0;
    if (cluster_view_parse(&v, reply) == 0) {
        json_t *ignored;
        json_object_foreach (v.domains, key, ignored) {
            entry = cluster_domain_entry(&v, key);
            /* What the surfaces list must be an object with the fields they read. */
            if (entry && !json_is_string(json_object_get(entry, "state")))
                __builtin_trap();
            json_decref(entry);
            (void)cluster_view_state(&v, key, NULL);
        }
        json_object_foreach (v.owners, key, ignored)
            (void)cluster_view_owner(&v, key);
    }
    cluster_view_done(&v);
    json_decref(reply);
    return 0;
}
