/* `minihv pool`: a VMM made before its guest is known, waiting for the domain it is to run. */
#pragma once

#include "vm.h"

/* The descriptors a guest is handed with, in this order in its message's SCM_RIGHTS, and where
 * they end up: the ready pipe as fd 3, the VMM log as standard output and error, and the tap
 * (when the domain has a NIC) as fd 4. The `minihv run` arguments name them so. Until a guest
 * comes, /dev/null holds fds 3 and 4, so that the VM made before lands elsewhere. */
#define POOL_READY_FD 3
#define POOL_NET_FD   4
#define POOL_FDS_MAX  3

/* The guest a pooled VMM was handed: its `minihv run` arguments (argv[0] is the program,
 * argv[1] "run"; the strings live in buf) and the VM made for it. */
typedef struct PoolGuest {
    int argc;
    char **argv;
    char *buf;
    Vm *vm;
} PoolGuest;

/* Runs `minihv pool --mode M --memory MiB --vcpus N --socket FD [--room PADDING]` (argv[0] is
 * "pool"): closes
 * every other inherited descriptor, sets no-new-privs, makes the VM (memory, KVM's VM, the
 * vCPUs), writes "waiting\n" on the socket and waits there for one message (a SOCK_SEQPACKET
 * datagram): the NUL-separated arguments of `minihv run` and the descriptors above, which it
 * moves into place. Returns -1 with *ret filled (free ret->argv and ret->buf), or an exit
 * status: usage, host error (the VM could not be made), destroyed (the socket closed: hvd
 * went away or emptied its pool). */
int pool_wait(int argc, char **argv, PoolGuest *ret);

/* Shows the guest's `minihv run` arguments as this process's command line (/proc/PID/cmdline,
 * where hvd and ps find a domain's VMM by its --control socket), written over the original
 * argv (argc, argv of main), whose --room padding makes space. */
void pool_show_guest(int argc, char **argv, const PoolGuest *guest);
