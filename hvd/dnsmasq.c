/* Running dnsmasq per network: spawn, adopt after an hvd restart, watch through a pidfd,
 * restart with a backoff when it dies, host file updates, stop. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dnsmasq.h"
#include "log.h"
#include "macro.h"
#include "spawn-util.h"
#include "time-util.h"

#define RESTART_MIN_US     (1 * USEC_PER_SEC)
#define RESTART_MAX_US     (30 * USEC_PER_SEC)
#define RESTART_RESET_US   (60 * USEC_PER_SEC) /* a run this long starts the backoff afresh */
#define DNSMASQ_LEASE_TIME "1h"

struct Dnsmasq {
    sd_event *event;
    char *network, *bridge, *host, *range_first, *range_last, *netmask;
    char *hosts_path, *pid_path, *lease_path, *log_path;
    int pid;
    int pidfd;
    sd_event_source *pidfd_source;
    sd_event_source *restart_timer;
    uint64_t started_usec; /* CLOCK_MONOTONIC */
    uint64_t backoff_us;
};

static int pidfd_open_(int pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int write_file_atomic(const char *path, const char *text)
{
    _cleanup_free_ char *tmp = NULL;
    FILE *f;

    if (asprintf(&tmp, "%s.tmp", path) < 0)
        return -ENOMEM;
    f = fopen(tmp, "we");
    if (!f)
        return -errno;
    (void)fputs(text, f);
    if (fclose(f) != 0 || rename(tmp, path) < 0) {
        int r = -errno;
        (void)unlink(tmp);
        return r;
    }
    return 0;
}

static int on_dnsmasq_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static int watch(Dnsmasq *d, int pid)
{
    int r;

    d->pidfd = pidfd_open_(pid);
    if (d->pidfd < 0)
        return -errno;
    r = sd_event_add_io(d->event, &d->pidfd_source, d->pidfd, EPOLLIN, on_dnsmasq_exit, d);
    if (r < 0) {
        d->pidfd = safe_close(d->pidfd);
        return r;
    }
    d->pid = pid;
    d->started_usec = now_usec(CLOCK_MONOTONIC);
    return 0;
}

static int spawn(Dnsmasq *d, Error *e)
{
    _cleanup_free_ char *interface = NULL, *listen = NULL, *range = NULL, *hosts = NULL,
                        *leases = NULL, *pidfile = NULL;
    pid_t pid;
    int r;

    if (asprintf(&interface, "--interface=%s", d->bridge) < 0 ||
        asprintf(&listen, "--listen-address=%s", d->host) < 0 ||
        asprintf(&range, "--dhcp-range=%s,%s,%s," DNSMASQ_LEASE_TIME, d->range_first, d->range_last,
                 d->netmask) < 0 ||
        asprintf(&hosts, "--dhcp-hostsfile=%s", d->hosts_path) < 0 ||
        asprintf(&leases, "--dhcp-leasefile=%s", d->lease_path) < 0 ||
        asprintf(&pidfile, "--pid-file=%s", d->pid_path) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    /* Only the bridge, only the host's address on it, nothing read from the host's own
     * configuration, and no upstream servers: it answers for the network's domains alone. */
    char *argv[] = {
        (char *)"dnsmasq",
        (char *)"--keep-in-foreground",
        (char *)"--conf-file=/dev/null",
        (char *)"--no-resolv",
        (char *)"--no-hosts",
        (char *)"--bind-interfaces",
        (char *)"--except-interface=lo",
        interface,
        listen,
        range,
        hosts,
        leases,
        pidfile,
        (char *)"--dhcp-authoritative",
        (char *)"--user=root",
        (char *)"--log-facility=-",
        NULL,
    };

    r = spawn_detached(argv, true, d->log_path, NULL, 0, &pid);
    if (r != 0)
        return error_set_errno(e, -r, "Failed to run dnsmasq for network %s: %m%s", d->network,
                               r == ENOENT ? " (is dnsmasq installed?)" : "");
    r = watch(d, pid);
    if (r < 0) {
        (void)kill(pid, SIGKILL);
        return error_set_errno(e, r, "Failed to watch dnsmasq for network %s: %m", d->network);
    }
    log_info("Network %s: dnsmasq pid %d serves %s.", d->network, pid, d->bridge);
    return 0;
}

static int on_restart(sd_event_source *s, uint64_t usec, void *userdata)
{
    Dnsmasq *d = userdata;
    Error e = ERROR_NULL;

    d->restart_timer = sd_event_source_disable_unref(d->restart_timer);
    if (spawn(d, &e) < 0) {
        log_warning("%s", e.message);
        d->backoff_us = MIN(d->backoff_us * 2, RESTART_MAX_US);
        (void)sd_event_add_time_relative(d->event, &d->restart_timer, CLOCK_MONOTONIC,
                                         d->backoff_us, 0, on_restart, d);
    }
    return 0;
}

static int on_dnsmasq_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    Dnsmasq *d = userdata;
    uint64_t ran = now_usec(CLOCK_MONOTONIC) - d->started_usec;

    d->pidfd_source = sd_event_source_disable_unref(d->pidfd_source);
    d->pidfd = safe_close(d->pidfd);
    if (ran >= RESTART_RESET_US || d->backoff_us == 0)
        d->backoff_us = RESTART_MIN_US;
    else
        d->backoff_us = MIN(d->backoff_us * 2, RESTART_MAX_US);
    log_warning("Network %s: dnsmasq pid %d ended (see %s); restarting it in %llu s.", d->network,
                d->pid, d->log_path, (unsigned long long)(d->backoff_us / USEC_PER_SEC));
    d->pid = 0;
    (void)sd_event_add_time_relative(d->event, &d->restart_timer, CLOCK_MONOTONIC, d->backoff_us, 0,
                                     on_restart, d);
    return 0;
}

/* The dnsmasq a previous hvd left running for this network: the pid in its pid file, when
 * that process is a dnsmasq reading this network's host file. */
static int find_left_running(Dnsmasq *d)
{
    _cleanup_fclose_ FILE *pf = fopen(d->pid_path, "re");
    char path[64], cmdline[4096];
    _cleanup_close_ int fd = -EBADF;
    ssize_t n;
    int pid;

    if (!pf || fscanf(pf, "%d", &pid) != 1 || pid <= 1)
        return 0;
    (void)snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, cmdline, sizeof(cmdline) - 1);
    if (n <= 0)
        return 0;
    cmdline[n] = 0;
    for (ssize_t i = 0; i < n; i++)
        if (!cmdline[i])
            cmdline[i] = ' ';
    return strstr(cmdline, "dnsmasq") && strstr(cmdline, d->hosts_path) ? pid : 0;
}

