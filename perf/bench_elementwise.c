/* Element-wise expressions on n doubles: Tessera's fused tsr_array_eval
 * against plain C loops (the memory-bandwidth bound), the numpy side being
 * perf/ref_numpy.py.
 *
 *   bench_elementwise [--n N] [--tile T] [--reps R]   under mpirun: Tessera
 *   bench_elementwise --c [--n N] [--reps R]          one process, no MPI: C loops
 *
 * The expressions: axpy  z = a*x + y            (a = 2.5; 2 loads, 1 store)
 *                  fused z = exp(-(x*x))*y + 0.5*x
 * on x uniform in [-1, 1) and y uniform in [0, 1), n x 1 arrays on a P x 1
 * grid (P = ranks) with tiles of T rows, so each worker has many tiles.
 *
 * A Tessera repetition is: build the tree, tsr_array_eval, tsr_array_wait,
 * i.e. what a user's line costs, including the fresh result array and its
 * first-touch page faults (the previous result is freed untimed). With
 * several ranks the time is the slowest rank's. The results are checked
 * against a serial loop over this rank's local part: axpy exactly, fused to
 * 1e-15 (Tessera's exp is within 1 ulp of libm's); a difference fails the run.
 *
 * The C loops (--c; no Tessera runtime in the process, so no worker threads
 * compete with OpenMP's): 1 thread into a pre-touched output, 2 OpenMP
 * threads into a pre-touched output, and 1 thread into a fresh output
 * (malloc, so 4 KiB pages; and 2 MiB aligned with MADV_HUGEPAGE, as Tessera
 * and numpy allocate large arrays). All use libm's exp.
 *
 * Every figure is the best and the median of R repetitions after one
 * warm-up; the kinds of run alternate within each repetition so that all
 * see the same machine load. A short table, then one JSON line (last). */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench_stats.h"
#include "tessera.h"

#define A 2.5 /* the scalar of a*x + y, the same in ref_numpy.py */

static void check(int rc, const char *what) {
    if (rc != TSR_OK)
        tsr_abort("bench_elementwise: %s: %s: %s", what, tsr_status_string(rc),
                  tsr_error_message());
}

/* ---- C loops ---- */

static void axpy(int64_t n, double *restrict z, const double *restrict x,
                 const double *restrict y) {
    for (int64_t i = 0; i < n; i++) z[i] = A * x[i] + y[i];
}

static void fused(int64_t n, double *restrict z, const double *restrict x,
                  const double *restrict y) {
    for (int64_t i = 0; i < n; i++) z[i] = exp(-(x[i] * x[i])) * y[i] + 0.5 * x[i];
}

static void axpy_omp(int64_t n, double *restrict z, const double *restrict x,
                     const double *restrict y) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) z[i] = A * x[i] + y[i];
}

static void fused_omp(int64_t n, double *restrict z, const double *restrict x,
                      const double *restrict y) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) z[i] = exp(-(x[i] * x[i])) * y[i] + 0.5 * x[i];
}

static double uniform(uint64_t *s) { /* splitmix64 -> [0, 1) */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

static void *huge_alloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, (size_t)2 << 20, bytes)) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

enum { C_AXPY_1T, C_AXPY_2T, C_AXPY_FRESH, C_AXPY_FRESH_THP, C_FUSED_1T, C_FUSED_2T, C_NKINDS };
static const char *const c_names[C_NKINDS] = {"axpy_1t", "axpy_2t", "axpy_fresh", "axpy_fresh_thp",
                                              "fused_1t", "fused_2t"};

