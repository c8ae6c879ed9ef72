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

void tsr__deadline_ns(struct timespec *until, uint64_t ns) {
    clock_gettime(CLOCK_MONOTONIC, until);
    uint64_t sum = (uint64_t)until->tv_nsec + ns;
    until->tv_sec += (time_t)(sum / 1000000000u);
    until->tv_nsec = (long)(sum % 1000000000u);
}
