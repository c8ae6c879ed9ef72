/* tsr_matmul_tn, tsr_array_shift and tsr_ex_future against serial
 * references computed here, on every P x Q grid of the rank count:
 *   - a^T b: odd sizes, tiles that do not divide them, non-square tiles,
 *     k or n == 1, empty m, several row chunks, b on another distribution,
 *     the fallback (Q > 1 with k or n wider than a tile), repeatability
 *     (bit-identical twice), a failed input tile reaching every c tile;
 *   - shift: positive, negative and large offsets (|d| >= size: all fill),
 *     fill values, offsets across tile and rank boundaries, exact values;
 *   - future leaves: bit-identical to tsr_ex_scalar with the same value, a
 *     pending tsr_array_reduce_async result, a promise set after eval was
 *     queued, a failed future failing the result, the tree and the future
 *     released right after eval. */
#include <math.h>

#include "array/array_internal.h" /* to inject a failed tile */
#include "harness.h"

static double val(int64_t i, int64_t j, uint64_t seed) {
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull ^ (uint64_t)j * 0xC2B2AE3D27D4EB4Full ^ seed;
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    return (double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static double *fill(int64_t m, int64_t n, uint64_t seed) {
    double *p = malloc(sizeof(double) * (size_t)(m * n + 1));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) p[i * n + j] = val(i, j, seed);
    return p;
}

/* ---- a^T b ---- */

typedef struct tncase {
    int64_t m, k, n, mb, nb;
} tncase;

static const tncase tn_cases[] = {
    {7, 5, 9, 2, 3},   {13, 4, 1, 5, 5},  {1, 1, 1, 1, 1},    {0, 3, 2, 2, 2},
    {20, 1, 3, 4, 4},  {33, 6, 1, 4, 3},  {50, 17, 11, 4, 6}, {9, 3, 4, 16, 16},
    {200, 3, 1, 7, 7}, {31, 2, 2, 3, 5},  {4100, 9, 3, 300, 300}, /* several chunks */
    {70000, 2, 1, 8, 8}, /* more than MAX_CHUNKS chunks of 2048 rows: merged */
};

static void check_tn(const double *got, const double *A, const double *B, const tncase *c, int P,
                     int Q, const char *what) {
    for (int64_t i = 0; i < c->k; i++)
        for (int64_t j = 0; j < c->n; j++) {
            double s = 0, mag = 0;
            for (int64_t l = 0; l < c->m; l++) {
                s += A[l * c->k + i] * B[l * c->n + j];
                mag += fabs(A[l * c->k + i] * B[l * c->n + j]);
            }
            double g = got[i * c->n + j];
            if (!(fabs(g - s) <= 1e-12 * mag + 1e-300))
                TEST_FAIL("%s: a (%lld x %lld), b (%lld x %lld), tiles %lld x %lld, grid %d x %d: "
                          "c[%lld][%lld] = %.17g, want %.17g",
                          what, (long long)c->m, (long long)c->k, (long long)c->m, (long long)c->n,
                          (long long)c->mb, (long long)c->nb, P, Q, (long long)i, (long long)j, g,
                          s);
        }
}

static void run_tn(const tncase *c, int P, int Q) {
    int rank = tsr_rank();
    tsr_dist_t *d, *d2;
    ASSERT_OK(tsr_dist_create(P, Q, c->mb, c->nb, &d));
    double *A = fill(c->m, c->k, 11), *B = fill(c->m, c->n, 12);
    size_t kn = (size_t)(c->k * c->n + 1);
    double *got = rank == 0 ? malloc(sizeof(double) * kn) : NULL;
    double *again = rank == 0 ? malloc(sizeof(double) * kn) : NULL;
    tsr_array_t *a, *b, *p;
    ASSERT_OK(tsr_array_scatter(d, c->m, c->k, rank == 0 ? A : NULL, 0, &a));
    ASSERT_OK(tsr_array_scatter(d, c->m, c->n, rank == 0 ? B : NULL, 0, &b));
    ASSERT_OK(tsr_matmul_tn(a, b, &p));
    int64_t pm, pn;
    tsr_array_shape(p, &pm, &pn);
    ASSERT_EQ(pm, c->k);
    ASSERT_EQ(pn, c->n);
    ASSERT_TRUE(tsr_array_dist(p) == d);
    ASSERT_OK(tsr_array_gather(p, 0, got));
    if (rank == 0) check_tn(got, A, B, c, P, Q, "matmul_tn");
    tsr_array_free(&p);

    /* Inputs freed right after the call; the same bits again. */
    tsr_array_t *a2, *b2;
    ASSERT_OK(tsr_array_scatter(d, c->m, c->k, rank == 0 ? A : NULL, 0, &a2));
    ASSERT_OK(tsr_array_scatter(d, c->m, c->n, rank == 0 ? B : NULL, 0, &b2));
    ASSERT_OK(tsr_matmul_tn(a2, b2, &p));
    tsr_array_free(&a2);
    tsr_array_free(&b2);
    ASSERT_OK(tsr_array_gather(p, 0, again));
    if (rank == 0 && memcmp(got, again, sizeof(double) * (size_t)(c->k * c->n)) != 0)
        TEST_FAIL("matmul_tn (%lld x %lld x %lld, grid %d x %d) is not repeatable",
                  (long long)c->m, (long long)c->k, (long long)c->n, P, Q);
    tsr_array_free(&p);

    /* b on another distribution (other tiles): redistributed first. */
    ASSERT_OK(tsr_dist_create(P, Q, c->mb + 1, c->nb + 2, &d2));
    tsr_array_t *bb;
    ASSERT_OK(tsr_array_scatter(d2, c->m, c->n, rank == 0 ? B : NULL, 0, &bb));
    ASSERT_OK(tsr_matmul_tn(a, bb, &p));
    ASSERT_TRUE(tsr_array_dist(p) == d);
    ASSERT_OK(tsr_array_gather(p, 0, got));
    if (rank == 0) check_tn(got, A, B, c, P, Q, "matmul_tn, b redistributed");
    tsr_array_free(&p);
    tsr_array_free(&bb);

    /* a^T a (the same array twice). */
    if (c->k == c->n || c->n == 1) {
        tncase cc = *c;
        cc.n = c->k;
        double *G = rank == 0 ? malloc(sizeof(double) * (size_t)(c->k * c->k + 1)) : NULL;
        ASSERT_OK(tsr_matmul_tn(a, a, &p));
        ASSERT_OK(tsr_array_gather(p, 0, G));
        if (rank == 0) check_tn(G, A, A, &cc, P, Q, "matmul_tn, a^T a");
        free(G);
        tsr_array_free(&p);
    }
    tsr_array_free(&a);
    tsr_array_free(&b);
    free(A);
    free(B);
    free(got);
    free(again);
    ASSERT_OK(tsr_fence());
    tsr_dist_free(&d2);
    tsr_dist_free(&d);
}

/* P x 1: a failed tile of a (tile row 0, on rank 0) reaches every c tile. */
static void run_tn_failure(int nranks) {
    int rank = tsr_rank();
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(nranks, 1, 2, 2, &d));
    tsr_array_t *a, *b, *c;
    ASSERT_OK(tsr_array_ones(d, 9, 5, &a));
    ASSERT_OK(tsr_array_ones(d, 9, 3, &b));
    ASSERT_OK(tsr_array_wait(a));
    if (rank == 0) {
        tsr_future_t *f;
        ASSERT_OK(tsr_future_create(&f));
        ASSERT_OK(tsr_future_fail(f, TSR_ERR_RUNTIME, "injected failure of tile (0, 1)"));
        tsr_future_release(&a->ready[tsr__ready_index(a, 0, 1)]);
        a->ready[tsr__ready_index(a, 0, 1)] = f;
    }
    ASSERT_OK(tsr_matmul_tn(a, b, &c));
    tsr_array_free(&a);
    tsr_array_free(&b);
    int rc = tsr_array_wait(c);
    if (c->lm > 0 && c->ln > 0) {
        if (rc != TSR_ERR_RUNTIME)
            TEST_FAIL("rank %d: wait gave %s, expected the injected failure", rank,
                      tsr_status_string(rc));
        ASSERT_TRUE(strstr(tsr_error_message(), "injected failure") != NULL);
    } else {
        ASSERT_OK(rc);
    }
    ASSERT_OK(tsr_fence());
    tsr_array_free(&c);
    tsr_dist_free(&d);
}

