/* The drivers of this hvd: minihv is built in; kvm comes from the hvd-kvm module, loaded only
 * when it is enabled, so libvirt (and what it pulls in) stays out of a minihv-only hvd. */
#pragma once

#include "config.h"
#include "driver.h"

/* Fills ret (indexed by DriverKind) for config. A driver that is disabled ([NAME] enabled = no)
 * or whose module cannot be loaded is still present, opening as unavailable with the reason. */
void hvd_drivers_load(const HvdConfig *config, const DriverOps *ret[_DRIVER_KIND_MAX]);

/* Parses the section of every driver in ops from config into settings (new objects, indexed
 * like ops; "enabled" is the one key every section has, read by hvd_drivers_load). A section
 * that names no driver or a key a driver refuses fails with e naming file, line and reason,
 * and nothing is kept. */
int hvd_drivers_parse(const DriverOps *const ops[_DRIVER_KIND_MAX], const HvdConfig *config,
                      void *settings[_DRIVER_KIND_MAX], Error *e);

/* Frees what hvd_drivers_parse made; the slots become NULL. */
void hvd_drivers_settings_free(const DriverOps *const ops[_DRIVER_KIND_MAX],
                               void *settings[_DRIVER_KIND_MAX]);

/* Prints each driver's section (enabled, then its own settings) for hvd --check-config. */
void hvd_drivers_print(const DriverOps *const ops[_DRIVER_KIND_MAX], const HvdConfig *config,
                       void *const settings[_DRIVER_KIND_MAX], FILE *f);
