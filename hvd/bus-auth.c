/* Who may change what over D-Bus: the caller's credentials as the bus vouches for them, then
 * polkit's verdict, or membership of the admin group where polkit is unreachable. */
#include <grp.h>
#include <string.h>

#include "bus.h"
#include "log.h"
#include "time-util.h"

#define POLKIT_NAME      "org.freedesktop.PolicyKit1"
#define POLKIT_PATH      "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"

/* A decided query whose call was dispatched again without asking for its verdict (the domain
 * went away meanwhile, say) is dropped after this long. */
#define AUTH_QUERY_STALE_USEC (10 * USEC_PER_SEC)

/* One mutating call waiting for its verdict. */
struct BusAuthQuery {
    Bus *bus;
    BusAuthQuery *next;
    sd_bus_message *request; /* the method call, dispatched again once decided */
    sd_bus_slot *slot;       /* the pending call to the bus or to polkit */
    char *action;
    char *what;
    uid_t uid;
    gid_t *gids;
    int n_gids;
    bool decided;
    uint64_t decided_usec;
    sd_bus_error refusal; /* set when refused */
};

static BusAuthQuery *auth_query_free(BusAuthQuery *q)
{
    if (!q)
        return NULL;
    for (BusAuthQuery **p = &q->bus->auth_queries; *p; p = &(*p)->next)
        if (*p == q) {
            *p = q->next;
            break;
        }
    sd_bus_slot_unref(q->slot);
    sd_bus_message_unref(q->request);
    sd_bus_error_free(&q->refusal);
    free(q->action);
    free(q->what);
    free(q->gids);
    free(q);
    return NULL;
}

void bus_auth_done(Bus *b)
{
    while (b->auth_queries)
        auth_query_free(b->auth_queries);
    for (size_t i = 0; i < BUS_CREDS_CACHE_SIZE; i++) {
        b->creds_cache[i].sender = mfree(b->creds_cache[i].sender);
        b->creds_cache[i].gids = mfree(b->creds_cache[i].gids);
    }
    b->polkit_watch = sd_bus_slot_unref(b->polkit_watch);
}

static BusCredsEntry *creds_cache_find(Bus *b, const char *sender)
{
    for (size_t i = 0; sender && i < BUS_CREDS_CACHE_SIZE; i++)
        if (b->creds_cache[i].sender && streq(b->creds_cache[i].sender, sender))
            return &b->creds_cache[i];
    return NULL;
}

static void creds_cache_add(Bus *b, const char *sender, uid_t uid, const gid_t *gids, int n_gids)
{
    BusCredsEntry *entry = &b->creds_cache[b->creds_next];
    char *copy = strdup(sender);
    gid_t *gids_copy = n_gids > 0 ? malloc(sizeof(gid_t) * (size_t)n_gids) : NULL;

    if (!copy || (n_gids > 0 && !gids_copy)) {
        free(copy);
        free(gids_copy);
        return;
    }
    if (n_gids > 0)
        memcpy(gids_copy, gids, sizeof(gid_t) * (size_t)n_gids);
    free(entry->sender);
    free(entry->gids);
    *entry = (BusCredsEntry){.sender = copy, .uid = uid, .gids = gids_copy, .n_gids = n_gids};
    b->creds_next = (b->creds_next + 1) % BUS_CREDS_CACHE_SIZE;
}

static bool in_admin_group(Bus *b, const gid_t *gids, int n_gids)
{
    struct group *gr = getgrnam(b->admin_group);

    for (int i = 0; gr && i < n_gids; i++)
        if (gids[i] == gr->gr_gid)
            return true;
    return false;
}

/* Sets error to the group check's refusal, or returns 1 when the caller may. */
static int group_verdict(Bus *b, uid_t uid, const gid_t *gids, int n_gids, const char *what,
                         sd_bus_error *error)
{
    if (uid == 0 || in_admin_group(b, gids, n_gids))
        return 1;
    return sd_bus_error_setf(error, HVD_BUS_ERROR_PREFIX "AccessDenied",
                             "uid %u may not %s: only root and members of group '%s' may", uid,
                             what, b->admin_group);
}

/* Records the verdict (error NULL: allowed) and dispatches the call again to hear it. */
static void auth_query_decide(BusAuthQuery *q, const sd_bus_error *error)
{
    int r;

    q->slot = sd_bus_slot_unref(q->slot);
    q->decided = true;
    q->decided_usec = now_usec(CLOCK_MONOTONIC);
    if (error)
        (void)sd_bus_error_copy(&q->refusal, error);
    r = sd_bus_message_rewind(q->request, true);
    if (r >= 0)
        r = sd_bus_enqueue_for_read(q->bus->bus, q->request);
    if (r < 0) {
        log_warning_errno(r, "Failed to dispatch a call again after its authorization: %m");
        (void)sd_bus_reply_method_errno(q->request, r, NULL);
        auth_query_free(q);
    }
}

