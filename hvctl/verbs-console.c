/* hvctl verbs about a running domain's inside: console (attach or tail) and stats. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "api-names.h"
#include "console-relay.h"
#include "hvctl.h"
#include "parse-util.h"

#define ESCAPE_CHAR         0x1d /* Ctrl-] */
#define TAIL_BYTES_PER_LINE 256

enum {
    OPT_TAIL = 0x100,
    OPT_SAFE,
    OPT_DEVICE,
    OPT_JSON,
};

/* Writes bytes for a log: printable ASCII, newlines and tabs as they are, any other byte (a
 * carriage return, escape sequences, non-ASCII) as \xNN. */
static void write_safe(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if ((c >= 0x20 && c < 0x7f && c != '\\') || c == '\n' || c == '\t')
            fputc(c, stdout);
        else
            printf("\\x%02x", c);
    }
}

/* Prints the last n lines of the len bytes of text, as they are or escaped (safe). */
static void print_tail(const char *text, size_t len, unsigned n, bool safe)
{
    const char *start = text + len;
    unsigned lines = 0;

    if (len > 0 && text[len - 1] == '\n')
        start--;
    while (start > text && lines < n) {
        start--;
        if (*start == '\n' && ++lines == n) {
            start++;
            break;
        }
    }
    if (safe)
        write_safe(start, (size_t)(text + len - start));
    else
        (void)fwrite(start, 1, (size_t)(text + len - start), stdout);
    if (len > 0 && text[len - 1] != '\n')
        fputc('\n', stdout);
}

typedef struct Attach {
    const char *name;
    const char *device;
    bool tty;
} Attach;

/* Said once hvd handed the console over, not before. */
static void say_connected(void *userdata)
{
    Attach *a = userdata;

    fprintf(stderr, "Connected to the console of %s (%s; escape character is ^])%s\n", a->name,
            a->device, a->tty ? "\r" : "");
}

int verb_console(Client *client, int argc, char **argv)
{
    static const struct option options[] = {
        {"tail", required_argument, NULL, OPT_TAIL},
        {"safe", no_argument, NULL, OPT_SAFE},
        {"device", required_argument, NULL, OPT_DEVICE},
        {},
    };
    const char *device = "ttyS0";
    struct termios saved;
    bool tty, tail = false, safe = false;
    unsigned lines = 0;
    Error e = ERROR_NULL;
    const char *name;
    int c, r;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        if (c == OPT_TAIL) {
            if (parse_uint(optarg, 1, 100000, &lines) < 0)
                return usage_error("console", "--tail must be a number of lines, 1..100000");
            tail = true;
        } else if (c == OPT_SAFE)
            safe = true;
        else if (c == OPT_DEVICE) {
            if (!streq(optarg, "ttyS0") && !streq(optarg, "hvc0"))
                return usage_error("console", "--device must be ttyS0 or hvc0, got '%s'", optarg);
            device = optarg;
        } else
            return usage_error("console", "bad option");
    if (safe && !tail)
        return usage_error("console", "--safe applies to --tail");
    if (optind != argc - 1)
        return usage_error("console", "expects exactly one domain NAME");
    name = argv[optind];

    if (tail) {
        _cleanup_free_ char *text = NULL;
        size_t bytes = MIN((size_t)lines * TAIL_BYTES_PER_LINE, (size_t)HVD_CONSOLE_TAIL_MAX);
        size_t len = 0;
        if (client->ops->console_tail(client, name, device, bytes, &text, &len, &e) < 0)
            return exit_code_from_error(&e);
        print_tail(text, len, lines, safe);
        return EXIT_OK;
    }

    tty = terminal_raw(STDIN_FILENO, &saved) >= 0;
    Attach a = {.name = name, .device = device, .tty = tty};
    r = client->ops->console_attach(client, name, device, STDIN_FILENO, STDOUT_FILENO, ESCAPE_CHAR,
                                    say_connected, &a, &e);
    if (tty)
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    if (r < 0)
        return exit_code_from_error(&e);
    fprintf(stderr, "\n%s\n", r > 0 ? "The console closed: the domain stopped." : "Detached.");
    return EXIT_OK;
}

static void print_flat(json_t *obj, const char *prefix)
{
    const char *key;
    json_t *v;

    json_object_foreach (obj, key, v) {
        char name[256];
        (void)snprintf(name, sizeof(name), "%s%s", prefix, key);
        if (json_is_object(v)) {
            char nested[260];
            (void)snprintf(nested, sizeof(nested), "%s.", name);
            print_flat(v, nested);
        } else if (json_is_integer(v))
            printf("%-40s %lld\n", name, (long long)json_integer_value(v));
        else if (json_is_real(v))
            printf("%-40s %g\n", name, json_real_value(v));
        else if (json_is_string(v))
            printf("%-40s %s\n", name, json_string_value(v));
        else if (json_is_boolean(v))
            printf("%-40s %s\n", name, json_is_true(v) ? "yes" : "no");
    }
}

int verb_stats(Client *client, int argc, char **argv)
{
    static const struct option options[] = {{"json", no_argument, NULL, OPT_JSON}, {}};
    Error e = ERROR_NULL;
    json_t *info = NULL, *stats, *out;
    const char *state;
    int c;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        if (c == OPT_JSON)
            arg.json = true;
        else
            return usage_error("stats", "bad option");
    if (optind != argc - 1)
        return usage_error("stats", "expects exactly one domain NAME");
    if (client->ops->info(client, argv[optind], &info, &e) < 0)
        return exit_code_from_error(&e);
    state = json_string_value(json_object_get(info, "state"));
    stats = json_object_get(info, "stats");
    if (!json_is_object(stats)) {
        fprintf(stderr, "hvctl: domain '%s' is %s; it has no statistics\n", argv[optind],
                state ? state : "not running");
        json_decref(info);
        return EXIT_FAILED;
    }
    if (arg.json) {
        out = json_pack("{s:O, s:O, s:O}", "name", json_object_get(info, "name"), "state",
                        json_object_get(info, "state"), "stats", stats);
        print_json(out);
        json_decref(out);
    } else
        print_flat(stats, "");
    json_decref(info);
    return EXIT_OK;
}
