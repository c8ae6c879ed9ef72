/* Whole-array reductions on n doubles: Tessera's tsr_array_reduce (SUM and
 * NORM2) against plain C loops, the numpy side (np.sum, np.linalg.norm)
 * being perf/ref_numpy.py.
 *
 *   bench_reduce [--n N] [--tile T] [--reps R]   under mpirun: Tessera
 *   bench_reduce --c [--n N] [--reps R]          one process, no MPI: C loops
 *
 * x is n x 1, uniform in [-1, 1), on a P x 1 grid (P = ranks) with tiles of
 * T rows. A Tessera repetition is one tsr_array_reduce call (it waits and
 * leaves the value on every rank): tile partials on the workers, then the
 * tree over ranks. Tessera's SUM is compensated and its NORM2 scaled (no
 * overflow); the C loops are neither: 8 independent accumulators so the
 * compiler vectorises them (the memory-bandwidth bound), on 1 thread and on
 * 2 OpenMP threads. Results are checked against a serial long-double loop
 * over this rank's part (relative 1e-12 of sum |x| for SUM, 1e-13 for
 * NORM2); a difference fails the run.
 *
 * Every figure is the best and the median of R repetitions after one
 * warm-up, kinds alternating within a repetition. A short table, then one
 * JSON line (last). */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench_stats.h"
#include "tessera.h"

static void check(int rc, const char *what) {
    if (rc != TSR_OK)
        tsr_abort("bench_reduce: %s: %s: %s", what, tsr_status_string(rc), tsr_error_message());
}

/* ---- C loops: 8 accumulators, a fixed-trip inner loop GCC vectorises ---- */

static double sum8(const double *x, int64_t lo, int64_t hi) {
    double acc[8] = {0};
    int64_t i = lo;
    for (; i + 8 <= hi; i += 8)
        for (int u = 0; u < 8; u++) acc[u] += x[i + u];
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < hi; i++) s += x[i];
    return s;
}

static double sumsq8(const double *x, int64_t lo, int64_t hi) {
    double acc[8] = {0};
    int64_t i = lo;
    for (; i + 8 <= hi; i += 8)
        for (int u = 0; u < 8; u++) acc[u] += x[i + u] * x[i + u];
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < hi; i++) s += x[i] * x[i];
    return s;
}

/* The same over 2^16-element chunks spread over OpenMP threads. */
static double chunked(double (*f)(const double *, int64_t, int64_t), const double *x, int64_t n) {
    const int64_t chunk = (int64_t)1 << 16;
    double s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
    for (int64_t c = 0; c < (n + chunk - 1) / chunk; c++)
        s += f(x, c * chunk, c * chunk + chunk < n ? c * chunk + chunk : n);
    return s;
}

enum { C_SUM_1T, C_SUM_2T, C_NORM_1T, C_NORM_2T, C_NKINDS };
static const char *const c_names[C_NKINDS] = {"sum_1t", "sum_2t", "norm2_1t", "norm2_2t"};

