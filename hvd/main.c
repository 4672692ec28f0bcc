/* hvd: the daemon's entry point — options, configuration, signals, and the event loop. */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "build-config.h"
#include "bus.h"
#include "cluster.h"
#include "config.h"
#include "drivers.h"
#include "http.h"
#include "log.h"
#include "manager.h"
#include "tls-config.h"

typedef struct Options {
    const char *config_path;
    bool config_explicit;
    const char *state_dir;
    const char *runtime_dir;
    char **sets; /* "SECTION.KEY=VALUE" from --set, in order */
    size_t n_sets;
    const char *bus_address;
    const char *http_listen;
    bool check_config;
} Options;

typedef struct Daemon {
    Options options;
    HvdConfig config;
    const DriverOps *drivers[_DRIVER_KIND_MAX];
    sd_event *event;
    Manager *manager;
    Bus *bus;
    Http *http;
    ClusterConfig cluster_config; /* [cluster]; etcd is NULL without it */
    Cluster *cluster;
    int lock_fd;
} Daemon;

static void options_done(Options *o)
{
    for (size_t i = 0; i < o->n_sets; i++)
        free(o->sets[i]);
    free(o->sets);
    o->sets = NULL;
    o->n_sets = 0;
}

static void help(void)
{
    printf("Usage: hvd [OPTIONS]\n"
           "\n"
           "The hvd control plane daemon: manages every virtual machine (domain) on this host\n"
           "through the kvm (libvirt) and minihv drivers, and serves org.hvd1 on D-Bus.\n"
           "\n"
           "  --config FILE        configuration file (default " HVD_DEFAULT_CONFIG ";\n"
           "                       a missing default file means built-in defaults)\n"
           "  --state-dir DIR      where the SQLite database lives (default " HVD_DEFAULT_STATE_DIR
           ")\n"
           "  --runtime-dir DIR    sockets and pid files (default " HVD_DEFAULT_RUNTIME_DIR ")\n"
           "  --set SECTION.KEY=VALUE\n"
           "                       set a configuration key as the file would (repeatable),\n"
           "                       e.g. --set minihv.guest-dir=/srv/guests\n"
           "  --kvm-uri URI        the same as --set kvm.uri=URI\n"
           "  --bus-address ADDR   D-Bus address to serve on instead of the system bus\n"
           "  --http LIST          HTTP listen addresses: HOST:PORT, [ADDR]:PORT, unix:PATH,\n"
           "                       comma-separated, or none (default 127.0.0.1:8780)\n"
           "  --check-config       parse the configuration, print it and exit\n"
           "  --log-level LEVEL    debug, info, notice, warning or err (default info)\n"
           "  -h, --help           show this help\n"
           "  --version            show the version\n"
           "\n"
           "Signals: SIGTERM/SIGINT stop hvd and leave domains running; SIGHUP reloads the\n"
           "configuration (a broken file is refused and the running configuration kept).\n");
}

static int parse_log_level(const char *s)
{
    static const char *const names[] = {"emerg",   "alert",  "crit", "err",
                                        "warning", "notice", "info", "debug"};
    for (size_t i = 0; i < ELEMENTSOF(names); i++)
        if (streq(s, names[i]))
            return (int)i;
    return -EINVAL;
}

enum {
    ARG_CONFIG = 0x100,
    ARG_STATE_DIR,
    ARG_RUNTIME_DIR,
    ARG_SET,
    ARG_KVM_URI,
    ARG_BUS_ADDRESS,
    ARG_HTTP,
    ARG_CHECK_CONFIG,
    ARG_LOG_LEVEL,
    ARG_VERSION,
};

