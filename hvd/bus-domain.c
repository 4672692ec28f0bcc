/* org.hvd1.Domain at /org/hvd1/domain/<escaped name>: lifecycle methods and properties, served
 * by a fallback vtable with an object finder and a node enumerator. */
#include <math.h>
#include <string.h>

#include "bus.h"

int bus_domain_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                    void **found, sd_bus_error *error)
{
    Bus *b = userdata;
    _cleanup_free_ char *name = NULL;
    Domain *d;

    if (sd_bus_path_decode(path, HVD_BUS_DOMAIN_PREFIX, &name) <= 0)
        return 0;
    d = manager_find(b->manager, name);
    if (!d)
        return 0;
    *found = d;
    return 1;
}

int bus_domain_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                         sd_bus_error *error)
{
    Bus *b = userdata;
    Manager *m = b->manager;
    char **list;

    list = calloc(m->n_domains + 1, sizeof(char *));
    if (!list)
        return -ENOMEM;
    for (size_t i = 0; i < m->n_domains; i++) {
        const char *p = bus_domain_path(m->domains[i]);
        list[i] = p ? strdup(p) : NULL;
        if (!list[i]) {
            for (size_t j = 0; j < i; j++)
                free(list[j]);
            free(list);
            return -ENOMEM;
        }
    }
    *nodes = list;
    return 1;
}

/* The Bus behind a domain method call: the fallback vtable was registered with it as userdata,
 * while the method itself receives the Domain the finder returned. */
static Bus *bus_of(sd_bus_message *m)
{
    return sd_bus_slot_get_userdata(sd_bus_get_current_slot(sd_bus_message_get_bus(m)));
}

static void action_done(void *userdata, Domain *d, const Error *e)
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

static int run_action_full(sd_bus_message *m, Domain *d, DomainAction action, unsigned timeout_s,
                           bool force, const char *what, sd_bus_error *error)
{
    Error e = ERROR_NULL;
    int r;

    r = bus_verify_manage(bus_of(m), m, HVD_POLKIT_MANAGE_DOMAINS, what, error);
    if (r <= 0)
        return r < 0 ? r : 1;      /* refused, or called again with the verdict */
    bus_name_caller(bus_of(m), m); /* before the call: it may emit signals, which moves the slot */
    if (action == ACTION_REBOOT)
        r = manager_domain_reboot(d->manager, d, timeout_s, force, action_done,
                                  sd_bus_message_ref(m), &e);
    else
        r = manager_domain_action(d->manager, d, action, timeout_s, action_done,
                                  sd_bus_message_ref(m), &e);
    manager_set_caller(d->manager, NULL);
    if (r < 0) {
        sd_bus_message_unref(m);
        return bus_error_from(error, &e);
    }
    if (r == 0) {
        sd_bus_message_unref(m);
        return sd_bus_reply_method_return(m, NULL);
    }
    return 1; /* replied by action_done */
}

static int run_action(sd_bus_message *m, Domain *d, DomainAction action, unsigned timeout_s,
                      const char *what, sd_bus_error *error)
{
    return run_action_full(m, d, action, timeout_s, false, what, error);
}

static int method_start(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return run_action(m, userdata, ACTION_START, 0, "start domains", error);
}

static int method_shutdown(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    uint32_t timeout_s;
    int r;

    r = sd_bus_message_read(m, "u", &timeout_s);
    if (r < 0)
        return r;
    if (timeout_s > HVD_SHUTDOWN_TIMEOUT_MAX_S)
        return sd_bus_error_setf(error, HVD_BUS_ERROR_PREFIX "InvalidArgument",
                                 "'timeout_s' must be 0..%u seconds (0: the default), got %u",
                                 HVD_SHUTDOWN_TIMEOUT_MAX_S, timeout_s);
    return run_action(m, userdata, ACTION_SHUTDOWN, timeout_s, "shut down domains", error);
}

