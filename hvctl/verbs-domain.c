/* hvctl verbs that change domains: create, set, start, stop, destroy, pause, resume, reboot,
 * delete. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api-names.h"
#include "hvctl.h"
#include "parse-util.h"
#include "time-util.h"

enum {
    OPT_JSON = 0x100,
    OPT_DRIVER,
    OPT_MODE,
    OPT_VCPUS,
    OPT_MEMORY,
    OPT_KERNEL,
    OPT_INITRD,
    OPT_DISK,
    OPT_CMDLINE,
    OPT_CPUSET,
    OPT_NETWORK,
    OPT_AUTOSTART,
    OPT_NO_AUTOSTART,
    OPT_ON_CRASH,
    OPT_CPU_WEIGHT,
    OPT_CPU_CAP,
    OPT_MEMORY_LIMIT,
    OPT_UUID,
    OPT_FORCE,
    OPT_TIMEOUT,
    OPT_NO_WAIT,
};

/* How often stop says it is still waiting. */
#define STOP_PROGRESS_US (10 * USEC_PER_SEC)

static const struct option settings_options[] = {
    {"driver", required_argument, NULL, OPT_DRIVER},
    {"mode", required_argument, NULL, OPT_MODE},
    {"vcpus", required_argument, NULL, OPT_VCPUS},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"initrd", required_argument, NULL, OPT_INITRD},
    {"disk", required_argument, NULL, OPT_DISK},
    {"cmdline", required_argument, NULL, OPT_CMDLINE},
    {"cpuset", required_argument, NULL, OPT_CPUSET},
    {"network", required_argument, NULL, OPT_NETWORK},
    {"autostart", no_argument, NULL, OPT_AUTOSTART},
    {"no-autostart", no_argument, NULL, OPT_NO_AUTOSTART},
    {"on-crash", required_argument, NULL, OPT_ON_CRASH},
    {"cpu-weight", required_argument, NULL, OPT_CPU_WEIGHT},
    {"cpu-cap", required_argument, NULL, OPT_CPU_CAP},
    {"memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT},
    {"uuid", required_argument, NULL, OPT_UUID},
    {"json", no_argument, NULL, OPT_JSON},
    {},
};

/* hvd runs elsewhere, so paths are made absolute against the current directory: one with a
 * slash always, a bare name when a file of that name is here. Any other bare name is kept, so
 * minihv can resolve an installed guest such as "hello". */
static json_t *path_value(const char *p)
{
    char cwd[PATH_MAX];
    _cleanup_free_ char *abs = NULL;
    struct stat st;

    if (p[0] == '/' || (!strchr(p, '/') && (stat(p, &st) < 0 || S_ISDIR(st.st_mode))) ||
        !getcwd(cwd, sizeof(cwd)))
        return json_string(p);
    if (asprintf(&abs, "%s/%s", cwd, p) < 0)
        return NULL;
    return json_string(abs);
}

/* Parses the setting options of create/set into a settings object. Returns EXIT_OK or
 * EXIT_USAGE (message printed). */
