/* hvctl over D-Bus: org.hvd1 on the system bus (or a given address). */
#include <fcntl.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "api-names.h"
#include "bus-open.h"
#include "console-relay.h"

#include "client.h"
#include "domain-config.h"
#include "macro.h"
#include "time-util.h"

#define CALL_TIMEOUT_US ((uint64_t)HVD_CALL_TIMEOUT_S * USEC_PER_SEC)

typedef struct BusClient {
    sd_bus *bus;
} BusClient;

static sd_bus *bus_of(Client *c)
{
    return ((BusClient *)c->data)->bus;
}

static int error_from_bus(const sd_bus_error *be, int r, Error *e)
{
    static const char *const unreachable[] = {
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.Disconnected",
    };

    if (be && be->name && strneq(be->name, HVD_BUS_ERROR_PREFIX, strlen(HVD_BUS_ERROR_PREFIX))) {
        ErrorKind kind = error_kind_from_string(be->name + strlen(HVD_BUS_ERROR_PREFIX));
        return error_setf(e, kind < 0 ? ERROR_FAILED : kind, "%s", strna(be->message));
    }
    if (be && be->name)
        for (size_t i = 0; i < ELEMENTSOF(unreachable); i++)
            if (streq(be->name, unreachable[i]))
                return error_set_errno(e, -ECONNREFUSED,
                                       "hvd is not running: nobody owns " HVD_BUS_NAME
                                       " on the bus");
    if (be && be->name && streq(be->name, "org.freedesktop.DBus.Error.AccessDenied"))
        return error_setf(e, ERROR_ACCESS_DENIED, "%s", strna(be->message));
    if (be && be->message)
        return error_set_errno(e, r < 0 ? r : -EIO, "%s", be->message);
    return error_set_errno(e, r < 0 ? r : -EIO, "D-Bus call failed: %s", strerror(-r));
}

/* Reads one variant's content (already entered or at a 'v') into JSON. */
static int read_variant(sd_bus_message *m, json_t **ret);

static int read_dict(sd_bus_message *m, json_t **ret)
{
    json_t *obj = json_object();
    int r;

    r = sd_bus_message_enter_container(m, 'a', "{sv}");
    if (r < 0)
        goto fail;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const char *key;
        json_t *v = NULL;

        r = sd_bus_message_read(m, "s", &key);
        if (r < 0)
            goto fail;
        r = read_variant(m, &v);
        if (r < 0)
            goto fail;
        (void)json_object_set_new(obj, key, v);
        r = sd_bus_message_exit_container(m);
        if (r < 0)
            goto fail;
    }
    if (r < 0)
        goto fail;
    r = sd_bus_message_exit_container(m);
    if (r < 0)
        goto fail;
    *ret = obj;
    return 0;
fail:
    json_decref(obj);
    return r;
}

static int read_variant(sd_bus_message *m, json_t **ret)
{
    const char *contents;
    char type;
    int r;

    r = sd_bus_message_peek_type(m, &type, &contents);
    if (r < 0)
        return r;
    r = sd_bus_message_enter_container(m, 'v', contents);
    if (r < 0)
        return r;
    switch (contents[0]) {
    case 's': {
        const char *s;
        r = sd_bus_message_read(m, "s", &s);
        *ret = json_string(s);
        break;
    }
    case 'b': {
        int b;
        r = sd_bus_message_read(m, "b", &b);
        *ret = json_boolean(b);
        break;
    }
    case 'u': {
        uint32_t u;
        r = sd_bus_message_read(m, "u", &u);
        *ret = json_integer(u);
        break;
    }
    case 't': {
        uint64_t t;
        r = sd_bus_message_read(m, "t", &t);
        *ret = json_integer((json_int_t)t);
        break;
    }
    case 'x': {
        int64_t x;
        r = sd_bus_message_read(m, "x", &x);
        *ret = json_integer(x);
        break;
    }
    case 'd': {
        double d;
        r = sd_bus_message_read(m, "d", &d);
        *ret = json_real(d);
        break;
    }
    case 'a':
        if (streq(contents, "a{sv}"))
            r = read_dict(m, ret);
        else if (streq(contents, "av")) {
            json_t *arr = json_array(), *item;
            r = sd_bus_message_enter_container(m, 'a', "v");
            while (r >= 0 && (r = sd_bus_message_peek_type(m, NULL, NULL)) > 0) {
                r = read_variant(m, &item);
                if (r >= 0)
                    (void)json_array_append_new(arr, item);
            }
            if (r >= 0)
                r = sd_bus_message_exit_container(m);
            *ret = arr;
        } else
            r = sd_bus_message_skip(m, contents);
        break;
    default:
        r = sd_bus_message_skip(m, contents);
        *ret = json_null();
    }
    if (r < 0)
        return r;
    if (!*ret)
        *ret = json_null();
    return sd_bus_message_exit_container(m);
}

