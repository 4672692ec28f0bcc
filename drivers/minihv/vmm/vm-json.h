/* JSON views of a running domain: `stats` and `info` replies and the --stats-file. */
#pragma once

#include <jansson.h>

#include "vm.h"

/* Process facts read once before the sandbox closes /proc: call before vm_json_*(). Keeps an
 * fd on /proc/self/statm (closed by vm_json_done). Returns 0 or a negative errno. */
int vm_json_init(void);
void vm_json_done(void);

/* {"exits":{...,"total":N},"devices":{...},"run_time_ns":N,"vcpus":[{"id":0,"run_time_ns":N}],
 *  "memory":{...},"bad_requests":{"guest":N,"control":N},"console":{...},"block":{...},
 *  "tsc_khz":N,"uptime_ns":N,"net":{"attached":bool,"tx_frames":N,"tx_bytes":N,"rx_frames":N,
 *  "rx_bytes":N,"tx_dropped":N,"rx_dropped":N,"bad_descriptors":N,"doorbells":N,"exits":N,
 *  "exits_per_frame":X,"doorbells_per_frame":X}}. New reference, or NULL on OOM. */
json_t *vm_stats_json(Vm *vm);

/* The memory figures of `stats` (guest resident bytes through mincore, the VMM's from statm):
 * two system calls. */
void vm_json_memory(Vm *vm, StatsPageMemory *m);

/* {"pid":N,"mode":"pv","vcpus":N,"memory_mib":N,"guest":"/abs/path","disk":..., "cmdline":...,
 *  "console":..., "control":..., "strict":bool, "state":"running","start_time":secs,
 *  "start_time_ticks":N,"abi_version":N,"version":"x.y.z"[,"net":{"mac":"..","device":".."}]}. New
 * reference, or NULL. */
json_t *vm_info_json(Vm *vm);
