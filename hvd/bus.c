/* D-Bus connection, name, authorization and error mapping. */
#include <string.h>

#include "bus-open.h"
#include "bus.h"
#include "log.h"

int bus_error_from(sd_bus_error *error, const Error *e)
{
    char name[128];

    (void)snprintf(name, sizeof(name), HVD_BUS_ERROR_PREFIX "%s", error_kind_to_string(e->kind));
    (void)sd_bus_error_setf(error, name, "%s", e->message);
    return e->errnum ? e->errnum : -EIO;
}

const char *bus_domain_path(Domain *d)
{
    if (!d->object_path)
        (void)sd_bus_path_encode(HVD_BUS_DOMAIN_PREFIX, d->config.name, &d->object_path);
    return d->object_path;
}

static void creds_cache_clear(Bus *b)
{
    for (size_t i = 0; i < BUS_CREDS_CACHE_SIZE; i++)
        b->creds_cache[i].sender = mfree(b->creds_cache[i].sender);
    b->creds_next = 0;
}

int bus_set_admin_group(Bus *b, const char *group)
{
    char *copy = strdup(group);

    if (!copy)
        return -ENOMEM;
    free(b->admin_group);
    b->admin_group = copy;
    creds_cache_clear(b);
    return 0;
}

static bool creds_in_group(sd_bus_creds *creds, gid_t gid)
{
    const gid_t *gids = NULL;
    gid_t primary;
    int n;

    if (sd_bus_creds_get_egid(creds, &primary) >= 0 && primary == gid)
        return true;
    if (sd_bus_creds_get_gid(creds, &primary) >= 0 && primary == gid)
        return true;
    n = sd_bus_creds_get_supplementary_gids(creds, &gids);
    for (int i = 0; i < n; i++)
        if (gids[i] == gid)
            return true;
    return false;
}

/* Asks the bus (and /proc) who sent m and whether it may mutate. */
static int query_admin(Bus *b, sd_bus_message *m, bool *ret_admin, uid_t *ret_uid)
{
    _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
    struct group *gr;
    uid_t uid;
    int r;

    r = sd_bus_query_sender_creds(m,
                                  SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID | SD_BUS_CREDS_EGID |
                                      SD_BUS_CREDS_GID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS |
                                      SD_BUS_CREDS_AUGMENT,
                                  &creds);
    if (r < 0)
        return r;
    if (sd_bus_creds_get_euid(creds, &uid) < 0 && sd_bus_creds_get_uid(creds, &uid) < 0)
        return -ENODATA;
    gr = uid == 0 ? NULL : getgrnam(b->admin_group);
    *ret_admin = uid == 0 || (gr && creds_in_group(creds, gr->gr_gid));
    *ret_uid = uid;
    return 0;
}

int bus_verify_admin(Bus *b, sd_bus_message *m, const char *what, sd_bus_error *error)
{
    const char *sender = sd_bus_message_get_sender(m);
    BusCredsEntry *entry = NULL;
    bool admin;
    uid_t uid;
    int r;

    for (size_t i = 0; sender && i < BUS_CREDS_CACHE_SIZE; i++)
        if (b->creds_cache[i].sender && streq(b->creds_cache[i].sender, sender)) {
            entry = &b->creds_cache[i];
            break;
        }
    if (entry) {
        admin = entry->admin;
        uid = entry->uid;
    } else {
        r = query_admin(b, m, &admin, &uid);
        if (r < 0)
            return sd_bus_error_setf(error, HVD_BUS_ERROR_PREFIX "AccessDenied",
                                     "cannot identify the caller, so it may not %s", what);
        if (sender) {
            entry = &b->creds_cache[b->creds_next];
            b->creds_next = (b->creds_next + 1) % BUS_CREDS_CACHE_SIZE;
            free(entry->sender);
            *entry = (BusCredsEntry){.sender = strdup(sender), .admin = admin, .uid = uid};
        }
    }
    if (admin)
        return 0;
    return sd_bus_error_setf(error, HVD_BUS_ERROR_PREFIX "AccessDenied",
                             "uid %u may not %s: only root and members of group '%s' may", uid,
                             what, b->admin_group);
}

int bus_new(Manager *m, const char *address, const char *admin_group, Bus **ret, Error *e)
{
    Bus *b;
    int r;

    b = calloc(1, sizeof(*b));
    if (!b)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    b->manager = m;
    if (bus_set_admin_group(b, admin_group) < 0) {
        bus_free(b);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }

    r = bus_open_at(address, &b->bus);
    if (r < 0) {
        (void)error_set_errno(e, r, "Failed to connect to the %s bus%s%s: %m",
                              address ? "given" : "system", address ? " " : "", strempty(address));
        bus_free(b);
        return r;
    }

    r = sd_bus_add_object_vtable(b->bus, NULL, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                                 bus_manager_vtable, b);
    if (r >= 0)
        r = sd_bus_add_fallback_vtable(b->bus, NULL, HVD_BUS_DOMAIN_PREFIX,
                                       HVD_BUS_DOMAIN_INTERFACE, bus_domain_vtable, bus_domain_find,
                                       b);
    if (r >= 0)
        r = sd_bus_add_node_enumerator(b->bus, NULL, HVD_BUS_DOMAIN_PREFIX, bus_domain_enumerate,
                                       b);
    if (r >= 0)
        r = sd_bus_add_fallback_vtable(b->bus, NULL, HVD_BUS_NETWORK_PREFIX,
                                       HVD_BUS_NETWORK_INTERFACE, bus_network_vtable,
                                       bus_network_find, b);
    if (r >= 0)
        r = sd_bus_add_node_enumerator(b->bus, NULL, HVD_BUS_NETWORK_PREFIX, bus_network_enumerate,
                                       b);
    if (r >= 0)
        r = sd_bus_attach_event(b->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
    if (r < 0) {
        (void)error_set_errno(e, r, "Failed to register D-Bus objects: %m");
        bus_free(b);
        return r;
    }

    r = sd_bus_request_name(b->bus, HVD_BUS_NAME, 0);
    if (r < 0) {
        (void)error_set_errno(e, r,
                              "Failed to take the bus name " HVD_BUS_NAME
                              ": %m (is another hvd running, or does the bus policy not allow "
                              "it? see systemd/org.hvd1.conf)");
        bus_free(b);
        return r;
    }

    ManagerListener l = bus_manager_listener;
    l.userdata = b;
    r = manager_add_listener(m, &l);
    if (r < 0) {
        (void)error_set_errno(e, r, "Failed to listen to the manager: %m");
        bus_free(b);
        return r;
    }
    *ret = b;
    return 0;
}

Bus *bus_free(Bus *b)
{
    if (!b)
        return NULL;
    if (b->manager)
        manager_remove_listener(b->manager, b);
    if (b->bus) {
        (void)sd_bus_flush(b->bus);
        b->bus = sd_bus_flush_close_unref(b->bus);
    }
    creds_cache_clear(b);
    free(b->admin_group);
    free(b);
    return NULL;
}
