/* Determinism at the C API (docs/determinism.md), run at 1, 2, 3 and 4
 * ranks: for every grid of this rank count and tiles the language cannot
 * make (not square, taller or wider than the array), seeded random inputs
 * and the results built from them must be
 *   - bit-identical to a serial computation here (element-wise expression,
 *     transpose, redistribution to another grid and tile): the same IEEE
 *     operations in the same order, so identical across grids, tiles and
 *     rank counts too;
 *   - within the documented bounds of a long-double reference: sums
 *     (whole, axis 0, axis 1) E = (3|S| + 46 sum|x|) u, products
 *     gamma_(K+1) (|A||B|) (the +1: the exact value rounded), with b on
 *     another distribution (redistributed first) and a^T b;
 *   - bit-identical when the same reduction or product is issued twice. */
#include <math.h>

#include "harness.h"
#include "array/philox.h" /* the generator, to compute the inputs serially */

#define M 97
#define K 45
#define N 61
#define U_ROUND 0x1p-53

/* Non-square first: with --few (sanitizer builds) only the first two. */
static const int64_t tiles[][2] = {{16, 40}, {37, 5}, {7, 9}, {32, 32}, {128, 128}};
static int rank, nranks;
static double A[M * K], Uu[M * K], B[K * N], E[M * K]; /* row-major */

static void serial_inputs(void) {
    for (int64_t g = 0; g < M * K; g++) {
        A[g] = tsr__philox_normal((uint64_t)g, 5);
        Uu[g] = -1.0 + (1.0 - -1.0) * tsr__philox_uniform((uint64_t)g, 6); /* create.c's form */
    }
    for (int64_t g = 0; g < K * N; g++) B[g] = tsr__philox_normal((uint64_t)g, 7);
    /* where(A > 0, A * U, maximum(U, A)) / (|U| + 0.5) - sqrt(|A|) */
    for (int64_t g = 0; g < M * K; g++) {
        double a = A[g], u = Uu[g];
        double w = a > 0 ? a * u : ((u > a || u != u) ? u : a);
        E[g] = w / (fabs(u) + 0.5) - sqrt(fabs(a));
    }
}

static tsr_expr_t *expression(tsr_array_t *a, tsr_array_t *u) {
    tsr_expr_t *w = tsr_ex_where(tsr_ex_binary(TSR_GT, tsr_ex_array(a), tsr_ex_scalar(0)),
                                 tsr_ex_binary(TSR_MUL, tsr_ex_array(a), tsr_ex_array(u)),
                                 tsr_ex_binary(TSR_MAXIMUM, tsr_ex_array(u), tsr_ex_array(a)));
    tsr_expr_t *den = tsr_ex_binary(TSR_ADD, tsr_ex_unary(TSR_ABS, tsr_ex_array(u)),
                                    tsr_ex_scalar(0.5));
    return tsr_ex_binary(TSR_SUB, tsr_ex_binary(TSR_DIV, w, den),
                         tsr_ex_unary(TSR_SQRT, tsr_ex_unary(TSR_ABS, tsr_ex_array(a))));
}

/* Gather a (m x n) on rank 0 and compare its bytes with want. */
static void expect_bits(tsr_array_t *a, int64_t m, int64_t n, const double *want,
                        const char *what, const char *where) {
    double *got = rank == 0 ? malloc(sizeof(double) * (size_t)(m * n)) : NULL;
    ASSERT_OK(tsr_array_gather(a, 0, got));
    if (rank == 0) {
        if (memcmp(got, want, sizeof(double) * (size_t)(m * n)) != 0)
            for (int64_t g = 0; g < m * n; g++)
                if (memcmp(&got[g], &want[g], sizeof(double)) != 0)
                    TEST_FAIL("%s, %s: element (%lld, %lld) is %.17g, serially %.17g: not "
                              "bit-identical", what, where, (long long)(g / n),
                              (long long)(g % n), got[g], want[g]);
        free(got);
    }
}

/* sum over count values x[k * stride] within E of the exact sum. */
static void expect_sum(double got, const double *x, int64_t count, int64_t stride,
                       const char *what, const char *where) {
    long double s = 0, abs_s = 0;
    for (int64_t k = 0; k < count; k++) {
        s += x[k * stride];
        abs_s += fabsl((long double)x[k * stride]);
    }
    double bound = (double)((3 * fabsl(s) + 46 * abs_s) * U_ROUND);
    if (!(fabs(got - (double)s) <= bound))
        TEST_FAIL("%s, %s: %.17g is %.3g from the exact %.17Lg, over the bound %.3g", what,
                  where, got, fabs(got - (double)s), s, bound);
}

/* c (m x n) = a (m x k) b (k x n), row-major serial operands with strides:
 * a(i, l) = a[i * ai + l * al], b(l, j) = b[l * bl + j * bj]. */
static void expect_product(tsr_array_t *c, int64_t m, int64_t n, int64_t k, const double *a,
                           int64_t ai, int64_t al, const double *b, int64_t bl, int64_t bj,
                           const char *what, const char *where) {
    double *got = rank == 0 ? malloc(sizeof(double) * (size_t)(m * n)) : NULL;
    ASSERT_OK(tsr_array_gather(c, 0, got));
    if (rank != 0) return;
    /* gamma_k, and one more u for rounding the exact value to a double */
    double gamma = (double)(k + 1) * U_ROUND / (1 - (double)(k + 1) * U_ROUND);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            long double s = 0, abs_s = 0;
            for (int64_t l = 0; l < k; l++) {
                long double t = (long double)a[i * ai + l * al] * b[l * bl + j * bj];
                s += t;
                abs_s += fabsl(t);
            }
            double bound = gamma * (double)abs_s, g = got[i * n + j];
            if (!(fabs(g - (double)s) <= bound))
                TEST_FAIL("%s, %s: element (%lld, %lld) is %.17g, exact %.17Lg: over the bound "
                          "%.3g", what, where, (long long)i, (long long)j, g, s, bound);
        }
    free(got);
}

