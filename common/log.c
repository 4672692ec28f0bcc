/* Logging to stderr with optional syslog priority prefixes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int max_level = LOG_INFO;
static bool syslog_prefix;
static const char *program_name;

void log_set_max_level(int level)
{
    max_level = level;
}

int log_get_max_level(void)
{
    return max_level;
}

void log_set_syslog_prefix(bool on)
{
    syslog_prefix = on;
}

void log_setup_from_environment(const char *program)
{
    const char *level = getenv("HVD_LOG_LEVEL");

    program_name = program;
    syslog_prefix = getenv("JOURNAL_STREAM") || getenv("INVOCATION_ID");
    if (level && streq(level, "debug"))
        max_level = LOG_DEBUG;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    int saved = errno;

    (void)file;
    (void)line;
    errno = abs(error);
    va_start(ap, fmt);
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);

    if (syslog_prefix)
        (void)fprintf(stderr, "<%d>%s\n", level, buf);
    else if (program_name)
        (void)fprintf(stderr, "%s: %s\n", program_name, buf);
    else
        (void)fprintf(stderr, "%s\n", buf);

    errno = saved;
    return -abs(error);
}
