/* `minihv save`: asks a running minihv, over its control socket, to save into an image file. */
#pragma once

/* Runs `minihv save --control SOCKET [--then resume|stop] IMAGE` (argv[0] is "save"): opens
 * IMAGE (created 0600 when missing; the VMM truncates it once it accepts the request), passes
 * its descriptor with the save request and prints the reply. Returns the exit status: 0 saved,
 * 1 refused or failed, 2 usage error. */
int save_client_main(int argc, char **argv);
