/* Logging to stderr: plain for people, with syslog "<N>" priority prefixes under systemd. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

/* Sets the highest priority that is printed (LOG_DEBUG prints everything). */
void log_set_max_level(int level);
int log_get_max_level(void);

/* Chooses the prefix style: true prints "<6>" before each line (journald reads it). */
void log_set_syslog_prefix(bool on);

/* Picks the prefix style from the environment: syslog prefixes when started by systemd
 * (JOURNAL_STREAM or INVOCATION_ID set), plain otherwise. */
void log_setup_from_environment(const char *program);

/* Logs one line at level. error, if nonzero, is an errno (either sign) that "%m" formats.
 * Returns -abs(error), so callers can "return log_error_errno(r, ...)". */
int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
    _printf_(5, 6);

#define log_full_errno(level, error, ...)                                                      \
    ({                                                                                         \
        int _l_ = (level);                                                                     \
        int _e_ = (error);                                                                     \
        (_l_ <= log_get_max_level()) ? log_internal(_l_, _e_, __FILE__, __LINE__, __VA_ARGS__) \
                                     : -abs(_e_);                                              \
    })

#define log_debug(...)   (void)log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    (void)log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)  (void)log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) (void)log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   (void)log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, e, __VA_ARGS__)

/* Shorthand for the one message every program prints when memory runs out. */
#define log_oom() log_full_errno(LOG_ERR, ENOMEM, "Out of memory.")
