/* Internals of the pv flavour shared by its files. */
#pragma once

#include "minihv-abi.h"
#include "sdk.h"

/* Performs hypercall nr with the request at req; returns the VMM's status. */
int32_t sdk_hypercall(unsigned nr, volatile void *req);
