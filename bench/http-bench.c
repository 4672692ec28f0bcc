/* http-bench: times HTTP requests against hvd's API (a GET of one path, or start/destroy and
 * pause/resume cycles over many domains) with a window of concurrent keep-alive connections,
 * and prints one JSON line of results. libcurl's multi interface drives the connections. */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-result.h"
#include "macro.h"
#include "time-util.h"

typedef enum Scenario {
    SCENARIO_GET,
    SCENARIO_LIFECYCLE,
    SCENARIO_PAUSE_RESUME,
} Scenario;

typedef struct Bench {
    CURLM *multi;
    Scenario scenario;
    const char *url;  /* base URL, e.g. http://127.0.0.1:8780 */
    const char *path; /* for get */
    const char *prefix;
    struct curl_slist *headers;
    unsigned n_domains;
    unsigned count;
    unsigned window;
    uint64_t *latency_us;
    uint64_t bytes;
    unsigned issued;
    unsigned done;
    unsigned errors;
    char first_error[256];
} Bench;

typedef struct Conn {
    Bench *b;
    CURL *easy;
    unsigned index; /* request in flight */
    uint64_t sent_at;
    char url[512];
} Conn;

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    Conn *c = userdata;

    c->b->bytes += size * n;
    return size * n;
}

/* Points c's handle at request i: the same GET each time, or an action on domain i mod n
 * (start/pause for the first n, destroy/resume for the next n, and so on). */
static void prepare(Bench *b, Conn *c, unsigned i)
{
    c->index = i;
    if (b->scenario == SCENARIO_GET) {
        (void)snprintf(c->url, sizeof(c->url), "%s%s", b->url, b->path);
        (void)curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
    } else {
        bool first = (i / b->n_domains) % 2 == 0;
        const char *action = b->scenario == SCENARIO_LIFECYCLE ? (first ? "start" : "destroy")
                                                               : (first ? "pause" : "resume");
        (void)snprintf(c->url, sizeof(c->url), "%s/api/v1/domains/%s%05u/actions/%s", b->url,
                       b->prefix, i % b->n_domains, action);
        (void)curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, "");
        (void)curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, 0L);
    }
    (void)curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
    c->sent_at = now_usec(CLOCK_MONOTONIC);
}

static void record_error(Bench *b, const char *what, long status)
{
    if (b->errors++ == 0)
        (void)snprintf(b->first_error, sizeof(b->first_error), "%.200s: HTTP status %ld", what,
                       status);
}

static int run(Bench *b)
{
    Conn *conns = calloc(b->window, sizeof(Conn));
    uint64_t start, elapsed;

    if (!conns)
        return -ENOMEM;
    for (unsigned k = 0; k < b->window; k++) {
        Conn *c = &conns[k];
        c->b = b;
        c->easy = curl_easy_init();
        if (!c->easy)
            return -ENOMEM;
        (void)curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
        (void)curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
        (void)curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
        (void)curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, b->headers);
        (void)curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
        (void)curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, 60L);
    }

    start = now_usec(CLOCK_MONOTONIC);
    for (unsigned k = 0; k < b->window && b->issued < b->count; k++) {
        prepare(b, &conns[k], b->issued++);
        (void)curl_multi_add_handle(b->multi, conns[k].easy);
    }
    while (b->done < b->count) {
        CURLMsg *msg;
        int running, left;

        if (curl_multi_perform(b->multi, &running) != CURLM_OK)
            return -EIO;
        while ((msg = curl_multi_info_read(b->multi, &left))) {
            Conn *c = NULL;
            long status = 0;

            if (msg->msg != CURLMSG_DONE)
                continue;
            (void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            b->latency_us[c->index] = now_usec(CLOCK_MONOTONIC) - c->sent_at;
            (void)curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (msg->data.result != CURLE_OK)
                record_error(b, curl_easy_strerror(msg->data.result), 0);
            else if (status != 200 && status != 202)
                record_error(b, c->url, status);
            b->done++;
            (void)curl_multi_remove_handle(b->multi, c->easy);
            if (b->issued < b->count) {
                prepare(b, c, b->issued++);
                (void)curl_multi_add_handle(b->multi, c->easy);
            }
        }
        if (b->done < b->count && curl_multi_poll(b->multi, NULL, 0, 1000, NULL) != CURLM_OK)
            return -EIO;
    }
    elapsed = now_usec(CLOCK_MONOTONIC) - start;
    for (unsigned k = 0; k < b->window; k++)
        curl_easy_cleanup(conns[k].easy);
    free(conns);

    bench_result_print(json_pack("{s:s, s:f}", "scenario",
                                 b->scenario == SCENARIO_GET         ? "get"
                                 : b->scenario == SCENARIO_LIFECYCLE ? "lifecycle"
                                                                     : "pause-resume",
                                 "bytes_per_op", (double)b->bytes / b->count),
                       b->count, b->window, elapsed, b->latency_us, b->errors, b->first_error);
    return b->errors ? 1 : 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: http-bench --url URL [--token TOKEN] --scenario get|lifecycle|"
                    "pause-resume [--path PATH] [--prefix P] [--domains N] [--count N] "
                    "[--window N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {"scenario", required_argument, NULL, 's'},
        {"path", required_argument, NULL, 'P'},
        {"prefix", required_argument, NULL, 'p'},
        {"domains", required_argument, NULL, 'n'},
        {"count", required_argument, NULL, 'c'},
        {"window", required_argument, NULL, 'w'},
        {},
    };
    Bench b = {.path = "/api/v1/domains",
               .prefix = "bench-",
               .n_domains = 1000,
               .count = 1000,
               .window = 1};
    char auth[256] = "";
    int c, r;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
        switch (c) {
        case 'u':
            b.url = optarg;
            break;
        case 't':
            (void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", optarg);
            break;
        case 's':
            if (streq(optarg, "get"))
                b.scenario = SCENARIO_GET;
            else if (streq(optarg, "lifecycle"))
                b.scenario = SCENARIO_LIFECYCLE;
            else if (streq(optarg, "pause-resume"))
                b.scenario = SCENARIO_PAUSE_RESUME;
            else
                return usage();
            break;
        case 'P':
            b.path = optarg;
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
            return usage();
        }
    if (!b.url || b.n_domains == 0 || b.count == 0 || b.window == 0 ||
        (b.scenario != SCENARIO_GET && b.window > b.n_domains))
        return usage();

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    b.multi = curl_multi_init();
    b.latency_us = calloc(b.count, sizeof(uint64_t));
    if (!b.multi || !b.latency_us)
        return 1;
    (void)curl_multi_setopt(b.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)b.window);
    if (auth[0])
        b.headers = curl_slist_append(b.headers, auth);
    r = run(&b);
    if (r < 0)
        fprintf(stderr, "http-bench: %s\n", strerror(-r));
    curl_slist_free_all(b.headers);
    curl_multi_cleanup(b.multi);
    free(b.latency_us);
    curl_global_cleanup();
    return r < 0 ? 1 : r;
}
