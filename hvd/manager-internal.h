/* Functions shared by the manager's own files (manager.c, lifecycle.c, reconcile.c); surfaces
 * use manager.h only. */
#pragma once

#include "manager.h"

/* The one function every change of d's recorded runtime goes through: checks the transition is
 * legal, persists state, reason, runtime (rt, or the current one when NULL) and the allocation
 * change with an event in one transaction, then updates memory and tells listeners. The same
 * state and reason with a new pid or start time is a runtime change, recorded and announced
 * the same way (event "runtime-changed"). force applies the change
 * in memory even when the store cannot record it (the hypervisor already changed): it then
 * returns 1 with e saying so, and the state is recorded later. */
int manager_transition(Manager *m, Domain *d, DomainState state, DomainReason reason,
                       const DomainRuntime *rt, const char *detail, bool force, Error *e);

/* Marks d as changed in memory but not in the store, and retries recording it (with backoff)
 * until the store takes it: a full disk or a locked database must not lose what the hypervisor
 * already did. */
void manager_save_later(Manager *m, Domain *d);

/* Answers every manager_domain_info_fresh call still waiting, as hvd stops (manager-info.c). */
void manager_info_waits_answer(Manager *m);

/* Tells listeners about a committed change of d. */
void manager_notify_change(Manager *m, Domain *d, const DomainChange *change);

/* Group commit (commit.c). manager_change_begin opens the shared transaction if needed and a
 * savepoint for one change; manager_change_end(r) keeps it (r >= 0) or undoes just it. */
int manager_change_begin(Manager *m);
void manager_change_end(Manager *m, int r);

/* Runs done (with e, copied) once what was changed so far is committed, or now when nothing
 * waits to be. A commit that fails gives done an error saying the change is not recorded yet. */
void manager_after_commit_done(Manager *m, Domain *d, ManagerDone done, void *userdata,
                               const Error *e);

/* Announces change of d to the listeners once it is committed (or now). */
void manager_after_commit_change(Manager *m, Domain *d, const DomainChange *change);

/* Commits the open transaction now and runs what waited for it. */
void manager_commit(Manager *m);

/* Tells listeners about console output of d. */
void manager_notify_console(Manager *m, Domain *d, ConsoleDevice device, const char *data,
                            size_t len);

/* Appends an event inside the caller's transaction (detail is borrowed) and prunes the log now
 * and then. */
int manager_log_event(Manager *m, const char *domain, const char *event, json_t *detail,
                      int64_t *ret_id);

/* The same with the detail as JSON text (or NULL). */
int manager_log_event_text(Manager *m, const char *domain, const char *event, const char *detail,
                           int64_t *ret_id);

/* Starts sampling statistics into the histories once a second (history-sampler.c). */
int manager_history_start(Manager *m);

/* Saves the histories' points that are over (with current, also those still being averaged, as
 * hvd stops) with the next commit; prunes what the ranges no longer keep every ten minutes. */
void manager_history_save(Manager *m, uint64_t now_us, bool current);

/* Moves d's state counters and allocation from its current state to new_state. */
void manager_account_state(Manager *m, Domain *d, DomainState new_state);

/* Sends sd_notify STATUS when the summary line changed. */
void manager_update_status(Manager *m);

/* Completes every waiter of d with an error saying why. */
void manager_cancel_waiters(Domain *d, const char *why);

/* Arms (or re-arms) the graceful-shutdown deadline of a stopping domain. */
int manager_arm_shutdown_timer(Manager *m, Domain *d, unsigned timeout_s);

/* Starts the autostart domains still waiting to be started this boot whose driver is up. */
void manager_autostart(Manager *m);

/* Re-attaches or marks shutoff/daemon every active domain of drv. */
void manager_reconcile_driver(Manager *m, Driver *drv);

/* The DriverEvents the manager hands to drivers. */
DriverEvents manager_driver_events(Manager *m);

/* The domain with row id id, or NULL. */
Domain *manager_domain_by_id(Manager *m, int64_t id);

/* Makes the bridge of n as recorded: there, up, with the host's address. Returns 1 when it was
 * made now, 0 when it was there, or negative errno with e set (and nothing it made left). */
int manager_network_bridge_setup(Network *n, Error *e);

/* Starts (or adopts) dnsmasq for n with a host entry per lease. */
int manager_network_dnsmasq_setup(Manager *m, Network *n, Error *e);

/* Gives n's dnsmasq (when it has one) its host entries again after a lease changed. */
void manager_network_hosts_update(Manager *m, Network *n);