static int domain_path(Client *c, const char *name, char **ret, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    const char *path;
    int r;

    r = sd_bus_call_method(bus_of(c), HVD_BUS_NAME, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                           "GetDomain", &be, &reply, "s", name);
    if (r < 0)
        return error_from_bus(&be, r, e);
    r = sd_bus_message_read(reply, "o", &path);
    if (r < 0)
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    *ret = strdup(path);
    return *ret ? 0 : error_set_errno(e, -ENOMEM, "Out of memory");
}

static int bus_list(Client *c, json_t **ret, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    const char *name, *driver, *mode, *state, *reason, *path;
    uint32_t vcpus;
    uint64_t memory;
    json_t *list;
    int r;

    r = sd_bus_call_method(bus_of(c), HVD_BUS_NAME, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                           "ListDomains", &be, &reply, NULL);
    if (r < 0)
        return error_from_bus(&be, r, e);
    r = sd_bus_message_enter_container(reply, 'a', "(sssssuto)");
    if (r < 0)
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    list = json_array();
    while ((r = sd_bus_message_read(reply, "(sssssuto)", &name, &driver, &mode, &state, &reason,
                                    &vcpus, &memory, &path)) > 0)
        (void)json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I}", "name",
                                                    name, "driver", driver, "mode", mode, "state",
                                                    state, "reason", reason, "vcpus", (int)vcpus,
                                                    "memory_mib", (json_int_t)memory));
    if (r < 0) {
        json_decref(list);
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    }
    *ret = list;
    return 0;
}

/* Calls a method returning a{sv} and converts the reply to JSON. */
static int call_dict(Client *c, const char *path, const char *interface, const char *method,
                     json_t **ret, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    int r;

    r = sd_bus_call_method(bus_of(c), HVD_BUS_NAME, path, interface, method, &be, &reply, NULL);
    if (r < 0)
        return error_from_bus(&be, r, e);
    r = read_dict(reply, ret);
    if (r < 0)
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    return 0;
}

static int bus_info(Client *c, const char *name, json_t **ret, Error *e)
{
    _cleanup_free_ char *path = NULL;
    size_t n;
    const SettingField *fields = domain_setting_fields(&n);
    int r;

    r = domain_path(c, name, &path, e);
    if (r < 0)
        return r;
    r = call_dict(c, path, HVD_BUS_DOMAIN_INTERFACE, "GetInfo", ret, e);
    if (r < 0)
        return r;
    /* a{sv} cannot carry null: unset settings come back absent. */
    for (size_t i = 0; i < n; i++)
        if (!json_object_get(*ret, fields[i].key))
            (void)json_object_set_new(*ret, fields[i].key, json_null());
    return 0;
}

static int bus_host(Client *c, json_t **ret, Error *e)
{
    return call_dict(c, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE, "GetHost", ret, e);
}

