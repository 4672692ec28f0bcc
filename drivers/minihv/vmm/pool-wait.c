/* `minihv pool`: makes the VM ahead of the guest, then waits on a socket to be handed one. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "parse-util.h"
#include "pool-wait.h"
#include "sandbox.h"

/* The arguments of a guest: at most this many bytes, this many strings. */
#define POOL_MESSAGE_MAX (64 * 1024)
#define POOL_ARGS_MAX    128

static int pool_usage(const char *fmt, const char *arg)
{
    fputs("minihv pool: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nUsage: minihv pool --mode pv|full --memory MiB --vcpus N --socket FD\n", stderr);
    return MINIHV_EXIT_USAGE;
}

static int parse_pool_argv(int argc, char **argv, VmConfig *shape, int *ret_socket)
{
    static const struct option options[] = {
        {"mode", required_argument, NULL, 'm'},
        {"memory", required_argument, NULL, 'M'},
        {"vcpus", required_argument, NULL, 'v'},
        {"socket", required_argument, NULL, 's'},
        {"room", required_argument, NULL, 'r'}, /* padding: see pool_show_guest */
        {},
    };
    unsigned mib = VM_DEFAULT_MEMORY_MIB, u;
    int c;

    *shape =
        (VmConfig){.mode = VM_MODE_PV, .vcpus = 1, .cmdline = "", .ready_fd = -1, .net_fd = -1};
    *ret_socket = -1;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":", options, NULL)) >= 0) {
        switch (c) {
        case 'm':
            shape->mode = vm_mode_from_string(optarg);
            if (shape->mode < 0)
                return pool_usage("--mode: expected pv or full, got '%s'", optarg);
            break;
        case 'M':
            if (parse_uint(optarg, VM_MIN_MEMORY_MIB, VM_MAX_MEMORY_MIB, &mib) < 0)
                return pool_usage("--memory: out of range: '%s'", optarg);
            break;
        case 'v':
            if (parse_uint(optarg, 1, VM_MAX_VCPUS, &shape->vcpus) < 0)
                return pool_usage("--vcpus: out of range: '%s'", optarg);
            break;
        case 's':
            if (parse_uint(optarg, 3, 1024, &u) < 0 || fcntl((int)u, F_GETFD) < 0)
                return pool_usage("--socket: '%s' is not an open file descriptor", optarg);
            *ret_socket = (int)u;
            break;
        case 'r':
            break;
        default:
            return pool_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return pool_usage("unexpected argument '%s'", argv[optind]);
    if (*ret_socket < 0)
        return pool_usage("--socket is needed%s", "");
    if (shape->mode == VM_MODE_FULL && shape->vcpus != 1)
        return pool_usage("--vcpus: full mode runs one vCPU%s", "");
    shape->mem_size = (uint64_t)mib << 20;
    return -1;
}

/* Closes every descriptor from 3 on but keep. */
static void close_all_but(int keep)
{
    if (keep > 3)
        (void)close_range(3, (unsigned)keep - 1, 0);
    (void)close_range((unsigned)keep + 1, ~0u, 0);
}

/* Holds the numbers the guest's descriptors take (POOL_READY_FD, POOL_NET_FD) with /dev/null,
 * so that the VM's own descriptors, made before, land elsewhere. */
static int hold_guest_fds(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    if ((fd != POOL_READY_FD && dup3(fd, POOL_READY_FD, O_CLOEXEC) < 0) ||
        (fd != POOL_NET_FD && dup3(fd, POOL_NET_FD, O_CLOEXEC) < 0)) {
        int r = -errno;
        (void)close(fd);
        return r;
    }
    if (fd != POOL_READY_FD && fd != POOL_NET_FD)
        (void)close(fd);
    return 0;
}

/* Moves the received descriptors into place (see pool-wait.h): first out of the way of the
 * targets, then onto them. */
static int place_fds(const int *fds, size_t n)
{
    static const int targets[POOL_FDS_MAX] = {POOL_READY_FD, STDOUT_FILENO, POOL_NET_FD};
    int high[POOL_FDS_MAX];

    if (n < 2)
        return -EBADMSG;
    for (size_t i = 0; i < n; i++) {
        high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 100);
        (void)close(fds[i]);
        if (high[i] < 0)
            return -errno;
    }
    for (size_t i = 0; i < n; i++) {
        if (dup2(high[i], targets[i]) < 0)
            return -errno;
        if (targets[i] == STDOUT_FILENO && dup2(high[i], STDERR_FILENO) < 0)
            return -errno;
        (void)close(high[i]);
    }
    if (n < POOL_FDS_MAX)
        (void)close(POOL_NET_FD); /* no tap: the number held for it is free again */
    return 0;
}

