/* The JSON of etcd v3 requests (range, put, delete, transactions, leases) and of their answers:
 * keys and values travel base64-encoded, 64-bit numbers as decimal strings. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* One key-value pair of an answer, decoded (borrowed from the answer's lifetime). */
typedef struct EtcdKv {
    char *key;
    char *value; /* NUL-terminated */
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t lease;
} EtcdKv;

/* A 64-bit number of a gateway answer (a string or an integer); 0 when absent or bad. */
int64_t etcd_int64(const json_t *v);

/* {"key": base64(key)} plus, when prefix, "range_end" covering every key starting with key. */
json_t *etcd_range_request(const char *key, bool prefix);

/* {"key", "value", "lease" (when lease != 0)} for /v3/kv/put or a transaction's request_put. */
json_t *etcd_put_request(const char *key, const char *value, int64_t lease);

/* {"key"} for /v3/kv/deleterange or a transaction's request_delete_range. */
json_t *etcd_delete_request(const char *key);

/* A transaction compare of key's target ("CREATE", "MOD", "VERSION", "VALUE") with value:
 * result "EQUAL" (value is a decimal revision, or the text for "VALUE"). */
json_t *etcd_compare(const char *key, const char *target, const char *result, int64_t revision,
                     const char *text);

/* {"compare": compares, "success": success, "failure": failure} (all taken, NULL: empty). */
json_t *etcd_txn_request(json_t *compares, json_t *success, json_t *failure);

/* The key-value pairs of a range answer (or of a transaction's response_range) as a new array
 * in *ret (etcd_kvs_free). Returns the count, or -ENOMEM / -EINVAL for a bad answer. */
int etcd_reply_kvs(const json_t *range_reply, EtcdKv **ret);
void etcd_kvs_free(EtcdKv *kvs, int n);

/* The revision of the store an answer was taken at (header.revision). */
int64_t etcd_reply_revision(const json_t *reply);
