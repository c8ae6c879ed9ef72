/* Creation, scatter and gather on many grids and tile sizes, against a
 * serial reference computed here: uneven sizes, 1 x n and n x 1, tiles larger
 * than the array, ranks that own nothing. Random arrays must not depend on
 * the grid or tile size. */
#include <math.h>

#include "harness.h"
/* The generator itself, to compute in one process what any rank count must give. */
#include "array/philox.h"

typedef struct shape {
    int64_t m, n, mb, nb;
} shape;

static const shape shapes[] = {
    {7, 5, 2, 3}, {1, 9, 1, 4}, {9, 1, 4, 1}, {3, 3, 8, 8}, {16, 12, 4, 4}, {1, 1, 1, 1},
    {13, 17, 5, 3}, {2, 40, 1, 7},
};

static void check_equal(const double *got, const double *want, int64_t count, const char *what,
                        const shape *s) {
    for (int64_t k = 0; k < count; k++)
        if (got[k] != want[k])
            TEST_FAIL("%s (%lld x %lld, tiles %lld x %lld): element %lld is %.17g, want %.17g", what,
                      (long long)s->m, (long long)s->n, (long long)s->mb, (long long)s->nb,
                      (long long)k, got[k], want[k]);
}

int main(int argc, char **argv) {
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    int rank = tsr_rank(), n = tsr_nranks();
    double *first_random = NULL;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        /* Every grid shape for this rank count. */
        for (int P = 1; P <= n; P++) {
            if (n % P) continue;
            tsr_dist_t *d;
            ASSERT_OK(tsr_dist_create(P, n / P, s->mb, s->nb, &d));
            int64_t cnt = s->m * s->n;
            double *got = rank == 0 ? malloc(sizeof(double) * (size_t)cnt) : NULL;
            double *want = malloc(sizeof(double) * (size_t)cnt);
            tsr_array_t *a;

            ASSERT_OK(tsr_array_full(d, s->m, s->n, 2.5, &a));
            ASSERT_OK(tsr_array_gather(a, 0, got));
            for (int64_t k = 0; k < cnt; k++) want[k] = 2.5;
            if (rank == 0) check_equal(got, want, cnt, "full", s);
            tsr_array_free(&a);

            ASSERT_OK(tsr_array_identity(d, s->m, &a));
            double *got2 = rank == 0 ? malloc(sizeof(double) * (size_t)(s->m * s->m)) : NULL;
            ASSERT_OK(tsr_array_gather(a, 0, got2));
            if (rank == 0)
                for (int64_t i = 0; i < s->m; i++)
                    for (int64_t j = 0; j < s->m; j++)
                        ASSERT_EQ(got2[i * s->m + j], i == j ? 1.0 : 0.0);
            free(got2);
            tsr_array_free(&a);

            /* Scatter a known row-major buffer, gather it back. */
            for (int64_t k = 0; k < cnt; k++) want[k] = (double)k * 0.5 - 3.0;
            ASSERT_OK(tsr_array_scatter(d, s->m, s->n, rank == 0 ? want : NULL, 0, &a));
            ASSERT_OK(tsr_array_gather(a, 0, got));
            if (rank == 0) check_equal(got, want, cnt, "scatter/gather", s);
            tsr_array_free(&a);

            /* Random numbers depend on (seed, index) only. */
            ASSERT_OK(tsr_array_random_uniform(d, s->m, s->n, 42, -1.0, 1.0, &a));
            ASSERT_OK(tsr_array_gather(a, 0, got));
            if (rank == 0) {
                for (int64_t k = 0; k < cnt; k++) ASSERT_TRUE(got[k] >= -1.0 && got[k] < 1.0);
                if (first_random == NULL || P == 1) {
                    free(first_random);
                    first_random = malloc(sizeof(double) * (size_t)cnt);
                    memcpy(first_random, got, sizeof(double) * (size_t)cnt);
                } else {
                    check_equal(got, first_random, cnt, "random across grids", s);
                }
            }
            tsr_array_free(&a);
            free(got);
            free(want);
            tsr_dist_free(&d);
        }
        free(first_random);
        first_random = NULL;
    }

    /* Random arrays do not depend on the rank count: the gathered array equals
     * a serial computation of element (i, j) from (seed, i * n + j) alone. */
    {
        tsr_dist_t *dr;
        ASSERT_OK(tsr_dist_create(0, 0, 3, 2, &dr));
        const int64_t rm = 11, rn = 7;
        double got[11 * 7];
        tsr_array_t *ru, *rz;
        ASSERT_OK(tsr_array_random_uniform(dr, rm, rn, 1234, 2.0, 5.0, &ru));
        ASSERT_OK(tsr_array_random_normal(dr, rm, rn, 99, 1.0, 3.0, &rz));
        ASSERT_OK(tsr_array_gather(ru, 0, rank == 0 ? got : NULL));
        if (rank == 0)
            for (int64_t g = 0; g < rm * rn; g++)
                ASSERT_TRUE(got[g] == 2.0 + 3.0 * tsr__philox_uniform((uint64_t)g, 1234));
        ASSERT_OK(tsr_array_gather(rz, 0, rank == 0 ? got : NULL));
        if (rank == 0) {
            double mean = 0.0;
            for (int64_t g = 0; g < rm * rn; g++) {
                ASSERT_TRUE(got[g] == 1.0 + 3.0 * tsr__philox_normal((uint64_t)g, 99));
                mean += got[g] / (double)(rm * rn);
            }
            ASSERT_NEAR(mean, 1.0, 1.5); /* 77 draws of N(1, 9): a loose sanity bound */
        }
        tsr_array_free(&ru);
        tsr_array_free(&rz);
        tsr_dist_free(&dr);
    }

    /* arange / linspace are n x 1. */
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(0, 0, 3, 1, &d));
    tsr_array_t *a;
    double buf[11];
    ASSERT_OK(tsr_array_arange(d, 11, 1.0, 0.5, &a));
    int64_t m, nn;
    tsr_array_shape(a, &m, &nn);
    ASSERT_EQ(m, 11);
    ASSERT_EQ(nn, 1);
    ASSERT_OK(tsr_array_gather(a, 0, rank == 0 ? buf : NULL));
    if (rank == 0)
        for (int k = 0; k < 11; k++) ASSERT_NEAR(buf[k], 1.0 + 0.5 * k, 0.0);
    tsr_array_free(&a);
    ASSERT_OK(tsr_array_linspace(d, 0.0, 1.0, 11, &a));
    ASSERT_OK(tsr_array_gather(a, 0, rank == 0 ? buf : NULL));
    if (rank == 0)
        for (int k = 0; k < 11; k++) ASSERT_NEAR(buf[k], k / 10.0, 1e-15);
    if (rank == 0) ASSERT_EQ(buf[10] == 1.0, 1); /* the end point exactly, as numpy */
    tsr_array_free(&a);

    /* Bad input: errors on every rank, no hang. */
    ASSERT_STATUS(tsr_array_zeros(d, -1, 3, &a), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "(-1, 3)");
    ASSERT_STATUS(tsr_array_zeros(d, 1000000, 1000000, &a), TSR_ERR_NOMEM);
    ASSERT_CONTAINS(tsr_error_message(), "(1000000, 1000000)");
    /* The root's NULL buffer is found on the root only; every rank fails. */
    ASSERT_OK(tsr_array_zeros(d, 4, 4, &a));
    ASSERT_STATUS(tsr_array_gather(a, 0, NULL), TSR_ERR_INVALID);
    ASSERT_CONTAINS(tsr_error_message(), "rank 0");
    ASSERT_STATUS(tsr_array_gather(a, n, buf), TSR_ERR_INVALID);
    ASSERT_CONTAINS(tsr_error_message(), "root");
    tsr_array_free(&a);
    tsr_dist_t *bad;
    ASSERT_STATUS(tsr_dist_create(n + 1, 1, 2, 2, &bad), TSR_ERR_INVALID);
    ASSERT_CONTAINS(tsr_error_message(), "grid");
    tsr_dist_free(&d);
    ASSERT_OK(tsr_finalize());
    if (rank == 0) printf("array create: ok on %d ranks\n", n);
    return 0;
}
