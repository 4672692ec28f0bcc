/* minihv: runs one guest on /dev/kvm in pv or full mode until it ends; see minihv(1). */
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build-config.h"
#include "control.h"
#include "loop.h"
#include "macro.h"
#include "migrate.h"
#include "minihv-abi.h"
#include "net.h"
#include "parse-util.h"
#include "pool-wait.h"
#include "sandbox.h"
#include "save-client.h"
#include "snapshot.h"
#include "spawner.h"
#include "vcpu.h"
#include "vm-json.h"
#include "vm.h"

static void help(void)
{
    printf("Usage: minihv run [OPTIONS] GUEST\n"
           "       minihv run [OPTIONS] --restore IMAGE\n"
           "       minihv run [OPTIONS] --incoming FD\n"
           "       minihv save --control SOCKET [--then resume|stop] IMAGE\n"
           "       minihv pool --mode pv|full --memory MiB --vcpus N --socket FD [--room PAD]\n"
           "       minihv spawner   (started by hvd, on its sockets as descriptors 3 and 4)\n"
           "       minihv --help | --version\n"
           "\n"
           "Runs GUEST on /dev/kvm until it powers off, reboots, crashes or is destroyed, or\n"
           "continues a domain saved in IMAGE, or one migrated to it over FD. `minihv save`\n"
           "saves the domain served on the control SOCKET into IMAGE.\n"
           "\n"
           "Options:\n"
           "  --mode pv|full      pv (default): an ELF64 minihv guest at ring 3 that uses\n"
           "                      hypercalls; full: an unmodified Multiboot guest at ring 0\n"
           "                      with emulated UART, ATA disk, CMOS RTC and power ports\n"
           "  --memory MiB        guest memory, %u..%u (default %u)\n"
           "  --vcpus N           virtual CPUs: 1..%u in pv mode, 1 in full mode (default 1)\n"
           "  --disk FILE         disk image: ATA disk in full mode, block ring in pv mode\n"
           "  --cmdline STR       guest command line, at most %u bytes\n"
           "  --cpuset LIST       host CPUs for the domain, e.g. 0-1,3; vCPU i is pinned to\n"
           "                      the i-th CPU of the list (round robin)\n"
           "  --control SOCKET    serve JSON control requests on this unix socket\n"
           "  --console FILE|-    append guest console output to FILE, or - for standard\n"
           "                      output (default)\n"
           "  --strict            crash the guest when it touches a port or an address\n"
           "                      that has no device\n"
           "  --ready-fd FD       write \"ready\\n\" to FD and close it once set-up is done\n"
           "  --stats-file FILE   write the final statistics (JSON) to FILE at exit\n"
           "  --net-fd FD         a network device on this open tap (IFF_TAP|IFF_NO_PI):\n"
           "                      TX/RX rings in pv mode, an NE2000 at 0x300 in full mode\n"
           "  --mac ADDRESS       its MAC, XX:XX:XX:XX:XX:XX (default: 02: and five bytes\n"
           "                      of a hash of the tap's name)\n"
           "  --restore IMAGE     continue the domain saved in IMAGE (its memory is mapped\n"
           "                      copy-on-write); --mode, --memory and --vcpus, if given,\n"
           "                      must match it; --disk defaults to the saved disk path\n"
           "  --incoming FD       the target of a live migration: FD is a connected stream\n"
           "                      socket (TCP or unix) whose other end a source minihv was\n"
           "                      given with the control request migrate-send; the domain's\n"
           "                      settings come from the stream (--mode, --memory, --vcpus,\n"
           "                      if given, must match them; --disk defaults to the source's\n"
           "                      path, --net-fd is needed exactly when the source has one).\n"
           "                      A malformed or mismatched stream is refused before any\n"
           "                      guest code runs (status 1); --ready-fd fires once the guest\n"
           "                      runs here\n"
           "  --cgroup FILE       join this cgroup (write the pid into FILE, a cgroup.procs)\n"
           "                      before creating the VM; up to %u times\n"
           "  --vcpu-cgroup FILE  move each vCPU thread into this cgroup (write its thread id\n"
           "                      into FILE, a tasks or cgroup.threads); up to %u times\n"
           "  -h, --help          show this help\n"
           "      --version       show the version\n"
           "\n"
           "Control requests for live migration (JSON lines on --control):\n"
           "  {\"cmd\":\"migrate-send\"} with the socket to the target passed (SCM_RIGHTS);\n"
           "      optional \"downtime_ms\" (default %u), \"timeout_s\" (default %g),\n"
           "      \"max_iterations\" (default %u), \"on_limit\": \"stop-and-copy\" (default)\n"
           "      or \"fail\", \"bandwidth_mib_s\". Pre-copies memory while the guest runs,\n"
           "      pauses it once the rest fits the downtime budget, sends the rest and the\n"
           "      vCPU and device state, and once the target is ready hands the guest\n"
           "      over (closing the socket), answers and exits with status 7; on any\n"
           "      failure before, the guest resumes here and the answer says why.\n"
           "      Progress: {\"event\":\"migration\",...} lines. The stream's format is\n"
           "      described in migrate-format.h.\n"
           "  {\"cmd\":\"migrate-cancel\"} aborts it.\n"
           "\n"
           "Fencing watchdog (JSON lines on --control):\n"
           "  {\"cmd\":\"watchdog\",\"timeout_ms\":N} arms or renews it: unless renewed\n"
           "      within N ms (1..3600000) the guest is ended, status 8 (hvd arms it for\n"
           "      the HA domains of a cluster while it holds its lease).\n"
           "\n"
           "Exit status: 0 guest powered off, 1 host error, 2 usage error, 3 reboot\n"
           "requested, 4 guest crashed, 5 destroyed, 6 saved, 7 migrated (the target\n"
           "was ready and the guest was handed over to it; 1 also when an image or an\n"
           "incoming migration is refused), 8 fenced (the watchdog was not renewed).\n"
           "One line on standard error says why.\n",
           VM_MIN_MEMORY_MIB, VM_MAX_MEMORY_MIB, VM_DEFAULT_MEMORY_MIB, VM_MAX_VCPUS,
           MINIHV_CMDLINE_MAX, VM_CGROUP_FILES_MAX, VM_CGROUP_FILES_MAX,
           MIGRATE_DOWNTIME_DEFAULT_MS, MIGRATE_TIMEOUT_DEFAULT_S, MIGRATE_ITERATIONS_DEFAULT);
}

