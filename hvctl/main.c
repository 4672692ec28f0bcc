/* hvctl: the command-line client of hvd — global options, verb dispatch and exit codes. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "build-config.h"
#include "hvctl.h"
#include "log.h"

Globals arg;

static void help(void)
{
    printf("Usage: hvctl [GLOBAL OPTIONS] VERB [ARGS...]\n"
           "\n"
           "Controls the domains (virtual machines) that hvd manages on this host.\n"
           "\n"
           "Verbs:\n");
    for (size_t i = 0; i < n_verbs; i++)
        printf("  %-9s %s\n", verbs[i].name, verbs[i].summary);
    printf("\n"
           "Global options:\n"
           "  --bus-address ADDR  talk to hvd on this D-Bus address (default: the system bus,\n"
           "                      or $DBUS_SYSTEM_BUS_ADDRESS)\n"
           "  --url URL           talk to hvd's HTTP API instead (http://HOST:PORT,\n"
           "                      https://..., unix:PATH; default $HVD_URL if set)\n"
           "  --token-file FILE   bearer token for --url (default $HVD_TOKEN_FILE, else\n"
           "                      /var/lib/hvd/http-token)\n"
           "  --ca FILE           for an https:// --url: the CA that signed hvd's certificate\n"
           "                      (default: the system's CAs)\n"
           "  --cert FILE, --key FILE\n"
           "                      a client certificate and its key, for an hvd that asks for\n"
           "                      one ([http] tls-client-ca)\n"
           "  --json              print machine-readable JSON (read verbs)\n"
           "  --cluster           act on the cluster hvd belongs to: --cluster create,\n"
           "                      delete, move, migrate, drain, undrain, list or hosts\n"
           "  -h, --help          show this help; 'hvctl VERB --help' shows a verb's\n"
           "  --version           show the version\n"
           "\n"
           "Exit codes:\n"
           "  0  success\n"
           "  1  the operation was refused or failed\n"
           "  2  usage error\n"
           "  3  no such domain, network or snapshot\n"
           "  4  hvd could not be reached\n");
}

void verb_help(const Verb *v)
{
    printf("Usage: hvctl %s %s\n\n%s\n", v->name, v->usage, v->summary);
}

int usage_error(const char *verb, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "hvctl%s%s: ", verb ? " " : "", verb ? verb : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (verb)
        fprintf(stderr, "\nTry 'hvctl %s --help'.\n", verb);
    else
        fprintf(stderr, "\nTry 'hvctl --help'.\n");
    return EXIT_USAGE;
}

int exit_code_from_error(const Error *e)
{
    fprintf(stderr, "hvctl: %s\n", e->message[0] ? e->message : "operation failed");
    if (e->errnum == -ECONNREFUSED)
        return EXIT_UNREACHABLE;
    if (e->kind == ERROR_NO_SUCH_DOMAIN || e->kind == ERROR_NO_SUCH_NETWORK ||
        e->kind == ERROR_NO_SUCH_SNAPSHOT)
        return EXIT_NO_DOMAIN;

    return EXIT_FAILED;
}

void print_json(json_t *v)
{
    (void)json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    fputc('\n', stdout);
}

enum {
    ARG_BUS_ADDRESS = 0x100,
    ARG_URL,
    ARG_TOKEN_FILE,
    ARG_JSON,
    ARG_VERSION,
    ARG_CLUSTER,
    ARG_CA,
    ARG_CERT,
    ARG_KEY,
};

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"bus-address", required_argument, NULL, ARG_BUS_ADDRESS},
        {"url", required_argument, NULL, ARG_URL},
        {"token-file", required_argument, NULL, ARG_TOKEN_FILE},
        {"json", no_argument, NULL, ARG_JSON},
        {"cluster", no_argument, NULL, ARG_CLUSTER},
        {"ca", required_argument, NULL, ARG_CA},
        {"cert", required_argument, NULL, ARG_CERT},
        {"key", required_argument, NULL, ARG_KEY},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, ARG_VERSION},
        {},
    };
    const Verb *verb = NULL;
    Client *client = NULL;
    Error e = ERROR_NULL;
    int c, r;

    log_setup_from_environment("hvctl");
    while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
        switch (c) {
        case ARG_BUS_ADDRESS:
            arg.bus_address = optarg;
            break;
        case ARG_URL:
            arg.url = optarg;
            break;
        case ARG_TOKEN_FILE:
            arg.token_file = optarg;
            break;
        case ARG_JSON:
            arg.json = true;
            break;
        case ARG_CLUSTER:
            arg.cluster = true;
            break;
        case ARG_CA:
            arg.tls_ca = optarg;
            break;
        case ARG_CERT:
            arg.tls_cert = optarg;
            break;
        case ARG_KEY:
            arg.tls_key = optarg;
            break;
        case 'h':
            help();
            return EXIT_OK;
        case ARG_VERSION:
            printf("hvctl %s\n", HVD_VERSION);
            return EXIT_OK;
        default:
            fprintf(stderr, "Try 'hvctl --help'.\n");
            return EXIT_USAGE;
        }
    if (optind >= argc) {
        help();
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < n_verbs; i++)
        if (streq(verbs[i].name, argv[optind]))
            verb = &verbs[i];
    if (arg.cluster && verb_cluster_help(argc - optind, argv + optind))
        return EXIT_OK;
    if (!verb && !arg.cluster)
        return usage_error(NULL, "unknown verb '%s'", argv[optind]);

    /* Help needs no daemon. */
    for (int i = optind + 1; !arg.cluster && i < argc && !streq(argv[i], "--"); i++)
        if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
            verb_help(verb);
            return EXIT_OK;
        }

    if (!arg.url && !arg.bus_address)
        arg.url = getenv("HVD_URL");
    if (arg.url)
        r = client_http_new(arg.url, arg.token_file, &client, &e);
    else
        r = client_bus_new(arg.bus_address, &client, &e);
    if (r < 0 && e.kind == ERROR_INVALID_ARGUMENT)
        return usage_error(NULL, "%s", e.message);
    if (r < 0)
        return exit_code_from_error(&e);

    argc -= optind;
    argv += optind;
    optind = 0;
    r = arg.cluster ? verb_cluster(client, argc, argv) : verb->run(client, argc, argv);
    client_free(client);
    return r;
}
