/* echo: echoes console input until a line says "quit" (powers off), "reboot" or "crash", or
 * until the host asks for a shutdown (powers off). */
#include "minihv-guest.h"

static void handle_line(const char *line)
{
    if (strcmp(line, "quit") == 0) {
        printf("echo: bye\n");
        power_off();
    }
    if (strcmp(line, "reboot") == 0) {
        printf("echo: rebooting\n");
        power_reboot();
    }
    if (strcmp(line, "crash") == 0)
        panic("echo: crash requested");
}

int main(void)
{
    char buf[256], line[128];
    size_t len = 0;

    printf("echo: ready (%s mode)\n", sys_mode());
    for (;;) {
        size_t n = console_read(buf, sizeof(buf));

        if (n == 0) {
            /* Input and a shutdown request end the wait, so it can be long: every wake-up of
             * an idle guest costs the host ~0.1 ms, which 10 000 idle guests waking once a
             * second would make a whole CPU. */
            if (sys_wait(60000000000ull) & SYS_EVENT_SHUTDOWN)
                break;
            continue;
        }
        console_write(buf, n);
        for (size_t i = 0; i < n; i++) {
            if (buf[i] == '\n' || buf[i] == '\r') {
                line[len] = '\0';
                handle_line(line);
                len = 0;
            } else if (len < sizeof(line) - 1)
                line[len++] = buf[i];
        }
    }
    printf("echo: shutdown requested, powering off\n");
    return 0;
}