int parse_settings(const char *verb, int argc, char **argv, json_t *settings)
{
    int c;

    while ((c = getopt_long(argc, argv, "", settings_options, NULL)) >= 0) {
        json_int_t n;
        uint64_t v;

        switch (c) {
        case OPT_DRIVER:
            (void)json_object_set_new(settings, "driver", json_string(optarg));
            break;
        case OPT_MODE:
            (void)json_object_set_new(settings, "mode", json_string(optarg));
            break;
        case OPT_VCPUS:
        case OPT_MEMORY:
        case OPT_CPU_WEIGHT:
        case OPT_CPU_CAP:
        case OPT_MEMORY_LIMIT: {
            const char *opt = c == OPT_VCPUS        ? "--vcpus"
                              : c == OPT_MEMORY     ? "--memory"
                              : c == OPT_CPU_WEIGHT ? "--cpu-weight"
                              : c == OPT_CPU_CAP    ? "--cpu-cap"
                                                    : "--memory-limit";
            const char *key = c == OPT_VCPUS        ? "vcpus"
                              : c == OPT_MEMORY     ? "memory_mib"
                              : c == OPT_CPU_WEIGHT ? "cpu_weight"
                              : c == OPT_CPU_CAP    ? "cpu_cap"
                                                    : "memory_limit";

            if (parse_uint64(optarg, 0, INT64_MAX, &v) < 0)
                return usage_error(verb, "%s must be a whole number, got '%s'", opt, optarg);
            n = (json_int_t)v;
            if (c != OPT_MEMORY && c != OPT_MEMORY_LIMIT && v > UINT32_MAX)
                n = UINT32_MAX; /* hvd names the allowed range */
            (void)json_object_set_new(settings, key, json_integer(n));
            break;
        }
        case OPT_KERNEL:
            (void)json_object_set_new(settings, "kernel", path_value(optarg));
            break;
        case OPT_INITRD:
            (void)json_object_set_new(settings, "initrd", path_value(optarg));
            break;
        case OPT_DISK:
            (void)json_object_set_new(settings, "disk", path_value(optarg));
            break;
        case OPT_CMDLINE:
            (void)json_object_set_new(settings, "cmdline", json_string(optarg));
            break;
        case OPT_CPUSET:
            (void)json_object_set_new(settings, "cpuset", json_string(optarg));
            break;
        case OPT_NETWORK:
            (void)json_object_set_new(settings, "network", json_string(optarg));
            break;
        case OPT_AUTOSTART:
        case OPT_NO_AUTOSTART:
            (void)json_object_set_new(settings, "autostart", json_boolean(c == OPT_AUTOSTART));
            break;
        case OPT_ON_CRASH:
            (void)json_object_set_new(settings, "on_crash", json_string(optarg));
            break;
        case OPT_UUID:
            (void)json_object_set_new(settings, "uuid", json_string(optarg));
            break;
        case OPT_JSON:
            arg.json = true;
            break;
        default:
            return usage_error(verb, "bad option");
        }
    }
    return EXIT_OK;
}

static int verb_create(Client *client, int argc, char **argv)
{
    json_t *settings = json_object();
    Error e = ERROR_NULL;
    int r;

    r = parse_settings("create", argc, argv, settings);
    if (r == EXIT_OK && optind != argc - 1)
        r = usage_error("create", "expects exactly one domain NAME");
    if (r != EXIT_OK) {
        json_decref(settings);
        return r;
    }
    (void)json_object_set_new(settings, "name", json_string(argv[optind]));
    r = client->ops->create(client, settings, &e);
    json_decref(settings);
    if (r < 0)
        return exit_code_from_error(&e);
    printf("Domain %s created.\n", argv[optind]);
    return EXIT_OK;
}

static int verb_set(Client *client, int argc, char **argv)
{
    json_t *settings = json_object();
    Error e = ERROR_NULL;
    int r;

    r = parse_settings("set", argc, argv, settings);
    if (r == EXIT_OK && optind != argc - 1)
        r = usage_error("set", "expects exactly one domain NAME");
    if (r == EXIT_OK && json_object_size(settings) == 0)
        r = usage_error("set", "nothing to change: give at least one setting option");
    if (r != EXIT_OK) {
        json_decref(settings);
        return r;
    }
    r = client->ops->update(client, argv[optind], settings, &e);
    json_decref(settings);
    if (r < 0)
        return exit_code_from_error(&e);
    printf("Domain %s updated.\n", argv[optind]);
    return EXIT_OK;
}

/* Parses "VERB NAME [--json]" and returns the name, or NULL after printing a usage error. */
static const char *parse_name_only(const char *verb, int argc, char **argv)
{
    static const struct option options[] = {{"json", no_argument, NULL, OPT_JSON}, {}};
    int c;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        if (c == OPT_JSON)
            arg.json = true;
        else {
            (void)usage_error(verb, "bad option");
            return NULL;
        }
    if (optind != argc - 1) {
        (void)usage_error(verb, "expects exactly one domain NAME");
        return NULL;
    }
    return argv[optind];
}

static int run_simple_action(Client *client, int argc, char **argv, const char *action,
                             const char *done)
{
    const char *name = parse_name_only(argv[0], argc, argv);
    Error e = ERROR_NULL;

    if (!name)
        return EXIT_USAGE;
    if (client->ops->action(client, name, action, 0, false, &e) < 0)
        return exit_code_from_error(&e);
    printf("Domain %s %s.\n", name, done);
    return EXIT_OK;
}