static int method_destroy(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return run_action(m, userdata, ACTION_DESTROY, 0, "destroy domains", error);
}

static int method_pause(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return run_action(m, userdata, ACTION_PAUSE, 0, "pause domains", error);
}

static int method_resume(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return run_action(m, userdata, ACTION_RESUME, 0, "resume domains", error);
}

static int method_reboot(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return run_action(m, userdata, ACTION_REBOOT, 0, "reboot domains", error);
}

/* Reboot with a bound on the wait for the guest's restart, and a reset after it with force. */
static int method_reboot_with_options(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    uint32_t timeout_s;
    int force, r;

    r = sd_bus_message_read(m, "ub", &timeout_s, &force);
    if (r < 0)
        return r;
    if (timeout_s > HVD_SHUTDOWN_TIMEOUT_MAX_S)
        return sd_bus_error_setf(error, HVD_BUS_ERROR_PREFIX "InvalidArgument",
                                 "'timeout_s' must be 0..%u seconds (0: the default), got %u",
                                 HVD_SHUTDOWN_TIMEOUT_MAX_S, timeout_s);
    return run_action_full(m, userdata, ACTION_REBOOT, timeout_s, force, "reboot domains", error);
}

static int method_update(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Domain *d = userdata;
    Error e = ERROR_NULL;
    json_t *settings = NULL;
    int r;

    r = bus_verify_manage(bus_of(m), m, HVD_POLKIT_MANAGE_DOMAINS, "change domains", error);
    if (r <= 0)
        return r < 0 ? r : 1; /* refused, or called again with the verdict */
    r = bus_read_settings(m, &settings, &e);
    if (r < 0)
        return bus_error_from(error, &e);
    bus_name_caller(bus_of(m), m);
    r = manager_domain_update(d->manager, d, settings, &e);
    manager_set_caller(d->manager, NULL);
    json_decref(settings);
    if (r < 0)
        return bus_error_from(error, &e);
    return sd_bus_reply_method_return(m, NULL);
}

static int method_delete(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Domain *d = userdata;
    Error e = ERROR_NULL;
    int r;

    r = bus_verify_manage(bus_of(m), m, HVD_POLKIT_MANAGE_DOMAINS, "delete domains", error);
    if (r <= 0)
        return r < 0 ? r : 1;      /* refused, or called again with the verdict */
    Manager *manager = d->manager; /* d is freed by its deletion */

    bus_name_caller(bus_of(m), m);
    r = manager_domain_delete(manager, d, &e);
    manager_set_caller(manager, NULL);
    if (r < 0)
        return bus_error_from(error, &e);
    return sd_bus_reply_method_return(m, NULL);
}

/* The device named by a method's argument, or a D-Bus error. */
static int read_device(sd_bus_message *m, ConsoleDevice *ret, sd_bus_error *error)
{
    const char *name;
    int r;

    r = sd_bus_message_read(m, "s", &name);
    if (r < 0)
        return r;
    *ret = console_device_from_string(name);
    if (*ret < 0)
        return sd_bus_error_setf(error, HVD_BUS_ERROR_PREFIX "InvalidArgument",
                                 "'device' must be ttyS0 or hvc0, got '%.64s'", name);
    return 0;
}

static int open_console(sd_bus_message *m, Domain *d, ConsoleDevice device, sd_bus_error *error)
{
    Error e = ERROR_NULL;
    int fd = -EBADF, r;

    r = bus_verify_manage(bus_of(m), m, HVD_POLKIT_MANAGE_DOMAINS, "attach to consoles", error);
    if (r <= 0)
        return r < 0 ? r : 1; /* refused, or called again with the verdict */
    r = manager_domain_console(d->manager, d, device, &fd, &e);
    if (r < 0)
        return bus_error_from(error, &e);
    r = sd_bus_reply_method_return(m, "h", fd);
    (void)close(fd);
    return r;
}

