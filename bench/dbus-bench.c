/* dbus-bench: times D-Bus calls against hvd or libvirt-dbus (lookups, lists, lifecycle) with a
 * window of calls in flight, and prints one JSON line of results. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "api-names.h"
#include "bench-result.h"
#include "macro.h"
#include "time-util.h"

typedef enum Target {
    TARGET_HVD,
    TARGET_LIBVIRT,
    TARGET_ECHO, /* bench/dbus-echo: the floor of a call through the same bus */
} Target;

typedef enum Scenario {
    SCENARIO_LOOKUP,
    SCENARIO_LIST,
    SCENARIO_LIFECYCLE,
    SCENARIO_PAUSE_RESUME,
} Scenario;

typedef struct Bench {
    sd_bus *bus;
    Target target;
    Scenario scenario;
    const char *prefix;
    unsigned n_domains;
    unsigned count;
    unsigned window;
    char **paths; /* per-domain object paths, for lifecycle */
    uint64_t *latency_us;
    uint64_t *sent_at;
    unsigned issued;
    unsigned done;
    unsigned in_flight;
    unsigned errors;
    char first_error[256];
} Bench;

typedef struct Call {
    Bench *b;
    unsigned index;
} Call;

static void domain_name(const Bench *b, unsigned i, char *buf, size_t n)
{
    (void)snprintf(buf, n, "%s%05u", b->prefix, i % b->n_domains);
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Call *c = userdata;
    Bench *b = c->b;

    b->latency_us[c->index] = now_usec(CLOCK_MONOTONIC) - b->sent_at[c->index];
    if (sd_bus_message_is_method_error(m, NULL)) {
        if (b->errors++ == 0)
            (void)snprintf(b->first_error, sizeof(b->first_error), "%s: %s",
                           sd_bus_message_get_error(m)->name, sd_bus_message_get_error(m)->message);
    }
    b->done++;
    b->in_flight--;
    free(c);
    return 0;
}

static int new_call(Bench *b, unsigned i, sd_bus_message **ret)
{
    char name[128];
    bool hvd = b->target == TARGET_HVD;
    int r;

    domain_name(b, i, name, sizeof(name));
    switch (b->scenario) {
    case SCENARIO_LOOKUP:
        if (b->target == TARGET_ECHO) {
            r = sd_bus_message_new_method_call(b->bus, ret, "org.hvd1.BenchEcho",
                                               "/org/hvd1/BenchEcho", "org.hvd1.BenchEcho",
                                               "Lookup");
            return r < 0 ? r : sd_bus_message_append(*ret, "s", name);
        }
        if (hvd) {
            r = sd_bus_message_new_method_call(b->bus, ret, HVD_BUS_NAME, HVD_BUS_MANAGER_PATH,
                                               HVD_BUS_MANAGER_INTERFACE, "GetDomain");
            return r < 0 ? r : sd_bus_message_append(*ret, "s", name);
        }
        r = sd_bus_message_new_method_call(b->bus, ret, "org.libvirt", "/org/libvirt/Test",
                                           "org.libvirt.Connect", "DomainLookupByName");
        return r < 0 ? r : sd_bus_message_append(*ret, "s", name);
    case SCENARIO_LIST:
        if (hvd)
            return sd_bus_message_new_method_call(b->bus, ret, HVD_BUS_NAME, HVD_BUS_MANAGER_PATH,
                                                  HVD_BUS_MANAGER_INTERFACE, "ListDomains");
        r = sd_bus_message_new_method_call(b->bus, ret, "org.libvirt", "/org/libvirt/Test",
                                           "org.libvirt.Connect", "ListDomains");
        return r < 0 ? r : sd_bus_message_append(*ret, "u", 0);
    case SCENARIO_PAUSE_RESUME: {
        bool pause = (i / b->n_domains) % 2 == 0;
        const char *path = b->paths[i % b->n_domains];
        if (hvd)
            return sd_bus_message_new_method_call(b->bus, ret, HVD_BUS_NAME, path,
                                                  HVD_BUS_DOMAIN_INTERFACE,
                                                  pause ? "Pause" : "Resume");
        return sd_bus_message_new_method_call(b->bus, ret, "org.libvirt", path,
                                              "org.libvirt.Domain", pause ? "Suspend" : "Resume");
    }
    case SCENARIO_LIFECYCLE: {
        bool start = (i / b->n_domains) % 2 == 0;
        const char *path = b->paths[i % b->n_domains];
        if (hvd)
            return sd_bus_message_new_method_call(b->bus, ret, HVD_BUS_NAME, path,
                                                  HVD_BUS_DOMAIN_INTERFACE,
                                                  start ? "Start" : "Destroy");
        r = sd_bus_message_new_method_call(b->bus, ret, "org.libvirt", path, "org.libvirt.Domain",
                                           start ? "Create" : "Destroy");
        return r < 0 ? r : sd_bus_message_append(*ret, "u", 0);
    }
    }
    return -EINVAL;
}

