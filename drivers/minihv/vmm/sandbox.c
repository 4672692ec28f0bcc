/* seccomp allow-list: what the VMM needs once the VM, sockets and files exist. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "minihv-status.h"
#include "sandbox.h"

/* Steady-state needs of the main loop and the vCPU threads (glibc wrappers included). */
static const int allowed[] = {
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(readv),  /* the network thread: a frame from the tap into a guest buffer */
    SCMP_SYS(writev), /* the network thread and NE2000: a frame from the guest to the tap */
    SCMP_SYS(pread64),
    SCMP_SYS(pwrite64),
    SCMP_SYS(fdatasync),
    SCMP_SYS(fsync),
    SCMP_SYS(close),
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(accept4),
    SCMP_SYS(sendto),
    SCMP_SYS(recvfrom),
    SCMP_SYS(recvmsg),   /* control requests, with the descriptor of an image to save into */
    SCMP_SYS(sendmsg),   /* the statistics page's memfd to hvd (stats-page) */
    SCMP_SYS(ftruncate), /* sizing that image */
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(futex),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(tgkill),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(brk),
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    SCMP_SYS(mprotect),
    SCMP_SYS(mincore),
    SCMP_SYS(timerfd_settime),
    SCMP_SYS(timerfd_create), /* a migration's deadline and bandwidth pacing */
    SCMP_SYS(sched_yield),
    SCMP_SYS(newfstatat),
    SCMP_SYS(fstat),
    SCMP_SYS(lseek),
    SCMP_SYS(getrandom),
    SCMP_SYS(restart_syscall),
    /* a vCPU thread created just before the filter may still be running its start-up */
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
#ifdef MINIHV_SANITIZED
    /* AddressSanitizer/UBSan reports and LeakSanitizer's exit-time scan (which stops the
     * world with ptrace from a helper thread) need these; release builds never allow them. */
    SCMP_SYS(openat),
    SCMP_SYS(open),
    SCMP_SYS(readlink),
    SCMP_SYS(readlinkat),
    SCMP_SYS(getdents64),
    SCMP_SYS(getdents),
    SCMP_SYS(clone),
    SCMP_SYS(clone3),
    SCMP_SYS(ptrace),
    SCMP_SYS(wait4),
    SCMP_SYS(waitid),
    SCMP_SYS(prctl),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(getrlimit),
    SCMP_SYS(prlimit64),
    SCMP_SYS(uname),
    SCMP_SYS(getppid),
    SCMP_SYS(kill),
    SCMP_SYS(pipe),
    SCMP_SYS(pipe2),
    SCMP_SYS(dup),
    SCMP_SYS(dup2),
    SCMP_SYS(dup3),
    SCMP_SYS(fcntl),
    SCMP_SYS(statx),
    SCMP_SYS(stat),
    SCMP_SYS(lstat),
#endif
};

/* The only ioctls: running vCPUs, reading/writing their registers, reading their whole state
 * for a save, and KVM's dirty page log (turning it on for the memory slot, reading it). */
static const unsigned long allowed_ioctls[] = {
    KVM_RUN,
    KVM_GET_REGS,
    KVM_SET_REGS,
    KVM_GET_SREGS,
    KVM_SET_SREGS,
    KVM_GET_MSRS,
    KVM_GET_VCPU_EVENTS,
    KVM_GET_XCRS,
    KVM_GET_XSAVE,
    KVM_SET_USER_MEMORY_REGION,
    KVM_GET_DIRTY_LOG,
#ifdef MINIHV_SANITIZED
    TCGETS, /* isatty() before a sanitizer report */
#endif
};

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
    char msg[96] = "minihv: host error: the sandbox refused system call ";
    size_t len = strlen(msg);
    int nr = si->si_syscall;
    char digits[12];
    int n = 0;

    do
        digits[n++] = (char)('0' + nr % 10);
    while ((nr /= 10) > 0 && n < (int)sizeof(digits));
    while (n > 0)
        msg[len++] = digits[--n];
    msg[len++] = '\n';
    (void)!write(STDERR_FILENO, msg, len);
    _exit(MINIHV_EXIT_HOST_ERROR);
}

/* The allow-list as a libseccomp filter (every thread: TSYNC). NULL when out of memory or
 * refused. */
static scmp_filter_ctx build_filter(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    int r;

    if (!ctx)
        return NULL;
    r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(allowed); i++)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(allowed_ioctls); i++)
        r = seccomp_rule_add(
            ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
            (struct scmp_arg_cmp){
                .arg = 1, .op = SCMP_CMP_EQ, .datum_a = allowed_ioctls[i], .datum_b = 0});
    /* a migration's socket: that it is a stream socket, and TCP_NODELAY on it */
    if (r >= 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(getsockopt), 2,
                             SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET), SCMP_A2(SCMP_CMP_EQ, SO_TYPE));
    if (r >= 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setsockopt), 2,
                             SCMP_A1(SCMP_CMP_EQ, IPPROTO_TCP), SCMP_A2(SCMP_CMP_EQ, TCP_NODELAY));
#ifndef MINIHV_SANITIZED
    /* reading a descriptor's flags (an image to save into must not be O_APPEND) */
    if (r >= 0)
        r = seccomp_rule_add(
            ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
            (struct scmp_arg_cmp){.arg = 1, .op = SCMP_CMP_EQ, .datum_a = F_GETFL, .datum_b = 0});
#endif
    if (r < 0) {
        seccomp_release(ctx);
        return NULL;
    }
    return ctx;
}

/* The filter compiled ahead by sandbox_prepare, or none. */
static struct sock_filter *prepared_filter;
static unsigned short prepared_len;

int sandbox_prepare(void)
{
    _cleanup_close_ int fd = -EBADF;
    scmp_filter_ctx ctx;
    struct stat st;
    int r;

    ctx = build_filter();
    if (!ctx)
        return -ENOMEM;
    fd = memfd_create("minihv-seccomp", MFD_CLOEXEC);
    r = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    if (r < 0)
        return r;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
        st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return -EBADMSG;
    prepared_filter = malloc((size_t)st.st_size);
    if (!prepared_filter)
        return -ENOMEM;
    if (pread(fd, prepared_filter, (size_t)st.st_size, 0) != st.st_size) {
        prepared_filter = mfree(prepared_filter);
        return -EIO;
    }
    prepared_len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
    return 0;
}

int sandbox_enter(void)
{
    struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
    scmp_filter_ctx ctx;
    int r;

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        return -errno;
    if (prepared_filter) {
        struct sock_fprog prog = {.len = prepared_len, .filter = prepared_filter};
        r = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
        prepared_filter = mfree(prepared_filter); /* the kernel has its copy */
        /* TSYNC answers a positive thread id when a thread could not take the filter */
        return r == 0 ? 0 : r < 0 ? -errno : -EBUSY;
    }
    ctx = build_filter();
    if (!ctx)
        return -ENOMEM;
    r = seccomp_load(ctx);
    seccomp_release(ctx);
    return r < 0 ? r : 0;
}