Dnsmasq *dnsmasq_stop(Dnsmasq *d)
{
    if (!d)
        return NULL;
    if (d->pid > 0)
        (void)kill(d->pid, SIGTERM);
    (void)sd_event_source_disable_unref(d->pidfd_source);
    (void)sd_event_source_disable_unref(d->restart_timer);
    (void)safe_close(d->pidfd);
    sd_event_unref(d->event);
    free(d->network);
    free(d->bridge);
    free(d->host);
    free(d->range_first);
    free(d->range_last);
    free(d->netmask);
    free(d->hosts_path);
    free(d->pid_path);
    free(d->lease_path);
    free(d->log_path);
    free(d);
    return NULL;
}

int dnsmasq_start(sd_event *event, const DnsmasqSetup *setup, const char *hosts, Dnsmasq **ret,
                  Error *e)
{
    Dnsmasq *d = calloc(1, sizeof(*d));
    int pid, r;

    if (!d)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    d->event = sd_event_ref(event);
    d->pidfd = -EBADF;
    d->network = strdup(setup->network);
    d->bridge = strdup(setup->bridge);
    d->host = strdup(setup->host);
    d->range_first = strdup(setup->range_first);
    d->range_last = strdup(setup->range_last);
    d->netmask = strdup(setup->netmask);
    if (!d->network || !d->bridge || !d->host || !d->range_first || !d->range_last || !d->netmask ||
        asprintf(&d->hosts_path, "%s/%s.hosts", setup->dir, setup->network) < 0 ||
        asprintf(&d->pid_path, "%s/%s.pid", setup->dir, setup->network) < 0 ||
        asprintf(&d->lease_path, "%s/%s.leases", setup->dir, setup->network) < 0 ||
        asprintf(&d->log_path, "%s/%s.dnsmasq.log", setup->dir, setup->network) < 0) {
        dnsmasq_stop(d);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    r = write_file_atomic(d->hosts_path, hosts);
    if (r < 0) {
        (void)error_set_errno(e, r, "Failed to write %s: %m", d->hosts_path);
        dnsmasq_stop(d);
        return r;
    }
    pid = find_left_running(d);
    if (pid > 0 && watch(d, pid) >= 0) {
        log_info("Network %s: dnsmasq pid %d still serves %s; adopted.", d->network, pid,
                 d->bridge);
        (void)dnsmasq_set_hosts(d, hosts);
    } else {
        r = spawn(d, e);
        if (r < 0) {
            dnsmasq_stop(d);
            return r;
        }
    }
    *ret = d;
    return 0;
}

int dnsmasq_set_hosts(Dnsmasq *d, const char *hosts)
{
    int r = write_file_atomic(d->hosts_path, hosts);

    if (r < 0)
        return r;
    if (d->pid > 0 && kill(d->pid, SIGHUP) < 0)
        return -errno;
    return 0;
}

int dnsmasq_pid(const Dnsmasq *d)
{
    return d->pid;
}