static int bus_events_log(Client *c, const char *since, const char *domain, const char *kind,
                          unsigned limit, json_t **ret, bool *ret_more, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
    const char *keys[] = {"since", "domain", "kind"}, *values[] = {since, domain, kind};
    size_t n_fields;
    const SettingField *fields = domain_setting_fields(&n_fields);
    json_t *events, *ev;
    int more, r;

    r = sd_bus_message_new_method_call(bus_of(c), &call, HVD_BUS_NAME, HVD_BUS_MANAGER_PATH,
                                       HVD_BUS_MANAGER_INTERFACE, "GetEvents");
    if (r >= 0)
        r = sd_bus_message_open_container(call, 'a', "{sv}");
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(keys); i++)
        if (values[i])
            r = sd_bus_message_append(call, "{sv}", keys[i], "s", values[i]);
    if (r >= 0)
        r = sd_bus_message_append(call, "{sv}", "limit", "u", limit);
    if (r >= 0)
        r = sd_bus_message_close_container(call);
    if (r < 0)
        return error_set_errno(e, r, "Failed to build the call: %m");
    r = sd_bus_call(bus_of(c), call, CALL_TIMEOUT_US, &be, &reply);
    if (r < 0)
        return error_from_bus(&be, r, e);
    r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
    if (r < 0)
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    events = json_array();
    while ((r = sd_bus_message_peek_type(reply, NULL, NULL)) > 0) {
        r = read_dict(reply, &ev);
        if (r < 0)
            break;
        /* a{sv} cannot carry null: a host event comes back without a domain, a creation
         * without its unset settings. */
        if (!json_object_get(ev, "domain"))
            (void)json_object_set_new(ev, "domain", json_null());
        if (streq(json_string_value(json_object_get(ev, "event")) ?: "", "created"))
            for (size_t i = 0; i < n_fields; i++)
                if (!json_object_get(ev, fields[i].key))
                    (void)json_object_set_new(ev, fields[i].key, json_null());
        (void)json_array_append_new(events, ev);
    }
    if (r >= 0)
        r = sd_bus_message_exit_container(reply);
    if (r >= 0)
        r = sd_bus_message_read(reply, "b", &more);
    if (r < 0) {
        json_decref(events);
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    }
    *ret = events;
    *ret_more = more;
    return 0;
}

/* Appends a JSON object of settings as a{sv} with each setting's declared type. */
static int append_settings(sd_bus_message *m, json_t *settings, Error *e)
{
    const char *key;
    json_t *v;
    int r;

    r = sd_bus_message_open_container(m, 'a', "{sv}");
    json_object_foreach (settings, key, v) {
        const SettingField *f = domain_setting_lookup(key);
        if (r < 0)
            break;
        if (!f)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "unknown setting '%s'", key);
        switch (f->type) {
        case SETTING_STRING:
            r = sd_bus_message_append(m, "{sv}", key, "s", json_string_value(v));
            break;
        case SETTING_UINT32:
            r = sd_bus_message_append(m, "{sv}", key, "u", (uint32_t)json_integer_value(v));
            break;
        case SETTING_UINT64:
            r = sd_bus_message_append(m, "{sv}", key, "t", (uint64_t)json_integer_value(v));
            break;
        case SETTING_BOOL:
            r = sd_bus_message_append(m, "{sv}", key, "b", json_is_true(v));
            break;
        }
    }
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    return r < 0 ? error_set_errno(e, r, "Failed to build the request: %m") : 0;
}

static int call_with_settings(Client *c, const char *path, const char *interface,
                              const char *method, json_t *settings, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
    int r;

    r = sd_bus_message_new_method_call(bus_of(c), &m, HVD_BUS_NAME, path, interface, method);
    if (r < 0)
        return error_set_errno(e, r, "Failed to build the request: %m");
    r = append_settings(m, settings, e);
    if (r < 0)
        return r;
    r = sd_bus_call(bus_of(c), m, CALL_TIMEOUT_US, &be, &reply);
    return r < 0 ? error_from_bus(&be, r, e) : 0;
}

static int bus_create(Client *c, json_t *settings, Error *e)
{
    return call_with_settings(c, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE, "CreateDomain",
                              settings, e);
}

static int bus_update(Client *c, const char *name, json_t *settings, Error *e)
{
    _cleanup_free_ char *path = NULL;
    int r = domain_path(c, name, &path, e);

    if (r < 0)
        return r;
    return call_with_settings(c, path, HVD_BUS_DOMAIN_INTERFACE, "Update", settings, e);
}