/* Receives the one message; splits its arguments. */
static int receive_guest(int sock, PoolGuest *ret)
{
    char control[CMSG_SPACE(POOL_FDS_MAX * sizeof(int))] = {0};
    _cleanup_free_ char *buf = malloc(POOL_MESSAGE_MAX + 1);
    _cleanup_free_ char **args = calloc(POOL_ARGS_MAX + 1, sizeof(char *));
    struct iovec iov = {.iov_base = buf, .iov_len = POOL_MESSAGE_MAX};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control,
                        .msg_controllen = sizeof(control)};
    int fds[POOL_FDS_MAX];
    size_t nfds = 0;
    int argc = 0, r;
    ssize_t n;

    if (!buf || !args)
        return -ENOMEM;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -ECONNRESET;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            /* the control buffer's padding has room for one more than a guest comes with */
            int got[POOL_FDS_MAX + 1];
            size_t k = MIN((c->cmsg_len - CMSG_LEN(0)) / sizeof(int), ELEMENTSOF(got));

            memcpy(got, CMSG_DATA(c), k * sizeof(int));
            for (size_t i = 0; i < k; i++)
                if (nfds < POOL_FDS_MAX)
                    fds[nfds++] = got[i];
                else
                    (void)close(got[i]); /* more than a guest comes with: none is kept */
        }
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
        return -EMSGSIZE;
    buf[n] = 0;
    for (char *p = buf; p < buf + n && argc < POOL_ARGS_MAX; p += strlen(p) + 1)
        args[argc++] = p;
    if (argc < 2 || !streq(args[1], "run"))
        return -EBADMSG;
    r = place_fds(fds, nfds);
    if (r < 0)
        return r;
    *ret = (PoolGuest){.argc = argc, .argv = TAKE_PTR(args), .buf = TAKE_PTR(buf)};
    return 0;
}

int pool_wait(int argc, char **argv, PoolGuest *ret)
{
    static const char waiting[] = "waiting\n";
    Error e = ERROR_NULL;
    VmConfig shape;
    int sock, r;
    Vm *vm;

    r = parse_pool_argv(argc, argv, &shape, &sock);
    if (r >= 0)
        return r;
    /* out of the way of the descriptors a guest comes with */
    r = fcntl(sock, F_DUPFD_CLOEXEC, 100);
    if (r < 0) {
        fprintf(stderr, "minihv pool: host error: cannot move the socket: %m\n");
        return MINIHV_EXIT_HOST_ERROR;
    }
    sock = r;
    close_all_but(sock);
    r = hold_guest_fds();
    if (r < 0) {
        fprintf(stderr, "minihv pool: host error: cannot hold descriptors: %s\n", strerror(-r));
        return MINIHV_EXIT_HOST_ERROR;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        fprintf(stderr, "minihv pool: host error: cannot set no-new-privs: %m\n");
        return MINIHV_EXIT_HOST_ERROR;
    }
    r = vm_prepare(&shape, 0, &vm, &e);
    if (r < 0) {
        fprintf(stderr, "minihv pool: host error: %s\n", e.message);
        return MINIHV_EXIT_HOST_ERROR;
    }
    (void)sandbox_prepare(); /* when it fails, the sandbox is compiled at entry as usual */
    if (send(sock, waiting, sizeof(waiting) - 1, MSG_NOSIGNAL) < 0) {
        vm_free(vm);
        return MINIHV_EXIT_DESTROYED; /* nobody waits for this VMM any more */
    }
    r = receive_guest(sock, ret);
    (void)close(sock);
    if (r < 0) {
        vm_free(vm);
        if (r == -ECONNRESET)
            return MINIHV_EXIT_DESTROYED;
        fprintf(stderr, "minihv pool: host error: cannot receive a guest: %s\n", strerror(-r));
        return MINIHV_EXIT_HOST_ERROR;
    }
    ret->vm = vm;
    return -1;
}

void pool_show_guest(int argc, char **argv, const PoolGuest *guest)
{
    char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1, *p = start;
    size_t need = 0;
    bool whole;

    for (int i = 0; i < guest->argc; i++)
        need += strlen(guest->argv[i]) + 1;
    whole = need <= (size_t)(end - start);
    for (int i = 0; i < guest->argc; i++) {
        const char *arg = guest->argv[i];
        size_t l = strlen(arg) + 1;

        /* short of room, the program, "run" and --control SOCKET are what finds the process */
        if (!whole && i >= 2 && !streq(arg, "--control") &&
            !(i > 0 && streq(guest->argv[i - 1], "--control")))
            continue;
        if (l > (size_t)(end - p))
            break;
        memmove(p, arg, l);
        p += l;
    }
    memset(p, 0, (size_t)(end - p));
}
