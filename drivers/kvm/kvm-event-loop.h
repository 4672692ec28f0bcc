/* libvirt's event loop on top of sd-event, so libvirt's events reach hvd's one thread. */
#pragma once

#include <systemd/sd-event.h>

/* Registers the implementation with libvirt (once per process; later calls only check that the
 * same loop is used). Must run on the loop's thread before the first virConnectOpen. libvirt may
 * then change its watches from any thread; every libvirt callback runs on the loop's thread.
 * Returns 0, -EBUSY when another loop was registered earlier, or a negative errno when the
 * loop's file descriptors cannot be set up. */
int kvm_event_loop_register(sd_event *event);
