/* libvirt's domain states, reasons and lifecycle events mapped to hvd's. */
#pragma once

#include "domain-types.h"

/* Maps libvirt's state and reason codes (virDomainState, virDomain*Reason) to hvd's. When hvd has
 * no word for libvirt's reason, *ret_detail (if not NULL) receives a static sentence saying what
 * libvirt reported; otherwise NULL. */
void kvm_state_from_libvirt(int vir_state, int vir_reason, DomainState *ret_state,
                            DomainReason *ret_reason, const char **ret_detail);

/* The state a lifecycle event reports, as libvirt records it with the event (so it can be taken
 * from the event without asking libvirtd again), with a detail as kvm_state_from_libvirt gives.
 * Returns 1 when the event reports a state, 0 for events that change only the definition. */
int kvm_state_from_event(int event, int detail, DomainState *ret_state, DomainReason *ret_reason,
                         const char **ret_detail);
