/* The network backend: the tap descriptor, the MAC, and the thread that moves frames. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "error.h"
#include "vm.h"

#define NET_MAC_LEN     6u
#define NET_SCRATCH_LEN 65536u /* the largest frame a tap can hand over */

typedef struct Net Net;

/* What a guest-facing device (the pv rings or the NE2000) does for the backend. Both run on the
 * network thread (or the fuzzer's thread), never on a vCPU thread. */
typedef struct NetFrontendOps {
    /* Moves frames from the tap into the guest until the tap is empty (returns true: keep
     * watching the tap) or the guest has no room (returns false: wait for net_wake). */
    bool (*rx)(Net *net);
    /* The pv doorbell rang: sends the frames the guest published. NULL for the NE2000, which
     * transmits on the vCPU thread when the guest issues the command. */
    void (*tx)(Net *net);
} NetFrontendOps;

struct Net {
    Vm *vm; /* owner */
    int tap_fd;
    uint8_t mac[NET_MAC_LEN];
    const NetFrontendOps *ops;
    void *frontend;  /* PvNet or Ne2000 */
    int doorbell_fd; /* pv: the ioeventfd behind MINIHV_PORT_NET_DOORBELL, or -EBADF */
    int wake_fd;     /* eventfd: guest room appeared, a ring was set up, or stop */
    int epoll_fd;
    bool tap_watched;
    bool stop; /* atomic */
    pthread_t thread;
    bool thread_started;
    uint8_t scratch[NET_SCRATCH_LEN]; /* network thread only: frames that are dropped */
};

/* Parses "XX:XX:XX:XX:XX:XX" (hex, either case) into mac. Refuses multicast and all-zero
 * addresses. Returns 0 or -EINVAL. */
int net_mac_parse(const char *s, uint8_t mac[NET_MAC_LEN]);

/* The MAC used without --mac: 02 (locally administered, unicast) followed by the first five
 * bytes of the 64-bit FNV-1a hash of name (the tap's interface name), so the same tap always
 * gets the same address. */
void net_mac_derive(const char *name, uint8_t mac[NET_MAC_LEN]);

/* Formats mac as "xx:xx:xx:xx:xx:xx" into buf (at least 18 bytes). */
void net_mac_format(const uint8_t mac[NET_MAC_LEN], char *buf);

/* Checks that fd is a tap opened with IFF_TAP|IFF_NO_PI and stores its interface name in name
 * (IFNAMSIZ bytes). Returns 0, -ENOTTY when fd is no tap, -EINVAL for other flags. */
int net_tap_check(int fd, char *name);

/* vm.c's set-up step: when cfg->net_fd >= 0, builds vm->net on that descriptor (made
 * non-blocking) and the mode's device (pv rings and doorbell, or the NE2000). */
int net_init(Vm *vm, Error *e);
void net_fini(Vm *vm);

/* Starts the network thread (before the sandbox closes). No-op without a net device. */
int net_start(Vm *vm);

/* Stops and joins the network thread. Accepts a VM without one. */
void net_stop(Vm *vm);

/* Wakes the network thread: the guest made room or set up rings. Any thread. */
void net_wake(Net *net);

/* One round of the thread's work after any wake-up: the frontend's tx (pv), then its rx, then
 * whether to keep watching the tap. The fuzzer calls it instead of running the thread. */
void net_process(Net *net);

/* Reads one frame from the tap and drops it, counting the drop. Returns false when the tap is
 * empty (or failed). Network thread only. */
bool net_drop_one(Net *net);

/* Sends one frame to the tap from iov; counts it (or the drop). Any one thread at a time per
 * frontend. Returns 0 or a negative errno. */
int net_send(Net *net, const struct iovec *iov, int iovcnt, size_t len);

/* Marks that frames reached the guest: raises MINIHV_EVENT_NET and wakes a waiting vCPU. */
void net_signal_rx(Vm *vm);