static void auth_query_decide_by_group(BusAuthQuery *q)
{
    sd_bus_error error = SD_BUS_ERROR_NULL;

    if (group_verdict(q->bus, q->uid, q->gids, q->n_gids, q->what, &error) > 0)
        auth_query_decide(q, NULL);
    else
        auth_query_decide(q, &error);
    sd_bus_error_free(&error);
}

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
    BusAuthQuery *q = userdata;
    sd_bus_error error = SD_BUS_ERROR_NULL;
    int authorized = 0, challenge = 0, r;

    if (sd_bus_message_is_method_error(reply, NULL)) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        log_warning("polkit did not answer for %s (%s: %s); checking group '%s' instead", q->action,
                    e->name, strna(e->message), q->bus->admin_group);
        auth_query_decide_by_group(q);
        return 0;
    }
    r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
    if (r > 0)
        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
    if (r <= 0) {
        log_warning_errno(r,
                          "polkit's answer for %s cannot be read: %m; checking group '%s' "
                          "instead",
                          q->action, q->bus->admin_group);
        auth_query_decide_by_group(q);
        return 0;
    }
    if (authorized)
        auth_query_decide(q, NULL);
    else {
        (void)sd_bus_error_setf(
            &error, HVD_BUS_ERROR_PREFIX "AccessDenied",
            "uid %u may not %s: polkit does not authorize %s%s", q->uid, q->what, q->action,
            challenge ? " without authentication, which hvd does not ask for" : "");
        auth_query_decide(q, &error);
        sd_bus_error_free(&error);
    }
    return 0;
}

/* Asks polkit whether the caller may perform the query's action, as machined does: the subject
 * is the caller's bus name, whose credentials polkit asks the bus for itself. The admin group
 * goes along as a detail for the rules. */
static void auth_query_ask_polkit(BusAuthQuery *q)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
    Bus *b = q->bus;
    int r;

    r = sd_bus_message_new_method_call(b->bus, &call, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE,
                                       "CheckAuthorization");
    if (r >= 0)
        r = sd_bus_message_append(call, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s",
                                  sd_bus_message_get_sender(q->request), q->action, 1,
                                  "admin_group", b->admin_group, UINT32_C(0), "");
    if (r >= 0)
        r = sd_bus_call_async(b->bus, &q->slot, call, on_polkit_reply, q, 0);
    if (r < 0) {
        log_warning_errno(r, "Failed to ask polkit about %s: %m; checking group '%s' instead",
                          q->action, b->admin_group);
        auth_query_decide_by_group(q);
    }
}

/* Goes on from known credentials: root may, else polkit decides where it runs, else the admin
 * group. */
static void auth_query_go_on(BusAuthQuery *q)
{
    if (q->uid == 0)
        auth_query_decide(q, NULL);
    else if (q->bus->polkit_running)
        auth_query_ask_polkit(q);
    else
        auth_query_decide_by_group(q);
}

/* Reads the UnixUserID and UnixGroupIDs of a GetConnectionCredentials reply. */
static int read_bus_creds(sd_bus_message *reply, uid_t *ret_uid, gid_t **ret_gids, int *ret_n)
{
    _cleanup_free_ gid_t *gids = NULL;
    bool have_uid = false;
    uint32_t uid = 0;
    int n = 0, r;

    r = sd_bus_message_enter_container(reply, 'a', "{sv}");
    if (r < 0)
        return r;
    while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
        const char *key;

        r = sd_bus_message_read(reply, "s", &key);
        if (r < 0)
            return r;
        if (streq(key, "UnixUserID")) {
            r = sd_bus_message_read(reply, "v", "u", &uid);
            have_uid = true;
        } else if (streq(key, "UnixGroupIDs")) {
            const void *array;
            size_t size;

            r = sd_bus_message_enter_container(reply, 'v', "au");
            if (r >= 0)
                r = sd_bus_message_read_array(reply, 'u', &array, &size);
            if (r >= 0 && size > 0) {
                free(gids);
                gids = malloc(size);
                if (!gids)
                    return -ENOMEM;
                memcpy(gids, array, size);
                n = (int)(size / sizeof(uint32_t));
            }
            if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        } else
            r = sd_bus_message_skip(reply, "v");
        if (r < 0)
            return r;
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
            return r;
    }
    if (r < 0)
        return r;
    if (!have_uid)
        return -ENODATA;
    *ret_uid = uid;
    *ret_gids = TAKE_PTR(gids);
    *ret_n = n;
    return 0;
}

static int on_creds_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
    BusAuthQuery *q = userdata;
    sd_bus_error error = SD_BUS_ERROR_NULL;
    int r = -EIO;

    if (!sd_bus_message_is_method_error(reply, NULL))
        r = read_bus_creds(reply, &q->uid, &q->gids, &q->n_gids);
    if (r < 0) {
        (void)sd_bus_error_setf(&error, HVD_BUS_ERROR_PREFIX "AccessDenied",
                                "cannot identify the caller, so it may not %s", q->what);
        auth_query_decide(q, &error);
        sd_bus_error_free(&error);
        return 0;
    }
    creds_cache_add(q->bus, sd_bus_message_get_sender(q->request), q->uid, q->gids, q->n_gids);
    q->slot = sd_bus_slot_unref(q->slot);
    auth_query_go_on(q);
    return 0;
}

