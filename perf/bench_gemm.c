/* Dense N x N x N matrix product: Tessera tsr_matmul against ScaLAPACK
 * pdgemm on the same grid, tile size and memory (tsr_array_scalapack's
 * zero-copy view of the same arrays), and against one OpenBLAS dgemm.
 *
 *   bench_gemm [--n N] [--nb NB] [--reps R]      under mpirun: Tessera and pdgemm
 *   bench_gemm --dgemm [--n N] [--reps R]        one process, no MPI: cblas_dgemm
 *                                                with OPENBLAS_NUM_THREADS threads
 *
 * Timing: each figure is the best of R runs (after one warm-up run of
 * each). A Tessera run is tsr_matmul + tsr_array_wait, between two
 * tsr_fence calls so every rank has finished; a pdgemm run is between two
 * MPI barriers after a fence. GFLOP/s = 2 N^3 / seconds / 1e9. The two
 * results are compared element by element (same local layout) and the
 * largest difference is printed; a difference above 1e-9 relative to N fails
 * the run. CPU seconds (user + system, summed over ranks, least of the runs)
 * are printed too: on a shared machine they show the work done when the
 * wall-clock figures are dominated by other load. Output: a short table on rank 0, then one JSON line (last). */
#include <cblas.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tessera.h"

void pdgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
             const double *alpha, const double *a, const int *ia, const int *ja, const int *desca,
             const double *b, const int *ib, const int *jb, const int *descb, const double *beta,
             double *c, const int *ic, const int *jc, const int *descc);

/* CPU seconds (user + system, all threads) this process has used. */
static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void check(int rc, const char *what) {
    if (rc != TSR_OK)
        tsr_abort("bench_gemm: %s: %s: %s", what, tsr_status_string(rc), tsr_error_message());
}

/* ScaLAPACK's numroc: this process's share of n items in blocks of nb. */
static int64_t numroc(int64_t n, int64_t nb, int iproc, int nprocs) {
    int64_t nblocks = n / nb, num = (nblocks / nprocs) * nb, extra = nblocks % nprocs;
    if (iproc < extra)
        num += nb;
    else if (iproc == extra)
        num += n % nb;
    return num;
}

static int dgemm_only(int64_t n, int reps) {
    double *a = malloc(sizeof(double) * (size_t)(n * n));
    double *b = malloc(sizeof(double) * (size_t)(n * n));
    double *c = malloc(sizeof(double) * (size_t)(n * n));
    if (!a || !b || !c) {
        fprintf(stderr, "bench_gemm: no memory for three %lld x %lld matrices\n", (long long)n,
                (long long)n);
        return 1;
    }
    for (int64_t i = 0; i < n * n; i++) {
        a[i] = (double)((i * 7919) % 1000) / 1000.0 - 0.5;
        b[i] = (double)((i * 104729) % 1000) / 1000.0 - 0.5;
    }
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = tsr_time();
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0, a,
                    (int)n, b, (int)n, 0.0, c, (int)n);
        double t = tsr_time() - t0;
        if (r > 0 && t < best) best = t; /* r == 0: warm-up */
    }
    double gf = 2.0 * (double)n * (double)n * (double)n / best / 1e9;
    int threads = openblas_get_num_threads();
    printf("  dgemm (OpenBLAS, %d thread%s)  %8.3f s  %7.1f GFLOP/s\n", threads,
           threads == 1 ? "" : "s", best, gf);
    printf("{\"bench\":\"gemm_dgemm\",\"n\":%lld,\"threads\":%d,\"dgemm_s\":%.4f,"
           "\"dgemm_gflops\":%.2f}\n",
           (long long)n, threads, best, gf);
    free(a);
    free(b);
    free(c);
    return 0;
}

