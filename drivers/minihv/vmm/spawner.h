/* `minihv spawner`: starts VMMs for hvd's minihv driver and tells it of their ends. */
#pragma once

/* The spawner's main loop, on the sockets hvd gives it as descriptors 3 (requests and their
 * answers) and 4 (ends); argv[0] is "spawner". Returns the exit status once hvd is gone. */
int spawner_main(int argc, char **argv);
