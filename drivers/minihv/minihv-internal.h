/* Shared by the minihv driver's files: the driver state and one running instance. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "driver.h"
#include "hashmap.h"
#include "minihv-control.h"

#define CONTROL_TIMEOUT_MS 1000

/* [minihv]: the program that runs a domain and the directory of installed guests. */
typedef struct MinihvSettings {
    char *binary;
    char *guest_dir;
} MinihvSettings;

typedef struct MinihvDriver {
    Driver *drv;
    char *run_dir;      /* RUNTIME_DIR/minihv: control sockets, stats files, VMM logs */
    char *console_dir;  /* STATE_DIR/consoles: console logs (they outlive a restart) */
    Hashmap *instances; /* domain name -> Instance */
} MinihvDriver;

typedef struct Instance Instance;

struct Instance {
    MinihvDriver *md;
    DomainConfig config;
    char *guest; /* resolved guest image */
    char *control_path;
    char *stats_path;
    char *vmm_log_path;
    int pid;
    uint64_t start_ticks;
    int pidfd;
    sd_event_source *pidfd_source;
    int ready_fd;
    sd_event_source *ready_source;
    sd_event_source *ready_timer;
    bool ready;
    bool have_wait_status;
    int wait_status;
    /* The operation this instance's next readiness completes: ACTION_START for a start,
     * ACTION_REBOOT for a reboot hvd asked for, -1 after a reboot the guest asked for. */
    int completes;
    bool destroy_requested;
    ControlCall *calls[8];    /* control requests in flight (pause, resume, ...) */
    DomainAction call_ops[8]; /* the operation each of them carries out */
    int console_fd;
    sd_event_source *console_source;
};

static inline MinihvDriver *minihv(Driver *drv)
{
    return drv->data;
}

static inline const MinihvSettings *minihv_settings(const Driver *drv)
{
    return drv->settings;
}

/* The settings slots (minihv-settings.c). */
int minihv_settings_parse(const ConfigSection *section, void **ret, Error *e);
void minihv_settings_free(void *settings);
void minihv_settings_print(const void *settings, FILE *f);

/* Resolves the guest image of c: an absolute path, or a bare name such as "hello" that names
 * an installed guest (<guest-dir>/<name>-<mode>.elf). e lists the installed guests when the
 * name is unknown. */
int minihv_resolve_guest(Driver *drv, const DomainConfig *c, char **ret, Error *e);

/* Starts `minihv run` for c. The instance reports readiness and its end through the driver's
 * events. Returns the new instance (registered under the domain's name). */
int instance_spawn(MinihvDriver *md, const DomainConfig *c, int completes, Instance **ret,
                   Error *e);

/* Adopts a minihv process that runs the domain after an hvd restart, if pid, start time and
 * control socket all agree. Returns 1 with the state minihv reports, 0 when it is gone (e says
 * what was found). */
int instance_adopt(MinihvDriver *md, const DomainConfig *c, const DomainRuntime *rt,
                   DomainState *ret_state, Error *e);

/* The running instance of a domain, or NULL. */
Instance *instance_find(MinihvDriver *md, const char *name);

/* Sends a control request for op on the event loop; the reply completes op. */
int instance_control(Instance *inst, DomainAction op, json_t *request, Error *e);

/* Forcibly ends the process (SIGKILL through its pidfd). */
void instance_kill(Instance *inst);

/* Handles the end of the process (wait status known for hvd's own children). */
void instance_exited(Instance *inst);

/* Frees an instance that has ended, unregistering it. */
void instance_free(Instance *inst);

/* The paths of a domain's files, as new strings. */
char *minihv_path(MinihvDriver *md, const DomainConfig *c, const char *suffix);