static int verb_destroy(Client *c, int argc, char **argv)
{
    return run_simple_action(c, argc, argv, "destroy", "destroyed");
}

static int verb_pause(Client *c, int argc, char **argv)
{
    return run_simple_action(c, argc, argv, "pause", "paused");
}

static int verb_resume(Client *c, int argc, char **argv)
{
    return run_simple_action(c, argc, argv, "resume", "resumed");
}

static int verb_reboot(Client *client, int argc, char **argv)
{
    static const struct option options[] = {
        {"force", no_argument, NULL, OPT_FORCE},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {},
    };
    unsigned timeout_s = 0;
    bool force = false;
    Error e = ERROR_NULL;
    const char *name;
    int c;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        if (c == OPT_FORCE)
            force = true;
        else if (c == OPT_TIMEOUT) {
            if (parse_uint(optarg, 1, HVD_SHUTDOWN_TIMEOUT_MAX_S, &timeout_s) < 0)
                return usage_error("reboot", "--timeout must be 1..%u seconds, got '%s'",
                                   HVD_SHUTDOWN_TIMEOUT_MAX_S, optarg);
        } else
            return usage_error("reboot", "bad option");
    if (optind != argc - 1)
        return usage_error("reboot", "expects exactly one domain NAME");
    name = argv[optind];
    fprintf(stderr, "Asked domain %s to reboot; waiting up to %u s for it to restart...\n", name,
            timeout_s ?: HVD_REBOOT_TIMEOUT_DEFAULT_S);
    if (client->ops->action(client, name, "reboot", timeout_s, force, &e) < 0)
        return exit_code_from_error(&e);
    printf("Domain %s rebooted.\n", name);
    return EXIT_OK;
}

static int verb_delete(Client *client, int argc, char **argv)
{
    const char *name = parse_name_only("delete", argc, argv);
    Error e = ERROR_NULL;

    if (!name)
        return EXIT_USAGE;
    if (client->ops->delete (client, name, &e) < 0)
        return exit_code_from_error(&e);
    printf("Domain %s deleted.\n", name);
    return EXIT_OK;
}

typedef struct StopWait {
    Client *client;
    const char *name;
    char reason[32];
    bool off;
    Error error;
} StopWait;

static int stop_wait_handler(json_t *event, void *userdata)
{
    StopWait *w = userdata;
    json_t *info = NULL;
    const char *state, *reason;

    if (event) {
        const char *domain = json_string_value(json_object_get(event, "domain"));
        if (!domain || !streq(domain, w->name))
            return 0;
        if (json_object_get(event, "event") &&
            streq(json_string_value(json_object_get(event, "event")), "deleted"))
            return 1;
        state = json_string_value(json_object_get(event, "state"));
        reason = json_string_value(json_object_get(event, "reason"));
    } else {
        /* Subscribed: look at the current state once, so an early shutoff is not missed. */
        if (w->client->ops->info(w->client, w->name, &info, &w->error) < 0)
            return 1;
        state = json_string_value(json_object_get(info, "state"));
        reason = json_string_value(json_object_get(info, "reason"));
    }
    if (state && streq(state, "shutoff")) {
        w->off = true;
        (void)snprintf(w->reason, sizeof(w->reason), "%s", reason ? reason : "unknown");
    }
    json_decref(info);
    return w->off;
}

