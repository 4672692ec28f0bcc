/* Unit tests: settings validation names the field and the allowed range; update rules. */
#include "domain-config.h"
#include "test.h"

/* Parses JSON text as settings; returns the error message ("" when valid). */
static const char *try_settings(const char *text, DomainConfig *c)
{
    static Error e;
    json_t *j = json_loads(text, 0, NULL);

    e = ERROR_NULL;
    if (!j)
        return "bad test JSON";
    if (domain_config_from_json(j, c, &e) == 0)
        e.message[0] = 0;
    json_decref(j);
    return e.message;
}

static void expect_error(const char *text, const char *fragment)
{
    DomainConfig c;
    const char *msg = try_settings(text, &c);

    CHECK_CONTAINS(msg, fragment);
    domain_config_done(&c);
}

static void test_valid(void)
{
    DomainConfig c;

    CHECK_STREQ(try_settings("{\"name\":\"web1\"}", &c), "");
    CHECK_STREQ(c.name, "web1");
    CHECK(c.driver == DRIVER_KVM && c.mode == MODE_PV && c.vcpus == 1 && c.memory_mib == 64);
    CHECK(strlen(c.uuid) == 36);
    CHECK(c.kernel == NULL && c.cpuset == NULL && !c.autostart && c.on_crash == ON_CRASH_DESTROY);
    CHECK(c.cpu_weight == 100 && c.cpu_cap == 0 && c.memory_limit == 0);
    domain_config_done(&c);

    CHECK_STREQ(try_settings("{\"name\":\"db\",\"uuid\":\"2F0C1A9E-5D3B-4C7E-9A41-0B6F1D2E3C4D\","
                             "\"driver\":\"minihv\",\"mode\":\"full\",\"vcpus\":4,"
                             "\"memory_mib\":256,\"kernel\":\"/boot/k\",\"disk\":\"/d.img\","
                             "\"cmdline\":\"console=ttyS0\",\"cpuset\":\"3,1-2\","
                             "\"autostart\":true,\"on_crash\":\"preserve\"}",
                             &c),
                "");
    CHECK_STREQ(c.uuid, "2f0c1a9e-5d3b-4c7e-9a41-0b6f1d2e3c4d");
    CHECK(c.driver == DRIVER_MINIHV && c.mode == MODE_FULL && c.vcpus == 4);
    CHECK_STREQ(c.cpuset, "1-3");
    CHECK_STREQ(c.cmdline, "console=ttyS0");
    CHECK(c.autostart && c.on_crash == ON_CRASH_PRESERVE);

    json_t *out = json_object();
    CHECK(domain_config_to_json(&c, out) == 0);
    CHECK_STREQ(json_string_value(json_object_get(out, "memory_mib")) ? "string" : "number",
                "number");
    CHECK(json_integer_value(json_object_get(out, "memory_mib")) == 256);
    CHECK_STREQ(json_string_value(json_object_get(out, "on_crash")), "preserve");
    json_decref(out);
    domain_config_done(&c);
}

