/* hvctl verbs that read: list, info, host, events. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hvctl.h"
#include "parse-util.h"
#include "table.h"
#include "time-util.h"

enum {
    OPT_JSON = 0x100,
    OPT_ALL,
    OPT_COUNT,
    OPT_TIMEOUT,
    OPT_SINCE,
    OPT_DOMAIN,
    OPT_KIND,
};

static const char *str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "-";
}

static json_int_t num(json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

static bool is_active(const char *state)
{
    return !streq(state, "shutoff");
}

/* Parses options that only take --json (and --all for list). */
static int parse_read_options(const char *verb, int argc, char **argv, bool *all)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"all", no_argument, NULL, OPT_ALL},
        {},
    };
    int c;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        if (c == OPT_JSON)
            arg.json = true;
        else if (c == OPT_ALL && all)
            *all = true;
        else
            return usage_error(verb, "bad option");
    return EXIT_OK;
}

int verb_list(Client *client, int argc, char **argv)
{
    static const char *const headers[] = {"NAME",   "DRIVER", "MODE",  "STATE",
                                          "REASON", "VCPUS",  "MEMORY"};
    Error e = ERROR_NULL;
    json_t *list = NULL, *d, *shown;
    bool all = false;
    size_t i;
    int r;

    r = parse_read_options("list", argc, argv, &all);
    if (r != EXIT_OK)
        return r;
    if (optind != argc)
        return usage_error("list", "takes no arguments");
    if (client->ops->list(client, &list, &e) < 0)
        return exit_code_from_error(&e);

    shown = json_array();
    json_array_foreach (list, i, d)
        if (all || is_active(str(d, "state")))
            (void)json_array_append(shown, d);
    json_decref(list);

    if (arg.json)
        print_json(shown);
    else {
        Table *t = table_new(ELEMENTSOF(headers), headers);
        json_array_foreach (shown, i, d) {
            (void)table_add(t, str(d, "name"));
            (void)table_add(t, str(d, "driver"));
            (void)table_add(t, str(d, "mode"));
            (void)table_add(t, str(d, "state"));
            (void)table_add(t, str(d, "reason"));
            (void)table_addf(t, "%lld", (long long)num(d, "vcpus"));
            (void)table_addf(t, "%lld MiB", (long long)num(d, "memory_mib"));
        }
        table_print(t, stdout);
        table_free(t);
    }
    json_decref(shown);
    return EXIT_OK;
}