int main(int argc, char **argv) {
    int64_t n = 4096, nb = 256;
    int reps = 3, dgemm = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--nb") && i + 1 < argc)
            nb = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dgemm"))
            dgemm = 1;
        else {
            fprintf(stderr, "usage: bench_gemm [--dgemm] [--n N] [--nb NB] [--reps R]\n");
            return 2;
        }
    }
    if (n < 1 || nb < 1 || reps < 1) {
        fprintf(stderr, "bench_gemm: N, NB and R must be positive\n");
        return 2;
    }
    if (dgemm) return dgemm_only(n, reps);

    check(tsr_init(&argc, &argv), "tsr_init");
    int rank = tsr_rank(), nranks = tsr_nranks();
    tsr_dist_t *d;
    check(tsr_dist_create(0, 0, nb, nb, &d), "tsr_dist_create");
    int P, Q;
    tsr_dist_grid(d, &P, &Q, NULL, NULL);
    tsr_array_t *a, *b, *c = NULL, *pc;
    check(tsr_array_random_uniform(d, n, n, 1, -1.0, 1.0, &a), "random a");
    check(tsr_array_random_uniform(d, n, n, 2, -1.0, 1.0, &b), "random b");
    check(tsr_array_zeros(d, n, n, &pc), "zeros");
    int da[9], db[9], dc[9], lld;
    double *la, *lb, *lc, dummy = 0;
    check(tsr_array_scalapack(a, da, &la, &lld), "scalapack view a");
    check(tsr_array_scalapack(b, db, &lb, &lld), "scalapack view b");
    check(tsr_array_scalapack(pc, dc, &lc, &lld), "scalapack view c");

    double best_t = 1e30, best_p = 1e30, cpu_t = 0, cpu_p = 0;
    for (int r = 0; r <= reps; r++) {
        /* Tessera */
        tsr_array_free(&c);
        check(tsr_fence(), "fence");
        double t0 = tsr_time(), c0 = cpu_seconds();
        check(tsr_matmul(a, b, &c), "tsr_matmul");
        check(tsr_array_wait(c), "wait");
        check(tsr_fence(), "fence");
        double t = tsr_time() - t0, cpu = cpu_seconds() - c0;
        MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(MPI_IN_PLACE, &cpu, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (r > 0 && t < best_t) best_t = t;
        if (r > 0 && (cpu_t == 0 || cpu < cpu_t)) cpu_t = cpu;
        /* pdgemm on the same memory */
        int N = (int)n, one = 1;
        double alpha = 1.0, beta = 0.0;
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = tsr_time();
        c0 = cpu_seconds();
        pdgemm_("N", "N", &N, &N, &N, &alpha, la ? la : &dummy, &one, &one, da, lb ? lb : &dummy,
                &one, &one, db, &beta, lc ? lc : &dummy, &one, &one, dc);
        MPI_Barrier(MPI_COMM_WORLD);
        t = tsr_time() - t0;
        cpu = cpu_seconds() - c0;
        MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(MPI_IN_PLACE, &cpu, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (r > 0 && t < best_p) best_p = t;
        if (r > 0 && (cpu_p == 0 || cpu < cpu_p)) cpu_p = cpu;
    }

    /* Same layout: compare the local parts directly. */
    double *lt;
    int dt[9];
    check(tsr_array_scalapack(c, dt, &lt, &lld), "scalapack view of the product");
    int myrow, mycol;
    tsr_dist_grid(d, NULL, NULL, &myrow, &mycol);
    int64_t lm = numroc(n, nb, myrow, P), ln = numroc(n, nb, mycol, Q);
    double diff = 0;
    if (lt && lc)
        for (int64_t j = 0; j < ln; j++)
            for (int64_t i = 0; i < lm; i++) {
                double e = fabs(lt[i + j * lld] - lc[i + j * lld]);
                if (e > diff) diff = e;
            }
    MPI_Allreduce(MPI_IN_PLACE, &diff, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);

    double flops = 2.0 * (double)n * (double)n * (double)n;
    double gt = flops / best_t / 1e9, gp = flops / best_p / 1e9;
    if (rank == 0) {
        int threads = tsr_num_workers();
        printf("  %d rank%s (%d x %d grid, tiles %lld), TSR_THREADS=%d, N=%lld, best of %d\n",
               nranks, nranks == 1 ? "" : "s", P, Q, (long long)nb, threads, (long long)n, reps);
        printf("  tsr_matmul          %8.3f s  %7.1f GFLOP/s\n", best_t, gt);
        printf("  pdgemm              %8.3f s  %7.1f GFLOP/s\n", best_p, gp);
        printf("  ratio tessera/pdgemm %.3f; max |difference| %.3g\n", gt / gp, diff);
        printf("  CPU seconds, all ranks (least of runs): tsr_matmul %.3f, pdgemm %.3f\n", cpu_t,
               cpu_p);
        printf("{\"bench\":\"gemm\",\"n\":%lld,\"nb\":%lld,\"ranks\":%d,\"grid\":\"%dx%d\","
               "\"threads\":%d,\"tessera_s\":%.4f,\"pdgemm_s\":%.4f,\"tessera_gflops\":%.2f,"
               "\"pdgemm_gflops\":%.2f,\"ratio_vs_pdgemm\":%.3f,\"tessera_cpu_s\":%.3f,"
               "\"pdgemm_cpu_s\":%.3f,\"max_diff\":%.3g}\n",
               (long long)n, (long long)nb, nranks, P, Q, threads, best_t, best_p, gt, gp,
               gt / gp, cpu_t, cpu_p, diff);
    }
    int bad = !(diff <= 1e-9 * (double)n);
    tsr_array_free(&c);
    tsr_array_free(&pc);
    tsr_array_free(&a);
    tsr_array_free(&b);
    tsr_dist_free(&d);
    check(tsr_finalize(), "tsr_finalize");
    if (bad && rank == 0) fprintf(stderr, "bench_gemm: results differ by %.3g\n", diff);
    return bad;
}