static void test_invalid(void)
{
    expect_error("{}", "'name' is required");
    expect_error("{\"name\":\"bad name\"}", "'name' must be 1..64 characters");
    expect_error("{\"name\":7}", "'name' must be a string");
    expect_error("{\"name\":\"a\",\"colour\":\"red\"}", "unknown setting 'colour'");
    expect_error("{\"name\":\"a\",\"vcpus\":0}", "'vcpus' must be 1..256, got 0");
    expect_error("{\"name\":\"a\",\"vcpus\":257}", "'vcpus' must be 1..256, got 257");
    expect_error("{\"name\":\"a\",\"vcpus\":-1}", "'vcpus' must be 1..256");
    expect_error("{\"name\":\"a\",\"vcpus\":\"2\"}", "'vcpus' must be an integer");
    expect_error("{\"name\":\"a\",\"vcpus\":2.5}", "'vcpus' must be an integer");
    expect_error("{\"name\":\"a\",\"memory_mib\":0}", "'memory_mib' must be 1..4194304 MiB");
    expect_error("{\"name\":\"a\",\"driver\":\"xen\"}", "'driver' must be \"kvm\" or \"minihv\"");
    expect_error("{\"name\":\"a\",\"mode\":\"hvm\"}", "'mode' must be \"pv\" or \"full\"");
    expect_error("{\"name\":\"a\",\"uuid\":\"nope\"}", "'uuid' must be a UUID");
    expect_error("{\"name\":\"a\",\"uuid\":\"2f0c1a9e5d3b4c7e9a410b6f1d2e3c4d\"}",
                 "'uuid' must be a UUID");
    expect_error("{\"name\":\"a\",\"cpuset\":\"1-0\"}", "'cpuset' must be a CPU list");
    expect_error("{\"name\":\"a\",\"on_crash\":\"reboot\"}", "'on_crash' must be");
    expect_error("{\"name\":\"a\",\"autostart\":1}", "'autostart' must be a boolean");
    expect_error("{\"name\":\"a\",\"cmdline\":\"a\\nb\"}", "must not contain control characters");
    expect_error("[1]", "settings must be an object");
    expect_error("{\"name\":\"a\",\"cpu_weight\":0}", "'cpu_weight' must be 1..10000, got 0");
    expect_error("{\"name\":\"a\",\"cpu_weight\":10001}", "'cpu_weight' must be 1..10000");
    expect_error("{\"name\":\"a\",\"cpu_cap\":-1}", "'cpu_cap' must be 0 (no cap)");
    expect_error("{\"name\":\"a\",\"cpu_cap\":101}",
                 "'cpu_cap' must be at most vcpus x 100 = 100 (1 vCPUs), got 101");
    expect_error("{\"name\":\"a\",\"memory_limit\":-5}", "'memory_limit' must be 0");
    expect_error("{\"name\":\"a\",\"memory_limit\":\"1G\"}", "'memory_limit' must be an integer");
}

static void test_update(void)
{
    DomainConfig c;
    Error e = ERROR_NULL;
    json_t *j;

    CHECK_STREQ(try_settings("{\"name\":\"u\",\"vcpus\":2}", &c), "");

    j = json_pack("{s:i}", "vcpus", 3);
    CHECK(domain_config_update_from_json(&c, j, STATE_SHUTOFF, &e) == 0);
    CHECK(c.vcpus == 3);
    json_decref(j);

    e = ERROR_NULL;
    j = json_pack("{s:i}", "vcpus", 5);
    CHECK(domain_config_update_from_json(&c, j, STATE_RUNNING, &e) < 0);
    CHECK(e.kind == ERROR_INVALID_STATE);
    CHECK_CONTAINS(e.message, "'vcpus' can only be changed while the domain is shut off");
    CHECK(c.vcpus == 3);
    json_decref(j);

    e = ERROR_NULL;
    j = json_pack("{s:b, s:s}", "autostart", 1, "on_crash", "restart");
    CHECK(domain_config_update_from_json(&c, j, STATE_RUNNING, &e) == 0);
    CHECK(c.autostart && c.on_crash == ON_CRASH_RESTART);
    json_decref(j);

    e = ERROR_NULL;
    j = json_pack("{s:s}", "name", "renamed");
    CHECK(domain_config_update_from_json(&c, j, STATE_SHUTOFF, &e) < 0);
    CHECK_CONTAINS(e.message, "'name' cannot be changed");
    CHECK_STREQ(c.name, "u");
    json_decref(j);

    /* Resource settings change while the domain runs; the cap is checked against the vCPUs. */
    e = ERROR_NULL;
    j = json_pack("{s:i, s:i, s:i}", "cpu_weight", 300, "cpu_cap", 250, "memory_limit", 96);
    CHECK(domain_config_update_from_json(&c, j, STATE_RUNNING, &e) == 0);
    CHECK(c.cpu_weight == 300 && c.cpu_cap == 250 && c.memory_limit == 96);
    json_decref(j);
    e = ERROR_NULL;
    j = json_pack("{s:i}", "vcpus", 2);
    CHECK(domain_config_update_from_json(&c, j, STATE_SHUTOFF, &e) < 0);
    CHECK_CONTAINS(e.message, "'cpu_cap' must be at most vcpus x 100 = 200");
    CHECK(c.vcpus == 3);
    json_decref(j);

    /* All or nothing: a bad key after a good one changes nothing. */
    e = ERROR_NULL;
    j = json_pack("{s:i, s:i}", "memory_mib", 512, "vcpus", 0);
    CHECK(domain_config_update_from_json(&c, j, STATE_SHUTOFF, &e) < 0);
    CHECK(c.memory_mib == 64);
    json_decref(j);

    domain_config_done(&c);
}

int main(void)
{
    test_valid();
    test_invalid();
    test_update();
    return test_summary("test-domain-config");
}
