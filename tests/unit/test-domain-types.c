/* Unit tests: string tables round-trip, state/reason rules, transitions, name validation. */
#include "domain-types.h"
#include "error.h"
#include "test.h"

#define ROUND_TRIP(name, max)                                      \
    do {                                                           \
        for (int i = 0; i < (int)(max); i++) {                     \
            const char *s = name##_to_string(i);                   \
            CHECK(s != NULL);                                      \
            CHECK((int)name##_from_string(s) == i);                \
        }                                                          \
        CHECK((int)name##_from_string("no-such-word") == -EINVAL); \
        CHECK((int)name##_from_string(NULL) == -EINVAL);           \
        CHECK(name##_to_string(max) == NULL);                      \
        CHECK(name##_to_string(-1) == NULL);                       \
    } while (0)

static void test_string_tables(void)
{
    ROUND_TRIP(driver_kind, _DRIVER_KIND_MAX);
    ROUND_TRIP(domain_mode, _DOMAIN_MODE_MAX);
    ROUND_TRIP(domain_state, _DOMAIN_STATE_MAX);
    ROUND_TRIP(domain_reason, _DOMAIN_REASON_MAX);
    ROUND_TRIP(on_crash, _ON_CRASH_MAX);
    ROUND_TRIP(console_device, _CONSOLE_DEVICE_MAX);
    ROUND_TRIP(domain_action, _DOMAIN_ACTION_MAX);
    ROUND_TRIP(error_kind, _ERROR_KIND_MAX);
    CHECK_STREQ(domain_reason_to_string(REASON_GUEST_FAULT), "guest-fault");
    CHECK_STREQ(error_kind_to_string(ERROR_NO_SUCH_DOMAIN), "NoSuchDomain");
    /* One table both ways: every kind has a status, and a status reads back as a kind that
     * answers with the same status. */
    for (int k = 0; k < _ERROR_KIND_MAX; k++) {
        unsigned status = error_kind_to_http_status((ErrorKind)k);
        CHECK(status >= 400 && status < 600);
        CHECK(error_kind_to_http_status(error_kind_from_http_status(status)) == status);
    }
    CHECK(error_kind_to_http_status(ERROR_NO_SUCH_DOMAIN) == 404);
    CHECK(error_kind_from_http_status(401) == ERROR_ACCESS_DENIED);
    CHECK(error_kind_from_http_status(418) == ERROR_FAILED);
}

static void test_reasons(void)
{
    CHECK(domain_reason_valid_for_state(STATE_RUNNING, REASON_BOOTED));
    CHECK(domain_reason_valid_for_state(STATE_SHUTOFF, REASON_DAEMON));
    CHECK(domain_reason_valid_for_state(STATE_CRASHED, REASON_GUEST_FAULT));
    CHECK(!domain_reason_valid_for_state(STATE_RUNNING, REASON_DEFINED));
    CHECK(!domain_reason_valid_for_state(STATE_SHUTOFF, REASON_BOOTED));
    CHECK(!domain_reason_valid_for_state(STATE_PAUSED, REASON_GUEST_FAULT));
    CHECK(domain_reason_valid_for_state(STATE_MIGRATING, REASON_MIGRATED));
    CHECK(domain_reason_valid_for_state(STATE_STARTING, REASON_MIGRATED));
    CHECK(domain_reason_valid_for_state(STATE_SHUTOFF, REASON_MIGRATED));
    CHECK(!domain_reason_valid_for_state(STATE_MIGRATING, REASON_BOOTED));
    /* Every state has at least one reason. */
    for (int s = 0; s < _DOMAIN_STATE_MAX; s++) {
        bool any = false;
        for (int r = 0; r < _DOMAIN_REASON_MAX; r++)
            any |= domain_reason_valid_for_state(s, r);
        CHECK(any);
    }
}

static void test_transitions(void)
{
    /* The complete table: every pair, legal or not. */
    static const bool legal[_DOMAIN_STATE_MAX][_DOMAIN_STATE_MAX] = {
        /*               shutoff starting running paused stopping crashed migrating */
        [STATE_SHUTOFF] = {0, 1, 0, 0, 0, 0, 0},   [STATE_STARTING] = {1, 0, 1, 1, 0, 1, 0},
        [STATE_RUNNING] = {1, 0, 1, 1, 1, 1, 1},   [STATE_PAUSED] = {1, 0, 1, 0, 0, 1, 0},
        [STATE_STOPPING] = {1, 0, 1, 0, 0, 1, 0},  [STATE_CRASHED] = {1, 1, 0, 0, 0, 0, 0},
        [STATE_MIGRATING] = {1, 0, 1, 0, 0, 1, 0},
    };
    for (int from = 0; from < _DOMAIN_STATE_MAX; from++)
        for (int to = 0; to < _DOMAIN_STATE_MAX; to++) {
            bool got = domain_state_transition_is_legal(from, to);
            if (got != legal[from][to])
                fprintf(stderr, "transition %s -> %s: got %d\n", domain_state_to_string(from),
                        domain_state_to_string(to), got);
            CHECK(got == legal[from][to]);
        }
    CHECK(!domain_state_transition_is_legal(-1, STATE_RUNNING));
    CHECK(!domain_state_transition_is_legal(STATE_RUNNING, _DOMAIN_STATE_MAX));

    CHECK(!domain_state_holds_allocation(STATE_SHUTOFF));
    CHECK(domain_state_holds_allocation(STATE_STARTING));
    CHECK(domain_state_holds_allocation(STATE_PAUSED));
    CHECK(domain_state_holds_allocation(STATE_CRASHED));
}

static void test_names(void)
{
    char long_name[66];

    CHECK(domain_name_is_valid("web1"));
    CHECK(domain_name_is_valid("a"));
    CHECK(domain_name_is_valid("db-01.prod_eu"));
    CHECK(!domain_name_is_valid(""));
    CHECK(!domain_name_is_valid(NULL));
    CHECK(!domain_name_is_valid("with space"));
    CHECK(!domain_name_is_valid("slash/name"));
    CHECK(!domain_name_is_valid("quote'"));
    CHECK(!domain_name_is_valid("ünïcode"));
    CHECK(!domain_name_is_valid("."));
    CHECK(!domain_name_is_valid(".."));
    CHECK(domain_name_is_valid("..."));
    memset(long_name, 'x', 64);
    long_name[64] = 0;
    CHECK(domain_name_is_valid(long_name));
    long_name[64] = 'x';
    long_name[65] = 0;
    CHECK(!domain_name_is_valid(long_name));
}

int main(void)
{
    test_string_tables();
    test_reasons();
    test_transitions();
    test_names();
    return test_summary("test-domain-types");
}
