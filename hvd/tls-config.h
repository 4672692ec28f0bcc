/* The certificate files of hvd's own sections ([http], [migrate]), checked at start-up and by
 * --check-config, so that a file that is unreadable, malformed or not its key's is named before
 * a client or a migration meets it. */
#pragma once

#include "config.h"
#include "error.h"

/* Checks every TLS key set in c; e names the key, the file and the fault. */
int tls_config_check(const HvdConfig *c, Error *e);
