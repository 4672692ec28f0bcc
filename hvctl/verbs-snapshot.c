/* hvctl save, start [--fresh], snapshot create|list|revert|delete and clone: a domain's saved
 * state (memory, vCPU and device state; disks are referenced, not copied). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hvctl.h"
#include "parse-util.h"
#include "table.h"
#include "time-util.h"

enum {
    OPT_JSON = 0x100,
    OPT_FRESH,
    OPT_SNAPSHOT,
    OPT_COUNT,
};

/* Runs op on domain name and prints done (with name) when it succeeded. */
static int run_op(Client *client, const char *name, const char *op, json_t *args, const char *done)
{
    Error e = ERROR_NULL;
    int r;

    r = client->ops->saved_state(client, name, op, args, NULL, &e);
    json_decref(args);
    if (r < 0)
        return exit_code_from_error(&e);
    printf(done, name);
    return EXIT_OK;
}

int verb_save(Client *client, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-')
        return usage_error("save", "expects exactly one domain NAME");
    return run_op(client, argv[1], "save", NULL,
                  "Domain %s saved and shut off (its disk is referenced, not copied); 'hvctl "
                  "start' resumes it.\n");
}

int verb_start_saved(Client *client, int argc, char **argv)
{
    static const struct option options[] = {{"fresh", no_argument, NULL, OPT_FRESH}, {}};
    bool fresh = false;
    Error e = ERROR_NULL;
    int c;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        if (c == OPT_FRESH)
            fresh = true;
        else
            return usage_error("start", "bad option");
    if (optind != argc - 1)
        return usage_error("start", "expects exactly one domain NAME");
    if (fresh)
        return run_op(client, argv[optind], "start-fresh", NULL,
                      "Domain %s started afresh (a saved state it had is discarded).\n");
    if (client->ops->action(client, argv[optind], "start", 0, false, &e) < 0)
        return exit_code_from_error(&e);
    printf("Domain %s started.\n", argv[optind]);
    return EXIT_OK;
}

static void format_time(json_int_t us, char *buf, size_t n)
{
    time_t t = (time_t)(us / (json_int_t)USEC_PER_SEC);
    struct tm tm;

    if (us <= 0 || !localtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        (void)snprintf(buf, n, "-");
}

static int snapshot_list(Client *client, int argc, char **argv)
{
    static const char *const headers[] = {"NAME", "CREATED", "SIZE", "CONTAINS", "DISK"};
    static const struct option options[] = {{"json", no_argument, NULL, OPT_JSON}, {}};
    Error e = ERROR_NULL;
    json_t *list = NULL, *s;
    size_t i;
    Table *t;
    int c;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        if (c == OPT_JSON)
            arg.json = true;
        else
            return usage_error("snapshot", "bad option for list");
    if (optind != argc - 1)
        return usage_error("snapshot", "list expects exactly one domain NAME");
    if (client->ops->saved_state(client, argv[optind], "snapshot-list", NULL, &list, &e) < 0)
        return exit_code_from_error(&e);
    if (arg.json) {
        print_json(list);
        json_decref(list);
        return EXIT_OK;
    }
    t = table_new(ELEMENTSOF(headers), headers);
    json_array_foreach (list, i, s) {
        char when[64];
        const char *disk = json_string_value(json_object_get(s, "disk"));
        const char *disks = json_string_value(json_object_get(s, "disks"));

        format_time(json_integer_value(json_object_get(s, "created_us")), when, sizeof(when));
        (void)table_add(t, json_string_value(json_object_get(s, "name")));
        (void)table_add(t, when);
        (void)table_addf(t, "%.1f MiB",
                         (double)json_integer_value(json_object_get(s, "size_bytes")) /
                             (1024.0 * 1024.0));
        (void)table_add(t, json_string_value(json_object_get(s, "contents")));
        if (disk)
            (void)table_addf(t, "%s (%s)", disk, disks ? disks : "referenced, not copied");
        else
            (void)table_add(t, "none");
    }
    table_print(t, stdout);
    table_free(t);
    json_decref(list);
    return EXIT_OK;
}

/* snapshot create|revert|delete NAME SNAP. */
static int snapshot_named(Client *client, int argc, char **argv, const char *op, const char *done)
{
    Error e = ERROR_NULL;
    json_t *args;
    int r;

    if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-')
        return usage_error("snapshot", "%s expects a domain NAME and a snapshot name", argv[0]);
    args = json_pack("{s:s}", "snapshot", argv[2]);
    r = client->ops->saved_state(client, argv[1], op, args, NULL, &e);
    json_decref(args);
    if (r < 0)
        return exit_code_from_error(&e);
    printf(done, argv[2], argv[1]);
    return EXIT_OK;
}

int verb_snapshot(Client *client, int argc, char **argv)
{
    if (argc < 2)
        return usage_error("snapshot", "expects create, list, revert or delete");
    optind = 0;
    if (streq(argv[1], "list"))
        return snapshot_list(client, argc - 1, argv + 1);
    if (streq(argv[1], "create"))
        return snapshot_named(client, argc - 1, argv + 1, "snapshot-create",
                              "Snapshot %s of %s created (memory, vCPU and device state; the "
                              "disk is referenced, not copied, unless it is a kvm domain's qcow2 "
                              "disk: that is copied with it).\n");
    if (streq(argv[1], "revert"))
        return snapshot_named(client, argc - 1, argv + 1, "snapshot-revert",
                              "Reverted to snapshot %s: %s runs from it.\n");
    if (streq(argv[1], "delete"))
        return snapshot_named(client, argc - 1, argv + 1, "snapshot-delete",
                              "Snapshot %s of %s deleted.\n");
    return usage_error("snapshot", "unknown subcommand '%s' (create, list, revert or delete)",
                       argv[1]);
}

int verb_clone(Client *client, int argc, char **argv)
{
    static const struct option options[] = {
        {"snapshot", required_argument, NULL, OPT_SNAPSHOT},
        {"count", required_argument, NULL, OPT_COUNT},
        {"json", no_argument, NULL, OPT_JSON},
        {},
    };
    const char *snapshot = NULL;
    unsigned count = 1;
    Error e = ERROR_NULL;
    json_t *args, *names = NULL, *v;
    size_t i;
    int c, r;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        switch (c) {
        case OPT_SNAPSHOT:
            snapshot = optarg;
            break;
        case OPT_COUNT:
            if (parse_uint(optarg, 1, 100, &count) < 0)
                return usage_error("clone", "--count must be 1..100, got '%s'", optarg);
            break;
        case OPT_JSON:
            arg.json = true;
            break;
        default:
            return usage_error("clone", "bad option");
        }
    if (optind != argc - 2)
        return usage_error("clone", "expects a domain NAME and the NEW name");
    args = json_pack("{s:s, s:s?, s:i}", "name", argv[optind + 1], "snapshot", snapshot, "count",
                     (int)count);
    r = client->ops->saved_state(client, argv[optind], "clone", args, &names, &e);
    json_decref(args);
    if (r < 0)
        return exit_code_from_error(&e);
    if (arg.json)
        print_json(names);
    else
        json_array_foreach (names, i, v)
            printf("Domain %s cloned from %s%s%s%s.\n", json_string_value(v), argv[optind],
                   snapshot ? " (running from snapshot " : "", strempty(snapshot),
                   snapshot ? ")" : "");
    json_decref(names);
    return EXIT_OK;
}