static int bus_delete(Client *c, const char *name, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    int r;

    r = sd_bus_call_method(bus_of(c), HVD_BUS_NAME, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                           "DeleteDomain", &be, NULL, "s", name);
    return r < 0 ? error_from_bus(&be, r, e) : 0;
}

static int bus_action(Client *c, const char *name, const char *action, unsigned timeout_s,
                      bool force, Error *e)
{
    static const struct {
        const char *action, *method;
    } methods[] = {
        {"start", "Start"}, {"shutdown", "Shutdown"}, {"destroy", "Destroy"},
        {"pause", "Pause"}, {"resume", "Resume"},     {"reboot", "RebootWithOptions"},
    };
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
    _cleanup_free_ char *path = NULL;
    const char *method = NULL;
    int r;

    for (size_t i = 0; i < ELEMENTSOF(methods); i++)
        if (streq(methods[i].action, action))
            method = methods[i].method;
    if (!method)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "unknown action '%s'", action);
    r = domain_path(c, name, &path, e);
    if (r < 0)
        return r;
    r = sd_bus_message_new_method_call(bus_of(c), &m, HVD_BUS_NAME, path, HVD_BUS_DOMAIN_INTERFACE,
                                       method);
    if (r >= 0 && streq(method, "Shutdown"))
        r = sd_bus_message_append(m, "u", timeout_s);
    if (r >= 0 && streq(method, "RebootWithOptions"))
        r = sd_bus_message_append(m, "ub", timeout_s, (int)force);
    if (r < 0)
        return error_set_errno(e, r, "Failed to build the request: %m");
    /* A reboot answers once the guest restarted, or once its timeout passed (and a reset). */
    r = sd_bus_call(bus_of(c), m,
                    streq(method, "RebootWithOptions")
                        ? (uint64_t)((timeout_s ?: HVD_REBOOT_TIMEOUT_DEFAULT_S) + 30) *
                              USEC_PER_SEC
                        : CALL_TIMEOUT_US,
                    &be, &reply);
    return r < 0 ? error_from_bus(&be, r, e) : 0;
}

static int bus_console_tail(Client *c, const char *name, const char *device, size_t max_bytes,
                            char **ret, size_t *ret_len, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    _cleanup_free_ char *path = NULL;
    const void *data;
    size_t len;
    int r;

    r = domain_path(c, name, &path, e);
    if (r < 0)
        return r;
    r = sd_bus_call_method(bus_of(c), HVD_BUS_NAME, path, HVD_BUS_DOMAIN_INTERFACE,
                           "GetConsoleDevice", &be, &reply, "su", device, (uint32_t)max_bytes);
    if (r < 0)
        return error_from_bus(&be, r, e);
    r = sd_bus_message_read_array(reply, 'y', &data, &len);
    if (r < 0)
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    *ret = malloc(len + 1);
    if (!*ret)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    memcpy(*ret, data, len);
    (*ret)[len] = 0;
    *ret_len = len;
    return 0;
}

static int bus_console_attach(Client *c, const char *name, const char *device, int in_fd,
                              int out_fd, char escape, void (*connected)(void *userdata),
                              void *userdata, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int fd = -EBADF;
    int received, r;

    r = domain_path(c, name, &path, e);
    if (r < 0)
        return r;
    r = sd_bus_call_method(bus_of(c), HVD_BUS_NAME, path, HVD_BUS_DOMAIN_INTERFACE,
                           "OpenConsoleDevice", &be, &reply, "s", device);
    if (r < 0)
        return error_from_bus(&be, r, e);
    r = sd_bus_message_read(reply, "h", &received);
    if (r < 0)
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    fd = fcntl(received, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return error_set_errno(e, -errno, "Failed to take the console: %m");
    connected(userdata);
    return console_relay(fd, in_fd, out_fd, escape, e);
}

typedef struct FollowState {
    ClientEventHandler handler;
    void *userdata;
    int stop;
} FollowState;

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    FollowState *s = userdata;
    const char *member = sd_bus_message_get_member(m), *name, *path, *state = NULL, *reason = NULL;
    json_t *ev;
    int r;

    if (streq(member, "DomainStateChanged"))
        r = sd_bus_message_read(m, "soss", &name, &path, &state, &reason);
    else if (streq(member, "DomainNew") || streq(member, "DomainRemoved"))
        r = sd_bus_message_read(m, "so", &name, &path);
    else
        return 0;
    if (r < 0)
        return 0;
    ev = json_pack("{s:s, s:s, s:I}", "event",
                   streq(member, "DomainNew")       ? "created"
                   : streq(member, "DomainRemoved") ? "deleted"
                                                    : "state-changed",
                   "domain", name, "time_us", (json_int_t)now_usec(CLOCK_REALTIME));
    if (state) {
        (void)json_object_set_new(ev, "state", json_string(state));
        (void)json_object_set_new(ev, "reason", json_string(reason));
    }
    s->stop = s->handler(ev, s->userdata);
    json_decref(ev);
    return 0;
}