static void auth_queries_sweep(Bus *b)
{
    uint64_t now = now_usec(CLOCK_MONOTONIC);

    for (BusAuthQuery *q = b->auth_queries, *next; q; q = next) {
        next = q->next;
        if (q->decided && now - q->decided_usec > AUTH_QUERY_STALE_USEC)
            auth_query_free(q);
    }
}

int bus_verify_manage(Bus *b, sd_bus_message *m, const char *action, const char *what,
                      sd_bus_error *error)
{
    const char *sender = sd_bus_message_get_sender(m);
    BusCredsEntry *entry;
    BusAuthQuery *q;
    int r;

    for (q = b->auth_queries; q; q = q->next)
        if (q->request == m && streq(q->action, action))
            break;
    if (q && !q->decided)
        return 0;
    if (q) {
        bool refused = sd_bus_error_is_set(&q->refusal);

        if (refused)
            (void)sd_bus_error_copy(error, &q->refusal);
        auth_query_free(q);
        return refused ? -EACCES : 1;
    }
    auth_queries_sweep(b);
    if (!sender)
        return sd_bus_error_setf(error, HVD_BUS_ERROR_PREFIX "AccessDenied",
                                 "cannot identify the caller, so it may not %s", what);

    entry = creds_cache_find(b, sender);
    if (entry && (entry->uid == 0 || !b->polkit_running))
        return group_verdict(b, entry->uid, entry->gids, entry->n_gids, what, error);

    q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    *q = (BusAuthQuery){.bus = b, .next = b->auth_queries, .request = sd_bus_message_ref(m)};
    b->auth_queries = q;
    q->action = strdup(action);
    q->what = strdup(what);
    if (!q->action || !q->what) {
        auth_query_free(q);
        return -ENOMEM;
    }
    if (entry) {
        q->uid = entry->uid;
        q->n_gids = entry->n_gids;
        q->gids = entry->n_gids > 0 ? malloc(sizeof(gid_t) * (size_t)entry->n_gids) : NULL;
        if (entry->n_gids > 0 && !q->gids) {
            auth_query_free(q);
            return -ENOMEM;
        }
        if (entry->n_gids > 0)
            memcpy(q->gids, entry->gids, sizeof(gid_t) * (size_t)entry->n_gids);
        auth_query_ask_polkit(q);
        return 0;
    }
    r = sd_bus_call_method_async(b->bus, &q->slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "GetConnectionCredentials", on_creds_reply,
                                 q, "s", sender);
    if (r < 0) {
        auth_query_free(q);
        return sd_bus_error_setf(error, HVD_BUS_ERROR_PREFIX "AccessDenied",
                                 "cannot identify the caller, so it may not %s", what);
    }
    return 0;
}

static int on_polkit_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    Bus *b = userdata;
    const char *name, *old_owner, *new_owner;
    bool running;

    if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
        !streq(name, POLKIT_NAME))
        return 0;
    running = !isempty(new_owner);
    if (running && !b->polkit_running)
        log_info("polkit runs: it decides who may change domains");
    else if (!running && b->polkit_running)
        log_warning("polkit is gone: root and members of group '%s' may change domains",
                    b->admin_group);
    b->polkit_running = running;
    return 0;
}

int bus_auth_start(Bus *b)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    int running = 0, r;

    r = sd_bus_add_match(b->bus, &b->polkit_watch,
                         "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                         "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                         "arg0='" POLKIT_NAME "'",
                         on_polkit_owner_changed, b);
    if (r < 0)
        return r;
    r = sd_bus_call_method(b->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s", POLKIT_NAME);
    if (r >= 0)
        r = sd_bus_message_read(reply, "b", &running);
    if (r < 0)
        return r;
    b->polkit_running = running;
    if (running)
        log_info("polkit decides who may change domains");
    else {
        log_info("polkit is not running: root and members of group '%s' may change domains",
                 b->admin_group);
        /* Where polkit is started on demand, this starts it; the watch sees it arrive. */
        (void)sd_bus_call_method_async(b->bus, NULL, POLKIT_NAME, "/", "org.freedesktop.DBus.Peer",
                                       "Ping", NULL, NULL, NULL);
    }
    return 0;
}

void bus_auth_describe(Bus *b, char *buf, size_t size)
{
    if (b->polkit_running)
        (void)snprintf(buf, size, "polkit");
    else
        (void)snprintf(buf, size, "admin group %s (polkit unreachable)", b->admin_group);
}

void bus_name_caller(Bus *b, sd_bus_message *m)
{
    const char *sender = sd_bus_message_get_sender(m);
    BusCredsEntry *entry = creds_cache_find(b, sender);
    char caller[96];

    if (entry)
        (void)snprintf(caller, sizeof(caller), "uid %u over D-Bus", (unsigned)entry->uid);
    else
        (void)snprintf(caller, sizeof(caller), "%s over D-Bus", strna(sender));
    manager_set_caller(b->manager, caller);
}