static void run_tn_errors(void) {
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(0, 0, 2, 2, &d));
    tsr_array_t *a, *b, *c = (tsr_array_t *)&c;
    ASSERT_OK(tsr_array_zeros(d, 3, 4, &a));
    ASSERT_OK(tsr_array_zeros(d, 5, 2, &b));
    ASSERT_STATUS(tsr_matmul_tn(a, b, &c), TSR_ERR_SHAPE);
    ASSERT_TRUE(c == NULL);
    ASSERT_TRUE(strstr(tsr_error_message(), "(3, 4) and (5, 2)") != NULL);
    ASSERT_STATUS(tsr_matmul_tn(a, NULL, &c), TSR_ERR_INVALID);
    tsr_array_free(&a);
    tsr_array_free(&b);
    ASSERT_OK(tsr_fence());
    tsr_dist_free(&d);
}

/* ---- shift ---- */

typedef struct shcase {
    int64_t m, n, mb, nb;
} shcase;

static const shcase sh_cases[] = {
    {7, 9, 2, 3}, {10, 1, 3, 3}, {1, 8, 2, 2}, {13, 11, 4, 5}, {6, 6, 8, 8}, {25, 4, 3, 2},
};
static const int64_t offs[] = {0, 1, -1, 2, -3, 5, -7, 12, -13, 40};