static int method_open_console(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return open_console(m, userdata, CONSOLE_SERIAL, error);
}

static int method_open_console_device(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    ConsoleDevice device;
    int r = read_device(m, &device, error);

    return r < 0 ? r : open_console(m, userdata, device, error);
}

static int bus_reply_bytes(sd_bus_message *m, const void *data, size_t len)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    int r;

    r = sd_bus_message_new_method_return(m, &reply);
    if (r >= 0)
        r = sd_bus_message_append_array(reply, 'y', data, len);
    if (r < 0)
        return r;
    return sd_bus_send(NULL, reply, NULL);
}

static int get_console(sd_bus_message *m, Domain *d, ConsoleDevice device, sd_bus_error *error)
{
    _cleanup_free_ char *text = NULL;
    Error e = ERROR_NULL;
    uint32_t max_bytes;
    size_t len;
    int r;

    r = sd_bus_message_read(m, "u", &max_bytes);
    if (r < 0)
        return r;
    if (max_bytes < 1 || max_bytes > HVD_CONSOLE_TAIL_MAX)
        return sd_bus_error_setf(error, HVD_BUS_ERROR_PREFIX "InvalidArgument",
                                 "'max_bytes' must be 1..%u, got %u", HVD_CONSOLE_TAIL_MAX,
                                 max_bytes);
    r = manager_domain_console_tail(d->manager, d, device, max_bytes, &text, &len, &e);
    if (r < 0)
        return bus_error_from(error, &e);
    /* The bytes as the guest wrote them (an array, not a string: D-Bus strings are UTF-8), the
     * same as HTTP's raw body. */
    return bus_reply_bytes(m, text, len);
}

static int method_get_console(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return get_console(m, userdata, CONSOLE_SERIAL, error);
}

static int method_get_console_device(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    ConsoleDevice device;
    int r = read_device(m, &device, error);

    return r < 0 ? r : get_console(m, userdata, device, error);
}

static void info_done(void *userdata, Domain *d, json_t *info)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = userdata, *reply = NULL;
    int r;

    if (!info) {
        (void)sd_bus_reply_method_errorf(m, HVD_BUS_ERROR_PREFIX "NoSuchDomain",
                                         "the domain went away, or hvd is stopping");
        return;
    }
    r = sd_bus_message_new_method_return(m, &reply);
    if (r >= 0)
        r = bus_append_json_dict(reply, info);
    if (r >= 0)
        (void)sd_bus_send(NULL, reply, NULL);
    else
        (void)sd_bus_reply_method_errno(m, r, NULL);
}

/* Answered after the driver refreshed the domain's numbers (it bounds that wait itself), so
 * the loop never waits and the caller gets fresh statistics where the backend answers. */
static int method_get_info(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Domain *d = userdata;
    Error e = ERROR_NULL;
    int r;

    r = manager_domain_info_fresh(d->manager, d, info_done, sd_bus_message_ref(m), &e);
    if (r < 0) {
        sd_bus_message_unref(m);
        return bus_error_from(error, &e);
    }
    return 1;
}

/* Appends the array of JSON numbers a as D-Bus type (t or d); a null is NaN (d only). */
static int append_numbers(sd_bus_message *reply, char type, json_t *a)
{
    size_t n = json_array_size(a), i;
    _cleanup_free_ void *buf = malloc(MAX(n, (size_t)1) * 8);
    json_t *v;

    if (!buf)
        return -ENOMEM;
    json_array_foreach (a, i, v)
        if (type == 't')
            ((uint64_t *)buf)[i] = (uint64_t)json_integer_value(v);
        else
            ((double *)buf)[i] = json_is_number(v) ? json_number_value(v) : NAN;
    return sd_bus_message_append_array(reply, type, buf, n * 8);
}

/* GetHistory(s range) -> a{sv}: range (s), step_s (u), time (at, seconds since the epoch) and
 * one ad per metric, NaN where nothing was recorded. */
