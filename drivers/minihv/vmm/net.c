/* The network backend: set-up, the network thread's loop, sending and dropping frames. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "devices.h"
#include "macro.h"
#include "net.h"
#include "pv.h"

static int net_watch(Net *net, int fd, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};

    return epoll_ctl(net->epoll_fd, op, fd, &ev) < 0 ? -errno : 0;
}

/* The pv doorbell as an ioeventfd: a guest's notification costs no exit to user space. When the
 * host refuses, writes to the port exit and hypercall.c forwards them with net_wake. */
static void net_register_doorbell(Vm *vm, Net *net)
{
    struct kvm_ioeventfd io;
    int fd;

    if (vm->vm_fd < 0)
        return;
    fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return;
    io = (struct kvm_ioeventfd){
        .addr = MINIHV_PORT_NET_DOORBELL,
        .len = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0 ? 0 : 4,
        .fd = fd,
        .flags = KVM_IOEVENTFD_FLAG_PIO,
    };
    if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ||
        net_watch(net, fd, EPOLLIN, EPOLL_CTL_ADD) < 0) {
        (void)close(fd);
        return;
    }
    net->doorbell_fd = fd;
}

int net_init(Vm *vm, Error *e)
{
    Net *net;
    int flags, r;

    if (vm->cfg.net_fd < 0)
        return 0;
    net = calloc(1, sizeof(*net));
    if (!net)
        return error_set_errno(e, ENOMEM, "out of memory");
    net->vm = vm;
    net->tap_fd = vm->cfg.net_fd;
    net->doorbell_fd = net->wake_fd = net->epoll_fd = -EBADF;
    memcpy(net->mac, vm->cfg.mac, NET_MAC_LEN);
    vm->net = net;
    flags = fcntl(net->tap_fd, F_GETFL);
    if (flags < 0 || fcntl(net->tap_fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(net->tap_fd, F_SETFD, FD_CLOEXEC) < 0)
        return error_set_errno(e, errno, "cannot set up the network descriptor %d: %m",
                               net->tap_fd);
    net->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    net->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (net->wake_fd < 0 || net->epoll_fd < 0)
        return error_set_errno(e, errno, "cannot create the network thread's descriptors: %m");
    r = net_watch(net, net->wake_fd, EPOLLIN, EPOLL_CTL_ADD);
    if (r >= 0)
        r = net_watch(net, net->tap_fd, EPOLLIN, EPOLL_CTL_ADD);
    if (r < 0)
        return error_set_errno(e, r, "cannot watch the network descriptor: %m");
    net->tap_watched = true;
    if (vm->cfg.mode == VM_MODE_PV) {
        r = pv_net_init(vm, e);
        if (r >= 0)
            net_register_doorbell(vm, net);
        return r;
    }
    return ne2000_init(vm, e);
}

void net_fini(Vm *vm)
{
    Net *net = vm->net;

    if (!net)
        return;
    net_stop(vm);
    pv_net_fini(vm);
    ne2000_fini(vm);
    safe_close(net->doorbell_fd);
    safe_close(net->wake_fd);
    safe_close(net->epoll_fd);
    safe_close(net->tap_fd);
    vm->net = mfree(net);
}

static uint64_t net_drain(int fd)
{
    uint64_t v = 0;

    return read(fd, &v, sizeof(v)) == sizeof(v) ? v : 0;
}

void net_process(Net *net)
{
    bool want;

    if (net->ops->tx)
        net->ops->tx(net);
    want = net->ops->rx(net);
    if (want != net->tap_watched &&
        net_watch(net, net->tap_fd, want ? EPOLLIN : 0, EPOLL_CTL_MOD) >= 0)
        net->tap_watched = want;
}

static void *net_thread(void *arg)
{
    Net *net = arg;
    Vm *vm = net->vm;

    for (;;) {
        struct epoll_event ev[4];
        int n = epoll_wait(net->epoll_fd, ev, (int)ELEMENTSOF(ev), -1);

        if (n < 0 && errno != EINTR) {
            vm_request_exit(vm, MINIHV_EXIT_HOST_ERROR, "host error: network thread: %m");
            break;
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == net->doorbell_fd)
                stats_add(&vm->stats->devices[STAT_DEV_NET_DOORBELL_EVENT],
                          net_drain(net->doorbell_fd));
            else if (ev[i].data.fd == net->wake_fd)
                (void)net_drain(net->wake_fd);
        }
        if (__atomic_load_n(&net->stop, __ATOMIC_ACQUIRE))
            break;
        net_process(net);
    }
    return NULL;
}

int net_start(Vm *vm)
{
    pthread_attr_t attr;
    int r;

    if (!vm->net)
        return 0;
    pthread_attr_init(&attr);
    (void)pthread_attr_setstacksize(&attr, 256 * 1024);
    r = pthread_create(&vm->net->thread, &attr, net_thread, vm->net);
    pthread_attr_destroy(&attr);
    if (r != 0)
        return -r;
    vm->net->thread_started = true;
    return 0;
}

void net_stop(Vm *vm)
{
    Net *net = vm->net;

    if (!net || !net->thread_started)
        return;
    __atomic_store_n(&net->stop, true, __ATOMIC_RELEASE);
    net_wake(net);
    (void)pthread_join(net->thread, NULL);
    net->thread_started = false;
}

void net_wake(Net *net)
{
    uint64_t one = 1;

    (void)!write(net->wake_fd, &one, sizeof(one));
}

bool net_drop_one(Net *net)
{
    ssize_t n = read(net->tap_fd, net->scratch, sizeof(net->scratch));

    if (n <= 0)
        return false;
    stats_add(&net->vm->stats->net_rx_dropped, 1);
    return true;
}

int net_send(Net *net, const struct iovec *iov, int iovcnt, size_t len)
{
    Stats *s = net->vm->stats;
    ssize_t n = writev(net->tap_fd, iov, iovcnt);

    if (n < 0) {
        int r = -errno;
        stats_add(&s->net_tx_dropped, 1);
        return r;
    }
    stats_add(&s->net_tx_frames, 1);
    stats_add(&s->net_tx_bytes, len);
    return 0;
}

void net_signal_rx(Vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->net_events |= MINIHV_EVENT_NET;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
}
