/* hvctl network: create, list, info and delete hvd networks. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "hvctl.h"
#include "table.h"

enum {
    OPT_JSON = 0x100,
    OPT_SUBNET,
    OPT_NAT,
    OPT_DHCP,
};

static const char *str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "-";
}

static const char *yes_no(json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key)) ? "yes" : "no";
}

static int network_create(Client *client, int argc, char **argv)
{
    static const struct option options[] = {
        {"subnet", required_argument, NULL, OPT_SUBNET},
        {"nat", no_argument, NULL, OPT_NAT},
        {"dhcp", no_argument, NULL, OPT_DHCP},
        {},
    };
    const char *subnet = NULL;
    bool nat = false, dhcp = false;
    Error e = ERROR_NULL;
    json_t *settings;
    int c, r;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        switch (c) {
        case OPT_SUBNET:
            subnet = optarg;
            break;
        case OPT_NAT:
            nat = true;
            break;
        case OPT_DHCP:
            dhcp = true;
            break;
        default:
            return usage_error("network", "bad option for create");
        }
    if (optind != argc - 1)
        return usage_error("network", "create expects exactly one network NAME");
    if (!subnet)
        return usage_error("network", "create needs --subnet A.B.C.D/N");
    settings = json_pack("{s:s, s:s, s:b, s:b}", "name", argv[optind], "subnet", subnet, "nat", nat,
                         "dhcp", dhcp);
    if (!settings)
        return exit_code_from_error(&(Error){.errnum = -ENOMEM, .message = "Out of memory"});
    r = client->ops->network_create(client, settings, &e);
    json_decref(settings);
    if (r < 0)
        return exit_code_from_error(&e);
    printf("Network %s created.\n", argv[optind]);
    return EXIT_OK;
}

static int parse_json_only(int argc, char **argv)
{
    static const struct option options[] = {{"json", no_argument, NULL, OPT_JSON}, {}};
    int c;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        if (c == OPT_JSON)
            arg.json = true;
        else
            return usage_error("network", "bad option");
    return EXIT_OK;
}

static int network_list(Client *client, int argc, char **argv)
{
    static const char *const headers[] = {"NAME", "SUBNET", "BRIDGE", "DHCP", "NAT"};
    Error e = ERROR_NULL;
    json_t *list = NULL, *n;
    size_t i;
    Table *t;
    int r;

    r = parse_json_only(argc, argv);
    if (r != EXIT_OK)
        return r;
    if (optind != argc)
        return usage_error("network", "list takes no arguments");
    if (client->ops->network_list(client, &list, &e) < 0)
        return exit_code_from_error(&e);
    if (arg.json) {
        print_json(list);
        json_decref(list);
        return EXIT_OK;
    }
    t = table_new(ELEMENTSOF(headers), headers);
    json_array_foreach (list, i, n) {
        (void)table_add(t, str(n, "name"));
        (void)table_add(t, str(n, "subnet"));
        (void)table_add(t, str(n, "bridge"));
        (void)table_add(t, yes_no(n, "dhcp"));
        (void)table_add(t, yes_no(n, "nat"));
    }
    table_print(t, stdout);
    table_free(t);
    json_decref(list);
    return EXIT_OK;
}

static int network_info(Client *client, int argc, char **argv)
{
    Error e = ERROR_NULL;
    json_t *info = NULL, *v;
    size_t i;
    int r;

    r = parse_json_only(argc, argv);
    if (r != EXIT_OK)
        return r;
    if (optind != argc - 1)
        return usage_error("network", "info expects exactly one network NAME");
    if (client->ops->network_info(client, argv[optind], &info, &e) < 0)
        return exit_code_from_error(&e);
    if (arg.json) {
        print_json(info);
        json_decref(info);
        return EXIT_OK;
    }
    printf("Name:     %s\n"
           "Subnet:   %s\n"
           "Bridge:   %s\n"
           "Address:  %s\n"
           "DHCP:     %s\n"
           "NAT:      %s\n",
           str(info, "name"), str(info, "subnet"), str(info, "bridge"), str(info, "address"),
           yes_no(info, "dhcp"), yes_no(info, "nat"));
    if (json_is_integer(json_object_get(info, "dnsmasq_pid")))
        printf("dnsmasq:  pid %lld\n",
               (long long)json_integer_value(json_object_get(info, "dnsmasq_pid")));
    printf("Domains: ");
    json_array_foreach (json_object_get(info, "domains"), i, v)
        printf(" %s", json_string_value(v));
    printf("%s\n", json_array_size(json_object_get(info, "domains")) ? "" : " none");
    json_array_foreach (json_object_get(info, "leases"), i, v)
        printf("Lease:    %s %s %s\n", str(v, "domain"), str(v, "mac"), str(v, "ipv4"));
    json_decref(info);
    return EXIT_OK;
}

static int network_delete(Client *client, int argc, char **argv)
{
    Error e = ERROR_NULL;

    if (argc != 2 || argv[1][0] == '-')
        return usage_error("network", "delete expects exactly one network NAME");
    if (client->ops->network_delete(client, argv[1], &e) < 0)
        return exit_code_from_error(&e);
    printf("Network %s deleted.\n", argv[1]);
    return EXIT_OK;
}

int verb_network(Client *client, int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(Client *client, int argc, char **argv);
    } subverbs[] = {
        {"create", network_create},
        {"list", network_list},
        {"info", network_info},
        {"delete", network_delete},
    };

    if (argc < 2)
        return usage_error("network", "expects create, list, info or delete");
    for (size_t i = 0; i < ELEMENTSOF(subverbs); i++)
        if (streq(argv[1], subverbs[i].name)) {
            optind = 0;
            return subverbs[i].run(client, argc - 1, argv + 1);
        }
    return usage_error("network", "unknown subcommand '%s' (create, list, info or delete)",
                       argv[1]);
}