static void format_time(json_int_t us, char *buf, size_t n)
{
    time_t t = (time_t)(us / (json_int_t)USEC_PER_SEC);
    struct tm tm;

    if (us <= 0 || !localtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
        (void)snprintf(buf, n, "-");
}

static void print_stats(json_t *stats, const char *prefix)
{
    const char *key;
    json_t *v;

    json_object_foreach (stats, key, v) {
        if (json_is_object(v)) {
            char nested[128];
            (void)snprintf(nested, sizeof(nested), "%s%s.", prefix, key);
            print_stats(v, nested);
        } else if (json_is_integer(v))
            printf("  %s%s: %lld\n", prefix, key, (long long)json_integer_value(v));
        else if (json_is_real(v))
            printf("  %s%s: %g\n", prefix, key, json_real_value(v));
        else if (json_is_string(v))
            printf("  %s%s: %s\n", prefix, key, json_string_value(v));
        else if (json_is_boolean(v))
            printf("  %s%s: %s\n", prefix, key, json_is_true(v) ? "yes" : "no");
    }
}

/* The CPU cap and memory limit of a domain (or host view row) for people. */
static void format_resources(json_t *o, char *cap, size_t cap_len, char *limit, size_t limit_len)
{
    long long c = num(o, "cpu_cap"), l = num(o, "memory_limit");

    if (c > 0)
        (void)snprintf(cap, cap_len, "%lld%%", c);
    else
        (void)snprintf(cap, cap_len, "none");
    if (l > 0)
        (void)snprintf(limit, limit_len, "%lld MiB", l);
    else
        (void)snprintf(limit, limit_len, "default");
}

int verb_info(Client *client, int argc, char **argv)
{
    Error e = ERROR_NULL;
    json_t *info = NULL, *stats, *nic;
    char created[64], started[64], cap[32], limit[32];
    size_t i;
    int r;

    r = parse_read_options("info", argc, argv, NULL);
    if (r != EXIT_OK)
        return r;
    if (optind != argc - 1)
        return usage_error("info", "expects exactly one domain NAME");
    if (client->ops->info(client, argv[optind], &info, &e) < 0)
        return exit_code_from_error(&e);

    if (arg.json) {
        print_json(info);
        json_decref(info);
        return EXIT_OK;
    }
    format_resources(info, cap, sizeof(cap), limit, sizeof(limit));
    format_time(num(info, "created_us"), created, sizeof(created));
    format_time(num(info, "started_us"), started, sizeof(started));
    printf("Name:       %s\n"
           "UUID:       %s\n"
           "Driver:     %s\n"
           "Mode:       %s\n"
           "State:      %s (%s)\n"
           "vCPUs:      %lld\n"
           "Memory:     %lld MiB\n"
           "Kernel:     %s\n"
           "Initrd:     %s\n"
           "Disk:       %s\n"
           "Cmdline:    %s\n"
           "CPU set:    %s\n"
           "Network:    %s\n"
           "Autostart:  %s\n"
           "On crash:   %s\n"
           "CPU weight: %lld\n"
           "CPU cap:    %s\n"
           "Mem limit:  %s\n"
           "PID:        %lld\n"
           "Created:    %s\n"
           "Started:    %s\n",
           str(info, "name"), str(info, "uuid"), str(info, "driver"), str(info, "mode"),
           str(info, "state"), str(info, "reason"), (long long)num(info, "vcpus"),
           (long long)num(info, "memory_mib"), str(info, "kernel"), str(info, "initrd"),
           str(info, "disk"), str(info, "cmdline"), str(info, "cpuset"), str(info, "network"),
           json_is_true(json_object_get(info, "autostart")) ? "yes" : "no", str(info, "on_crash"),
           (long long)num(info, "cpu_weight"), cap, limit, (long long)num(info, "pid"), created,
           started);
    json_array_foreach (json_object_get(info, "interfaces"), i, nic)
        printf("Interface:  network %s, mac %s, ipv4 %s%s%s\n", str(nic, "network"),
               str(nic, "mac"), str(nic, "ipv4"),
               json_is_string(json_object_get(nic, "bridge")) ? ", bridge " : "",
               json_is_string(json_object_get(nic, "bridge")) ? str(nic, "bridge") : "");
    if (json_is_string(json_object_get(info, "console_log")))
        printf("Console:    %s\n", str(info, "console_log"));
    if (json_is_string(json_object_get(info, "driver_unavailable")))
        printf("Warning:    the %s driver is unavailable: %s\n", str(info, "driver"),
               str(info, "driver_unavailable"));
    stats = json_object_get(info, "stats");
    if (json_is_object(stats)) {
        printf("Statistics:\n");
        print_stats(stats, "");
    }
    json_decref(info);
    return EXIT_OK;
}

/* The resource settings of the active domains, and what enforces them. */
static void print_host_resources(json_t *resources)
{
    static const char *const headers[] = {"DOMAIN", "WEIGHT", "CAP", "MEMORY LIMIT"};
    json_t *domains = json_object_get(resources, "domains"), *d;
    size_t i;
    Table *t;

    if (!json_is_array(domains) || json_array_size(domains) == 0)
        return;
    printf("\nResources of active domains (CPU weight %lld in all):\n",
           (long long)num(resources, "cpu_weight_total"));
    t = table_new(ELEMENTSOF(headers), headers);
    json_array_foreach (domains, i, d) {
        char cap[32], limit[32];

        format_resources(d, cap, sizeof(cap), limit, sizeof(limit));
        (void)table_add(t, str(d, "name"));
        (void)table_addf(t, "%lld", (long long)num(d, "cpu_weight"));
        (void)table_add(t, cap);
        (void)table_add(t, limit);
    }
    table_print(t, stdout);
    table_free(t);
}

/* What bounds how many more domains the host can run (the "density" part of the host view). */
static void print_host_density(json_t *density)
{
    size_t i;
    json_t *l;

    if (!json_is_object(density))
        return;
    printf("\nDensity (what bounds more running domains):\n");
    json_array_foreach (json_object_get(density, "limits"), i, l) {
        const char *unit = json_string_value(json_object_get(l, "unit"));

        printf("  %-17s %lld of %lld%s%s in use, %lld%s%s per domain: room for %lld more\n",
               str(l, "name"), (long long)num(l, "used"), (long long)num(l, "limit"),
               unit ? " " : "", strempty(unit), (long long)num(l, "per_domain"), unit ? " " : "",
               strempty(unit), (long long)num(l, "room"));
    }
    if (json_is_string(json_object_get(density, "bound")))
        printf("  bounded by %s: %lld more\n", str(density, "bound"),
               (long long)num(density, "room"));
    if (num(density, "warm_pool") > 0)
        printf("  warm pools hold %lld VMMs (in the use above)\n",
               (long long)num(density, "warm_pool"));
}

int verb_host(Client *client, int argc, char **argv)
{
    static const char *const headers[] = {"RESOURCE",  "CAPACITY", "RESERVED",
                                          "ALLOCATED", "FREE",     "OVERCOMMIT"};
    Error e = ERROR_NULL;
    json_t *host = NULL, *drivers, *v;
    const char *key;
    Table *t;
    int r;

    r = parse_read_options("host", argc, argv, NULL);
    if (r != EXIT_OK)
        return r;
    if (optind != argc)
        return usage_error("host", "takes no arguments");
    if (client->ops->host(client, &host, &e) < 0)
        return exit_code_from_error(&e);
    if (arg.json) {
        print_json(host);
        json_decref(host);
        return EXIT_OK;
    }

    printf("CPUs: %lld online (%s), reserved for DOM0: %s\n", (long long)num(host, "cpus"),
           str(host, "cpus_online"),
           *str(host, "cpus_reserved") ? str(host, "cpus_reserved") : "none");
    printf("Memory: %lld MiB\n\n", (long long)num(host, "memory_mib"));
    t = table_new(ELEMENTSOF(headers), headers);
    (void)table_add(t, "vCPUs");
    (void)table_addf(t, "%lld", (long long)num(host, "vcpus_capacity"));
    (void)table_addf(t, "%s", *str(host, "cpus_reserved") ? str(host, "cpus_reserved") : "-");
    (void)table_addf(t, "%lld", (long long)num(host, "vcpus_allocated"));
    (void)table_addf(t, "%lld", (long long)num(host, "vcpus_free"));
    (void)table_addf(t, "%.2fx", json_real_value(json_object_get(host, "cpu_overcommit")));
    (void)table_add(t, "memory");
    (void)table_addf(t, "%lld MiB", (long long)num(host, "memory_capacity_mib"));
    (void)table_addf(t, "%lld MiB", (long long)num(host, "memory_reserved_mib"));
    (void)table_addf(t, "%lld MiB", (long long)num(host, "memory_allocated_mib"));
    (void)table_addf(t, "%lld MiB", (long long)num(host, "memory_free_mib"));
    (void)table_addf(t, "%.2fx", json_real_value(json_object_get(host, "memory_overcommit")));
    table_print(t, stdout);
    table_free(t);

    drivers = json_object_get(host, "drivers");
    printf("\nDrivers:\n");
    json_object_foreach (drivers, key, v) {
        const char *summary = json_string_value(json_object_get(v, "summary"));

        if (json_is_true(json_object_get(v, "available")))
            printf("  %-7s available%s%s\n", key, summary ? ", " : "", strempty(summary));
        else
            printf("  %-7s UNAVAILABLE: %s\n", key, str(v, "reason"));
    }
    printf("\nDomains: %lld defined\n", (long long)num(host, "domains"));
    /* Over D-Bus: who may change domains (over HTTP, the bearer token decides). */
    if (json_is_string(json_object_get(host, "authorization")))
        printf("authorization: %s\n", str(host, "authorization"));
    print_host_resources(json_object_get(host, "resources"));
    print_host_density(json_object_get(host, "density"));
    json_decref(host);
    return EXIT_OK;
}

typedef struct EventsState {
    unsigned count;
    unsigned max;
} EventsState;

static int print_event(json_t *ev, void *userdata)
{
    EventsState *s = userdata;
    char when[64];
    time_t t;
    struct tm tm;

    if (!ev)
        return 0;
    if (arg.json) {
        (void)json_dumpf(ev, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    } else {
        t = (time_t)(num(ev, "time_us") / (json_int_t)USEC_PER_SEC);
        if (!localtime_r(&t, &tm) || strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0)
            (void)snprintf(when, sizeof(when), "-");
        printf("%s  %-20s %-15s", when, str(ev, "domain"), str(ev, "event"));
        if (json_object_get(ev, "state"))
            printf(" %s/%s", str(ev, "state"), str(ev, "reason"));
        if (json_is_string(json_object_get(ev, "caller")))
            printf(" (by %s)", str(ev, "caller"));
        putchar('\n');
    }
    fflush(stdout);
    s->count++;
    return s->max && s->count >= s->max;
}

/* Prints the logged events after since (of domain and kind when set), oldest first, a page at
 * a time. */
static int print_log(Client *client, const char *since, const char *domain, const char *kind)
{
    _cleanup_free_ char *next = NULL;
    EventsState s = {};
    Error e = ERROR_NULL;
    bool more = true;

    while (more) {
        json_t *page = NULL, *ev;
        size_t i;

        if (client->ops->events_log(client, next ? next : since, domain, kind, 1000, &page, &more,
                                    &e) < 0)
            return exit_code_from_error(&e);
        json_array_foreach (page, i, ev)
            (void)print_event(ev, &s);
        free(next);
        next = NULL;
        if (more && (ev = json_array_get(page, json_array_size(page) - 1)) &&
            asprintf(&next, "%lld", (long long)num(ev, "id")) < 0)
            next = NULL;
        json_decref(page);
        if (more && !next) {
            (void)error_set_errno(&e, -ENOMEM, "Out of memory");
            return exit_code_from_error(&e);
        }
    }
    return EXIT_OK;
}

static void on_interrupt(int sig)
{
    client_interrupted = 1;
}

int verb_events(Client *client, int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"count", required_argument, NULL, OPT_COUNT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"since", required_argument, NULL, OPT_SINCE},
        {"domain", required_argument, NULL, OPT_DOMAIN},
        {"kind", required_argument, NULL, OPT_KIND},
        {},
    };
    const char *since = NULL, *domain = NULL, *kind = NULL;
    EventsState s = {};
    unsigned timeout_s = 0;
    struct sigaction sa = {.sa_handler = on_interrupt};
    Error e = ERROR_NULL;
    int c;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        switch (c) {
        case OPT_JSON:
            arg.json = true;
            break;
        case OPT_COUNT:
            if (parse_uint(optarg, 1, UINT32_MAX, &s.max) < 0)
                return usage_error("events", "--count must be a positive number");
            break;
        case OPT_TIMEOUT:
            if (parse_uint(optarg, 1, 86400 * 365, &timeout_s) < 0)
                return usage_error("events", "--timeout must be a positive number of seconds");
            break;
        case OPT_SINCE:
            since = optarg;
            break;
        case OPT_DOMAIN:
            domain = optarg;
            break;
        case OPT_KIND:
            kind = optarg;
            break;
        default:
            return usage_error("events", "bad option");
        }
    if (optind != argc)
        return usage_error("events", "takes no arguments");
    if ((domain || kind) && !since)
        return usage_error("events", "--domain and --kind filter the log: give --since too");
    if (since && (s.max || timeout_s))
        return usage_error("events", "--count and --timeout are for following, not --since");
    if (since)
        return print_log(client, since, domain, kind);

    /* Ctrl-C ends the stream cleanly (exit 0) instead of killing hvctl mid-line. */
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    if (client->ops->follow(client, print_event, &s, (uint64_t)timeout_s * USEC_PER_SEC, &e) < 0)
        return exit_code_from_error(&e);
    return EXIT_OK;
}
