/* SDK internals shared by the pv and full flavours. */
#pragma once

#include "minihv-guest.h"

/* Set by each flavour's start-up code before main(). */
extern const char *sdk_cmdline;
extern uint64_t sdk_memory_size;

/* Calls main() and powers off or panics with its result. */
__attribute__((noreturn)) void sdk_run_main(void);

/* Formats a panic message into buf (with a "panic: " prefix). */
void sdk_format_panic(char *buf, size_t len, const char *fmt, va_list ap);
