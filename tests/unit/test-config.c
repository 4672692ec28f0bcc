/* Unit tests: configuration parsing, with errors that give file, line and reason. */
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

static char path[] = "/tmp/hvd-test-config-XXXXXX";

static const char *load(const char *text, HvdConfig *c)
{
    static Error e;
    FILE *f = fopen(path, "w");

    fputs(text, f);
    fclose(f);
    e = ERROR_NULL;
    config_done(c);
    (void)config_init(c);
    if (config_load(c, path, true, &e) == 0)
        e.message[0] = 0;
    return e.message;
}

/* Secrets are printed masked, and so is the password of a URL's user:password@. */
static void check_print_masks_secrets(void)
{
    typedef struct Keys {
        char *token, *urls;
    } Keys;
    static const ConfigKey keys[] = {
        {.key = "token", .type = CONFIG_STRING, .offset = offsetof(Keys, token), .secret = true},
        {.key = "urls", .type = CONFIG_STRING, .offset = offsetof(Keys, urls)},
    };
    Keys k = {.token = (char *)"hunter2",
              .urls = (char *)"https://u:pw@a:1,http://b:2/x@y,https://v:pw2@c:3/p"};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    config_keys_print(keys, ELEMENTSOF(keys), &k, NULL, f);
    fclose(f);
    CHECK_STREQ(text, "token = " CONFIG_SECRET_MASK "\n"
                      "urls = https://u:****@a:1,http://b:2/x@y,https://v:****@c:3/p\n");
    free(text);
}

