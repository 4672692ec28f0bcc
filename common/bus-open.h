/* Connecting to "the system bus" the way hvd and hvctl both mean it. */
#pragma once

#include <systemd/sd-bus.h>

/* Opens a bus connection: to address when given (as a bus client), else to the system bus
 * (which honours DBUS_SYSTEM_BUS_ADDRESS). Returns 0 or a negative errno; *ret is unset on
 * failure. */
int bus_open_at(const char *address, sd_bus **ret);