static int bus_follow(Client *c, ClientEventHandler handler, void *userdata, uint64_t timeout_us,
                      Error *e)
{
    _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
    FollowState s = {.handler = handler, .userdata = userdata};
    uint64_t deadline = timeout_us ? now_usec(CLOCK_MONOTONIC) + timeout_us : 0;
    sd_bus *bus = bus_of(c);
    int r;

    r = sd_bus_match_signal(bus, &slot, HVD_BUS_NAME, HVD_BUS_MANAGER_PATH,
                            HVD_BUS_MANAGER_INTERFACE, NULL, on_signal, &s);
    if (r < 0)
        return error_set_errno(e, r, "Failed to subscribe to hvd's signals: %m");
    /* The caller may look at the current state now: nothing after this point is missed. */
    r = handler(NULL, userdata);
    if (r != 0)
        return 0;
    while (!s.stop) {
        uint64_t wait = UINT64_MAX;
        r = sd_bus_process(bus, NULL);
        if (r < 0)
            return r == -ECONNRESET || r == -ENOTCONN
                       ? error_set_errno(e, -ECONNREFUSED, "lost the connection to the bus")
                       : error_set_errno(e, r, "Failed to process bus messages: %m");
        if (r > 0)
            continue;
        if (deadline) {
            uint64_t now = now_usec(CLOCK_MONOTONIC);
            if (now >= deadline)
                return 0;
            wait = deadline - now;
        }
        r = sd_bus_wait(bus, wait);
        if (r == -EINTR)
            return 0;
        if (r < 0)
            return error_set_errno(e, r, "Failed to wait for bus messages: %m");
    }
    return 0;
}

static void bus_free(Client *c)
{
    BusClient *b = c->data;

    sd_bus_flush_close_unref(b->bus);
    free(b);
    free(c);
}

static int bus_network_list(Client *c, json_t **ret, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    const char *name, *subnet, *bridge, *path;
    int nat, dhcp, r;
    json_t *list;

    r = sd_bus_call_method(bus_of(c), HVD_BUS_NAME, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                           "ListNetworks", &be, &reply, NULL);
    if (r < 0)
        return error_from_bus(&be, r, e);
    r = sd_bus_message_enter_container(reply, 'a', "(sssbbo)");
    if (r < 0)
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    list = json_array();
    while ((r = sd_bus_message_read(reply, "(sssbbo)", &name, &subnet, &bridge, &nat, &dhcp,
                                    &path)) > 0)
        (void)json_array_append_new(list,
                                    json_pack("{s:s, s:s, s:s, s:b, s:b}", "name", name, "subnet",
                                              subnet, "bridge", bridge, "nat", nat, "dhcp", dhcp));
    if (r < 0) {
        json_decref(list);
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    }
    *ret = list;
    return 0;
}

static int bus_network_info(Client *c, const char *name, json_t **ret, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    const char *path;
    int r;

    r = sd_bus_call_method(bus_of(c), HVD_BUS_NAME, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                           "GetNetwork", &be, &reply, "s", name);
    if (r < 0)
        return error_from_bus(&be, r, e);
    r = sd_bus_message_read(reply, "o", &path);
    if (r < 0)
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    return call_dict(c, path, HVD_BUS_NETWORK_INTERFACE, "GetInfo", ret, e);
}

