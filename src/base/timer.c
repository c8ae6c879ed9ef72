/* Monotonic timers. CLOCK_MONOTONIC is not affected by NTP steps, so
 * intervals are always >= 0. */
#include <time.h>

#include "base/internal.h"

uint64_t tsr_time_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double tsr_time(void) { return (double)tsr_time_ns() * 1e-9; }