static int usage_error(const char *fmt, ...) _printf_(1, 2);

static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("minihv: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'minihv --help'.\n", stderr);
    return MINIHV_EXIT_USAGE;
}

enum {
    OPT_MODE = 0x100,
    OPT_MEMORY,
    OPT_VCPUS,
    OPT_DISK,
    OPT_CMDLINE,
    OPT_CPUSET,
    OPT_CONTROL,
    OPT_CONSOLE,
    OPT_STRICT,
    OPT_READY_FD,
    OPT_STATS_FILE,
    OPT_NET_FD,
    OPT_MAC,
    OPT_RESTORE,
    OPT_INCOMING,
    OPT_CGROUP,
    OPT_VCPU_CGROUP,
    OPT_VERSION,
};

/* What `minihv run` was asked to do beyond the VM's configuration. */
typedef struct RunOptions {
    VmConfig cfg;
    const char *restore_path; /* --restore IMAGE, or NULL */
    int incoming_fd;          /* --incoming FD, or -1 */
    unsigned given;           /* SnapshotGiven: settings the command line fixed */
    bool mac_given;
} RunOptions;

/* Fills o from argv. Returns -1 to go on, or an exit status (help, version, usage). */
static int parse_argv(int argc, char **argv, RunOptions *o)
{
    static const struct option options[] = {
        {"mode", required_argument, NULL, OPT_MODE},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"vcpus", required_argument, NULL, OPT_VCPUS},
        {"disk", required_argument, NULL, OPT_DISK},
        {"cmdline", required_argument, NULL, OPT_CMDLINE},
        {"cpuset", required_argument, NULL, OPT_CPUSET},
        {"control", required_argument, NULL, OPT_CONTROL},
        {"console", required_argument, NULL, OPT_CONSOLE},
        {"strict", no_argument, NULL, OPT_STRICT},
        {"ready-fd", required_argument, NULL, OPT_READY_FD},
        {"stats-file", required_argument, NULL, OPT_STATS_FILE},
        {"net-fd", required_argument, NULL, OPT_NET_FD},
        {"mac", required_argument, NULL, OPT_MAC},
        {"restore", required_argument, NULL, OPT_RESTORE},
        {"incoming", required_argument, NULL, OPT_INCOMING},
        {"cgroup", required_argument, NULL, OPT_CGROUP},
        {"vcpu-cgroup", required_argument, NULL, OPT_VCPU_CGROUP},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {},
    };
    unsigned mib = VM_DEFAULT_MEMORY_MIB, u;
    VmConfig *cfg = &o->cfg;
    char ifname[IFNAMSIZ];
    bool has_mac = false;
    int c, r;

    *o = (RunOptions){.incoming_fd = -1};
    *cfg = (VmConfig){
        .mode = VM_MODE_PV,
        .vcpus = 1,
        .cmdline = "",
        .ready_fd = -1,
        .net_fd = -1,
    };
    if (argc >= 2 && (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help"))) {
        help();
        return 0;
    }
    if (argc >= 2 && streq(argv[1], "--version")) {
        printf("minihv %s (guest ABI %u)\n", HVD_VERSION, MINIHV_ABI_VERSION);
        return 0;
    }
    if (argc >= 2 && streq(argv[1], "save"))
        return save_client_main(argc - 1, argv + 1);
    if (argc < 2 || !streq(argv[1], "run"))
        return usage_error(argc < 2 ? "missing command (expected 'run' or 'save')"
                                    : "unknown command '%s' (expected 'run' or 'save')",
                           argc < 2 ? "" : argv[1]);
    argc--;
    argv++;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        switch (c) {
        case OPT_MODE:
            cfg->mode = vm_mode_from_string(optarg);
            if (cfg->mode < 0)
                return usage_error("--mode: expected pv or full, got '%s'", optarg);
            o->given |= SNAPSHOT_GIVEN_MODE;
            break;
        case OPT_MEMORY:
            if (parse_uint(optarg, VM_MIN_MEMORY_MIB, VM_MAX_MEMORY_MIB, &mib) < 0)
                return usage_error("--memory: expected MiB in %u..%u, got '%s'", VM_MIN_MEMORY_MIB,
                                   VM_MAX_MEMORY_MIB, optarg);
            o->given |= SNAPSHOT_GIVEN_MEMORY;
            break;
        case OPT_VCPUS:
            if (parse_uint(optarg, 1, VM_MAX_VCPUS, &cfg->vcpus) < 0)
                return usage_error("--vcpus: expected 1..%u, got '%s'", VM_MAX_VCPUS, optarg);
            o->given |= SNAPSHOT_GIVEN_VCPUS;
            break;
        case OPT_DISK:
            cfg->disk_path = optarg;
            break;
        case OPT_CMDLINE:
            if (strlen(optarg) > MINIHV_CMDLINE_MAX)
                return usage_error("--cmdline: longer than %u bytes", MINIHV_CMDLINE_MAX);
            cfg->cmdline = optarg;
            break;
        case OPT_CPUSET:
            if (cpuset_parse(optarg, &cfg->cpuset) < 0 || cpuset_is_empty(&cfg->cpuset))
                return usage_error("--cpuset: expected a CPU list such as 0-1,3, got '%s'", optarg);
            cfg->has_cpuset = true;
            break;
        case OPT_CONTROL:
            cfg->control_path = optarg;
            break;
        case OPT_CONSOLE:
            cfg->console_path = optarg;
            break;
        case OPT_STRICT:
            cfg->strict = true;
            break;
        case OPT_READY_FD:
            if (parse_uint(optarg, 0, INT_MAX, &u) < 0 || fcntl((int)u, F_GETFD) < 0)
                return usage_error("--ready-fd: '%s' is not an open file descriptor", optarg);
            cfg->ready_fd = (int)u;
            break;
        case OPT_STATS_FILE:
            cfg->stats_path = optarg;
            break;
        case OPT_NET_FD:
            if (parse_uint(optarg, 3, INT_MAX, &u) < 0 || fcntl((int)u, F_GETFD) < 0)
                return usage_error("--net-fd: '%s' is not an open file descriptor", optarg);
            r = net_tap_check((int)u, ifname);
            if (r < 0)
                return usage_error("--net-fd: descriptor %u is %s", u,
                                   r == -ENOTTY ? "not a tap (open /dev/net/tun with TUNSETIFF)"
                                                : "a tap without IFF_TAP|IFF_NO_PI, or with "
                                                  "IFF_VNET_HDR");
            cfg->net_fd = (int)u;
            break;
        case OPT_MAC:
            if (net_mac_parse(optarg, cfg->mac) < 0)
                return usage_error("--mac: expected a unicast address XX:XX:XX:XX:XX:XX, got "
                                   "'%s'",
                                   optarg);
            has_mac = true;
            break;
        case OPT_RESTORE:
            o->restore_path = optarg;
            break;
        case OPT_INCOMING:
            if (parse_uint(optarg, 3, INT_MAX, &u) < 0 || fcntl((int)u, F_GETFD) < 0)
                return usage_error("--incoming: '%s' is not an open file descriptor", optarg);
            o->incoming_fd = (int)u;
            break;
        case OPT_CGROUP:
            if (cfg->n_cgroup_procs == VM_CGROUP_FILES_MAX)
                return usage_error("--cgroup: at most %u times", VM_CGROUP_FILES_MAX);
            cfg->cgroup_procs[cfg->n_cgroup_procs++] = optarg;
            break;
        case OPT_VCPU_CGROUP:
            if (cfg->n_cgroup_threads == VM_CGROUP_FILES_MAX)
                return usage_error("--vcpu-cgroup: at most %u times", VM_CGROUP_FILES_MAX);
            cfg->cgroup_threads[cfg->n_cgroup_threads++] = optarg;
            break;
        case 'h':
            help();
            return 0;
        case OPT_VERSION:
            printf("minihv %s (guest ABI %u)\n", HVD_VERSION, MINIHV_ABI_VERSION);
            return 0;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (o->restore_path && o->incoming_fd >= 0)
        return usage_error("--restore and --incoming: a domain comes from an image or a migration");
    if (o->restore_path || o->incoming_fd >= 0) {
        const char *opt = o->restore_path ? "--restore" : "--incoming";
        if (optind != argc)
            return usage_error("%s: no GUEST image with a %s one, got '%s'", opt,
                               o->restore_path ? "saved" : "migrated", argv[optind]);
        if (!streq(cfg->cmdline, ""))
            return usage_error("--cmdline: a %s guest keeps the command line it booted with",
                               o->restore_path ? "restored" : "migrated");
    } else if (optind != argc - 1)
        return usage_error(optind >= argc ? "missing GUEST image" : "unexpected argument '%s'",
                           optind >= argc ? "" : argv[optind + 1]);
    else
        cfg->guest_path = argv[optind];
    o->mac_given = has_mac;
    if (has_mac && cfg->net_fd < 0)
        return usage_error("--mac: needs --net-fd");
    if (cfg->net_fd >= 0 && cfg->net_fd == cfg->ready_fd)
        return usage_error("--net-fd and --ready-fd name the same descriptor");
    if (o->incoming_fd >= 0 && (o->incoming_fd == cfg->ready_fd || o->incoming_fd == cfg->net_fd))
        return usage_error("--incoming names the descriptor of --ready-fd or --net-fd");
    if (cfg->net_fd >= 0 && !has_mac)
        net_mac_derive(ifname, cfg->mac);
    cfg->mem_size = (uint64_t)mib << 20;
    if (cfg->mode == VM_MODE_FULL && cfg->vcpus != 1)
        return usage_error("--vcpus: full mode runs one vCPU (starting more needs a local APIC, "
                           "which minihv does not emulate)");
    return -1;
}

static void on_kick(int sig)
{
    /* Only interrupts KVM_RUN; immediate_exit carries the request. */
}

static int setup_signals(void)
{
    struct sigaction kick = {.sa_handler = on_kick}; /* no SA_RESTART: KVM_RUN returns EINTR */
    sigset_t mask;

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGUSR1); /* unblocked in vCPU threads only */
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || sigaction(SIGUSR1, &kick, NULL) < 0 ||
        signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return -errno;
    return 0;
}