static int method_get_history(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    Domain *d = userdata;
    const char *name;
    HistoryRange range;
    json_t *h;
    int r;

    r = sd_bus_message_read(m, "s", &name);
    if (r < 0)
        return r;
    range = history_range_from_string(name);
    if (range < 0)
        return sd_bus_error_setf(error, HVD_BUS_ERROR_PREFIX "InvalidArgument",
                                 "'range' must be hour, day or month; got '%s'", name);
    h = manager_domain_history(d->manager, d, range);
    if (!h)
        return -ENOMEM;
    r = sd_bus_message_new_method_return(m, &reply);
    if (r >= 0)
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
    if (r >= 0)
        r = sd_bus_message_append(reply, "{sv}{sv}", "range", "s", name, "step_s", "u",
                                  (uint32_t)json_integer_value(json_object_get(h, "step_s")));
    for (int i = -1; r >= 0 && i < _HISTORY_METRIC_MAX; i++) {
        const char *key = i < 0 ? "time" : history_metric_to_string(i);
        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
            r = sd_bus_message_append(reply, "s", key);
        if (r >= 0)
            r = sd_bus_message_open_container(reply, 'v', i < 0 ? "at" : "ad");
        if (r >= 0)
            r = append_numbers(reply, i < 0 ? 't' : 'd', json_object_get(h, key));
        if (r >= 0)
            r = sd_bus_message_close_container(reply);
        if (r >= 0)
            r = sd_bus_message_close_container(reply);
    }
    json_decref(h);
    if (r >= 0)
        r = sd_bus_message_close_container(reply);
    if (r < 0)
        return r;
    return sd_bus_send(NULL, reply, NULL);
}

#define STRING_GETTER(fn, expr)                                                               \
    static int fn(sd_bus *bus, const char *path, const char *interface, const char *property, \
                  sd_bus_message *reply, void *userdata, sd_bus_error *error)                 \
    {                                                                                         \
        Domain *d = userdata;                                                                 \
        return sd_bus_message_append(reply, "s", strempty(expr));                             \
    }

STRING_GETTER(property_get_name, d->config.name)
STRING_GETTER(property_get_uuid, d->config.uuid)
STRING_GETTER(property_get_driver, driver_kind_to_string(d->config.driver))
STRING_GETTER(property_get_mode, domain_mode_to_string(d->config.mode))
STRING_GETTER(property_get_kernel, d->config.kernel)
STRING_GETTER(property_get_initrd, d->config.initrd)
STRING_GETTER(property_get_disk, d->config.disk)
STRING_GETTER(property_get_cmdline, d->config.cmdline)
STRING_GETTER(property_get_cpuset, d->config.cpuset)
STRING_GETTER(property_get_network, d->config.network)
STRING_GETTER(property_get_on_crash, on_crash_to_string(d->config.on_crash))
STRING_GETTER(property_get_state, domain_state_to_string(d->state))
STRING_GETTER(property_get_reason, domain_reason_to_string(d->reason))

static int property_get_autostart(sd_bus *bus, const char *path, const char *interface,
                                  const char *property, sd_bus_message *reply, void *userdata,
                                  sd_bus_error *error)
{
    Domain *d = userdata;
    return sd_bus_message_append(reply, "b", d->config.autostart);
}

static int property_get_pid(sd_bus *bus, const char *path, const char *interface,
                            const char *property, sd_bus_message *reply, void *userdata,
                            sd_bus_error *error)
{
    Domain *d = userdata;
    return sd_bus_message_append(reply, "u", (uint32_t)MAX(d->runtime.pid, 0));
}

static int property_get_started(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error)
{
    Domain *d = userdata;
    return sd_bus_message_append(reply, "t", d->runtime.started_us);
}

#define CHANGE SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST  SD_BUS_VTABLE_PROPERTY_CONST

