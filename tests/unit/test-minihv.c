/* Unit tests of the minihv driver's statistics against a real minihv process: refresh_stats
 * answers at once when the cache is fresh, calls done when the sample arrives, and gives up
 * after its short bound when minihv is stopped; get_info never waits and says how old and how
 * stale its numbers are. Skipped (77) without a usable /dev/kvm. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "minihv-driver.h"
#include "minihv-internal.h"
#include "test.h"
#include "time-util.h"

static unsigned completed, refreshed;
static DomainAction last_op = _DOMAIN_ACTION_INVALID;

static void on_state(void *userdata, Driver *drv, const char *name, DomainState state,
                     DomainReason reason, const DomainRuntime *rt, const char *detail)
{
}

static void on_op(void *userdata, Driver *drv, const char *name, DomainAction op, const Error *e,
                  const DomainRuntime *rt, DomainState observed)
{
    if (e)
        fprintf(stderr, "%s failed: %s\n", name, e->message);
    last_op = op;
    completed++;
}

static void on_refreshed(void *userdata)
{
    refreshed++;
}

/* Runs the loop until *counter reaches want or timeout_ms passes; returns the time taken. */
static uint64_t run_until(sd_event *event, unsigned *counter, unsigned want, unsigned timeout_ms)
{
    uint64_t t0 = now_usec(CLOCK_MONOTONIC), deadline = t0 + timeout_ms * USEC_PER_MSEC;

    while (*counter < want && now_usec(CLOCK_MONOTONIC) < deadline)
        (void)sd_event_run(event, 10 * USEC_PER_MSEC);
    return (now_usec(CLOCK_MONOTONIC) - t0) / USEC_PER_MSEC;
}

static void run_for(sd_event *event, unsigned ms)
{
    unsigned never = 0;

    (void)run_until(event, &never, 1, ms);
}

static json_t *info_stats(Driver *drv, const DomainConfig *c, uint64_t *ret_ms)
{
    uint64_t t0 = now_usec(CLOCK_MONOTONIC);
    DomainInfo info;
    Error e = ERROR_NULL;

    CHECK(driver_get_info(drv, c, NULL, &info, 0, &e) == 0);
    *ret_ms = (now_usec(CLOCK_MONOTONIC) - t0) / USEC_PER_MSEC;
    return info.stats;
}