static void run_shift(const shcase *c, int P, int Q) {
    int rank = tsr_rank();
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(P, Q, c->mb, c->nb, &d));
    double *A = fill(c->m, c->n, 21);
    double *got = rank == 0 ? malloc(sizeof(double) * (size_t)(c->m * c->n + 1)) : NULL;
    tsr_array_t *a;
    ASSERT_OK(tsr_array_scatter(d, c->m, c->n, rank == 0 ? A : NULL, 0, &a));
    size_t no = sizeof offs / sizeof offs[0];
    for (size_t x = 0; x < no; x++)
        for (size_t y = 0; y < no; y++) {
            /* Every di with a few dj (and the reverse): enough pairs. */
            if (x % 3 != y % 3 && x > 1 && y > 1) continue;
            int64_t di = offs[x], dj = offs[y];
            double fv = (x + y) % 2 ? -2.5 : 0.0;
            tsr_array_t *s;
            ASSERT_OK(tsr_array_shift(a, di, dj, fv, &s));
            ASSERT_TRUE(tsr_array_dist(s) == d);
            int64_t sm, sn;
            tsr_array_shape(s, &sm, &sn);
            ASSERT_EQ(sm, c->m);
            ASSERT_EQ(sn, c->n);
            ASSERT_OK(tsr_array_gather(s, 0, got));
            tsr_array_free(&s);
            if (rank != 0) continue;
            for (int64_t i = 0; i < c->m; i++)
                for (int64_t j = 0; j < c->n; j++) {
                    int64_t si = i + di, sj = j + dj;
                    double want = si >= 0 && si < c->m && sj >= 0 && sj < c->n ? A[si * c->n + sj]
                                                                            : fv;
                    if (memcmp(&want, &got[i * c->n + j], sizeof want) != 0)
                        TEST_FAIL("shift (%lld, %lld) of %lld x %lld, tiles %lld x %lld, grid "
                                  "%d x %d: out[%lld][%lld] = %.17g, want %.17g",
                                  (long long)di, (long long)dj, (long long)c->m, (long long)c->n,
                                  (long long)c->mb, (long long)c->nb, P, Q, (long long)i,
                                  (long long)j, got[i * c->n + j], want);
                }
        }
    /* The input freed right after the call; a chain of shifts. */
    tsr_array_t *s1, *s2;
    ASSERT_OK(tsr_array_shift(a, 1, 0, 0.0, &s1));
    tsr_array_free(&a);
    ASSERT_OK(tsr_array_shift(s1, -1, 1, 9.0, &s2));
    tsr_array_free(&s1);
    ASSERT_OK(tsr_array_gather(s2, 0, got));
    if (rank == 0)
        for (int64_t i = 0; i < c->m; i++)
            for (int64_t j = 0; j < c->n; j++) {
                double want = j + 1 >= c->n || i == 0 ? 9.0 : A[i * c->n + j + 1];
                if (got[i * c->n + j] != want)
                    TEST_FAIL("shift chain on %lld x %lld, grid %d x %d: [%lld][%lld] = %g, want %g",
                              (long long)c->m, (long long)c->n, P, Q, (long long)i, (long long)j,
                              got[i * c->n + j], want);
            }
    tsr_array_free(&s2);
    free(A);
    free(got);
    ASSERT_OK(tsr_fence());
    tsr_dist_free(&d);
}

static void run_shift_empty(void) {
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(0, 0, 2, 2, &d));
    tsr_array_t *a, *s;
    ASSERT_OK(tsr_array_zeros(d, 0, 3, &a));
    ASSERT_OK(tsr_array_shift(a, 1, 1, 1.0, &s));
    int64_t m, n;
    tsr_array_shape(s, &m, &n);
    ASSERT_EQ(m, 0);
    ASSERT_EQ(n, 3);
    tsr_array_free(&s);
    ASSERT_STATUS(tsr_array_shift(NULL, 1, 1, 1.0, &s), TSR_ERR_INVALID);
    ASSERT_TRUE(s == NULL);
    tsr_array_free(&a);
    ASSERT_OK(tsr_fence());
    tsr_dist_free(&d);
}

/* ---- future leaves ---- */

static void gather_all(tsr_array_t *a, int64_t count, double *buf) {
    ASSERT_OK(tsr_array_gather(a, 0, tsr_rank() == 0 ? buf : NULL));
    (void)count;
}