static int c_loops(int64_t n, int reps) {
    size_t bytes = sizeof(double) * (size_t)n;
    double *x = huge_alloc(bytes), *y = huge_alloc(bytes), *z = huge_alloc(bytes);
    if (!x || !y || !z) {
        fprintf(stderr, "bench_elementwise: no memory for 3 x %lld doubles\n", (long long)n);
        return 1;
    }
    uint64_t s = 1;
    for (int64_t i = 0; i < n; i++) x[i] = 2.0 * uniform(&s) - 1.0, y[i] = uniform(&s);
    memset(z, 0, bytes); /* pre-touched */
    bench_times t[C_NKINDS] = {0};
    double sink = 0;
    for (int r = 0; r <= reps; r++) {
        for (int k = 0; k < C_NKINDS; k++) {
            double t0 = tsr_time();
            double *out = z;
            if (k == C_AXPY_FRESH) out = malloc(bytes);
            if (k == C_AXPY_FRESH_THP) out = huge_alloc(bytes);
            if (!out) {
                fprintf(stderr, "bench_elementwise: no memory for a fresh output\n");
                return 1;
            }
            switch (k) {
            case C_AXPY_1T:
            case C_AXPY_FRESH:
            case C_AXPY_FRESH_THP: axpy(n, out, x, y); break;
            case C_AXPY_2T: axpy_omp(n, out, x, y); break;
            case C_FUSED_1T: fused(n, out, x, y); break;
            default: fused_omp(n, out, x, y); break;
            }
            double dt = tsr_time() - t0;
            sink += out[n / 2];
            if (out != z) free(out);
            if (r > 0) bench_add(&t[k], dt); /* r == 0: warm-up */
        }
    }
    printf("  C loops, n = %lld, best/median of %d (libm exp; 2t = 2 OpenMP threads)\n",
           (long long)n, reps);
    for (int k = 0; k < C_NKINDS; k++)
        printf("  %-16s best %.4f s  median %.4f s\n", c_names[k], bench_best(&t[k]),
               bench_median(&t[k]));
    printf("{\"bench\":\"elementwise_c\",\"n\":%lld,\"reps\":%d", (long long)n, reps);
    for (int k = 0; k < C_NKINDS; k++)
        printf(",\"%s_s\":%.6f,\"%s_median_s\":%.6f", c_names[k], bench_best(&t[k]), c_names[k],
               bench_median(&t[k]));
    printf(",\"sink\":%.3f}\n", sink);
    free(x), free(y), free(z);
    return 0;
}

/* ---- Tessera ---- */

static tsr_expr_t *ex_axpy(tsr_array_t *x, tsr_array_t *y) {
    return tsr_ex_binary(TSR_ADD, tsr_ex_binary(TSR_MUL, tsr_ex_scalar(A), tsr_ex_array(x)),
                         tsr_ex_array(y));
}

static tsr_expr_t *ex_fused(tsr_array_t *x, tsr_array_t *y) {
    tsr_expr_t *xx = tsr_ex_binary(TSR_MUL, tsr_ex_array(x), tsr_ex_array(x));
    tsr_expr_t *e = tsr_ex_unary(TSR_EXP, tsr_ex_unary(TSR_NEG, xx));
    return tsr_ex_binary(TSR_ADD, tsr_ex_binary(TSR_MUL, e, tsr_ex_array(y)),
                         tsr_ex_binary(TSR_MUL, tsr_ex_scalar(0.5), tsr_ex_array(x)));
}

/* One timed repetition: tree, eval, wait; the slowest rank's seconds. */
static double timed_eval(tsr_expr_t *(*build)(tsr_array_t *, tsr_array_t *), tsr_array_t *x,
                         tsr_array_t *y, tsr_array_t **z) {
    tsr_array_free(z);
    check(tsr_fence(), "tsr_fence");
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = tsr_time();
    tsr_expr_t *e = build(x, y);
    check(tsr_array_eval(e, z), "tsr_array_eval");
    tsr_ex_free(&e);
    check(tsr_array_wait(*z), "tsr_array_wait");
    double t = tsr_time() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return t;
}

static double *local_part(tsr_array_t *a) {
    int desc[9], lld;
    double *p = NULL;
    check(tsr_array_scalapack(a, desc, &p, &lld), "tsr_array_scalapack");
    return p;
}

/* Largest difference between the results and serial loops over this rank's
 * local parts (x, y, z share one layout), over all ranks. */