static int bus_network_create(Client *c, json_t *settings, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    int r;

    r = sd_bus_call_method(bus_of(c), HVD_BUS_NAME, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                           "CreateNetwork", &be, NULL, "ssbb",
                           json_string_value(json_object_get(settings, "name")),
                           json_string_value(json_object_get(settings, "subnet")),
                           json_is_true(json_object_get(settings, "nat")),
                           json_is_true(json_object_get(settings, "dhcp")));
    return r < 0 ? error_from_bus(&be, r, e) : 0;
}

static int bus_network_delete(Client *c, const char *name, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    int r;

    r = sd_bus_call_method(bus_of(c), HVD_BUS_NAME, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                           "DeleteNetwork", &be, NULL, "s", name);
    return r < 0 ? error_from_bus(&be, r, e) : 0;
}

/* The snapshots in reply (aa{sv}) as a new array. */
static int read_dict_array(sd_bus_message *reply, json_t **ret, Error *e)
{
    json_t *list = json_array();
    int r;

    r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
    while (r >= 0) {
        json_t *item = NULL;
        r = sd_bus_message_at_end(reply, false);
        if (r != 0)
            break;
        r = read_dict(reply, &item);
        if (r >= 0)
            r = json_array_append_new(list, item);
    }
    if (r >= 0)
        r = sd_bus_message_exit_container(reply);
    if (r < 0) {
        json_decref(list);
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    }
    *ret = list;
    return 0;
}

/* The clones' names in reply (as) as a new array. */
static int read_names(sd_bus_message *reply, json_t **ret, Error *e)
{
    json_t *list = json_array();
    const char *name;
    int r;

    r = sd_bus_message_enter_container(reply, 'a', "s");
    while (r >= 0 && (r = sd_bus_message_read(reply, "s", &name)) > 0)
        (void)json_array_append_new(list, json_string(name));
    if (r >= 0)
        r = sd_bus_message_exit_container(reply);
    if (r < 0) {
        json_decref(list);
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    }
    *ret = list;
    return 0;
}

/* Saved state through org.hvd1.Domain's Save, StartFresh, *Snapshot* and Clone methods. */
static int bus_saved_state(Client *c, const char *name, const char *op, json_t *args, json_t **ret,
                           Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
    _cleanup_free_ char *path = NULL;
    const char *snapshot = json_string_value(json_object_get(args, "snapshot"));
    static const struct {
        const char *op, *method;
    } methods[] = {
        {"save", "Save"},
        {"start-fresh", "StartFresh"},
        {"snapshot-create", "CreateSnapshot"},
        {"snapshot-list", "ListSnapshots"},
        {"snapshot-revert", "RevertToSnapshot"},
        {"snapshot-delete", "DeleteSnapshot"},
        {"clone", "Clone"},
        {"migrate", "Migrate"},
        {"migrate-cancel", "MigrateCancel"},
    };
    const char *method = NULL;
    int r;

    for (size_t i = 0; i < ELEMENTSOF(methods); i++)
        if (streq(methods[i].op, op))
            method = methods[i].method;
    if (!method)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "unknown operation '%s'", op);
    r = domain_path(c, name, &path, e);
    if (r < 0)
        return r;
    r = sd_bus_message_new_method_call(bus_of(c), &m, HVD_BUS_NAME, path, HVD_BUS_DOMAIN_INTERFACE,
                                       method);
    if (r >= 0 && strstr(op, "snapshot-") && !streq(op, "snapshot-list"))
        r = sd_bus_message_append(m, "s", strempty(snapshot));
    if (r >= 0 && streq(op, "clone"))
        r = sd_bus_message_append(
            m, "ssu", strempty(json_string_value(json_object_get(args, "name"))),
            strempty(snapshot), (uint32_t)json_integer_value(json_object_get(args, "count")));
    if (r >= 0 && streq(op, "migrate"))
        r = sd_bus_message_append(
            m, "ssuuu", strempty(json_string_value(json_object_get(args, "to"))),
            strempty(json_string_value(json_object_get(args, "token"))),
            (uint32_t)json_integer_value(json_object_get(args, "downtime_ms")),
            (uint32_t)json_integer_value(json_object_get(args, "timeout_s")),
            (uint32_t)json_integer_value(json_object_get(args, "bandwidth_mib_s")));
    if (r < 0)
        return error_set_errno(e, r, "Failed to build the request: %m");
    /* A migration answers when it ends: its pre-copy limit (default 60 s) and then some. */
    r = sd_bus_call(
        bus_of(c), m,
        streq(op, "migrate")
            ? ((uint64_t)(json_integer_value(json_object_get(args, "timeout_s")) ?: 60) +
               HVD_CALL_TIMEOUT_S) *
                  USEC_PER_SEC
            : CALL_TIMEOUT_US,
        &be, &reply);
    if (r < 0)
        return error_from_bus(&be, r, e);
    if (ret && streq(op, "snapshot-list"))
        return read_dict_array(reply, ret, e);
    if (ret && streq(op, "clone"))
        return read_names(reply, ret, e);
    if (ret)
        *ret = NULL;
    return 0;
}