static void run_future(int P, int Q) {
    int rank = tsr_rank();
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(P, Q, 3, 4, &d));
    const int64_t m = 11, n = 7;
    double *X = fill(m, n, 31);
    double *g1 = malloc(sizeof(double) * (size_t)(m * n)), *g2 = malloc(sizeof(double) * (size_t)(m * n));
    tsr_array_t *x, *y, *r1, *r2;
    ASSERT_OK(tsr_array_scatter(d, m, n, rank == 0 ? X : NULL, 0, &x));
    /* y is pending when its sum is asked for; the sum is pending at eval. */
    tsr_expr_t *ey = tsr_ex_unary(TSR_EXP, tsr_ex_array(x));
    ASSERT_OK(tsr_array_eval(ey, &y));
    tsr_ex_free(&ey);
    tsr_future_t *f;
    ASSERT_OK(tsr_array_reduce_async(y, TSR_SUM, &f));
    /* x * sum(y) - sum(y) / 3 (one leaf used twice), tree and f freed now. */
    tsr_expr_t *e = tsr_ex_binary(
        TSR_SUB, tsr_ex_binary(TSR_MUL, tsr_ex_array(x), tsr_ex_future(f)),
        tsr_ex_binary(TSR_DIV, tsr_ex_future(f), tsr_ex_scalar(3.0)));
    ASSERT_OK(tsr_array_eval(e, &r1));
    tsr_ex_free(&e);
    void *v;
    ASSERT_OK(tsr_wait(f, &v));
    double s = *(const double *)v;
    tsr_future_release(&f);
    e = tsr_ex_binary(TSR_SUB, tsr_ex_binary(TSR_MUL, tsr_ex_array(x), tsr_ex_scalar(s)),
                      tsr_ex_binary(TSR_DIV, tsr_ex_scalar(s), tsr_ex_scalar(3.0)));
    ASSERT_OK(tsr_array_eval(e, &r2));
    tsr_ex_free(&e);
    gather_all(r1, m * n, g1);
    gather_all(r2, m * n, g2);
    if (rank == 0 && memcmp(g1, g2, sizeof(double) * (size_t)(m * n)) != 0)
        TEST_FAIL("future leaf differs from the scalar leaf (grid %d x %d)", P, Q);
    tsr_array_free(&r1);
    tsr_array_free(&r2);

    /* A promise set after the eval was queued (eval must not wait). */
    static double later = 0.25;
    tsr_future_t *pr;
    ASSERT_OK(tsr_future_create(&pr));
    e = tsr_ex_binary(TSR_ADD, tsr_ex_array(x), tsr_ex_future(pr));
    ASSERT_OK(tsr_array_eval(e, &r1));
    tsr_ex_free(&e);
    ASSERT_OK(tsr_future_set(pr, &later));
    tsr_future_release(&pr);
    gather_all(r1, m * n, g1);
    if (rank == 0)
        for (int64_t i = 0; i < m * n; i++) ASSERT_TRUE(g1[i] == X[i] + 0.25);
    tsr_array_free(&r1);

    /* A failed future fails every local tile of the result. */
    ASSERT_OK(tsr_future_create(&pr));
    e = tsr_ex_binary(TSR_MUL, tsr_ex_future(pr), tsr_ex_array(x));
    ASSERT_OK(tsr_array_eval(e, &r1));
    tsr_ex_free(&e);
    ASSERT_OK(tsr_future_fail(pr, TSR_ERR_RUNTIME, "injected: the scalar could not be computed"));
    tsr_future_release(&pr);
    int rc = tsr_array_wait(r1);
    if (r1->lm > 0 && r1->ln > 0) {
        ASSERT_EQ(rc, TSR_ERR_RUNTIME);
        ASSERT_TRUE(strstr(tsr_error_message(), "the scalar could not be computed") != NULL);
    } else {
        ASSERT_OK(rc);
    }
    tsr_array_free(&r1);
    ASSERT_TRUE(tsr_ex_future(NULL) == NULL);
    tsr_array_free(&x);
    tsr_array_free(&y);
    free(X);
    free(g1);
    free(g2);
    ASSERT_OK(tsr_fence());
    tsr_dist_free(&d);
}

int main(int argc, char **argv) {
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    int n = tsr_nranks();
    for (size_t ci = 0; ci < sizeof tn_cases / sizeof tn_cases[0]; ci++)
        for (int P = 1; P <= n; P++)
            if (n % P == 0) run_tn(&tn_cases[ci], P, n / P);
    run_tn_failure(n);
    run_tn_errors();
    for (size_t ci = 0; ci < sizeof sh_cases / sizeof sh_cases[0]; ci++)
        for (int P = 1; P <= n; P++)
            if (n % P == 0) run_shift(&sh_cases[ci], P, n / P);
    run_shift_empty();
    for (int P = 1; P <= n; P++)
        if (n % P == 0) run_future(P, n / P);
    ASSERT_OK(tsr_finalize());
    if (tsr_rank() == 0) printf("array arraylib (matmul_tn, shift, future leaves): ok on %d ranks\n", n);
    return 0;
}
