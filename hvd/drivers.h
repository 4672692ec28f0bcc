/* The drivers of this hvd: minihv is built in; kvm comes from the hvd-kvm module, loaded only
 * when it is enabled, so libvirt (and what it pulls in) stays out of a minihv-only hvd. */
#pragma once

#include "config.h"
#include "driver.h"

/* Fills ret (indexed by DriverKind) for config. A kvm driver that is disabled or whose module
 * cannot be loaded is still present, opening as unavailable with the reason. */
void hvd_drivers_load(const HvdConfig *config, const DriverOps *ret[_DRIVER_KIND_MAX]);
