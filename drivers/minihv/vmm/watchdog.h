/* The fencing watchdog: a deadline that a control client sets and renews (hvd, for a cluster's
 * HA domain, while it holds its cluster lease); once it passes unrenewed the VMM ends the guest
 * by itself with status 8 ("fenced"), whether or not anyone still talks to it. */
#pragma once

#include <stdint.h>

#include "error.h"
#include "loop.h"
#include "vm.h"

#define WATCHDOG_TIMEOUT_MAX_MS (3600u * 1000u)

typedef struct Watchdog Watchdog;

/* A disarmed watchdog for vm, its timer registered with loop. Returns 0 or a negative errno
 * with e set. */
int watchdog_new(Vm *vm, Loop *loop, Watchdog **ret, Error *e);

/* Arms (or renews) the watchdog: the guest is ended timeout_ms (1..WATCHDOG_TIMEOUT_MAX_MS)
 * from now unless renewed before. Returns 0 or a negative errno. */
int watchdog_renew(Watchdog *w, uint64_t timeout_ms);

/* Milliseconds left before it fires, or -1 when it is disarmed. */
int64_t watchdog_remaining_ms(const Watchdog *w);

/* Unregisters and frees. Accepts NULL, returns NULL. */
Watchdog *watchdog_free(Watchdog *w);
