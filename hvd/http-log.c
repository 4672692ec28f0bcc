/* What HTTP clients make hvd say (libmicrohttpd's complaints, refused and timed-out connections),
 * rate-limited: a flood of bad connections costs a few log lines, not one each. */
#include <stdarg.h>
#include <string.h>

#include "http-internal.h"
#include "log.h"
#include "time-util.h"

#define HTTP_LOG_BURST     5u /* lines per window */
#define HTTP_LOG_WINDOW_US (10 * USEC_PER_SEC)

static void log_suppressed(Http *h)
{
    if (h->log_suppressed == 0)
        return;
    log_warning("%u more messages about HTTP clients in the last %u s were not logged.",
                h->log_suppressed, (unsigned)(HTTP_LOG_WINDOW_US / USEC_PER_SEC));
    h->log_suppressed = 0;
}

static int on_log_window_end(sd_event_source *s, uint64_t usec, void *userdata)
{
    log_suppressed(userdata);
    return 0;
}

/* Counts a line that was not logged; the window's end says how many there were. */
static void suppress(Http *h)
{
    uint64_t end = h->log_window_start + HTTP_LOG_WINDOW_US;

    if (h->log_suppressed++ > 0)
        return;
    if (!h->log_timer) {
        if (sd_event_add_time(h->event, &h->log_timer, CLOCK_MONOTONIC, end, 0, on_log_window_end,
                              h) < 0)
            h->log_timer = NULL;
        return;
    }
    (void)sd_event_source_set_time(h->log_timer, end);
    (void)sd_event_source_set_enabled(h->log_timer, SD_EVENT_ONESHOT);
}

void http_log_limited(Http *h, int level, const char *fmt, ...)
{
    uint64_t now = now_usec(CLOCK_MONOTONIC);
    char line[512];
    size_t len;
    va_list ap;

    if (level > log_get_max_level())
        return;
    if (h->log_window_start == 0 || now - h->log_window_start >= HTTP_LOG_WINDOW_US) {
        log_suppressed(h);
        h->log_window_start = now;
        h->log_lines = 0;
    }
    if (h->log_lines >= HTTP_LOG_BURST) {
        suppress(h);
        return;
    }
    h->log_lines++;
    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ' '))
        line[--len] = 0;
    (void)log_full_errno(level, 0, "%s", line);
}

_printf_(2, 0) void http_log_mhd(void *cls, const char *fmt, va_list ap)
{
    char text[512];

    (void)vsnprintf(text, sizeof(text), fmt, ap);
    http_log_limited(cls, LOG_WARNING, "libmicrohttpd: %s", text);
}

void http_log_done(Http *h)
{
    log_suppressed(h);
    h->log_timer = sd_event_source_disable_unref(h->log_timer);
}
