/* Tap devices for domains whose VMM is handed one as a file descriptor. */
#pragma once

/* Creates (TUNSETIFF, IFF_TAP | IFF_NO_PI) the tap called name, not persistent, enslaves it to
 * bridge and brings it up. *ret_fd is the tap's descriptor (O_CLOEXEC): the tap lives as long as
 * some process holds it. Returns negative errno. */
int tap_open(const char *name, const char *bridge, int *ret_fd);
