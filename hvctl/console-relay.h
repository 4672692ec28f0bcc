/* Copies bytes between a terminal and a console connection until the user detaches. */
#pragma once

#include "error.h"

/* Relays fd <-> (in_fd, out_fd): console output to out_fd, typed input from in_fd to fd. The
 * escape byte in the input detaches; when in_fd ends, output keeps flowing for a moment, then
 * it detaches. Returns 1 when the console closed (the domain stopped), 0 on detach. */
int console_relay(int fd, int in_fd, int out_fd, char escape, Error *e);

/* Puts the terminal on fd into raw input mode (output still maps \n to \r\n); *saved receives
 * the previous settings. Returns 0, or -ENOTTY when fd is not a terminal. */
struct termios;
int terminal_raw(int fd, struct termios *saved);