/* Inherited descriptors other than stdio, the ready fd, the tap and the incoming migration are
 * closed: nothing leaks into the sandbox that set-up did not open itself or was handed on
 * purpose. */
static void close_inherited_fds(int keep_a, int keep_b, int keep_c)
{
    int keep_sorted[3] = {keep_a, keep_b, keep_c};
    unsigned from = 3;

    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (keep_sorted[j] < keep_sorted[i]) {
                int t = keep_sorted[i];
                keep_sorted[i] = keep_sorted[j];
                keep_sorted[j] = t;
            }
    for (int i = 0; i < 3; i++) {
        int keep = keep_sorted[i];
        if (keep < 3 || (unsigned)keep < from)
            continue;
        if ((unsigned)keep > from)
            (void)close_range(from, (unsigned)keep - 1, 0);
        from = (unsigned)keep + 1;
        (void)fcntl(keep, F_SETFD, FD_CLOEXEC);
    }
    (void)close_range(from, ~0u, 0);
}

static int apply_cpuset(const CpuSet *set)
{
    cpu_set_t mask;

    CPU_ZERO(&mask);
    for (unsigned cpu = 0; cpu < CPUSET_MAX_CPUS && cpu < CPU_SETSIZE; cpu++)
        if (cpuset_has(set, cpu))
            CPU_SET(cpu, &mask);
    return sched_setaffinity(0, sizeof(mask), &mask) < 0 ? -errno : 0;
}

