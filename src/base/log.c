/* Rank-prefixed logging to stderr, one write(2) per line. */
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "base/internal.h"

static atomic_int log_rank = -1;
static atomic_int log_level = -1; /* -1: not read from TSR_LOG yet */

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void tsr_log_set_rank(int rank) { atomic_store(&log_rank, rank); }

int tsr_log_enabled(int level) {
    int cur = atomic_load_explicit(&log_level, memory_order_relaxed);
    if (cur < 0) {
        cur = tsr__options()->log_level;
        atomic_store(&log_level, cur);
    }
    return level <= cur;
}

void tsr_log(int level, const char *fmt, ...) {
    if (!tsr_log_enabled(level)) return;
    if (level < TSR_LOG_ERROR) level = TSR_LOG_ERROR;
    if (level > TSR_LOG_DEBUG) level = TSR_LOG_DEBUG;
    char line[2048];
    int rank = atomic_load(&log_rank);
    int n = rank >= 0 ? snprintf(line, sizeof line, "[rank %d] %s: ", rank, level_names[level])
                      : snprintf(line, sizeof line, "[rank ?] %s: ", level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    TSR_UNUSED(w);
}
