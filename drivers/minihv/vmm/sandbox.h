/* The sandbox entered after set-up: no new privileges and a seccomp allow-list. */
#pragma once

/* Sets PR_SET_NO_NEW_PRIVS and installs the allow-list on every thread of the process
 * (TSYNC). Any other system call raises SIGSYS, whose handler reports it and exits with the
 * host-error status. Returns 0 or a negative errno. */
int sandbox_enter(void);

/* Compiles the allow-list ahead of sandbox_enter (a warm-pool VMM does it while it waits for a
 * guest), so that entering costs one system call. Returns 0 or a negative errno (sandbox_enter
 * then compiles it itself). */
int sandbox_prepare(void);
