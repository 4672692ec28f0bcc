/* clock: prints the date and time (UTC) from the mode's clock, and the Unix time. */
#include "minihv-guest.h"

int main(void)
{
    uint64_t ns = clock_wall_ns();
    char when[32];

    clock_format(ns / 1000000000ull, when, sizeof(when));
    printf("clock: %s UTC (%s mode)\n", when, sys_mode());
    printf("clock: unix time %llu\n", (unsigned long long)(ns / 1000000000ull));
    return 0;
}
