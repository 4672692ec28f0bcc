/* Unit tests: a domain's cached JSON text is the same as its JSON form, and is made again when
 * any field it shows changes (state, reason, pid, times, settings). */
#include "domain.h"
#include "test.h"

/* The text the cache must hold: domain_to_json, dumped. */
static char *fresh(const Domain *d)
{
    json_t *obj = json_object();
    char *text = domain_to_json(d, obj) == 0 ? json_dumps(obj, JSON_COMPACT) : NULL;

    json_decref(obj);
    return text;
}

static void check_current(Domain *d, const char *what)
{
    char *want = fresh(d);
    size_t len = 0;
    const char *got = domain_json_text(d, &len);

    CHECK_STREQ(got, want);
    CHECK(got && len == strlen(got));
    if (!got || !want || strcmp(got, want) != 0)
        fprintf(stderr, "  after: %s\n", what);
    free(want);
}

int main(void)
{
    json_t *settings = json_pack("{s:s, s:i, s:i}", "name", "web1", "vcpus", 2, "memory_mib", 64);
    Domain d = {.state = STATE_SHUTOFF, .reason = REASON_DEFINED, .created_us = 1};
    Error e = ERROR_NULL;
    const char *first;
    size_t len;

    CHECK(domain_config_from_json(settings, &d.config, &e) == 0);
    json_decref(settings);
    check_current(&d, "creation");
    first = domain_json_text(&d, &len);
    CHECK(domain_json_text(&d, &len) == first); /* unchanged: the same text, not made again */

    d.state = STATE_RUNNING;
    check_current(&d, "a state change");
    d.reason = REASON_BOOTED;
    check_current(&d, "a reason change");
    d.runtime.pid = 4242;
    check_current(&d, "a new pid");
    d.runtime.started_us = 77;
    check_current(&d, "a start time");
    d.state_changed_us = 99;
    check_current(&d, "a state time");
    d.config.vcpus = 3;
    d.config_generation++;
    check_current(&d, "new settings");

    domain_json_text_done(&d);
    CHECK(d.json.text == NULL);
    check_current(&d, "freeing the cache");
    domain_json_text_done(&d);
    domain_config_done(&d.config);
    return test_summary("test-domain-json");
}