/* A Manager method answering aa{sv}, as a new JSON array. */
static int call_dict_array(Client *c, const char *method, json_t **ret, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    int r;

    r = sd_bus_call_method(bus_of(c), HVD_BUS_NAME, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                           method, &be, &reply, NULL);
    if (r < 0)
        return error_from_bus(&be, r, e);
    return read_dict_array(reply, ret, e);
}

/* a{sv} cannot carry null: a cluster domain not placed yet comes back without its host. */
static void cluster_entry_nulls(json_t *entry)
{
    static const char *const keys[] = {"host", "pinned_host"};

    for (size_t i = 0; i < ELEMENTSOF(keys); i++)
        if (!json_object_get(entry, keys[i]))
            (void)json_object_set_new(entry, keys[i], json_null());
}

static int bus_cluster_hosts(Client *c, json_t **ret, Error *e)
{
    json_t *h;
    size_t i;
    int r = call_dict_array(c, "ClusterListHosts", ret, e);

    json_array_foreach (r < 0 ? NULL : *ret, i, h)
        if (!json_object_get(h, "advertise"))
            (void)json_object_set_new(h, "advertise", json_null());
    return r;
}

static int bus_cluster_domains(Client *c, json_t **ret, Error *e)
{
    json_t *d;
    size_t i;
    int r = call_dict_array(c, "ClusterListDomains", ret, e);

    json_array_foreach (r < 0 ? NULL : *ret, i, d)
        cluster_entry_nulls(d);
    return r;
}

static int bus_cluster_create(Client *c, json_t *settings, json_t **ret, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
    json_t *local = json_deep_copy(settings);
    bool ha = json_is_true(json_object_get(settings, "ha"));
    const char *host = json_string_value(json_object_get(settings, "host"));
    const char *ha_from = json_string_value(json_object_get(settings, "ha_from"));
    int r;

    if (!local)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if (ha_from && !ha)
        return json_decref(local),
               error_setf(e, ERROR_INVALID_ARGUMENT, "--ha-from is for HA domains (--ha)");
    (void)json_object_del(local, "ha");
    (void)json_object_del(local, "host");
    (void)json_object_del(local, "ha_from");
    r = sd_bus_message_new_method_call(bus_of(c), &m, HVD_BUS_NAME, HVD_BUS_MANAGER_PATH,
                                       HVD_BUS_MANAGER_INTERFACE,
                                       ha_from ? "ClusterCreateHADomain" : "ClusterCreateDomain");
    if (r < 0) {
        json_decref(local);
        return error_set_errno(e, r, "Failed to build the request: %m");
    }
    r = append_settings(m, local, e);
    json_decref(local);
    if (r < 0)
        return r;
    r = ha_from ? sd_bus_message_append(m, "ss", strempty(host), ha_from)
                : sd_bus_message_append(m, "bs", ha, strempty(host));
    if (r < 0)
        return error_set_errno(e, r, "Failed to build the request: %m");
    r = sd_bus_call(bus_of(c), m, CALL_TIMEOUT_US, &be, &reply);
    if (r < 0)
        return error_from_bus(&be, r, e);
    r = read_dict(reply, ret);
    if (r < 0)
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    cluster_entry_nulls(*ret);
    return 0;
}

