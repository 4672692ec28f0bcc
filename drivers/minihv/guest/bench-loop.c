/* The shared CPU-bound loop: xorshift steps folded into an accumulator. */
#include "bench-loop.h"

__attribute__((noinline)) uint64_t bench_cpu_loop(uint64_t iterations)
{
    uint64_t x = 0x9e3779b97f4a7c15ull, acc = 0;

    for (uint64_t i = 0; i < iterations; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        acc += x ^ i;
    }
    return acc;
}