/* Returns 1 to go on, 0 to exit successfully, a negative errno for a usage error. */
static int parse_argv(int argc, char **argv, Options *o)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, ARG_CONFIG},
        {"state-dir", required_argument, NULL, ARG_STATE_DIR},
        {"runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR},
        {"set", required_argument, NULL, ARG_SET},
        {"kvm-uri", required_argument, NULL, ARG_KVM_URI},
        {"bus-address", required_argument, NULL, ARG_BUS_ADDRESS},
        {"http", required_argument, NULL, ARG_HTTP},
        {"check-config", no_argument, NULL, ARG_CHECK_CONFIG},
        {"log-level", required_argument, NULL, ARG_LOG_LEVEL},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, ARG_VERSION},
        {},
    };
    int c, level;

    o->config_path = HVD_DEFAULT_CONFIG;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
        switch (c) {
        case ARG_CONFIG:
            o->config_path = optarg;
            o->config_explicit = true;
            break;
        case ARG_STATE_DIR:
            o->state_dir = optarg;
            break;
        case ARG_RUNTIME_DIR:
            o->runtime_dir = optarg;
            break;
        case ARG_SET:
        case ARG_KVM_URI: {
            char **sets = reallocarray(o->sets, o->n_sets + 1, sizeof(char *));
            if (!sets)
                return log_oom();
            o->sets = sets;
            if (c == ARG_SET ? !(o->sets[o->n_sets] = strdup(optarg))
                             : asprintf(&o->sets[o->n_sets], "kvm.uri=%s", optarg) < 0)
                return log_oom();
            o->n_sets++;
            break;
        }
        case ARG_BUS_ADDRESS:
            o->bus_address = optarg;
            break;
        case ARG_HTTP:
            o->http_listen = optarg;
            break;
        case ARG_CHECK_CONFIG:
            o->check_config = true;
            break;
        case ARG_LOG_LEVEL:
            level = parse_log_level(optarg);
            if (level < 0)
                return log_error_errno(EINVAL, "Unknown log level '%s'.", optarg);
            log_set_max_level(level);
            break;
        case 'h':
            help();
            return 0;
        case ARG_VERSION:
            printf("hvd %s\n", HVD_VERSION);
            return 0;
        default:
            return -EINVAL;
        }
    if (optind < argc)
        return log_error_errno(EINVAL, "Unexpected argument '%s'; see hvd --help.", argv[optind]);
    return 1;
}

/* Applies one --set SECTION.KEY=VALUE. */
static int apply_set(HvdConfig *c, const char *arg, Error *e)
{
    const char *dot = strchr(arg, '.'), *eq = strchr(arg, '=');
    _cleanup_free_ char *section = NULL, *key = NULL, *origin = NULL;
    Error set_error = ERROR_NULL;

    if (!dot || !eq || dot > eq || dot == arg || eq == dot + 1)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "--set %s: expected SECTION.KEY=VALUE, such as kvm.uri=test:///default",
                          arg);
    section = strndup(arg, (size_t)(dot - arg));
    key = strndup(dot + 1, (size_t)(eq - dot - 1));
    if (!section || !key || asprintf(&origin, "--set %s", arg) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if (config_set(c, section, key, eq + 1, origin, &set_error) < 0)
        return error_setf(e, set_error.kind, "--set %s: %s", arg, set_error.message);
    return 0;
}