static void verify(int64_t lm, tsr_array_t *x, tsr_array_t *y, tsr_array_t *za, tsr_array_t *zf,
                   double *da, double *df) {
    const double *px = local_part(x), *py = local_part(y);
    const double *pa = local_part(za), *pf = local_part(zf);
    double d[2] = {0, 0};
    for (int64_t i = 0; i < lm; i++) {
        double ra = A * px[i] + py[i], rf = exp(-(px[i] * px[i])) * py[i] + 0.5 * px[i];
        double ea = fabs(pa[i] - ra), ef = fabs(pf[i] - rf);
        if (!(ea <= d[0])) d[0] = ea; /* NaN sticks */
        if (!(ef <= d[1])) d[1] = ef;
    }
    MPI_Allreduce(MPI_IN_PLACE, d, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    *da = d[0], *df = d[1];
}

static int tessera(int *argc, char ***argv, int64_t n, int64_t tile, int reps) {
    check(tsr_init(argc, argv), "tsr_init");
    int rank = tsr_rank(), nranks = tsr_nranks();
    tsr_dist_t *d;
    check(tsr_dist_create(nranks, 1, tile, 1, &d), "tsr_dist_create");
    tsr_array_t *x, *y, *za = NULL, *zf = NULL;
    check(tsr_array_random_uniform(d, n, 1, 1, -1.0, 1.0, &x), "random x");
    check(tsr_array_random_uniform(d, n, 1, 2, 0.0, 1.0, &y), "random y");
    check(tsr_array_wait(x), "wait x");
    check(tsr_array_wait(y), "wait y");

    bench_times ta = {0}, tf = {0};
    for (int r = 0; r <= reps; r++) {
        double t = timed_eval(ex_axpy, x, y, &za);
        if (r > 0) bench_add(&ta, t);
        t = timed_eval(ex_fused, x, y, &zf);
        if (r > 0) bench_add(&tf, t);
    }

    int64_t tiles = (n + tile - 1) / tile, lm = 0;
    for (int64_t k = rank; k < tiles; k += nranks) lm += k == tiles - 1 ? n - k * tile : tile;
    double da, df;
    verify(lm, x, y, za, zf, &da, &df);
    int bad = !(da == 0) || !(df <= 1e-15);
    if (rank == 0) {
        int w = tsr_num_workers();
        printf("  Tessera: %d rank%s x %d worker%s, %d x 1 grid, tiles of %lld rows (%lld tiles, "
               "%.1f per worker), n = %lld, best/median of %d\n",
               nranks, nranks == 1 ? "" : "s", w, w == 1 ? "" : "s", nranks, (long long)tile,
               (long long)tiles, (double)tiles / (nranks * w), (long long)n, reps);
        printf("  %-16s best %.4f s  median %.4f s  (max |diff| vs serial loop %.3g)\n", "axpy",
               bench_best(&ta), bench_median(&ta), da);
        printf("  %-16s best %.4f s  median %.4f s  (max |diff| vs serial loop %.3g)\n", "fused",
               bench_best(&tf), bench_median(&tf), df);
        printf("{\"bench\":\"elementwise_tessera\",\"n\":%lld,\"tile_rows\":%lld,\"ranks\":%d,"
               "\"threads\":%d,\"reps\":%d,\"axpy_s\":%.6f,\"axpy_median_s\":%.6f,"
               "\"fused_s\":%.6f,\"fused_median_s\":%.6f,\"axpy_max_diff\":%.3g,"
               "\"fused_max_diff\":%.3g}\n",
               (long long)n, (long long)tile, nranks, w, reps, bench_best(&ta), bench_median(&ta),
               bench_best(&tf), bench_median(&tf), da, df);
        if (bad) fprintf(stderr, "bench_elementwise: results differ from the serial loop\n");
        fflush(stdout);
    }
    tsr_array_free(&za);
    tsr_array_free(&zf);
    tsr_array_free(&x);
    tsr_array_free(&y);
    tsr_dist_free(&d);
    check(tsr_finalize(), "tsr_finalize");
    return bad;
}

int main(int argc, char **argv) {
    int64_t n = 20000000, tile = (int64_t)1 << 17;
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
            fprintf(stderr, "usage: bench_elementwise [--c] [--n N] [--tile T] [--reps R]\n");
            return 2;
        }
    }
    if (n < 1 || tile < 1 || reps < 1 || reps > BENCH_MAX_REPS) {
        fprintf(stderr, "bench_elementwise: N and T must be positive, 1 <= R <= %d\n",
                BENCH_MAX_REPS);
        return 2;
    }
    return c ? c_loops(n, reps) : tessera(&argc, &argv, n, tile, reps);
}