static int resolve_paths(Bench *b)
{
    b->paths = calloc(b->n_domains, sizeof(char *));
    for (unsigned i = 0; i < b->n_domains; i++) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *path;
        char name[128];
        int r;

        domain_name(b, i, name, sizeof(name));
        if (b->target == TARGET_HVD)
            r = sd_bus_call_method(b->bus, HVD_BUS_NAME, HVD_BUS_MANAGER_PATH,
                                   HVD_BUS_MANAGER_INTERFACE, "GetDomain", &error, &reply, "s",
                                   name);
        else
            r = sd_bus_call_method(b->bus, "org.libvirt", "/org/libvirt/Test",
                                   "org.libvirt.Connect", "DomainLookupByName", &error, &reply, "s",
                                   name);
        if (r < 0) {
            fprintf(stderr, "dbus-bench: cannot find %s: %s\n", name, error.message);
            sd_bus_error_free(&error);
            return r;
        }
        (void)sd_bus_message_read(reply, "o", &path);
        b->paths[i] = strdup(path);
    }
    return 0;
}

static int run(Bench *b)
{
    uint64_t start = now_usec(CLOCK_MONOTONIC), elapsed;
    int r;

    while (b->done < b->count) {
        while (b->issued < b->count && b->in_flight < b->window) {
            _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
            Call *c = calloc(1, sizeof(*c));
            unsigned i = b->issued++;

            *c = (Call){.b = b, .index = i};
            r = new_call(b, i, &m);
            if (r < 0)
                return r;
            b->sent_at[i] = now_usec(CLOCK_MONOTONIC);
            r = sd_bus_call_async(b->bus, NULL, m, on_reply, c, 60 * USEC_PER_SEC);
            if (r < 0)
                return r;
            b->in_flight++;
        }
        r = sd_bus_process(b->bus, NULL);
        if (r < 0)
            return r;
        if (r == 0 && (r = sd_bus_wait(b->bus, UINT64_MAX)) < 0)
            return r;
    }
    elapsed = now_usec(CLOCK_MONOTONIC) - start;
    bench_result_print(json_pack("{s:s, s:s}", "target",
                                 b->target == TARGET_HVD    ? "hvd"
                                 : b->target == TARGET_ECHO ? "echo"
                                                            : "libvirt-dbus",
                                 "scenario",
                                 b->scenario == SCENARIO_LOOKUP      ? "lookup"
                                 : b->scenario == SCENARIO_LIST      ? "list"
                                 : b->scenario == SCENARIO_LIFECYCLE ? "lifecycle"
                                                                     : "pause-resume"),
                       b->count, b->window, elapsed, b->latency_us, b->errors, b->first_error);
    return b->errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"address", required_argument, NULL, 'a'},  {"target", required_argument, NULL, 't'},
        {"scenario", required_argument, NULL, 's'}, {"prefix", required_argument, NULL, 'p'},
        {"domains", required_argument, NULL, 'n'},  {"count", required_argument, NULL, 'c'},
        {"window", required_argument, NULL, 'w'},   {},
    };
    Bench b = {.prefix = "bench-", .n_domains = 1000, .count = 1000, .window = 1};
    const char *address = NULL;
    int c, r;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        switch (c) {
        case 'a':
            address = optarg;
            break;
        case 't':
            b.target = streq(optarg, "hvd")    ? TARGET_HVD
                       : streq(optarg, "echo") ? TARGET_ECHO
                                               : TARGET_LIBVIRT;
            break;
        case 's':
            b.scenario = streq(optarg, "lookup")         ? SCENARIO_LOOKUP
                         : streq(optarg, "list")         ? SCENARIO_LIST
                         : streq(optarg, "pause-resume") ? SCENARIO_PAUSE_RESUME
                                                         : SCENARIO_LIFECYCLE;
            break;
        case 'p':
            b.prefix = optarg;
            break;
        case 'n':
            b.n_domains = (unsigned)atoi(optarg);
            break;
        case 'c':
            b.count = (unsigned)atoi(optarg);
            break;
        case 'w':
            b.window = (unsigned)atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: dbus-bench --address ADDR --target hvd|libvirt "
                            "--scenario lookup|list|lifecycle|pause-resume [--domains N] "
                            "[--count N] "
                            "[--window N]\n");
            return 2;
        }
    if (!address || b.n_domains == 0 || b.count == 0 || b.window == 0 ||
        (b.scenario >= SCENARIO_LIFECYCLE && b.window > b.n_domains)) {
        fprintf(stderr, "dbus-bench: bad arguments\n");
        return 2;
    }
    r = sd_bus_new(&b.bus);
    if (r >= 0)
        r = sd_bus_set_address(b.bus, address);
    if (r >= 0)
        r = sd_bus_set_bus_client(b.bus, true);
    if (r >= 0)
        r = sd_bus_start(b.bus);
    if (r < 0) {
        fprintf(stderr, "dbus-bench: cannot connect to %s: %s\n", address, strerror(-r));
        return 1;
    }
    b.latency_us = calloc(b.count, sizeof(uint64_t));
    b.sent_at = calloc(b.count, sizeof(uint64_t));
    if ((b.scenario == SCENARIO_LIFECYCLE || b.scenario == SCENARIO_PAUSE_RESUME) &&
        resolve_paths(&b) < 0)
        return 1;
    r = run(&b);
    sd_bus_flush_close_unref(b.bus);
    return r < 0 ? 1 : r;
}
