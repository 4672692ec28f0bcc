/* The minihv driver: each running domain is one `minihv run` process started by hvd, watched
 * through a pidfd and driven through its control socket; processes outlive hvd and are
 * re-attached when it starts again. */
#pragma once

#include "driver.h"

extern const DriverOps minihv_driver_ops;
