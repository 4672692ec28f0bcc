/* String tables and state rules of the domain model. */
#include <string.h>

#include "domain-types.h"

static const char *const driver_kind_table[_DRIVER_KIND_MAX] = {
    [DRIVER_KVM] = "kvm",
    [DRIVER_MINIHV] = "minihv",
};
DEFINE_STRING_TABLE(driver_kind, DriverKind, _DRIVER_KIND_MAX);

static const char *const domain_action_table[_DOMAIN_ACTION_MAX] = {
    [ACTION_START] = "start", [ACTION_SHUTDOWN] = "shutdown", [ACTION_DESTROY] = "destroy",
    [ACTION_PAUSE] = "pause", [ACTION_RESUME] = "resume",     [ACTION_REBOOT] = "reboot",
    [ACTION_SAVE] = "save",
};
DEFINE_STRING_TABLE(domain_action, DomainAction, _DOMAIN_ACTION_MAX);

static const char *const domain_mode_table[_DOMAIN_MODE_MAX] = {
    [MODE_PV] = "pv",
    [MODE_FULL] = "full",
};
DEFINE_STRING_TABLE(domain_mode, DomainMode, _DOMAIN_MODE_MAX);

static const char *const domain_state_table[_DOMAIN_STATE_MAX] = {
    [STATE_SHUTOFF] = "shutoff",     [STATE_STARTING] = "starting", [STATE_RUNNING] = "running",
    [STATE_PAUSED] = "paused",       [STATE_STOPPING] = "stopping", [STATE_CRASHED] = "crashed",
    [STATE_MIGRATING] = "migrating",
};
DEFINE_STRING_TABLE(domain_state, DomainState, _DOMAIN_STATE_MAX);

static const char *const domain_reason_table[_DOMAIN_REASON_MAX] = {
    [REASON_UNKNOWN] = "unknown",
    [REASON_DEFINED] = "defined",
    [REASON_SHUTDOWN] = "shutdown",
    [REASON_DESTROYED] = "destroyed",
    [REASON_FAILED] = "failed",
    [REASON_DAEMON] = "daemon",
    [REASON_CRASHED] = "crashed",
    [REASON_BOOTING] = "booting",
    [REASON_BOOTED] = "booted",
    [REASON_UNPAUSED] = "unpaused",
    [REASON_REBOOTED] = "rebooted",
    [REASON_RESTARTED] = "restarted",
    [REASON_USER] = "user",
    [REASON_GUEST_FAULT] = "guest-fault",
    [REASON_HOST_ERROR] = "host-error",
    [REASON_SAVED] = "saved",
    [REASON_MIGRATED] = "migrated",
    [REASON_FENCED] = "fenced",
};
DEFINE_STRING_TABLE(domain_reason, DomainReason, _DOMAIN_REASON_MAX);

static const char *const on_crash_table[_ON_CRASH_MAX] = {
    [ON_CRASH_DESTROY] = "destroy",
    [ON_CRASH_RESTART] = "restart",
    [ON_CRASH_PRESERVE] = "preserve",
};
DEFINE_STRING_TABLE(on_crash, OnCrash, _ON_CRASH_MAX);

static const char *const console_device_table[_CONSOLE_DEVICE_MAX] = {
    [CONSOLE_SERIAL] = "ttyS0",
    [CONSOLE_VIRTIO] = "hvc0",
};
DEFINE_STRING_TABLE(console_device, ConsoleDevice, _CONSOLE_DEVICE_MAX);

#define R(x) (1u << (x))

static const unsigned reasons_by_state[_DOMAIN_STATE_MAX] = {
    [STATE_SHUTOFF] = R(REASON_UNKNOWN) | R(REASON_DEFINED) | R(REASON_SHUTDOWN) |
                      R(REASON_DESTROYED) | R(REASON_FAILED) | R(REASON_DAEMON) |
                      R(REASON_CRASHED) | R(REASON_SAVED) | R(REASON_MIGRATED) | R(REASON_FENCED),
    [STATE_STARTING] = R(REASON_BOOTING) | R(REASON_MIGRATED),
    [STATE_RUNNING] = R(REASON_UNKNOWN) | R(REASON_BOOTED) | R(REASON_UNPAUSED) |
                      R(REASON_REBOOTED) | R(REASON_RESTARTED) | R(REASON_DAEMON) |
                      R(REASON_MIGRATED),
    [STATE_PAUSED] = R(REASON_UNKNOWN) | R(REASON_USER) | R(REASON_DAEMON),
    [STATE_STOPPING] = R(REASON_SHUTDOWN),
    [STATE_CRASHED] = R(REASON_GUEST_FAULT) | R(REASON_HOST_ERROR),
    [STATE_MIGRATING] = R(REASON_MIGRATED),
};

#define S(x) (1u << (x))

/* legal_next[from] is the set of states a domain in from may move to. */
static const unsigned legal_next[_DOMAIN_STATE_MAX] = {
    [STATE_SHUTOFF] = S(STATE_STARTING),
    [STATE_STARTING] = S(STATE_RUNNING) | S(STATE_PAUSED) | S(STATE_SHUTOFF) | S(STATE_CRASHED),
    [STATE_RUNNING] = S(STATE_RUNNING) | S(STATE_PAUSED) | S(STATE_STOPPING) | S(STATE_SHUTOFF) |
                      S(STATE_CRASHED) | S(STATE_MIGRATING),
    [STATE_PAUSED] = S(STATE_RUNNING) | S(STATE_SHUTOFF) | S(STATE_CRASHED),
    [STATE_STOPPING] = S(STATE_SHUTOFF) | S(STATE_CRASHED) | S(STATE_RUNNING),
    [STATE_CRASHED] = S(STATE_SHUTOFF) | S(STATE_STARTING),
    /* shutoff/migrated once the target runs it; running again when the migration failed */
    [STATE_MIGRATING] = S(STATE_SHUTOFF) | S(STATE_RUNNING) | S(STATE_CRASHED),
};

bool domain_reason_valid_for_state(DomainState state, DomainReason reason)
{
    if ((int)state < 0 || state >= _DOMAIN_STATE_MAX || (int)reason < 0 ||
        reason >= _DOMAIN_REASON_MAX)
        return false;
    return reasons_by_state[state] & R(reason);
}

bool domain_state_transition_is_legal(DomainState from, DomainState to)
{
    if ((int)from < 0 || from >= _DOMAIN_STATE_MAX || (int)to < 0 || to >= _DOMAIN_STATE_MAX)
        return false;
    return legal_next[from] & S(to);
}

bool domain_state_holds_allocation(DomainState state)
{
    return state != STATE_SHUTOFF && (int)state >= 0 && state < _DOMAIN_STATE_MAX;
}

bool domain_state_is_active(DomainState state)
{
    return domain_state_holds_allocation(state);
}

bool domain_name_is_valid(const char *name)
{
    size_t n;

    if (!name)
        return false;
    n = strlen(name);
    if (n < 1 || n > DOMAIN_NAME_MAX || streq(name, ".") || streq(name, ".."))
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}