/* Loads defaults + file + command-line overrides into a fresh config. */
static int load_config(const Options *o, HvdConfig *ret, Error *e)
{
    HvdConfig c;
    int r;

    r = config_init(&c);
    if (r < 0)
        return error_set_errno(e, r, "Out of memory");
    r = config_load(&c, o->config_path, o->config_explicit, e);
    if (r >= 0 && o->state_dir)
        r = config_set(&c, "daemon", "state-dir", o->state_dir, "--state-dir", e);
    if (r >= 0 && o->runtime_dir)
        r = config_set(&c, "daemon", "runtime-dir", o->runtime_dir, "--runtime-dir", e);
    if (r >= 0 && o->http_listen)
        r = config_set(&c, "http", "listen", o->http_listen, "--http", e);
    for (size_t i = 0; r >= 0 && i < o->n_sets; i++)
        r = apply_set(&c, o->sets[i], e);
    if (r < 0) {
        config_done(&c);
        return r;
    }
    *ret = c;
    return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
    _cleanup_free_ char *copy = strdup(path);

    if (!copy)
        return -ENOMEM;
    for (char *p = copy + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(copy, 0755) < 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* One hvd per state directory: a second one would fight over the same domains. */
static int take_state_lock(Daemon *d)
{
    _cleanup_free_ char *path = NULL;

    if (asprintf(&path, "%s/hvd.lock", d->config.state_dir) < 0)
        return log_oom();
    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lock_fd < 0)
        return log_error_errno(errno, "Failed to open %s: %m", path);
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return log_error_errno(errno == EWOULDBLOCK ? EBUSY : errno,
                               "Another hvd is already using %s; refusing to start.",
                               d->config.state_dir);
    return 0;
}

static void write_pid_file(Daemon *d)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_fclose_ FILE *f = NULL;

    if (asprintf(&path, "%s/hvd.pid", d->config.runtime_dir) < 0)
        return;
    f = fopen(path, "we");
    if (f)
        fprintf(f, "%d\n", (int)getpid());
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    Daemon *d = userdata;

    log_info("Received %s; stopping hvd (domains keep running).", strsignal((int)si->ssi_signo));
    (void)sd_notify(false, "STOPPING=1\nSTATUS=Stopping");
    return sd_event_exit(d->event, 0);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    Daemon *d = userdata;
    void *settings[_DRIVER_KIND_MAX] = {};
    Error e = ERROR_NULL;
    HvdConfig c;
    int r;

    (void)sd_notify(false, "RELOADING=1");
    r = load_config(&d->options, &c, &e);
    if (r >= 0 && (r = tls_config_check(&c, &e)) < 0)
        config_done(&c);
    if (r >= 0) {
        r = hvd_drivers_parse(d->drivers, &c, settings, &e);
        if (r < 0)
            config_done(&c);
    }
    if (r >= 0) {
        /* [cluster] is checked, and taken at the next start only. */
        ClusterConfig cc;
        r = cluster_config_parse(&c, &cc, &e);
        if (r >= 0 && (r = cluster_config_check_files(&cc, &e)) < 0)
            cluster_config_done(&cc);
        if (r < 0) {
            hvd_drivers_settings_free(d->drivers, settings);
            config_done(&c);
        } else
            cluster_config_done(&cc);
    }
    if (r < 0) {
        log_error("Reload refused, keeping the running configuration: %s", e.message);
        (void)sd_notify(false, "READY=1");
        return 0;
    }
    if (!streq(c.state_dir, d->config.state_dir) || !streq(c.runtime_dir, d->config.runtime_dir) ||
        c.synchronous != d->config.synchronous)
        log_notice("state-dir, runtime-dir and synchronous take effect at the next start of hvd.");
    if (config_section(&c, "cluster") || d->cluster)
        log_notice("[cluster] takes effect at the next start of hvd.");
    /* Keep what needs a restart, take the rest. */
    if (config_string_set(&c.state_dir, d->config.state_dir) < 0 ||
        config_string_set(&c.runtime_dir, d->config.runtime_dir) < 0) {
        hvd_drivers_settings_free(d->drivers, settings);
        config_done(&c);
        return log_oom();
    }
    c.synchronous = d->config.synchronous;
    /* The drivers take their new settings (and own them from here on). */
    manager_reload(d->manager, &c, settings);
    (void)bus_set_admin_group(d->bus, c.admin_group);
    config_done(&d->config);
    d->config = c;
    d->manager->config = &d->config;
    log_info("Configuration reloaded from %s.", d->options.config_path);
    (void)sd_notify(false, "READY=1");
    return 0;
}

static int on_sigchld(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    Daemon *d = userdata;

    /* hvd is a child subreaper: it reaps whatever ends below it, its own VMMs included. */
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        manager_child_exited(d->manager, pid, status);
    }
    return 0;
}

/* A child's end is dispatched before whatever else is pending in the same turn of the loop: a
 * VMM that ended itself while hvd was stopped (its fencing watchdog, say) is recorded with its
 * own reason before a timer acts on its domain. */
static int add_sigchld(Daemon *d)
{
    sd_event_source *s;
    int r;

    r = sd_event_add_signal(d->event, &s, SIGCHLD, on_sigchld, d);
    if (r < 0)
        return r;
    r = sd_event_source_set_priority(s, SD_EVENT_PRIORITY_IMPORTANT);
    if (r >= 0)
        r = sd_event_source_set_floating(s, true);
    sd_event_source_unref(s);
    return r;
}

static int setup_signals(Daemon *d)
{
    sigset_t mask;
    int r;

    (void)sigemptyset(&mask);
    (void)sigaddset(&mask, SIGTERM);
    (void)sigaddset(&mask, SIGINT);
    (void)sigaddset(&mask, SIGHUP);
    (void)sigaddset(&mask, SIGCHLD);
    (void)sigprocmask(SIG_BLOCK, &mask, NULL);
    (void)signal(SIGPIPE, SIG_IGN);

    r = sd_event_add_signal(d->event, NULL, SIGTERM, on_exit_signal, d);
    if (r >= 0)
        r = sd_event_add_signal(d->event, NULL, SIGINT, on_exit_signal, d);
    if (r >= 0)
        r = sd_event_add_signal(d->event, NULL, SIGHUP, on_sighup, d);
    if (r >= 0)
        r = add_sigchld(d);
    return r;
}