int main(void)
{
    const char *binary = getenv("MINIHV_BINARY"), *guests = getenv("MINIHV_GUEST_DIR");
    char dir[] = "/tmp/test-minihv-XXXXXX";
    _cleanup_close_ int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    MinihvSettings *settings;
    DomainRuntime rt = {};
    DomainConfig c;
    sd_event *event = NULL;
    Driver *drv = NULL;
    Error e = ERROR_NULL;
    json_t *stats;
    uint64_t ms, waited;
    Instance *inst;

    if (kvm < 0 || !binary || !guests) {
        fprintf(stderr, "test-minihv: skipped (needs /dev/kvm, MINIHV_BINARY, MINIHV_GUEST_DIR)\n");
        return 77;
    }
    CHECK(mkdtemp(dir) != NULL);
    CHECK(sd_event_new(&event) >= 0);
    settings = calloc(1, sizeof(*settings));
    settings->binary = strdup(binary);
    settings->guest_dir = strdup(guests);
    settings->resource_control = MINIHV_RESOURCES_NO; /* cgroups: test_minihv_resources.py */
    CHECK(driver_new(&minihv_driver_ops,
                     &(DriverContext){
                         .event = event,
                         .state_dir = dir,
                         .runtime_dir = dir,
                         .events = {.domain_state = on_state, .op_completed = on_op},
                     },
                     settings, &drv) == 0);
    CHECK(drv->available);

    domain_config_init(&c);
    (void)snprintf(c.name, sizeof(c.name), "unit");
    CHECK(domain_uuid_generate(c.uuid) == 0);
    c.driver = DRIVER_MINIHV;
    c.memory_mib = 4;
    c.kernel = strdup("echo");

    /* Unknown domains are refused; with nothing running there is nothing to wait for. */
    CHECK(driver_refresh_stats(drv, &c, on_refreshed, NULL) == -ESRCH);
    CHECK(driver_refresh_stats(drv, NULL, on_refreshed, NULL) == 1);

    CHECK(driver_start(drv, &c, &rt, 0, &e) == DRIVER_PENDING);
    (void)run_until(event, &completed, 1, 10000);
    CHECK(completed == 1 && last_op == ACTION_START);
    inst = instance_find(minihv(drv), c.name);
    CHECK(inst != NULL);

    /* The first sample, taken at readiness, arrives without anyone asking; then it is fresh. */
    run_for(event, 100);
    CHECK(driver_refresh_stats(drv, &c, on_refreshed, NULL) == 1);
    stats = info_stats(drv, &c, &ms);
    CHECK(json_is_false(json_object_get(stats, "stale")));
    CHECK(json_integer_value(json_object_get(stats, "stats_age_ms")) < STATS_FRESH_MS);
    json_decref(stats);

    /* An old sample is refreshed from the VMM's statistics page at once: nothing to wait for. */
    run_for(event, STATS_FRESH_MS + 50);
    CHECK(driver_refresh_stats(drv, NULL, on_refreshed, NULL) == 1);
    stats = info_stats(drv, &c, &ms);
    CHECK(json_integer_value(json_object_get(stats, "stats_age_ms")) < STATS_FRESH_MS);
    CHECK_STREQ(json_string_value(json_object_get(stats, "sampled_from")), "page");
    json_decref(stats);
    /* One domain's refresh asks its VMM (fresh memory figures); done comes with the answer. */
    run_for(event, STATS_FRESH_MS + 50);
    CHECK(driver_refresh_stats(drv, &c, on_refreshed, NULL) == 0);
    waited = run_until(event, &refreshed, 1, 2000);
    CHECK(refreshed == 1 && waited < STATS_REFRESH_WAIT_MS);
    stats = info_stats(drv, &c, &ms);
    CHECK(json_integer_value(json_object_get(stats, "stats_age_ms")) < STATS_FRESH_MS);
    json_decref(stats);

    /* Stopped: done comes after the bound, once; get_info answers at once, stale in the end. */
    CHECK(kill(inst->pid, SIGSTOP) == 0);
    run_for(event, STATS_FRESH_MS + 50);
    refreshed = 0;
    CHECK(driver_refresh_stats(drv, &c, on_refreshed, NULL) == 0);
    CHECK(driver_refresh_stats(drv, &c, on_refreshed, NULL) == 0); /* shares the request */
    waited = run_until(event, &refreshed, 2, 2000);
    CHECK(refreshed == 2);
    CHECK(waited >= STATS_REFRESH_WAIT_MS - 10 && waited < STATS_REFRESH_WAIT_MS + 200);
    run_for(event, 200);
    CHECK(refreshed == 2);
    stats = info_stats(drv, &c, &ms);
    CHECK(ms < 50);
    json_decref(stats);
    run_for(event, CONTROL_TIMEOUT_MS);
    stats = info_stats(drv, &c, &ms);
    CHECK(ms < 50);
    CHECK(json_is_true(json_object_get(stats, "stale")));
    CHECK(json_integer_value(json_object_get(stats, "stats_age_ms")) >= CONTROL_TIMEOUT_MS);
    json_decref(stats);

    /* Running again: a refresh brings fresh numbers (once minihv has caught up). One that let
     * its last request fail is not waited for: the request goes out all the same. */
    CHECK(kill(inst->pid, SIGCONT) == 0);
    for (unsigned i = 0; i < 10; i++) {
        refreshed = 0;
        if (driver_refresh_stats(drv, &c, on_refreshed, NULL) == 0)
            (void)run_until(event, &refreshed, 1, 2000);
        else
            run_for(event, 100);
        stats = info_stats(drv, &c, &ms);
        if (json_is_false(json_object_get(stats, "stale")))
            break;
        json_decref(stats);
        stats = NULL;
    }
    CHECK(json_is_false(json_object_get(stats, "stale")));
    json_decref(stats);

    completed = 0;
    CHECK(driver_destroy(drv, &c, &rt, 0, &e) == DRIVER_PENDING);
    (void)run_until(event, &completed, 1, 5000);
    CHECK(completed == 1 && last_op == ACTION_DESTROY);

    CHECK(driver_undefine(drv, &c, 0, &e) == 0);
    domain_config_done(&c);
    driver_free(drv);
    sd_event_unref(event);
    for (const char *sub = "minihv"; sub; sub = streq(sub, "minihv") ? "consoles" : NULL) {
        char path[sizeof(dir) + 16];
        (void)snprintf(path, sizeof(path), "%s/%s", dir, sub);
        CHECK(rmdir(path) == 0);
    }
    CHECK(rmdir(dir) == 0);
    return test_summary("test-minihv");
}
