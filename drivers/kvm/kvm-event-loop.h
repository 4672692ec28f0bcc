/* libvirt's event loop on top of sd-event, so libvirt's events reach hvd's one thread. */
#pragma once

#include <systemd/sd-event.h>

/* Registers the implementation with libvirt (once per process; later calls only check that the
 * same loop is used). Must run before the first virConnectOpen. Returns 0 or -EBUSY when another
 * loop was registered earlier. */
int kvm_event_loop_register(sd_event *event);
