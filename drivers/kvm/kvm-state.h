/* libvirt's domain states, reasons and lifecycle events mapped to hvd's. */
#pragma once

#include "domain-types.h"

/* Maps libvirt's state and reason codes (virDomainState, virDomain*Reason) to hvd's. When hvd has
 * no word for libvirt's reason, *ret_detail (if not NULL) receives a static sentence saying what
 * libvirt reported; otherwise NULL. */
void kvm_state_from_libvirt(int vir_state, int vir_reason, DomainState *ret_state,
                            DomainReason *ret_reason, const char **ret_detail);

/* For a lifecycle event whose domain can no longer be asked (a transient domain that stopped is
 * gone): the state the event itself implies. Returns 1 when it implies one (stopped, crashed),
 * 0 otherwise. */
int kvm_state_from_event(int event, int detail, DomainState *ret_state, DomainReason *ret_reason);
