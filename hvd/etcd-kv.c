/* Building etcd v3 gateway requests and reading their answers (base64 keys and values). */
#include <inttypes.h>
#include <string.h>

#include "base64.h"
#include "etcd-kv.h"
#include "macro.h"

int64_t etcd_int64(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v)) {
        char *end;
        long long n = strtoll(json_string_value(v), &end, 10);
        return *end ? 0 : n;
    }
    return 0;
}

static json_t *b64(const void *data, size_t len)
{
    _cleanup_free_ char *text = NULL;

    if (base64_encode(data, len, &text) < 0)
        return NULL;
    return json_string(text);
}

/* The smallest key after every key starting with prefix (etcd's prefix range end). */
static json_t *prefix_end(const char *prefix)
{
    size_t len = strlen(prefix);
    _cleanup_free_ char *end = strdup(prefix);

    if (!end)
        return NULL;
    while (len > 0) {
        if ((unsigned char)end[len - 1] < 0xff) {
            end[len - 1]++;
            return b64(end, len);
        }
        len--;
    }
    return b64("\0", 1); /* every key */
}

json_t *etcd_range_request(const char *key, bool prefix)
{
    json_t *o = json_object();

    if (!o)
        return NULL;
    (void)json_object_set_new(o, "key", b64(key, strlen(key)));
    if (prefix)
        (void)json_object_set_new(o, "range_end", prefix_end(key));
    return o;
}

json_t *etcd_put_request(const char *key, const char *value, int64_t lease)
{
    json_t *o = json_object();
    char id[32];

    if (!o)
        return NULL;
    (void)json_object_set_new(o, "key", b64(key, strlen(key)));
    (void)json_object_set_new(o, "value", b64(value, strlen(value)));
    if (lease) {
        (void)snprintf(id, sizeof(id), "%" PRId64, lease);
        (void)json_object_set_new(o, "lease", json_string(id));
    }
    return o;
}

json_t *etcd_delete_request(const char *key)
{
    return etcd_range_request(key, false);
}

json_t *etcd_compare(const char *key, const char *target, const char *result, int64_t revision,
                     const char *text)
{
    json_t *o = json_object();
    char rev[32];

    if (!o)
        return NULL;
    (void)snprintf(rev, sizeof(rev), "%" PRId64, revision);
    (void)json_object_set_new(o, "key", b64(key, strlen(key)));
    (void)json_object_set_new(o, "target", json_string(target));
    (void)json_object_set_new(o, "result", json_string(result));
    if (streq(target, "CREATE"))
        (void)json_object_set_new(o, "create_revision", json_string(rev));
    else if (streq(target, "MOD"))
        (void)json_object_set_new(o, "mod_revision", json_string(rev));
    else if (streq(target, "VERSION"))
        (void)json_object_set_new(o, "version", json_string(rev));
    else
        (void)json_object_set_new(o, "value", b64(strempty(text), strlen(strempty(text))));
    return o;
}

json_t *etcd_txn_request(json_t *compares, json_t *success, json_t *failure)
{
    return json_pack("{s:o,s:o,s:o}", "compare", compares ?: json_array(), "success",
                     success ?: json_array(), "failure", failure ?: json_array());
}

void etcd_kvs_free(EtcdKv *kvs, int n)
{
    for (int i = 0; kvs && i < n; i++) {
        free(kvs[i].key);
        free(kvs[i].value);
    }
    free(kvs);
}

int etcd_reply_kvs(const json_t *reply, EtcdKv **ret)
{
    const json_t *list = json_object_get(reply, "kvs"), *item;
    EtcdKv *kvs;
    size_t i, n = json_array_size(list);

    *ret = NULL;
    if (n == 0)
        return 0;
    kvs = calloc(n, sizeof(*kvs));
    if (!kvs)
        return -ENOMEM;
    json_array_foreach (list, i, item) {
        const char *k = json_string_value(json_object_get(item, "key"));
        const char *v = json_string_value(json_object_get(item, "value"));
        size_t klen;

        if (!k || base64_decode(k, &kvs[i].key, &klen) < 0 ||
            base64_decode(v ?: "", &kvs[i].value, &kvs[i].value_len) < 0) {
            etcd_kvs_free(kvs, (int)n);
            return -EINVAL;
        }
        kvs[i].create_revision = etcd_int64(json_object_get(item, "create_revision"));
        kvs[i].mod_revision = etcd_int64(json_object_get(item, "mod_revision"));
        kvs[i].lease = etcd_int64(json_object_get(item, "lease"));
    }
    *ret = kvs;
    return (int)n;
}

int64_t etcd_reply_revision(const json_t *reply)
{
    return etcd_int64(json_object_get(json_object_get(reply, "header"), "revision"));
}