static void write_stats_file(Vm *vm, int fd)
{
    json_t *o = vm_stats_json(vm);
    char *s;

    if (o) {
        (void)json_object_set_new(o, "status", json_integer(vm->exit_status));
        (void)json_object_set_new(o, "reason", json_string(vm->exit_reason));
    }
    s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s) {
        size_t len = strlen(s), done = 0;
        while (done < len) {
            ssize_t n = write(fd, s + done, len - done);
            if (n <= 0)
                break;
            done += (size_t)n;
        }
        (void)!write(fd, "\n", 1);
    }
    free(s);
    json_decref(o);
}

static void signal_ready(int fd)
{
    static const char ready[] = "ready\n";

    (void)!write(fd, ready, sizeof(ready) - 1);
    (void)close(fd);
}

/* Runs the domain of o; *premade, when not NULL, is the VM a warm-pool VMM made for it, which
 * run takes (setting *premade to NULL) once it builds the domain on it; until then, and when
 * it refuses the guest before that, it stays the caller's. */
static int run(RunOptions *o, Vm **premade)
{
    char guest_abs[PATH_MAX], disk_abs[PATH_MAX];
    VmConfig *cfg = &o->cfg;
    Snapshot *snap = NULL;
    MigrateRecv *rx = NULL;
    _cleanup_close_ int stats_fd = -EBADF;
    Error e = ERROR_NULL;
    const char *failed = NULL;
    Control *ctl = NULL;
    Loop *loop = NULL;
    Vm *vm = NULL;
    int r, status;

    if (setup_signals() < 0) {
        fprintf(stderr, "minihv: host error: cannot set up signals: %m\n");
        return MINIHV_EXIT_HOST_ERROR;
    }
    if (!*premade) /* a pooled VMM closed them before it made the VM */
        close_inherited_fds(cfg->ready_fd, cfg->net_fd, o->incoming_fd);
    /* Before anything is allocated for the guest, so the limits hold all of it. */
    r = cgroup_join(cfg->cgroup_procs, cfg->n_cgroup_procs, getpid(), &failed);
    if (r < 0) {
        fprintf(stderr, "minihv: host error: cannot join the cgroup of %s: %s\n", failed,
                strerror(-r));
        return MINIHV_EXIT_HOST_ERROR;
    }
    if (cfg->has_cpuset && apply_cpuset(&cfg->cpuset) < 0)
        return usage_error("--cpuset: none of these CPUs is available to this process");
    if (o->restore_path) {
        r = snapshot_open(o->restore_path, &snap, &e);
        if (r >= 0)
            r = snapshot_apply_config(snap, cfg, o->given, o->mac_given, &e);
        if (r < 0) {
            fprintf(stderr, "minihv: cannot restore %s: %s\n", o->restore_path, e.message);
            snapshot_free(snap);
            return MINIHV_EXIT_HOST_ERROR;
        }
    } else if (o->incoming_fd >= 0) {
        r = migrate_recv_begin(o->incoming_fd, cfg, o->given, o->mac_given, &rx, &e);
        if (r < 0) {
            fprintf(stderr, "minihv: cannot receive the migration: %s\n", e.message);
            return MINIHV_EXIT_HOST_ERROR;
        }
    } else if (realpath(cfg->guest_path, guest_abs))
        cfg->guest_path = guest_abs;
    if (cfg->disk_path && realpath(cfg->disk_path, disk_abs))
        cfg->disk_path = disk_abs; /* saved images reference the disk by absolute path */
    if (vm_json_init() < 0) {
        fprintf(stderr, "minihv: host error: cannot read /proc/self: %m\n");
        migrate_recv_refuse(rx, "the target cannot read /proc/self");
        migrate_recv_free(rx);
        return MINIHV_EXIT_HOST_ERROR;
    }

    r = *premade ? vm_complete(vm = TAKE_PTR(*premade), cfg, &e) : vm_new(cfg, 0, &vm, &e);
    if (r < 0) {
        if (snap)
            fprintf(stderr, "minihv: cannot restore %s: %s\n", o->restore_path, e.message);
        else if (rx)
            fprintf(stderr, "minihv: cannot receive the migration: %s\n", e.message);
        else
            fprintf(stderr, "minihv: %s%s\n", r == -ENOEXEC ? "" : "host error: ", e.message);
        migrate_recv_refuse(rx, e.message);
        migrate_recv_free(rx);
        snapshot_free(snap);
        vm_json_done();
        return MINIHV_EXIT_HOST_ERROR;
    }
    r = loop_new(vm, &loop, &e);
    if (r >= 0 && cfg->control_path)
        r = control_new(vm, loop, cfg->control_path, &ctl, &e);
    if (r >= 0 && cfg->stats_path) {
        stats_fd = open(cfg->stats_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (stats_fd < 0)
            r = error_set_errno(&e, errno, "cannot open %s: %m", cfg->stats_path);
    }
    for (unsigned i = 0; r >= 0 && i < vm->nr_vcpus; i++) {
        r = vcpu_start_thread(vm->vcpus[i]);
        if (r < 0)
            (void)error_set_errno(&e, r, "cannot start the thread of vCPU %u: %m", i);
    }
    if (r >= 0) {
        r = net_start(vm);
        if (r < 0)
            (void)error_set_errno(&e, r, "cannot start the network thread: %m");
    }
    if (r >= 0) {
        /* every vCPU thread is past its libc start-up before the filter closes */
        pthread_mutex_lock(&vm->lock);
        while (vm->threads_ready < vm->nr_vcpus)
            pthread_cond_wait(&vm->cond, &vm->lock);
        pthread_mutex_unlock(&vm->lock);
        for (unsigned i = 0; r >= 0 && i < vm->nr_vcpus; i++) {
            r = cgroup_join(cfg->cgroup_threads, cfg->n_cgroup_threads, vm->vcpus[i]->tid, &failed);
            if (r < 0)
                (void)error_set_errno(&e, r, "cannot move vCPU %u into the cgroup of %s: %m", i,
                                      failed);
        }
    }
    if (r >= 0 && rx) {
        /* the vCPU threads exist and wait: the guest's downtime does not include starting them */
        r = migrate_recv_run(rx, vm, &e);
        if (r < 0) {
            vm_request_exit(vm, MINIHV_EXIT_HOST_ERROR, "cannot receive the migration: %s",
                            e.message);
            r = 0; /* reported as it is */
        }
    }
    if (r >= 0 && !vm_exit_requested(vm)) {
        json_object_seed(0); /* before the sandbox: jansson may want /dev/urandom */
        r = sandbox_enter();
        if (r < 0)
            (void)error_set_errno(&e, r, "cannot enter the seccomp sandbox: %m");
    }
    if (r < 0) {
        vm_request_exit(vm, MINIHV_EXIT_HOST_ERROR, "host error: %s", e.message);
        migrate_recv_refuse(rx, e.message);
    } else if (!vm_exit_requested(vm)) {
        if (cfg->ready_fd >= 0 && !rx)
            signal_ready(cfg->ready_fd);
        /* the source decides who runs the guest: the target only once it handed over */
        r = rx ? migrate_recv_confirm(rx, &e) : 0;
        if (r < 0)
            vm_request_exit(vm, MINIHV_EXIT_HOST_ERROR, "cannot receive the migration: %s",
                            e.message);
        else {
            pthread_mutex_lock(&vm->lock);
            vm->released = true;
            pthread_cond_broadcast(&vm->cond);
            pthread_mutex_unlock(&vm->lock);
            if (cfg->ready_fd >= 0 && rx)
                signal_ready(cfg->ready_fd);
            loop_run(loop);
        }
    }

    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_kick(vm->vcpus[i]);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_join(vm->vcpus[i]);
    net_stop(vm);
    status = vm->exit_status;
    control_finish(ctl, status, vm->exit_reason);
    if (stats_fd >= 0)
        write_stats_file(vm, stats_fd);
    fprintf(stderr, "minihv: %s\n", vm->exit_reason);

    control_free(ctl);
    loop_free(loop);
    vm_free(vm);
    snapshot_free(snap);   /* after the VM: its settings point into the image's header */
    migrate_recv_free(rx); /* likewise the migration's */
    vm_json_done();
    return status;
}

int main(int argc, char **argv)
{
    PoolGuest guest = {};
    RunOptions o;
    int r;

    if (argc >= 2 && streq(argv[1], "spawner"))
        return spawner_main(argc - 1, argv + 1);
    if (argc >= 2 && streq(argv[1], "pool")) {
        r = pool_wait(argc - 1, argv + 1, &guest);
        if (r >= 0)
            return r;
        pool_show_guest(argc, argv, &guest);
        optind = 0; /* getopt starts afresh on the guest's arguments */
        r = parse_argv(guest.argc, guest.argv, &o);
        if (r < 0 && o.incoming_fd >= 0)
            r = usage_error("a pooled VMM boots or restores a guest: no --incoming");
        if (r < 0)
            r = run(&o, &guest.vm);
        vm_free(guest.vm);
        free(guest.argv);
        free(guest.buf);
        return r;
    }
    r = parse_argv(argc, argv, &o);
    if (r >= 0)
        return r;
    return run(&o, &(Vm *){NULL});
}
