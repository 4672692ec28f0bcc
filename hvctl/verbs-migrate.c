/* hvctl migrate NAME --to URL [--token-file FILE] [--downtime-ms N] [--timeout S]
 * [--bandwidth MIB] and
 * hvctl migrate NAME --cancel: live migration of a running domain to another hvd. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "hvctl.h"
#include "parse-util.h"

enum {
    OPT_TO = 0x100,
    OPT_TOKEN_FILE,
    OPT_DOWNTIME,
    OPT_TIMEOUT,
    OPT_CANCEL,
    OPT_BANDWIDTH,
};

/* Reads the target's token (its first line) from path into a new string. */
static int read_token(const char *path, char **ret)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    char line[512];

    if (!f) {
        fprintf(stderr, "hvctl migrate: cannot read the token file %s: %m\n", path);
        return EXIT_FAILED;
    }
    if (!fgets(line, sizeof(line), f))
        line[0] = 0;
    line[strcspn(line, "\r\n")] = 0;
    *ret = strdup(line);
    return *ret ? EXIT_OK : EXIT_FAILED;
}

int verb_migrate(Client *client, int argc, char **argv)
{
    static const struct option options[] = {
        {"to", required_argument, NULL, OPT_TO},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"downtime-ms", required_argument, NULL, OPT_DOWNTIME},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"cancel", no_argument, NULL, OPT_CANCEL},
        {"bandwidth", required_argument, NULL, OPT_BANDWIDTH},
        {},
    };
    const char *to = NULL, *token_path = NULL;
    _cleanup_free_ char *token = NULL;
    unsigned downtime_ms = 0, timeout_s = 0, bandwidth = 0;
    bool cancel = false;
    Error e = ERROR_NULL;
    json_t *args;
    int c, r;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        switch (c) {
        case OPT_TO:
            to = optarg;
            break;
        case OPT_TOKEN_FILE:
            token_path = optarg;
            break;
        case OPT_DOWNTIME:
            if (parse_uint(optarg, 1, 60000, &downtime_ms) < 0)
                return usage_error("migrate", "--downtime-ms must be 1..60000, got '%s'", optarg);
            break;
        case OPT_TIMEOUT:
            if (parse_uint(optarg, 1, 86400, &timeout_s) < 0)
                return usage_error("migrate", "--timeout must be 1..86400 seconds, got '%s'",
                                   optarg);
            break;
        case OPT_BANDWIDTH:
            if (parse_uint(optarg, 1, 1000000, &bandwidth) < 0)
                return usage_error("migrate", "--bandwidth must be 1..1000000 MiB/s, got '%s'",
                                   optarg);
            break;
        case OPT_CANCEL:
            cancel = true;
            break;
        default:
            return usage_error("migrate", "bad option");
        }
    if (optind != argc - 1)
        return usage_error("migrate", "expects exactly one domain NAME");
    if (cancel && (to || token_path || downtime_ms || timeout_s || bandwidth))
        return usage_error("migrate", "--cancel takes no other option");
    if (cancel) {
        r = client->ops->saved_state(client, argv[optind], "migrate-cancel", NULL, NULL, &e);
        if (r < 0)
            return exit_code_from_error(&e);
        printf("Migration of %s cancelled; it keeps running here.\n", argv[optind]);
        return EXIT_OK;
    }
    if (!to)
        return usage_error("migrate", "needs --to URL, the target hvd's HTTP API (or --cancel)");
    if (token_path && (r = read_token(token_path, &token)) != EXIT_OK)
        return r;
    args = json_pack("{s:s, s:s, s:I, s:I, s:I}", "to", to, "token", strempty(token), "downtime_ms",
                     (json_int_t)downtime_ms, "timeout_s", (json_int_t)timeout_s, "bandwidth_mib_s",
                     (json_int_t)bandwidth);
    if (!args)
        return EXIT_FAILED;
    r = client->ops->saved_state(client, argv[optind], "migrate", args, NULL, &e);
    json_decref(args);
    if (token)
        explicit_bzero(token, strlen(token));
    if (r < 0)
        return exit_code_from_error(&e);
    printf("Domain %s migrated to %s; it runs there now (defined here still, shutoff/migrated; "
           "disks are referenced, not copied).\n",
           argv[optind], to);
    return EXIT_OK;
}