/* Makes table ip hvd and IPv4 forwarding match the networks that ask for NAT (network-nat.h);
 * applied again at any time with the same result. Returns 0 or negative errno with e set. */
int manager_network_nat_apply(Manager *m, Error *e);

/* Loads the recorded networks and leases (manager-network.c). */
int manager_networks_load(Manager *m);

/* Makes every recorded network's bridge as recorded (created, up, addressed), deletes bridges
 * with hvd's prefix that no network claims, and starts dnsmasq where DHCP is on. */
void manager_networks_reconcile_bridges(Manager *m);

/* Puts the taps of active domains back on their bridges and deletes taps with hvd's prefix that
 * no active domain claims (after the drivers re-attached their domains). */
void manager_networks_reconcile_taps(Manager *m);

/* Fills c->nic from c's network and the lease of domain_id (0: none yet); clears it when c
 * names no hvd network. */
void manager_network_fill_nic(Manager *m, DomainConfig *c, int64_t domain_id);

/* Before d starts: gives it a lease on its hvd network when it has none (recorded), drops its
 * leases on other networks, makes sure the bridge is there and fills d->config.nic. */
int manager_network_attach(Manager *m, Domain *d, Error *e);

/* Forgets the leases of a deleted domain (the store dropped them with it). */
void manager_network_domain_deleted(Manager *m, Domain *d);

/* Opens the tap nic names on its bridge for a driver (DriverEvents.tap_open). */
int manager_network_open_tap(Manager *m, const DomainNic *nic, int *ret_fd, Error *e);

/* Stops every dnsmasq and frees the networks. */
void manager_networks_free(Manager *m);

/* Saved state (manager-snapshot.c). */

/* A save the driver reported (ACTION_SAVE): records the image, then answers who asked. */
void manager_image_written(Manager *m, Domain *d, const Error *e, DomainState observed);

/* Before a start of d: the image it continues, when it has a managed save and no other image
 * was chosen (a revert, a clone). */
void manager_image_prepare_start(Manager *m, Domain *d);

/* After a start of d ended (ok: it runs): a managed save it resumed from is consumed. */
void manager_image_start_done(Manager *m, Domain *d, bool ok);

/* At start-up, after the drivers re-attached: removes image files no row names and rows whose
 * file is gone (logging each), and managed saves of domains that run again. */
void manager_images_reconcile(Manager *m);

/* Removes the image files of a domain whose rows went with its deletion. */
void manager_images_domain_deleted(Manager *m, Domain *d);

/* Defines the clone name of d: its settings with a new name and UUID (uuid, or a new one when
 * NULL) and, when disk is not NULL, that disk instead of d's. */
int manager_clone_define(Manager *m, Domain *d, const char *name, const char *uuid,
                         const char *disk, Domain **ret, Error *e);

/* Clones with disks of their own (manager-clone-disk.c): whether clones of d get one (its
 * driver makes copy-on-write disks, and d has a disk). */
bool manager_clone_needs_disks(Manager *m, Domain *d);

/* Makes a copy-on-write disk for each of names (taken over, checked) on d's driver, then defines
 * the clones naming them; done hears once they are defined, or the first failure after what was
 * made is removed. Returns 1 (done follows) or a negative errno with e set. */
int manager_clone_with_disks(Manager *m, Domain *d, json_t *names, ManagerCloneDone done,
                             void *userdata, Error *e);

/* Start-up: removes clone disks under STATE_DIR/disks that no domain names (made by an hvd that
 * died before it defined their clones). */
void manager_clone_disks_reconcile(Manager *m);

/* d is deleted: the clone disk hvd made for it goes too. */
void manager_clone_disk_deleted(Manager *m, Domain *d);

/* Frees what d holds of saved state. */
void manager_domain_images_free(Domain *d);

/* Refuses op when the rules of hvd/lifecycle.c do not allow it from d's state, saying which state
 * it needs. */
int manager_action_check(Domain *d, DomainAction op, Error *e);

/* Starts d receiving the guest of a live migration over the stream fd (borrowed) instead of
 * booting it: starting/migrated, then running/migrated once the guest runs here (within
 * timeout_s). done hears the outcome as for any start. */
int manager_domain_start_incoming(Manager *m, Domain *d, int fd, unsigned timeout_s,
                                  ManagerDone done, void *userdata, Error *e);

/* Calls done once the driver completes op of d, which it accepted (DRIVER_PENDING) outside the
 * action table (a managed save ends its instance so). */
int manager_wait_op(Domain *d, DomainAction op, ManagerDone done, void *userdata);