static int bus_cluster_delete(Client *c, const char *name, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    int r;

    r = sd_bus_call_method(bus_of(c), HVD_BUS_NAME, HVD_BUS_MANAGER_PATH, HVD_BUS_MANAGER_INTERFACE,
                           "ClusterDeleteDomain", &be, NULL, "s", name);
    return r < 0 ? error_from_bus(&be, r, e) : 0;
}

static int bus_cluster_drain(Client *c, const char *host, bool drain, json_t **ret, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
    int r;

    r = sd_bus_message_new_method_call(bus_of(c), &m, HVD_BUS_NAME, HVD_BUS_MANAGER_PATH,
                                       HVD_BUS_MANAGER_INTERFACE, "ClusterDrainHost");
    if (r >= 0)
        r = sd_bus_message_append(m, "sb", host, drain);
    if (r < 0)
        return error_set_errno(e, r, "Failed to build the request: %m");
    r = sd_bus_call(bus_of(c), m, CALL_TIMEOUT_US, &be, &reply);
    if (r < 0)
        return error_from_bus(&be, r, e);
    r = read_dict(reply, ret);
    return r < 0 ? error_set_errno(e, r, "Bad reply from hvd: %m") : 0;
}

static int bus_cluster_move(Client *c, const char *name, const char *host, json_t **ret, Error *e)
{
    _cleanup_(sd_bus_error_free) sd_bus_error be = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
    int r;

    r = sd_bus_message_new_method_call(bus_of(c), &m, HVD_BUS_NAME, HVD_BUS_MANAGER_PATH,
                                       HVD_BUS_MANAGER_INTERFACE, "ClusterMoveDomain");
    if (r >= 0)
        r = sd_bus_message_append(m, "ss", name, host);
    if (r < 0)
        return error_set_errno(e, r, "Failed to build the request: %m");
    r = sd_bus_call(bus_of(c), m, CALL_TIMEOUT_US, &be, &reply);
    if (r < 0)
        return error_from_bus(&be, r, e);
    r = read_dict(reply, ret);
    if (r < 0)
        return error_set_errno(e, r, "Bad reply from hvd: %m");
    cluster_entry_nulls(*ret);
    return 0;
}

static const ClientOps bus_client_ops = {
    .free = bus_free,
    .list = bus_list,
    .info = bus_info,
    .create = bus_create,
    .update = bus_update,
    .delete = bus_delete,
    .action = bus_action,
    .host = bus_host,
    .events_log = bus_events_log,
    .console_tail = bus_console_tail,
    .console_attach = bus_console_attach,
    .follow = bus_follow,
    .network_list = bus_network_list,
    .network_info = bus_network_info,
    .network_create = bus_network_create,
    .network_delete = bus_network_delete,
    .saved_state = bus_saved_state,
    .cluster_hosts = bus_cluster_hosts,
    .cluster_domains = bus_cluster_domains,
    .cluster_create = bus_cluster_create,
    .cluster_delete = bus_cluster_delete,
    .cluster_drain = bus_cluster_drain,
    .cluster_move = bus_cluster_move,
};

int client_bus_new(const char *address, Client **ret, Error *e)
{
    BusClient *b;
    Client *c;
    int r;

    b = calloc(1, sizeof(*b));
    c = calloc(1, sizeof(*c));
    if (!b || !c) {
        free(b);
        free(c);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    r = bus_open_at(address, &b->bus);
    if (r < 0) {
        free(b);
        free(c);
        return error_set_errno(e, -ECONNREFUSED, "cannot connect to the %s bus%s%s: %s",
                               address ? "given" : "system", address ? " at " : "",
                               strempty(address), strerror(-r));
    }
    c->ops = &bus_client_ops;
    c->data = b;
    *ret = c;
    return 0;
}