static void one_layout(int P, int64_t mb, int64_t nb) {
    char where[128];
    snprintf(where, sizeof where, "%d ranks, %dx%d grid, %lldx%lld tiles", nranks, P, nranks / P,
             (long long)mb, (long long)nb);
    tsr_dist_t *d, *d2;
    ASSERT_OK(tsr_dist_create(P, nranks / P, mb, nb, &d));
    ASSERT_OK(tsr_dist_create(nranks / P, P, 23, 11, &d2)); /* the other way round */
    tsr_array_t *a, *u, *b, *b2, *e, *t, *t2, *r0, *r1, *c, *c2, *ctn;
    ASSERT_OK(tsr_array_random_normal(d, M, K, 5, 0.0, 1.0, &a));
    ASSERT_OK(tsr_array_random_uniform(d, M, K, 6, -1.0, 1.0, &u));
    ASSERT_OK(tsr_array_random_normal(d2, K, N, 7, 0.0, 1.0, &b2));
    ASSERT_OK(tsr_array_random_normal(d, K, N, 7, 0.0, 1.0, &b));
    expect_bits(a, M, K, A, "random_normal", where);
    expect_bits(u, M, K, Uu, "random_uniform", where);
    expect_bits(b2, K, N, B, "random_normal on the second distribution", where);

    tsr_expr_t *x = expression(a, u);
    ASSERT_OK(tsr_array_eval(x, &e));
    tsr_ex_free(&x);
    expect_bits(e, M, K, E, "element-wise expression", where);

    static double ET[K * M];
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < K; j++) ET[j * M + i] = E[i * K + j];
    ASSERT_OK(tsr_array_transpose(e, &t));
    ASSERT_OK(tsr_array_redistribute(t, d2, &t2));
    expect_bits(t, K, M, ET, "transpose", where);
    expect_bits(t2, K, M, ET, "transpose redistributed to 23x11 tiles", where);

    double s1, s2;
    ASSERT_OK(tsr_array_reduce(e, TSR_SUM, &s1));
    ASSERT_OK(tsr_array_reduce(e, TSR_SUM, &s2));
    expect_sum(s1, E, M * K, 1, "sum", where);
    if (memcmp(&s1, &s2, sizeof s1) != 0)
        TEST_FAIL("sum, %s: %.17g then %.17g: not the same bits twice", where, s1, s2);
    ASSERT_OK(tsr_array_reduce_axis(e, TSR_SUM, 0, &r0));
    ASSERT_OK(tsr_array_reduce_axis(e, TSR_SUM, 1, &r1));
    double g0[K], g1[M];
    ASSERT_OK(tsr_array_gather(r0, 0, g0));
    ASSERT_OK(tsr_array_gather(r1, 0, g1));
    if (rank == 0) {
        for (int64_t j = 0; j < K; j++) expect_sum(g0[j], E + j, M, K, "sum axis 0", where);
        for (int64_t i = 0; i < M; i++) expect_sum(g1[i], E + i * K, K, 1, "sum axis 1", where);
    }

    ASSERT_OK(tsr_matmul(a, b2, &c)); /* b2 on another grid and tile: moved first */
    ASSERT_OK(tsr_matmul(a, b, &c2));
    expect_product(c, M, N, K, A, K, 1, B, N, 1, "matmul, b redistributed", where);
    expect_product(c2, M, N, K, A, K, 1, B, N, 1, "matmul", where);
    ASSERT_OK(tsr_matmul_tn(a, u, &ctn)); /* K x K = a^T u */
    expect_product(ctn, K, K, M, A, 1, K, Uu, K, 1, "matmul_tn", where);
    /* The same product twice: the same bits. */
    tsr_array_t *c3;
    static double cbits[M * N];
    ASSERT_OK(tsr_array_gather(c2, 0, rank == 0 ? cbits : NULL));
    ASSERT_OK(tsr_matmul(a, b, &c3));
    expect_bits(c3, M, N, cbits, "matmul issued twice", where);

    tsr_array_t *all[] = {a, u, b, b2, e, t, t2, r0, r1, c, c2, c3, ctn};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tsr_array_free(&all[i]);
    tsr_dist_free(&d);
    tsr_dist_free(&d2);
}

int main(int argc, char **argv) {
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    rank = tsr_rank();
    nranks = tsr_nranks();
    serial_inputs();
    int layouts = 0;
    size_t ntiles = argc > 1 && strcmp(argv[1], "--few") == 0 ? 2 : sizeof tiles / sizeof tiles[0];
    for (int P = 1; P <= nranks; P++) {
        if (nranks % P) continue;
        for (size_t ti = 0; ti < ntiles; ti++) {
            one_layout(P, tiles[ti][0], tiles[ti][1]);
            layouts++;
        }
    }
    if (rank == 0) printf("determinism at the C API: %d layouts at %d ranks OK\n", layouts, nranks);
    tsr_finalize();
    return 0;
}