static int run(Daemon *d, void *settings[_DRIVER_KIND_MAX])
{
    Error e = ERROR_NULL;
    char status[256];
    int r;

    r = mkdir_p(d->config.state_dir, 0700);
    if (r < 0)
        return log_error_errno(r, "Failed to create state directory %s: %m", d->config.state_dir);
    r = mkdir_p(d->config.runtime_dir, 0755);
    if (r < 0)
        return log_error_errno(r, "Failed to create runtime directory %s: %m",
                               d->config.runtime_dir);
    r = take_state_lock(d);
    if (r < 0)
        return r;
    /* Every HTTP client and event-stream subscriber is a descriptor: allow as many as the
     * hard limit does. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        log_warning_errno(errno, "Failed to become a child subreaper: %m");

    r = sd_event_default(&d->event);
    if (r < 0)
        return log_error_errno(r, "Failed to create the event loop: %m");
    r = setup_signals(d);
    if (r < 0)
        return log_error_errno(r, "Failed to set up signal handling: %m");
    (void)sd_event_set_watchdog(d->event, true);

    r = manager_new(d->event, &d->config, &d->manager, &e);
    if (r < 0)
        return log_error_errno(r, "%s", e.message);
    r = manager_open_drivers(d->manager, d->drivers, settings);
    if (r < 0)
        return log_error_errno(r, "Failed to set up drivers: %m");
    manager_reconcile_all(d->manager);
    /* What re-attaching found is recorded before hvd says it is ready. */
    manager_flush(d->manager);

    r = bus_new(d->manager, d->options.bus_address, d->config.admin_group, &d->bus, &e);
    if (r < 0)
        return log_error_errno(r, "%s", e.message);
    r = http_new(d->manager, &d->config, &d->http, &e);
    if (r < 0)
        return log_error_errno(r, "%s", e.message);
    if (d->cluster_config.etcd) {
        r = cluster_new(d->manager, &d->cluster_config, &d->cluster, &e);
        if (r < 0)
            return log_error_errno(r, "%s", e.message);
        d->manager->cluster = d->cluster;
    }

    write_pid_file(d);
    manager_status_line(d->manager, status, sizeof(status));
    (void)sd_notifyf(false, "READY=1\nSTATUS=%s\nMAINPID=%d", status, (int)getpid());
    log_info("hvd %s ready on %s: %s.", HVD_VERSION,
             d->options.bus_address ? d->options.bus_address : "the system bus", status);

    r = sd_event_loop(d->event);
    if (r < 0)
        return log_error_errno(r, "Event loop failed: %m");
    return 0;
}

int main(int argc, char **argv)
{
    Daemon d = {.lock_fd = -EBADF};
    void *settings[_DRIVER_KIND_MAX] = {};
    Error e = ERROR_NULL;
    int r;

    log_setup_from_environment("hvd");
    r = parse_argv(argc, argv, &d.options);
    if (r <= 0) {
        options_done(&d.options);
        return r < 0 ? 2 : 0;
    }

    r = load_config(&d.options, &d.config, &e);
    if (r >= 0)
        r = tls_config_check(&d.config, &e);
    if (r >= 0) {
        hvd_drivers_load(&d.config, d.drivers);
        r = hvd_drivers_parse(d.drivers, &d.config, settings, &e);
    }
    if (r >= 0) {
        r = cluster_config_parse(&d.config, &d.cluster_config, &e);
        if (r >= 0 && (r = cluster_config_check_files(&d.cluster_config, &e)) < 0)
            cluster_config_done(&d.cluster_config);
        if (r < 0)
            hvd_drivers_settings_free(d.drivers, settings);
    }
    if (r < 0) {
        log_error("Bad configuration: %s", e.message);
        config_done(&d.config);
        options_done(&d.options);
        return 1;
    }
    if (d.options.check_config) {
        config_print(&d.config, stdout);
        hvd_drivers_print(d.drivers, &d.config, settings, stdout);
        cluster_config_print(&d.cluster_config, stdout);
        cluster_config_done(&d.cluster_config);
        hvd_drivers_settings_free(d.drivers, settings);
        config_done(&d.config);
        options_done(&d.options);
        return 0;
    }

    r = run(&d, settings);
    if (d.manager)
        manager_flush(d.manager); /* answered while the surfaces are still there */
    /* What the drivers did not take (a start that failed early) is freed here. */
    hvd_drivers_settings_free(d.drivers, settings);

    /* The cluster answers its waiting requests while the surfaces are still there. */
    if (d.manager)
        d.manager->cluster = NULL;
    d.cluster = cluster_free(d.cluster);
    cluster_config_done(&d.cluster_config);
    d.bus = bus_free(d.bus);
    d.http = http_free(d.http);
    d.manager = manager_free(d.manager);
    d.event = sd_event_unref(d.event);
    d.lock_fd = safe_close(d.lock_fd);
    config_done(&d.config);
    options_done(&d.options);
    return r < 0 ? 1 : 0;
}
