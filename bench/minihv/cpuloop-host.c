/* The bench guest's CPU loop run on the host, built with the guests' code-generation flags, so
 * that pv mode's ring-3 speed can be compared with native: prints "cycles=N result=X". */
#include <stdio.h>
#include <stdlib.h>
#include <x86intrin.h>

#include "bench-loop.h"

int main(int argc, char **argv)
{
    unsigned long long n, t0, t1, result;

    if (argc != 2) {
        fprintf(stderr, "usage: %s ITERATIONS\n", argv[0]);
        return 2;
    }
    n = strtoull(argv[1], NULL, 0);
    t0 = __rdtsc();
    result = bench_cpu_loop(n);
    t1 = __rdtsc();
    printf("cycles=%llu result=%llx\n", t1 - t0, result);
    return 0;
}
