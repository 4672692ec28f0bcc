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

/* One DomainStateChanged per state change; PropertiesChanged once per domain and commit, with
 * the properties as the commit left them. */
static void on_domain_changed(void *userdata, Domain *d, const DomainChange *change)
{
    Bus *b = userdata;
    const char *path = bus_domain_path(d);

    if (!path)
        return;
    if (change->last)
        (void)sd_bus_emit_properties_changed(b->bus, path, HVD_BUS_DOMAIN_INTERFACE, "State",
                                             "StateReason", "PID", "StateChangedUSec",
                                             "StartedUSec", NULL);
    if (!change->runtime_only)
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
