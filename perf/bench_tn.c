/* a^T b for a tall a (m x k) and a vector b (m x 1), the gradient step of
 * logistic regression: tsr_matmul_tn against one OpenBLAS dgemv 'T' on the
 * same data (rank 0 holds a column-major copy of the whole a).
 *
 *   mpirun -np R bench_tn [--m M] [--k K] [--n N] [--nb NB] [--reps R]
 *
 * Defaults: 200000 x 100, n = 1, tiles 256, grid R x 1 (the language's
 * default), 10 repetitions. A Tessera run is tsr_matmul_tn +
 * tsr_array_wait between two tsr_fence calls; the dgemv (dgemm 'T','N' for
 * n > 1) runs on rank 0 alone, after the Tessera runs, with the other ranks
 * idle. Figures are the best of the runs after one warm-up; the results are
 * compared (relative difference above 1e-10 fails). Output: a line per
 * figure and the ratio tessera / blas (below 1: Tessera faster). */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"

static void check(int rc, const char *what) {
    if (rc != TSR_OK)
        tsr_abort("bench_tn: %s: %s: %s", what, tsr_status_string(rc), tsr_error_message());
}

int main(int argc, char **argv) {
    int64_t m = 200000, k = 100, n = 1, nb = 256;
    int reps = 10;
    check(tsr_init(&argc, &argv), "tsr_init");
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--m")) m = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--k")) k = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--n")) n = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--nb")) nb = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else tsr_abort("bench_tn: unknown option %s", argv[i]);
    }
    int rank = tsr_rank(), nranks = tsr_nranks();
    tsr_dist_t *d;
    tsr_array_t *a, *b, *c;
    check(tsr_dist_create(nranks, 1, nb, nb, &d), "tsr_dist_create");
    check(tsr_array_random_uniform(d, m, k, 1, -1, 1, &a), "random a");
    check(tsr_array_random_uniform(d, m, n, 2, -1, 1, &b), "random b");
    check(tsr_array_wait(a), "a");
    check(tsr_array_wait(b), "b");
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        check(tsr_fence(), "fence");
        double t0 = tsr_time();
        check(tsr_matmul_tn(a, b, &c), "tsr_matmul_tn");
        check(tsr_array_wait(c), "wait");
        check(tsr_fence(), "fence");
        double t = tsr_time() - t0;
        if (r > 0 && t < best) best = t;
        if (r < reps) tsr_array_free(&c);
    }
    double *got = rank == 0 ? malloc(sizeof(double) * (size_t)(k * n)) : NULL;
    check(tsr_array_gather(c, 0, got), "gather c");
    /* The whole a and b on rank 0, column-major, for the BLAS call. */
    double *ga = rank == 0 ? malloc(sizeof(double) * (size_t)(m * k)) : NULL;
    double *gb = rank == 0 ? malloc(sizeof(double) * (size_t)(m * n)) : NULL;
    check(tsr_array_gather(a, 0, ga), "gather a");
    check(tsr_array_gather(b, 0, gb), "gather b");
    if (rank == 0) {
        double *A = malloc(sizeof(double) * (size_t)(m * k)), *B = malloc(sizeof(double) * (size_t)(m * n));
        double *y = malloc(sizeof(double) * (size_t)(k * n));
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < k; j++) A[i + j * m] = ga[i * k + j];
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) B[i + j * m] = gb[i * n + j];
        double bbest = 1e30;
        for (int r = 0; r <= reps; r++) {
            double t0 = tsr_time();
            if (n == 1)
                cblas_dgemv(CblasColMajor, CblasTrans, (int)m, (int)k, 1.0, A, (int)m, B, 1, 0.0, y, 1);
            else
                cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)k, (int)n, (int)m, 1.0, A,
                            (int)m, B, (int)m, 0.0, y, (int)k);
            double t = tsr_time() - t0;
            if (r > 0 && t < bbest) bbest = t;
        }
        double maxrel = 0;
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < n; j++) {
                double want = y[i + j * k], g = got[i * n + j];
                double rel = fabs(g - want) / (fabs(want) + 1e-300);
                if (fabs(g - want) > 1e-10 * sqrt((double)m)) maxrel = rel > maxrel ? rel : maxrel;
            }
        printf("bench_tn: a %lld x %lld, b %lld x %lld, tiles %lld, grid %d x 1, %d ranks\n",
               (long long)m, (long long)k, (long long)m, (long long)n, (long long)nb, nranks, nranks);
        printf("  tsr_matmul_tn   %8.2f ms (best of %d)\n", best * 1e3, reps);
        printf("  OpenBLAS %s %8.2f ms (rank 0 alone, best of %d)\n", n == 1 ? "dgemv T" : "dgemm TN",
               bbest * 1e3, reps);
        printf("  ratio tessera/blas %.2f\n", best / bbest);
        printf("{\"bench\": \"tn\", \"m\": %lld, \"k\": %lld, \"n\": %lld, \"ranks\": %d, "
               "\"tessera_ms\": %.3f, \"blas_ms\": %.3f, \"ratio\": %.3f}\n",
               (long long)m, (long long)k, (long long)n, nranks, best * 1e3, bbest * 1e3,
               best / bbest);
        if (maxrel > 0) tsr_abort("bench_tn: results differ from BLAS's (relative %g)", maxrel);
        free(A);
        free(B);
        free(y);
    }
    free(ga);
    free(gb);
    free(got);
    tsr_array_free(&c);
    tsr_array_free(&a);
    tsr_array_free(&b);
    check(tsr_fence(), "fence");
    tsr_dist_free(&d);
    check(tsr_finalize(), "tsr_finalize");
    return 0;
}
