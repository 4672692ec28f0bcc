/* Manager events turned into D-Bus signals and PropertiesChanged. */
#include "bus.h"
#include "log.h"

static void on_domain_new(void *userdata, Domain *d)
{
    Bus *b = userdata;
    const char *path = bus_domain_path(d);

    if (path)
        (void)sd_bus_emit_signal(b->bus, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                                 "DomainNew", "so", d->config.name, path);
}

static void on_domain_removed(void *userdata, Domain *d)
{
    Bus *b = userdata;
    const char *path = bus_domain_path(d);

    if (path)
        (void)sd_bus_emit_signal(b->bus, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                                 "DomainRemoved", "so", d->config.name, path);
}

/* PropertiesChanged of d's state properties with their values written here, as the getters of
 * bus-domain.c read them: no look-up of the object and its getters on every operation. */
static int emit_state_properties(sd_bus *bus, const char *path, const Domain *d)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
    int r;

    r = sd_bus_message_new_signal(bus, &m, path, "org.freedesktop.DBus.Properties",
                                  "PropertiesChanged");
    if (r >= 0)
        r = sd_bus_message_append(m, "sa{sv}as", HVD_BUS_DOMAIN_INTERFACE, 5, "State", "s",
                                  domain_state_to_string(d->state), "StateReason", "s",
                                  domain_reason_to_string(d->reason), "PID", "u",
                                  (uint32_t)MAX(d->runtime.pid, 0), "StateChangedUSec", "t",
                                  d->state_changed_us, "StartedUSec", "t", d->runtime.started_us,
                                  0);
    if (r >= 0)
        r = sd_bus_send(bus, m, NULL);
    return r;
}

/* One DomainStateChanged per state change, but for a starting state left again within the same
 * commit (its end state follows); PropertiesChanged once per domain and commit, with the
 * properties as the commit left them. */
static void on_domain_changed(void *userdata, Domain *d, const DomainChange *change)
{
    Bus *b = userdata;
    const char *path = bus_domain_path(d);

    if (!path)
        return;
    if (change->last)
        (void)emit_state_properties(b->bus, path, d);
    if (!change->runtime_only && !change->passed)
        (void)sd_bus_emit_signal(b->bus, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                                 "DomainStateChanged", "soss", d->config.name, path,
                                 domain_state_to_string(change->state),
                                 domain_reason_to_string(change->reason));
}

static void on_domain_updated(void *userdata, Domain *d)
{
    Bus *b = userdata;
    const char *path = bus_domain_path(d);

    if (path)
        (void)sd_bus_emit_properties_changed(b->bus, path, HVD_BUS_DOMAIN_INTERFACE, "Mode",
                                             "VCPUs", "MemoryMiB", "Kernel", "Disk", "Cmdline",
                                             "CPUSet", "Network", "Autostart", "OnCrash",
                                             "CPUWeight", "CPUCap", "MemoryLimitMiB", NULL);
}

const ManagerListener bus_manager_listener = {
    .domain_new = on_domain_new,
    .domain_removed = on_domain_removed,
    .domain_changed = on_domain_changed,
    .domain_updated = on_domain_updated,
    .domain_migration = bus_migration_progress,
};