static int verb_stop(Client *client, int argc, char **argv)
{
    static const struct option options[] = {
        {"force", no_argument, NULL, OPT_FORCE},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"no-wait", no_argument, NULL, OPT_NO_WAIT},
        {"json", no_argument, NULL, OPT_JSON},
        {},
    };
    bool force = false, wait = true;
    unsigned timeout_s = 0;
    Error e = ERROR_NULL;
    const char *name;
    int c;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        switch (c) {
        case OPT_FORCE:
            force = true;
            break;
        case OPT_TIMEOUT:
            if (parse_uint(optarg, 1, HVD_SHUTDOWN_TIMEOUT_MAX_S, &timeout_s) < 0)
                return usage_error("stop", "--timeout must be 1..%u seconds, got '%s'",
                                   HVD_SHUTDOWN_TIMEOUT_MAX_S, optarg);
            break;
        case OPT_NO_WAIT:
            wait = false;
            break;
        case OPT_JSON:
            arg.json = true;
            break;
        default:
            return usage_error("stop", "bad option");
        }
    if (optind != argc - 1)
        return usage_error("stop", "expects exactly one domain NAME");
    name = argv[optind];

    if (force) {
        if (client->ops->action(client, name, "destroy", 0, false, &e) < 0)
            return exit_code_from_error(&e);
        printf("Domain %s destroyed.\n", name);
        return EXIT_OK;
    }
    if (client->ops->action(client, name, "shutdown", timeout_s, false, &e) < 0)
        return exit_code_from_error(&e);
    if (!wait) {
        printf("Domain %s is shutting down.\n", name);
        return EXIT_OK;
    }

    StopWait w = {.client = client, .name = name};
    uint64_t started = now_usec(CLOCK_MONOTONIC);
    fprintf(stderr, "Waiting for domain %s to shut down (hvd destroys it after %s)...\n", name,
            timeout_s ? "the timeout" : "its shutdown timeout");
    for (;;) {
        if (client->ops->follow(client, stop_wait_handler, &w, STOP_PROGRESS_US, &e) < 0)
            return exit_code_from_error(&e);
        if (error_is_set(&w.error))
            return exit_code_from_error(&w.error);
        if (w.off || client_interrupted)
            break;
        fprintf(stderr, "Still waiting for domain %s to shut down (%llu s)...\n", name,
                (unsigned long long)((now_usec(CLOCK_MONOTONIC) - started) / USEC_PER_SEC));
    }
    if (!w.off) {
        fprintf(stderr, "hvctl: stopped waiting; domain %s is still shutting down\n", name);
        return EXIT_FAILED;
    }
    if (streq(w.reason, "shutdown"))
        printf("Domain %s shut down.\n", name);
    else if (streq(w.reason, "destroyed")) {
        fprintf(stderr,
                "hvctl: domain %s did not shut down in time; hvd destroyed it (forced off)\n",
                name);
        return EXIT_FORCED;
    } else
        printf("Domain %s is off (%s).\n", name, w.reason);
    return EXIT_OK;
}

