/* Live migration on D-Bus: org.hvd1.Domain's Migrate and MigrateCancel methods and its
 * MigrationProgress signal, in a vtable of their own on the domains' fallback path. */
#include <string.h>

#include "bus.h"
#include "manager-migrate.h"

static Bus *bus_of(sd_bus_message *m)
{
    return sd_bus_slot_get_userdata(sd_bus_get_current_slot(sd_bus_message_get_bus(m)));
}

static void migrated(void *userdata, Domain *d, const Error *e)
{
    sd_bus_message *m = userdata;

    if (e) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        (void)bus_error_from(&error, e);
        (void)sd_bus_reply_method_error(m, &error);
        sd_bus_error_free(&error);
    } else
        (void)sd_bus_reply_method_return(m, NULL);
    sd_bus_message_unref(m);
}

/* Asks polkit (or the admin group) first: returns 1 when the handler may go on, else what the
 * handler returns (refused, or called again with the verdict). */
static int authorize(sd_bus_message *m, const char *what, sd_bus_error *error, int *ret)
{
    int r = bus_verify_manage(bus_of(m), m, HVD_POLKIT_MANAGE_DOMAINS, what, error);

    if (r <= 0) {
        *ret = r < 0 ? r : 1;
        return 0;
    }
    bus_name_caller(bus_of(m), m);
    return 1;
}

static int method_migrate(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Domain *d = userdata;
    ManagerMigrateRequest req = {};
    Error e = ERROR_NULL;
    uint32_t downtime_ms, timeout_s, bandwidth;
    int r, k;

    r = sd_bus_message_read(m, "ssuuu", &req.url, &req.token, &downtime_ms, &timeout_s, &bandwidth);
    if (r < 0)
        return r;
    req.downtime_ms = downtime_ms;
    req.timeout_s = timeout_s;
    req.bandwidth_mib_s = bandwidth;
    if (!authorize(m, "migrate domains", error, &r))
        return r;
    k = manager_domain_migrate(d->manager, d, &req, migrated, sd_bus_message_ref(m), &e);
    manager_set_caller(d->manager, NULL);
    if (k < 0) {
        sd_bus_message_unref(m);
        return bus_error_from(error, &e);
    }
    return 1;
}

static int method_migrate_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Domain *d = userdata;
    Error e = ERROR_NULL;
    int r, k;

    if (!authorize(m, "migrate domains", error, &r))
        return r;
    k = manager_domain_migrate_cancel(d->manager, d, &e);
    manager_set_caller(d->manager, NULL);
    if (k < 0)
        return bus_error_from(error, &e);
    return sd_bus_reply_method_return(m, NULL);
}

static double number(const json_t *progress, const char *key)
{
    return json_number_value(json_object_get(progress, key));
}

void bus_migration_progress(void *userdata, Domain *d, const json_t *progress)
{
    Bus *b = userdata;
    const char *path = bus_domain_path(d);

    if (path)
        (void)sd_bus_emit_signal(
            b->bus, path, HVD_BUS_DOMAIN_INTERFACE, "MigrationProgress", "sutttdd",
            strempty(json_string_value(json_object_get(progress, "phase"))),
            (uint32_t)number(progress, "iteration"), (uint64_t)number(progress, "pages_sent"),
            (uint64_t)number(progress, "bytes_sent"), (uint64_t)number(progress, "dirty_pages"),
            number(progress, "expected_downtime_ms"), number(progress, "elapsed_ms"));
}

const sd_bus_vtable bus_migrate_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS(
        "Migrate",
        SD_BUS_ARGS("s", url, "s", token, "u", downtime_ms, "u", timeout_s, "u", bandwidth_mib_s),
        SD_BUS_NO_RESULT, method_migrate, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("MigrateCancel", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                            method_migrate_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_ARGS("MigrationProgress",
                            SD_BUS_ARGS("s", phase, "u", iteration, "t", pages_sent, "t",
                                        bytes_sent, "t", dirty_pages, "d", expected_downtime_ms,
                                        "d", elapsed_ms),
                            0),
    SD_BUS_VTABLE_END,
};
