/* The CPU-bound loop of the bench guest, also built into a host program for comparison. */
#pragma once

#include <stdint.h>

/* Runs iterations of an integer mixing loop with a serial dependency (no vector units, no
 * memory traffic) and returns its result so that it cannot be optimised away. */
uint64_t bench_cpu_loop(uint64_t iterations);