const Verb verbs[] = {
    {"create",
     "NAME [--driver kvm|minihv] [--mode pv|full] [--vcpus N] [--memory MiB]\n"
     "             [--kernel PATH] [--initrd PATH] [--disk PATH] [--cmdline STR]\n"
     "             [--cpuset LIST] [--network NAME]\n"
     "             [--autostart] [--on-crash destroy|restart|preserve] [--uuid UUID]\n"
     "             [--cpu-weight 1..10000] [--cpu-cap PERCENT] [--memory-limit MiB]",
     "Define a new domain (it starts shut off).", verb_create},
    {"set",
     "NAME [--mode pv|full] [--vcpus N] [--memory MiB] [--kernel PATH] [--initrd PATH]\n"
     "          [--disk PATH] [--cmdline STR] [--cpuset LIST] [--network NAME]\n"
     "          [--autostart|--no-autostart] [--on-crash destroy|restart|preserve]\n"
     "          [--cpu-weight 1..10000] [--cpu-cap PERCENT] [--memory-limit MiB]",
     "Change settings of a domain (most only while it is shut off; autostart, on-crash\n"
     "and the resource settings also while it runs, applied at once).",
     verb_set},
    {"start", "NAME [--fresh]",
     "Start a shut-off domain; returns when it runs. A saved domain (shutoff/saved)\n"
     "resumes from its saved state; --fresh discards that state and boots anew.",
     verb_start_saved},
    {"stop", "NAME [--force] [--timeout S] [--no-wait]",
     "Shut a domain down gracefully and wait until it is off; hvd destroys it when the\n"
     "timeout passes (exit code 5: it was forced off). --force destroys at once.",
     verb_stop},
    {"destroy", "NAME", "Stop a domain at once, like pulling the plug.", verb_destroy},
    {"pause", "NAME", "Pause a running domain.", verb_pause},
    {"resume", "NAME", "Resume a paused domain.", verb_resume},
    {"reboot", "NAME [--timeout S] [--force]",
     "Ask the guest to reboot and wait until it restarted; after the timeout (60 s) it\n"
     "fails, or with --force resets the guest.",
     verb_reboot},
    {"delete", "NAME", "Delete a shut-off domain's definition.", verb_delete},
    {"list", "[--all] [--json]", "List running domains (all with --all).", verb_list},
    {"info", "NAME [--json]", "Show a domain's definition, state and statistics.", verb_info},
    {"host", "[--json]", "Show host capacity, DOM0's reservation and allocation.", verb_host},
    {"stats", "NAME [--json]",
     "Show a running domain's statistics: CPU time, memory, exits by reason and device.",
     verb_stats},
    {"console", "NAME [--device ttyS0|hvc0] [--tail N [--safe]]",
     "Attach to a running domain's console (Ctrl-] detaches), or print its last N lines\n"
     "as the guest wrote them (--safe escapes control and non-ASCII bytes). --device hvc0\n"
     "is the virtio console of a pv kvm domain; ttyS0, the serial port, is the default.",
     verb_console},
    {"events", "[--json] [--count N] [--timeout S] | --since ID|TIME [--domain NAME] [--kind KIND]",
     "Print events as they happen, until interrupted; with --since, the logged ones.", verb_events},
    {"network",
     "create NAME --subnet A.B.C.D/N [--dhcp] [--nat]\n"
     "                     | list [--json] | info NAME [--json] | delete NAME",
     "Manage hvd networks: a bridge with a subnet whose first address is the host's, a\n"
     "lease (MAC and address) per attached domain, dnsmasq with --dhcp, and the subnet\n"
     "masqueraded out of the host with --nat. Attach a domain with\n"
     "'create|set NAME --network NET'.",
     verb_network},
    {"save", "NAME",
     "Save a running or paused domain's memory, vCPU and device state and shut it off\n"
     "(shutoff/saved); the next start resumes it. Disks are referenced, not copied.",
     verb_save},
    {"snapshot", "create NAME SNAP | list NAME [--json] | revert NAME SNAP | delete NAME SNAP",
     "Named snapshots of a running or paused domain (memory, vCPU and device state; the\n"
     "domain goes on). revert runs the domain from one (destroying its current run).\n"
     "Disks are referenced, not copied: a revert does not undo what was written to them;\n"
     "except a kvm domain's qcow2 disk, which a snapshot copies and a revert writes back.",
     verb_snapshot},
    {"clone", "NAME NEW [--snapshot SNAP] [--count N] [--json]",
     "Define clones of a domain, each with a new UUID, MAC and console: NEW, or NEW-1..\n"
     "NEW-N with --count (1..100). With --snapshot they start running from it, sharing\n"
     "its memory pages until they write. Disks are referenced, not copied: clones share\n"
     "the disk of the original, except kvm clones of a shut-off domain, which get a\n"
     "qcow2 overlay on it.",
     verb_clone},
    {"vnc", "NAME [--listen [ADDR:]PORT] [--json]",
     "Show where a running kvm domain's graphical console is (the dashboard's Display,\n"
     "hvd's WebSocket); with --listen, relay VNC viewers connecting to PORT on loopback\n"
     "to it (one at a time, until interrupted). Needs hvd's HTTP API (--url, or\n"
     "/run/hvd/http-url) and its token.",
     verb_vnc},
    {"migrate",
     "NAME --to URL [--token-file FILE] [--downtime-ms N] [--timeout S]\n"
     "             [--bandwidth MIB] | NAME --cancel",
     "Move a running domain to another hvd, whose HTTP API is at URL (http://ADDRESS:PORT,\n"
     "or https://ADDRESS:PORT for TLS: see hvd(8) [migrate])\n"
     "and whose token is in FILE, while it runs (a pause of --downtime-ms, default 10).\n"
     "--timeout S bounds the pre-copy: at S seconds minihv copies the rest with the guest\n"
     "paused, while kvm aborts the migration (the domain runs on here; kvm has no limit\n"
     "without it). --bandwidth caps the MiB/s the stream may use. It stays defined here,\n"
     "shutoff/migrated; on any failure it keeps running here.\n"
     "Disks are referenced, not copied: the target must see the same disk.",
     verb_migrate},
};
const size_t n_verbs = sizeof(verbs) / sizeof(verbs[0]);
