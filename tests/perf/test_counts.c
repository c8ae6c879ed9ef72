/* The array layer's own counters (tsr_trace_count), run by check_counts.py
 * with TSR_TRACE set: matmuls of odd shapes down every path (SUMMA; one
 * tile column = gemv, n == 1 and n > 1; matmul_tn, whose grids with Q > 1
 * and wide outputs fall back to transpose + matmul) on a P x 1 grid and,
 * with 2+ ranks, a 1 x Q grid (partials summed across process columns).
 * Rank 0 prints the flops each kind must total over the job: 2mnk per
 * product, exactly (at 2+ ranks matmul_tn's fallback runs as "matmul"
 * tasks, so the script then checks the two kinds' sum); the script compares the trace summary's sums. Also an
 * element-wise eval and a reduction, whose expected flops are printed too
 * (instructions x elements; one per element). */
#include <stdio.h>

#include "harness.h"

static const int64_t shapes[][3] = {{37, 53, 41}, {37, 53, 1}, {37, 53, 9}, {64, 64, 64}};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

int main(int argc, char **argv) {
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    ASSERT_TRUE(tsr_trace_on());
    int np = tsr_nranks();
    int grids[2][2] = {{np, 1}, {1, np}};
    uint64_t mm = 0, tn = 0, ew = 0, red = 0;
    for (int g = 0; g < (np > 1 ? 2 : 1); g++) {
        tsr_dist_t *d = NULL;
        ASSERT_OK(tsr_dist_create(grids[g][0], grids[g][1], 16, 16, &d));
        for (int s = 0; s < NSHAPES; s++) {
            int64_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
            tsr_array_t *a, *b, *c, *at, *bt, *ct;
            ASSERT_OK(tsr_array_random_uniform(d, m, k, 1, 0, 1, &a));
            ASSERT_OK(tsr_array_random_uniform(d, k, n, 2, 0, 1, &b));
            ASSERT_OK(tsr_matmul(a, b, &c));
            mm += 2 * (uint64_t)(m * n * k);
            ASSERT_OK(tsr_array_random_uniform(d, k, m, 3, 0, 1, &at));
            ASSERT_OK(tsr_array_random_uniform(d, k, n, 4, 0, 1, &bt));
            ASSERT_OK(tsr_matmul_tn(at, bt, &ct)); /* (k x m)^T (k x n) */
            tn += 2 * (uint64_t)(m * n * k);
            ASSERT_OK(tsr_array_wait(c));
            ASSERT_OK(tsr_array_wait(ct));
            tsr_array_free(&a), tsr_array_free(&b), tsr_array_free(&c);
            tsr_array_free(&at), tsr_array_free(&bt), tsr_array_free(&ct);
        }
        /* e = x * 2 + y: 2 instructions per element */
        tsr_array_t *x, *y, *e;
        ASSERT_OK(tsr_array_random_uniform(d, 45, 30, 5, 0, 1, &x));
        ASSERT_OK(tsr_array_random_uniform(d, 45, 30, 6, 0, 1, &y));
        ASSERT_OK(tsr_array_eval(tsr_ex_binary(TSR_ADD, tsr_ex_binary(TSR_MUL, tsr_ex_array(x),
                                                                      tsr_ex_scalar(2.0)),
                                               tsr_ex_array(y)),
                                 &e));
        ew += 2 * 45 * 30;
        double sum = 0;
        ASSERT_OK(tsr_array_reduce(e, TSR_SUM, &sum));
        red += 45 * 30;
        tsr_array_free(&x), tsr_array_free(&y), tsr_array_free(&e);
        tsr_dist_free(&d);
    }
    ASSERT_OK(tsr_fence());
    if (tsr_rank() == 0) {
        printf("{\"matmul\": %llu, \"matmul_tn\": %llu, \"eval\": %llu, \"reduce\": %llu}\n",
               (unsigned long long)mm, (unsigned long long)tn, (unsigned long long)ew,
               (unsigned long long)red);
        fflush(stdout);
    }
    ASSERT_OK(tsr_finalize());
    return 0;
}
