/* hvctl --cluster create|list|hosts: cluster domains placed by the leader, the cluster's
 * domains with the host each runs on, and its hosts. */
#include <getopt.h>
#include <string.h>

#include "hvctl.h"
#include "table.h"

typedef struct ClusterVerb {
    const char *name;
    const char *usage;
    const char *summary;
    int (*run)(Client *c, int argc, char **argv);
} ClusterVerb;

static const char *text(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : "-";
}

/* --json is the only option of the read verbs; with_name: one NAME follows. */
static int parse_json_only(const char *verb, int argc, char **argv, bool with_name)
{
    static const struct option options[] = {{"json", no_argument, NULL, 'j'}, {}};
    int c;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        if (c == 'j')
            arg.json = true;
        else
            return usage_error(verb, "bad option");
    if (with_name && optind != argc - 1)
        return usage_error(verb, "expects exactly one domain NAME");
    if (!with_name && optind != argc)
        return usage_error(verb, "takes no arguments");
    return EXIT_OK;
}

static int cluster_create(Client *client, int argc, char **argv)
{
    json_t *settings = json_object(), *entry = NULL;
    _cleanup_free_ char **rest = calloc((size_t)argc + 1, sizeof(char *));
    const char *host = NULL, *ha_from = NULL;
    Error e = ERROR_NULL;
    int n = 0, r;
    bool ha = false;

    if (!settings || !rest) {
        json_decref(settings);
        return exit_code_from_error(&(Error){.message = "Out of memory"});
    }
    /* --ha and --host are the cluster's; the rest are a domain's settings. */
    for (int i = 0; i < argc; i++) {
        if (streq(argv[i], "--ha"))
            ha = true;
        else if (streq(argv[i], "--host") && i + 1 < argc)
            host = argv[++i];
        else if (strneq(argv[i], "--host=", 7))
            host = argv[i] + 7;
        else if (streq(argv[i], "--ha-from") && i + 1 < argc)
            ha_from = argv[++i];
        else if (strneq(argv[i], "--ha-from=", 10))
            ha_from = argv[i] + 10;
        else if (streq(argv[i], "--ha-from")) {
            json_decref(settings);
            return usage_error("--cluster create", "--ha-from needs definition or snapshot");
        } else if (streq(argv[i], "--host")) {
            json_decref(settings);
            return usage_error("--cluster create", "--host needs a HOST");
        } else
            rest[n++] = argv[i];
    }
    r = parse_settings("--cluster create", n, rest, settings);
    if (r == EXIT_OK && optind != n - 1)
        r = usage_error("--cluster create", "expects exactly one domain NAME");
    if (r != EXIT_OK) {
        json_decref(settings);
        return r;
    }
    (void)json_object_set_new(settings, "name", json_string(rest[optind]));
    (void)json_object_set_new(settings, "ha", json_boolean(ha));
    if (host)
        (void)json_object_set_new(settings, "host", json_string(host));
    if (ha_from)
        (void)json_object_set_new(settings, "ha_from", json_string(ha_from));
    r = client->ops->cluster_create(client, settings, &entry, &e);
    json_decref(settings);
    if (r < 0)
        return exit_code_from_error(&e);
    if (arg.json)
        print_json(entry);
    else
        printf("Domain %s created in the cluster on %s (%s).\n", text(entry, "name"),
               text(entry, "host"), text(entry, "state"));
    json_decref(entry);
    return EXIT_OK;
}

static int cluster_delete(Client *client, int argc, char **argv)
{
    Error e = ERROR_NULL;
    int r;

    r = parse_json_only("--cluster delete", argc, argv, true);
    if (r != EXIT_OK)
        return r;
    if (client->ops->cluster_delete(client, argv[optind], &e) < 0)
        return exit_code_from_error(&e);
    printf("Domain %s deleted from the cluster.\n", argv[optind]);
    return EXIT_OK;
}

