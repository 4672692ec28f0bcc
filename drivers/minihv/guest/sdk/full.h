/* Internals of the full-mode flavour: its drivers talk to standard PC ports. */
#pragma once

#include "sdk.h"

void uart_init(void);
bool uart_rx_ready(void);
