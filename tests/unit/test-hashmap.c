/* Unit tests: the string-keyed hash map under growth, removal and reuse of slots. */
#include <stdint.h>

#include "hashmap.h"
#include "test.h"

int main(void)
{
    Hashmap *h = hashmap_new();
    char key[32];

    CHECK(h != NULL);
    CHECK(hashmap_get(h, "absent") == NULL);
    for (uintptr_t i = 1; i <= 5000; i++) {
        snprintf(key, sizeof(key), "k%lu", (unsigned long)i);
        CHECK(hashmap_put(h, key, (void *)i) == 0);
    }
    CHECK(hashmap_size(h) == 5000);
    CHECK((uintptr_t)hashmap_get(h, "k1") == 1);
    CHECK((uintptr_t)hashmap_get(h, "k4999") == 4999);
    CHECK(hashmap_put(h, "k7", (void *)77) == 0);
    CHECK((uintptr_t)hashmap_get(h, "k7") == 77);
    CHECK(hashmap_size(h) == 5000);

    /* Remove every other key, then churn: tombstones must not lose or duplicate entries. */
    for (uintptr_t i = 2; i <= 5000; i += 2) {
        snprintf(key, sizeof(key), "k%lu", (unsigned long)i);
        CHECK(hashmap_remove(h, key) != NULL);
    }
    CHECK(hashmap_size(h) == 2500);
    CHECK(hashmap_remove(h, "k2") == NULL);
    for (int round = 0; round < 3; round++)
        for (uintptr_t i = 2; i <= 5000; i += 2) {
            snprintf(key, sizeof(key), "k%lu", (unsigned long)i);
            CHECK(hashmap_put(h, key, (void *)(i + 1)) == 0);
            CHECK(hashmap_remove(h, key) == (void *)(i + 1));
        }
    CHECK(hashmap_size(h) == 2500);
    CHECK((uintptr_t)hashmap_get(h, "k4999") == 4999);
    CHECK(hashmap_get(h, "k4998") == NULL);

    size_t seen = 0, i = 0;
    uintptr_t sum = 0;
    void *v;
    while (hashmap_iterate(h, &i, NULL, &v)) {
        seen++;
        sum += (uintptr_t)v;
    }
    CHECK(seen == 2500);
    CHECK(sum == 2500u * 2500u + 70); /* the odd keys 1..4999, with k7 set to 77 */
    hashmap_clear(h);
    CHECK(hashmap_size(h) == 0 && hashmap_get(h, "k1") == NULL);
    CHECK(string_hash("a") != string_hash("b"));
    hashmap_free(h);
    return test_summary("test-hashmap");
}