static int cluster_drain_verb(Client *client, int argc, char **argv, bool drain)
{
    const char *verb = drain ? "--cluster drain" : "--cluster undrain";
    json_t *outcome = NULL, *pinned;
    Error e = ERROR_NULL;
    int r;

    r = parse_json_only(verb, argc, argv, true);
    if (r != EXIT_OK)
        return r;
    if (client->ops->cluster_drain(client, argv[optind], drain, &outcome, &e) < 0)
        return exit_code_from_error(&e);
    pinned = json_object_get(outcome, "pinned_there");
    if (!arg.json) {
        const char *name;
        json_t *way;
        json_object_foreach (json_object_get(outcome, "moved"), name, way)
            printf("Domain %s moved (%s).\n", name, json_string_value(way));
    }
    if (arg.json)
        print_json(outcome);
    else if (!drain)
        printf("Host %s takes domains again.\n", argv[optind]);
    else if (json_array_size(pinned) == 0)
        printf("Host %s is drained: its domains run elsewhere.\n", argv[optind]);
    else
        printf("Host %s is drained but for %zu domains pinned to it.\n", argv[optind],
               json_array_size(pinned));
    json_decref(outcome);
    return EXIT_OK;
}

static int cluster_move(Client *client, int argc, char **argv)
{
    static const struct option options[] = {
        {"to", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'}, {}};
    const char *to = NULL;
    json_t *entry = NULL;
    Error e = ERROR_NULL;
    int c;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        if (c == 't')
            to = optarg;
        else if (c == 'j')
            arg.json = true;
        else
            return usage_error("--cluster move", "bad option");
    if (optind != argc - 1)
        return usage_error("--cluster move", "expects exactly one domain NAME");
    if (!to)
        return usage_error("--cluster move", "--to HOST names where it goes");
    if (client->ops->cluster_move(client, argv[optind], to, &entry, &e) < 0)
        return exit_code_from_error(&e);
    if (arg.json)
        print_json(entry);
    else
        printf("Domain %s runs on %s now (moved %s).\n", argv[optind], text(entry, "host"),
               text(entry, "moved"));
    json_decref(entry);
    return EXIT_OK;
}

static int cluster_drain(Client *client, int argc, char **argv)
{
    return cluster_drain_verb(client, argc, argv, true);
}

static int cluster_undrain(Client *client, int argc, char **argv)
{
    return cluster_drain_verb(client, argc, argv, false);
}

static int cluster_list(Client *client, int argc, char **argv)
{
    static const char *const headers[] = {"NAME", "HOST", "STATE", "HA", "VCPUS", "MEMORY"};
    json_t *list = NULL, *d;
    Error e = ERROR_NULL;
    size_t i;
    Table *t;
    int r;

    r = parse_json_only("--cluster list", argc, argv, false);
    if (r != EXIT_OK)
        return r;
    if (client->ops->cluster_domains(client, &list, &e) < 0)
        return exit_code_from_error(&e);
    if (arg.json) {
        print_json(list);
        json_decref(list);
        return EXIT_OK;
    }
    t = table_new(ELEMENTSOF(headers), headers);
    json_array_foreach (list, i, d) {
        (void)table_add(t, text(d, "name"));
        (void)table_add(t, text(d, "host"));
        (void)table_add(t, text(d, "state"));
        (void)table_add(t, json_is_true(json_object_get(d, "ha")) ? "yes" : "no");
        (void)table_addf(t, "%lld", (long long)json_integer_value(json_object_get(d, "vcpus")));
        (void)table_addf(t, "%lld MiB",
                         (long long)json_integer_value(json_object_get(d, "memory_mib")));
    }
    table_print(t, stdout);
    table_free(t);
    json_decref(list);
    return EXIT_OK;
}

static int cluster_hosts(Client *client, int argc, char **argv)
{
    static const char *const headers[] = {"NAME",       "LEADER",      "DRAINING", "DOMAINS",
                                          "FREE VCPUS", "FREE MEMORY", "ADVERTISE"};
    json_t *list = NULL, *h;
    Error e = ERROR_NULL;
    size_t i;
    Table *t;
    int r;

    r = parse_json_only("--cluster hosts", argc, argv, false);
    if (r != EXIT_OK)
        return r;
    if (client->ops->cluster_hosts(client, &list, &e) < 0)
        return exit_code_from_error(&e);
    if (arg.json) {
        print_json(list);
        json_decref(list);
        return EXIT_OK;
    }
    t = table_new(ELEMENTSOF(headers), headers);
    json_array_foreach (list, i, h) {
        json_t *res = json_object_get(h, "resources");
        (void)table_add(t, text(h, "name"));
        (void)table_add(t, json_is_true(json_object_get(h, "leader")) ? "yes" : "no");
        (void)table_add(t, json_is_true(json_object_get(h, "draining")) ? "yes" : "no");
        (void)table_addf(t, "%zu", json_object_size(json_object_get(h, "domains")));
        (void)table_addf(t, "%lld",
                         (long long)json_integer_value(json_object_get(res, "vcpus_free")));
        (void)table_addf(t, "%lld MiB",
                         (long long)json_integer_value(json_object_get(res, "memory_free_mib")));
        (void)table_add(t, text(h, "advertise"));
    }
    table_print(t, stdout);
    table_free(t);
    json_decref(list);
    return EXIT_OK;
}

static const ClusterVerb cluster_verbs[] = {
    {"create",
     "NAME [--ha [--ha-from definition|snapshot]] [--host HOST] [create's settings: --driver, "
     "--memory, --kernel, ...]",
     "Record a domain in the cluster: the leader places it on a host with room (on HOST\n"
     "with --host) and that host runs it; with --ha it is restarted elsewhere when its host\n"
     "dies, with --ha-from snapshot from its latest snapshot when the new host can read its\n"
     "image. What fits nowhere is refused with the reason.",
     cluster_create},
    {"delete", "NAME",
     "Delete a domain from the cluster: its host stops it and undefines its local copy.",
     cluster_delete},
    {"move", "NAME --to HOST [--json]",
     "Move a domain to HOST: live-migrated when its driver can (minihv), otherwise stopped\n"
     "on its host, then started there. Refused at once when HOST has no room.",
     cluster_move},
    {"migrate", "NAME --to HOST [--json]", "The same as move.", cluster_move},
    {"drain", "HOST [--json]",
     "Move every domain off HOST (live-migrated, two at a time, when their driver can;\n"
     "otherwise stopped there, then started elsewhere; not those pinned to it) and place\n"
     "nothing new there; returns once they run elsewhere, saying how each moved.",
     cluster_drain},
    {"undrain", "HOST [--json]", "Let HOST take domains again after a drain.", cluster_undrain},
    {"list", "[--json]", "List the cluster's domains with the host each runs on.", cluster_list},
    {"hosts", "[--json]", "List the cluster's hosts: leader, domains, free vCPUs and memory.",
     cluster_hosts},
};

static const ClusterVerb *cluster_verb_find(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(cluster_verbs); i++)
        if (streq(cluster_verbs[i].name, name))
            return &cluster_verbs[i];
    return NULL;
}

bool verb_cluster_help(int argc, char **argv)
{
    const ClusterVerb *v = argc > 0 ? cluster_verb_find(argv[0]) : NULL;

    for (int i = 1; v && i < argc && !streq(argv[i], "--"); i++)
        if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
            printf("Usage: hvctl --cluster %s %s\n\n%s\n", v->name, v->usage, v->summary);
            return true;
        }
    return false;
}

int verb_cluster(Client *client, int argc, char **argv)
{
    const ClusterVerb *v = argc > 0 ? cluster_verb_find(argv[0]) : NULL;

    if (!v)
        return usage_error(NULL,
                           "--cluster takes create, delete, move, drain, undrain, list or hosts, "
                           "not '%s'",
                           argc > 0 ? argv[0] : "");
    return v->run(client, argc, argv);
}