const sd_bus_vtable bus_domain_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Name", "s", property_get_name, 0, CONST),
    SD_BUS_PROPERTY("UUID", "s", property_get_uuid, 0, CONST),
    SD_BUS_PROPERTY("Driver", "s", property_get_driver, 0, CONST),
    SD_BUS_PROPERTY("Mode", "s", property_get_mode, 0, CHANGE),
    SD_BUS_PROPERTY("VCPUs", "u", NULL, offsetof(Domain, config.vcpus), CHANGE),
    SD_BUS_PROPERTY("MemoryMiB", "t", NULL, offsetof(Domain, config.memory_mib), CHANGE),
    SD_BUS_PROPERTY("Kernel", "s", property_get_kernel, 0, CHANGE),
    SD_BUS_PROPERTY("Initrd", "s", property_get_initrd, 0, CHANGE),
    SD_BUS_PROPERTY("Disk", "s", property_get_disk, 0, CHANGE),
    SD_BUS_PROPERTY("Cmdline", "s", property_get_cmdline, 0, CHANGE),
    SD_BUS_PROPERTY("CPUSet", "s", property_get_cpuset, 0, CHANGE),
    SD_BUS_PROPERTY("Network", "s", property_get_network, 0, CHANGE),
    SD_BUS_PROPERTY("Autostart", "b", property_get_autostart, 0, CHANGE),
    SD_BUS_PROPERTY("OnCrash", "s", property_get_on_crash, 0, CHANGE),
    SD_BUS_PROPERTY("CPUWeight", "u", NULL, offsetof(Domain, config.cpu_weight), CHANGE),
    SD_BUS_PROPERTY("CPUCap", "u", NULL, offsetof(Domain, config.cpu_cap), CHANGE),
    SD_BUS_PROPERTY("MemoryLimitMiB", "t", NULL, offsetof(Domain, config.memory_limit), CHANGE),
    SD_BUS_PROPERTY("State", "s", property_get_state, 0, CHANGE),
    SD_BUS_PROPERTY("StateReason", "s", property_get_reason, 0, CHANGE),
    SD_BUS_PROPERTY("PID", "u", property_get_pid, 0, CHANGE),
    SD_BUS_PROPERTY("CreatedUSec", "t", NULL, offsetof(Domain, created_us), CONST),
    SD_BUS_PROPERTY("StateChangedUSec", "t", NULL, offsetof(Domain, state_changed_us), CHANGE),
    SD_BUS_PROPERTY("StartedUSec", "t", property_get_started, 0, CHANGE),
    SD_BUS_METHOD_WITH_ARGS("Start", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_start,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Shutdown", SD_BUS_ARGS("u", timeout_s), SD_BUS_NO_RESULT,
                            method_shutdown, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Destroy", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_destroy,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Pause", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_pause,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Resume", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_resume,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Reboot", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reboot,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("RebootWithOptions", SD_BUS_ARGS("u", timeout_s, "b", force),
                            SD_BUS_NO_RESULT, method_reboot_with_options,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Update", SD_BUS_ARGS("a{sv}", settings), SD_BUS_NO_RESULT,
                            method_update, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Delete", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_delete,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetInfo", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", info),
                            method_get_info, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetHistory", SD_BUS_ARGS("s", range), SD_BUS_RESULT("a{sv}", history),
                            method_get_history, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("OpenConsole", SD_BUS_NO_ARGS, SD_BUS_RESULT("h", console),
                            method_open_console, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetConsole", SD_BUS_ARGS("u", max_bytes), SD_BUS_RESULT("ay", data),
                            method_get_console, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("OpenConsoleDevice", SD_BUS_ARGS("s", device),
                            SD_BUS_RESULT("h", console), method_open_console_device,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetConsoleDevice", SD_BUS_ARGS("s", device, "u", max_bytes),
                            SD_BUS_RESULT("ay", data), method_get_console_device,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};
