/* The drivers built into this hvd, indexed by DriverKind. */
#pragma once

#include "driver.h"

extern const DriverOps *const hvd_driver_ops[_DRIVER_KIND_MAX];