int main(void)
{
    HvdConfig c = {};
    Error e = ERROR_NULL;
    char expected[256];
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    close(fd);

    CHECK_STREQ(load("# comment\n; another\n\n[daemon]\nstate-dir = /srv/hvd\nsynchronous=full\n"
                     "admin-group = wheel\n[allocation]\nreserved-cpus = 0\n"
                     "reserved-memory-mib = 2048\ncpu-overcommit = 8\nmemory-overcommit = 1.5\n"
                     "[kvm]\nuri = test:///default\ndomain-type = qemu\n",
                     &c),
                "");
    CHECK_STREQ(c.state_dir, "/srv/hvd");
    CHECK(c.synchronous == STORE_SYNC_FULL);
    CHECK_STREQ(c.admin_group, "wheel");
    CHECK(cpuset_has(&c.reserved_cpus, 0) && cpuset_count(&c.reserved_cpus) == 1);
    CHECK(c.reserved_memory_mib == 2048);
    CHECK(c.cpu_overcommit == 8.0 && c.memory_overcommit == 1.5);
    /* A driver's section is kept as read, with where each line came from, for its driver. */
    CHECK(config_section(&c, "kvm") && config_section(&c, "kvm")->n_lines == 2);
    CHECK_STREQ(config_section_get(config_section(&c, "kvm"), "uri"), "test:///default");
    snprintf(expected, sizeof(expected), "%s:14", path);
    CHECK_STREQ(config_section(&c, "kvm")->lines[0].origin, expected);

    /* Trailing comments, as in the README's example. */
    CHECK_STREQ(load("[daemon]\nsynchronous = full      # across power loss\n"
                     "[allocation]\nreserved-cpus =           # none\n",
                     &c),
                "");
    CHECK(c.synchronous == STORE_SYNC_FULL && cpuset_is_empty(&c.reserved_cpus));

    snprintf(expected, sizeof(expected), "%s:3: unknown key 'colour' in section [daemon]", path);
    CHECK_STREQ(load("[daemon]\nstate-dir=/x\ncolour = blue\n", &c), expected);
    snprintf(expected, sizeof(expected), "%s:1: assignment before any [section]", path);
    CHECK_STREQ(load("state-dir=/x\n", &c), expected);
    snprintf(expected, sizeof(expected), "%s:2: expected 'key = value'", path);
    CHECK_CONTAINS(load("[daemon]\njunk\n", &c), expected);
    CHECK_CONTAINS(load("[allocation]\ncpu-overcommit = lots\n", &c),
                   ":2: cpu-overcommit must be a number in 0.1..10000, got 'lots'");
    CHECK_CONTAINS(load("[allocation]\ncpu-overcommit = -1\n", &c), ":2: cpu-overcommit");
    CHECK_CONTAINS(load("[allocation]\nreserved-cpus = 2-1\n", &c), ":2: reserved-cpus must be");
    CHECK_CONTAINS(load("[daemon]\nstate-dir = relative/dir\n", &c),
                   ":2: state-dir must be an absolute path");
    CHECK_CONTAINS(load("[daemon]\nsynchronous = sometimes\n", &c),
                   "synchronous must be 'normal' or 'full', got 'sometimes'");
    CHECK_CONTAINS(load("[daemon\n", &c), ":1: section header is missing ']'");
    CHECK_STREQ(load("[nosuch]\nkey = 1\n", &c), ""); /* refused by the drivers' parse */
    CHECK(config_section(&c, "nosuch") != NULL);

    /* The HTTP server's limits: defaults, values, and ranges that name the key. */
    CHECK_STREQ(load("[http]\nmax-connections = 64\n", &c), "");
    CHECK(c.http_request_timeout_s == 10 && c.http_idle_timeout_s == 60 &&
          c.http_max_connections_per_address == 64);
    CHECK_STREQ(load("[http]\nrequest-timeout = 3\nidle-timeout = 300\n"
                     "max-connections-per-address = 8\n",
                     &c),
                "");
    CHECK(c.http_request_timeout_s == 3 && c.http_idle_timeout_s == 300 &&
          c.http_max_connections_per_address == 8);
    CHECK_CONTAINS(load("[http]\nrequest-timeout = 0\n", &c),
                   ":2: request-timeout must be an integer in 1..3600, got '0'");
    CHECK_CONTAINS(load("[http]\nrequest-timeout = 10s\n", &c),
                   ":2: request-timeout must be an integer in 1..3600, got '10s'");
    CHECK_CONTAINS(load("[http]\nidle-timeout = 86401\n", &c),
                   ":2: idle-timeout must be an integer in 1..86400, got '86401'");
    CHECK_CONTAINS(load("[http]\nmax-connections-per-address = -1\n", &c),
                   ":2: max-connections-per-address must be an integer in 1..65536, got '-1'");

    /* The statistics history's memory budget: default, value, range. */
    CHECK(c.history_memory_mib == 16);
    CHECK_STREQ(load("[history]\nmemory-mib = 0\n", &c), "");
    CHECK(c.history_memory_mib == 0);
    CHECK_CONTAINS(load("[history]\nmemory-mib = 4097\n", &c),
                   ":2: memory-mib must be an integer in 0..4096, got '4097'");
    CHECK_CONTAINS(load("[history]\nhour = 1s\n", &c), "unknown key 'hour' in section [history]");

    /* A refused file leaves the config as it was. */
    load("[daemon]\nadmin-group = ops\n", &c);
    e = ERROR_NULL;
    FILE *f = fopen(path, "w");
    fputs("[daemon]\nadmin-group = other\nbogus = 1\n", f);
    fclose(f);
    CHECK(config_load(&c, path, true, &e) < 0);
    CHECK_STREQ(c.admin_group, "ops");

    /* A missing file means defaults, unless it was asked for. */
    unlink(path);
    config_done(&c);
    config_init(&c);
    e = ERROR_NULL;
    CHECK(config_load(&c, path, false, &e) == 0);
    CHECK(c.cpu_overcommit == 4.0 && c.memory_overcommit == 1.0);
    CHECK(config_load(&c, path, true, &e) < 0);
    CHECK_CONTAINS(e.message, path);
    config_done(&c);
    check_print_masks_secrets();
    return test_summary("test-config");
}
