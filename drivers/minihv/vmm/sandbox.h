/* The sandbox entered after set-up: no new privileges and a seccomp allow-list. */
#pragma once

/* Sets PR_SET_NO_NEW_PRIVS and installs the allow-list on every thread of the process
 * (TSYNC). Any other system call raises SIGSYS, whose handler reports it and exits with the
 * host-error status. Returns 0 or a negative errno. */
int sandbox_enter(void);