static int c_loops(int64_t n, int reps) {
    size_t bytes = sizeof(double) * (size_t)n;
    double *x = NULL;
    if (posix_memalign((void **)&x, (size_t)2 << 20, bytes)) {
        fprintf(stderr, "bench_reduce: no memory for %lld doubles\n", (long long)n);
        return 1;
    }
#ifdef MADV_HUGEPAGE
    (void)madvise(x, bytes, MADV_HUGEPAGE);
#endif
    uint64_t s = 1;
    for (int64_t i = 0; i < n; i++) { /* splitmix64 -> [-1, 1) */
        uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        x[i] = 2.0 * (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53 - 1.0;
    }
    bench_times t[C_NKINDS] = {0};
    double v[C_NKINDS] = {0};
    for (int r = 0; r <= reps; r++) {
        for (int k = 0; k < C_NKINDS; k++) {
            double t0 = tsr_time();
            switch (k) {
            case C_SUM_1T: v[k] = sum8(x, 0, n); break;
            case C_SUM_2T: v[k] = chunked(sum8, x, n); break;
            case C_NORM_1T: v[k] = sqrt(sumsq8(x, 0, n)); break;
            default: v[k] = sqrt(chunked(sumsq8, x, n)); break;
            }
            if (r > 0) bench_add(&t[k], tsr_time() - t0); /* r == 0: warm-up */
        }
    }
    printf("  C loops, n = %lld, best/median of %d (8 accumulators; 2t = 2 OpenMP threads)\n",
           (long long)n, reps);
    for (int k = 0; k < C_NKINDS; k++)
        printf("  %-16s best %.4f s  median %.4f s  (%.6g)\n", c_names[k], bench_best(&t[k]),
               bench_median(&t[k]), v[k]);
    printf("{\"bench\":\"reduce_c\",\"n\":%lld,\"reps\":%d", (long long)n, reps);
    for (int k = 0; k < C_NKINDS; k++)
        printf(",\"%s_s\":%.6f,\"%s_median_s\":%.6f", c_names[k], bench_best(&t[k]), c_names[k],
               bench_median(&t[k]));
    printf("}\n");
    free(x);
    return 0;
}

/* ---- Tessera ---- */

static double timed_reduce(tsr_array_t *x, int op, double *value) {
    check(tsr_fence(), "tsr_fence");
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = tsr_time();
    check(tsr_array_reduce(x, op, value), "tsr_array_reduce");
    double t = tsr_time() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return t;
}

static int tessera(int *argc, char ***argv, int64_t n, int64_t tile, int reps) {
    check(tsr_init(argc, argv), "tsr_init");
    int rank = tsr_rank(), nranks = tsr_nranks();
    tsr_dist_t *d;
    check(tsr_dist_create(nranks, 1, tile, 1, &d), "tsr_dist_create");
    tsr_array_t *x;
    check(tsr_array_random_uniform(d, n, 1, 1, -1.0, 1.0, &x), "random x");
    check(tsr_array_wait(x), "wait x");

    bench_times ts = {0}, tn = {0};
    double vs = 0, vn = 0;
    for (int r = 0; r <= reps; r++) {
        double t = timed_reduce(x, TSR_SUM, &vs);
        if (r > 0) bench_add(&ts, t);
        t = timed_reduce(x, TSR_NORM2, &vn);
        if (r > 0) bench_add(&tn, t);
    }

    /* Reference: long-double sums of this rank's part, added over ranks. */
    int desc[9], lld;
    double *p = NULL;
    check(tsr_array_scalapack(x, desc, &p, &lld), "tsr_array_scalapack");
    int64_t tiles = (n + tile - 1) / tile, lm = 0;
    for (int64_t k = rank; k < tiles; k += nranks) lm += k == tiles - 1 ? n - k * tile : tile;
    long double s = 0, a = 0, q = 0;
    for (int64_t i = 0; i < lm; i++) s += p[i], a += fabs(p[i]), q += (long double)p[i] * p[i];
    double ref[3] = {(double)s, (double)a, (double)q};
    MPI_Allreduce(MPI_IN_PLACE, ref, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    double es = fabs(vs - ref[0]) / ref[1], en = fabs(vn - sqrt(ref[2])) / sqrt(ref[2]);
    int bad = !(es <= 1e-12) || !(en <= 1e-13);
    if (rank == 0) {
        int w = tsr_num_workers();
        printf("  Tessera: %d rank%s x %d worker%s, %d x 1 grid, tiles of %lld rows (%lld tiles, "
               "%.1f per worker), n = %lld, best/median of %d\n",
               nranks, nranks == 1 ? "" : "s", w, w == 1 ? "" : "s", nranks, (long long)tile,
               (long long)tiles, (double)tiles / (nranks * w), (long long)n, reps);
        printf("  %-16s best %.4f s  median %.4f s  (%.10g; rel. error %.2g)\n", "sum",
               bench_best(&ts), bench_median(&ts), vs, es);
        printf("  %-16s best %.4f s  median %.4f s  (%.10g; rel. error %.2g)\n", "norm2",
               bench_best(&tn), bench_median(&tn), vn, en);
        printf("{\"bench\":\"reduce_tessera\",\"n\":%lld,\"tile_rows\":%lld,\"ranks\":%d,"
               "\"threads\":%d,\"reps\":%d,\"sum_s\":%.6f,\"sum_median_s\":%.6f,"
               "\"norm2_s\":%.6f,\"norm2_median_s\":%.6f,\"sum_rel_err\":%.3g,"
               "\"norm2_rel_err\":%.3g}\n",
               (long long)n, (long long)tile, nranks, w, reps, bench_best(&ts), bench_median(&ts),
               bench_best(&tn), bench_median(&tn), es, en);
        if (bad) fprintf(stderr, "bench_reduce: results differ from the serial loop\n");
        fflush(stdout);
    }
    tsr_array_free(&x);
    tsr_dist_free(&d);
    check(tsr_finalize(), "tsr_finalize");
    return bad;
}

int main(int argc, char **argv) {
    int64_t n = 100000000, tile = (int64_t)1 << 18;
    int reps = 7, c = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--tile") && i + 1 < argc)
            tile = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--c"))
            c = 1;
        else {
            fprintf(stderr, "usage: bench_reduce [--c] [--n N] [--tile T] [--reps R]\n");
            return 2;
        }
    }
    if (n < 1 || tile < 1 || reps < 1 || reps > BENCH_MAX_REPS) {
        fprintf(stderr, "bench_reduce: N and T must be positive, 1 <= R <= %d\n", BENCH_MAX_REPS);
        return 2;
    }
    return c ? c_loops(n, reps) : tessera(&argc, &argv, n, tile, reps);
}
