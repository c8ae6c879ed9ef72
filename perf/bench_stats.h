/* Repetition statistics for the element-wise and reduction benchmarks: each
 * figure is the best (the least disturbed run on a shared machine) and the
 * median (what a typical run sees) of its repetitions. Header-only. */
#ifndef TSR_PERF_BENCH_STATS_H
#define TSR_PERF_BENCH_STATS_H

#include <stdlib.h>

#define BENCH_MAX_REPS 100

typedef struct bench_times {
    int n;
    double t[BENCH_MAX_REPS];
} bench_times;

static inline void bench_add(bench_times *b, double t) {
    if (b->n < BENCH_MAX_REPS) b->t[b->n++] = t;
}

static inline double bench_best(const bench_times *b) {
    double m = b->n ? b->t[0] : 0;
    for (int i = 1; i < b->n; i++)
        if (b->t[i] < m) m = b->t[i];
    return m;
}

static int bench_cmp(const void *p, const void *q) {
    double a = *(const double *)p, b = *(const double *)q;
    return (a > b) - (a < b);
}

static inline double bench_median(const bench_times *b) {
    if (b->n == 0) return 0;
    double s[BENCH_MAX_REPS];
    for (int i = 0; i < b->n; i++) s[i] = b->t[i];
    qsort(s, (size_t)b->n, sizeof s[0], bench_cmp);
    return b->n % 2 ? s[b->n / 2] : 0.5 * (s[b->n / 2 - 1] + s[b->n / 2]);
}

#endif
