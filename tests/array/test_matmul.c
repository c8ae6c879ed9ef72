/* tsr_matmul against a serial triple loop computed here, and against
 * ScaLAPACK pdgemm run directly on Tessera's arrays (zero-copy descriptors):
 * shapes that do not divide by the tiles, 1 x n, n x 1 and n == 1
 * (matrix-vector), k smaller than a tile, tiles larger than the arrays, ranks
 * with no tiles, every P x Q grid of the rank count, non-square tiles, b on
 * another distribution, chained products, inputs freed right after the call,
 * and shape errors. Tolerance: 1e-12 relative to sum_l |a_il b_lj|. */
#include <math.h>

#include "array/array_internal.h" /* to inject a failed tile */
#include "harness.h"

/* ScaLAPACK's Fortran entry (libscalapack-openmpi). */
void pdgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
             const double *alpha, const double *a, const int *ia, const int *ja, const int *desca,
             const double *b, const int *ib, const int *jb, const int *descb, const double *beta,
             double *c, const int *ic, const int *jc, const int *descc);

typedef struct mcase {
    int64_t m, k, n, mb, nb;
} mcase;

static const mcase cases[] = {
    {7, 5, 9, 2, 3},    {1, 1, 1, 1, 1},     {9, 4, 1, 2, 2},   {13, 17, 11, 5, 3},
    {3, 2, 4, 8, 8},    {16, 12, 20, 4, 4},  {5, 1, 6, 2, 2},   {40, 3, 30, 7, 5},
    {1, 9, 12, 3, 3},   {12, 9, 1, 3, 3},    {20, 33, 2, 4, 4}, {33, 20, 1, 4, 4},
    {1, 30, 1, 4, 4},   {64, 64, 64, 16, 16}, {50, 70, 9, 6, 4}, {31, 45, 27, 4, 6},
    {6, 40, 7, 3, 2},   {37, 150, 29, 5, 5}, /* 30 steps: pacing at work */
    {4100, 7, 1, 300, 300}, {4100, 9, 3, 300, 300}, /* several row chunks of 2048 */
};

/* Deterministic values in [-1, 1) from (i, j, seed). */
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

/* got (row-major m x n) against a b, element by element. */
static void check_product(const double *got, const double *A, const double *B, int64_t m,
                          int64_t k, int64_t n, const char *what, const mcase *c, int P, int Q) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int64_t l = 0; l < k; l++) {
                s += A[i * k + l] * B[l * n + j];
                mag += fabs(A[i * k + l] * B[l * n + j]);
            }
            double g = got[i * n + j];
            if (!(fabs(g - s) <= 1e-12 * mag + 1e-300))
                TEST_FAIL("%s: (%lld x %lld)(%lld x %lld), tiles %lld x %lld, grid %d x %d: "
                          "c[%lld][%lld] = %.17g, want %.17g",
                          what, (long long)m, (long long)k, (long long)k, (long long)n,
                          (long long)c->mb, (long long)c->nb, P, Q, (long long)i, (long long)j, g,
                          s);
        }
}

/* Tessera's c against pdgemm on the very same a and b (mb == nb cases). */
static void check_pdgemm(tsr_dist_t *d, tsr_array_t *a, tsr_array_t *b, const double *got,
                         const mcase *c, int P, int Q) {
    int rank = tsr_rank();
    tsr_array_t *pc;
    ASSERT_OK(tsr_array_zeros(d, c->m, c->n, &pc));
    int da[9], db[9], dc[9], lld;
    double *la, *lb, *lc, dummy = 0;
    ASSERT_OK(tsr_array_scalapack(a, da, &la, &lld));
    ASSERT_OK(tsr_array_scalapack(b, db, &lb, &lld));
    ASSERT_OK(tsr_array_scalapack(pc, dc, &lc, &lld));
    /* pdgemm blocks in MPI: no Tessera work may be pending anywhere. */
    ASSERT_OK(tsr_fence());
    int m = (int)c->m, n = (int)c->n, k = (int)c->k, one = 1;
    double alpha = 1.0, beta = 0.0;
    pdgemm_("N", "N", &m, &n, &k, &alpha, la ? la : &dummy, &one, &one, da, lb ? lb : &dummy, &one,
            &one, db, &beta, lc ? lc : &dummy, &one, &one, dc);
    double *ref = rank == 0 ? malloc(sizeof(double) * (size_t)(c->m * c->n + 1)) : NULL;
    ASSERT_OK(tsr_array_gather(pc, 0, ref));
    if (rank == 0) {
        for (int64_t i = 0; i < c->m * c->n; i++)
            if (!(fabs(ref[i] - got[i]) <= 1e-12 * (fabs(ref[i]) + (double)c->k)))
                TEST_FAIL("pdgemm vs tsr_matmul (%lld x %lld x %lld, tiles %lld, grid %d x %d): "
                          "element %lld: %.17g vs %.17g",
                          (long long)c->m, (long long)c->k, (long long)c->n, (long long)c->mb, P,
                          Q, (long long)i, ref[i], got[i]);
    }
    free(ref);
    tsr_array_free(&pc);
}

static void run_case(const mcase *c, int P, int Q) {
    int rank = tsr_rank();
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(P, Q, c->mb, c->nb, &d));
    double *A = fill(c->m, c->k, 1), *B = fill(c->k, c->n, 2);
    double *got = rank == 0 ? malloc(sizeof(double) * (size_t)(c->m * c->n + 1)) : NULL;
    tsr_array_t *a, *b, *p;
    ASSERT_OK(tsr_array_scatter(d, c->m, c->k, rank == 0 ? A : NULL, 0, &a));
    ASSERT_OK(tsr_array_scatter(d, c->k, c->n, rank == 0 ? B : NULL, 0, &b));
    ASSERT_OK(tsr_matmul(a, b, &p));
    int64_t pm, pn;
    tsr_array_shape(p, &pm, &pn);
    ASSERT_EQ(pm, c->m);
    ASSERT_EQ(pn, c->n);
    ASSERT_TRUE(tsr_array_dist(p) == d);
    ASSERT_OK(tsr_array_gather(p, 0, got));
    if (rank == 0) check_product(got, A, B, c->m, c->k, c->n, "matmul", c, P, Q);
    if (c->mb == c->nb) check_pdgemm(d, a, b, got, c, P, Q);
    tsr_array_free(&p);

    /* Inputs freed right after the call: the queued work keeps them. */
    tsr_array_t *a2, *b2;
    ASSERT_OK(tsr_array_scatter(d, c->m, c->k, rank == 0 ? A : NULL, 0, &a2));
    ASSERT_OK(tsr_array_scatter(d, c->k, c->n, rank == 0 ? B : NULL, 0, &b2));
    ASSERT_OK(tsr_matmul(a2, b2, &p));
    tsr_array_free(&a2);
    tsr_array_free(&b2);
    ASSERT_OK(tsr_array_gather(p, 0, got));
    if (rank == 0) check_product(got, A, B, c->m, c->k, c->n, "matmul, inputs freed", c, P, Q);
    tsr_array_free(&p);

    free(A);
    free(B);
    free(got);
    tsr_array_free(&a);
    tsr_array_free(&b);
    tsr_dist_free(&d);
}

/* (a b) c, queued back to back: the second product waits on the first's
 * tile futures. Also b on another distribution (redistributed first). */
static void run_chain(int P, int Q) {
    int rank = tsr_rank(), n = tsr_nranks();
    const int64_t m = 23, k = 17, q = 19, r = 5;
    tsr_dist_t *d, *d2;
    ASSERT_OK(tsr_dist_create(P, Q, 4, 4, &d));
    ASSERT_OK(tsr_dist_create(Q, P, 3, 5, &d2));
    double *A = fill(m, k, 3), *B = fill(k, q, 4), *C = fill(q, r, 5);
    tsr_array_t *a, *b, *cc, *ab, *abc;
    ASSERT_OK(tsr_array_scatter(d, m, k, rank == 0 ? A : NULL, 0, &a));
    ASSERT_OK(tsr_array_scatter(d, k, q, rank == 0 ? B : NULL, 0, &b));
    ASSERT_OK(tsr_array_scatter(d2, q, r, rank == 0 ? C : NULL, 0, &cc));
    ASSERT_OK(tsr_matmul(a, b, &ab));
    ASSERT_OK(tsr_matmul(ab, cc, &abc));
    tsr_array_free(&ab);
    double *AB = malloc(sizeof(double) * (size_t)(m * q));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < q; j++) {
            double s = 0;
            for (int64_t l = 0; l < k; l++) s += A[i * k + l] * B[l * q + j];
            AB[i * q + j] = s;
        }
    double *got = malloc(sizeof(double) * (size_t)(m * r));
    ASSERT_OK(tsr_array_gather(abc, 0, rank == 0 ? got : NULL));
    mcase c = {m, q, r, 4, 4};
    /* AB is rounded once more than Tessera's: allow for it. */
    if (rank == 0) check_product(got, AB, C, m, q, r, "chained (a b) c", &c, P, Q);
    (void)n;
    tsr_array_free(&abc);
    tsr_array_free(&a);
    tsr_array_free(&b);
    tsr_array_free(&cc);
    free(A);
    free(B);
    free(C);
    free(AB);
    free(got);
    tsr_dist_free(&d);
    tsr_dist_free(&d2);
}

/* A failed input tile: the ranks whose C tiles depend on it get the error
 * from tsr_array_wait, with its message; the others succeed; nobody hangs.
 * The failed tile is A(0, 1), on rank (0, 1 % Q): its process row receives it
 * by message (SUMMA: an A panel; n == 1: a partial sum for (0, 0)). */
static void run_failure(int P, int Q, int64_t n) {
    int rank = tsr_rank();
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(P, Q, 2, 2, &d));
    tsr_array_t *a, *b, *c;
    ASSERT_OK(tsr_array_ones(d, 6, 6, &a));
    ASSERT_OK(tsr_array_ones(d, 6, n, &b));
    ASSERT_OK(tsr_array_wait(a));
    int owner = 1 % Q;
    if (rank == owner) {
        tsr_future_t *f;
        ASSERT_OK(tsr_future_create(&f));
        ASSERT_OK(tsr_future_fail(f, TSR_ERR_RUNTIME, "injected failure of tile (0, 1)"));
        tsr_future_release(&a->ready[tsr__ready_index(a, 0, 1)]);
        a->ready[tsr__ready_index(a, 0, 1)] = f;
    }
    ASSERT_OK(tsr_matmul(a, b, &c));
    tsr_array_free(&a);
    tsr_array_free(&b);
    int myrow, mycol;
    tsr_dist_grid(d, NULL, NULL, &myrow, &mycol);
    /* SUMMA: one block per rank at one worker, so a failed panel fails every
     * local tile of process row 0; n == 1: only C tile 0, on (0, 0). */
    int fails = n == 1 ? rank == 0 : myrow == 0 && c->lm > 0 && c->ln > 0;
    int rc = tsr_array_wait(c);
    /* More workers cut local C into more blocks, not all holding row 0. */
    if (tsr_num_workers() > 1 && rc == TSR_OK) fails = 0;
    if (fails) {
        if (rc != TSR_ERR_RUNTIME)
            TEST_FAIL("rank %d (grid %d x %d, n %lld): wait gave %s, expected the injected failure",
                      rank, P, Q, (long long)n, tsr_status_string(rc));
        ASSERT_CONTAINS(tsr_error_message(), "injected failure");
    } else {
        ASSERT_OK(rc);
    }
    ASSERT_OK(tsr_fence());
    tsr_array_free(&c);
    tsr_dist_free(&d);
}

static void run_errors(void) {
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(0, 0, 2, 2, &d));
    tsr_array_t *a, *b, *c = (tsr_array_t *)&c;
    ASSERT_OK(tsr_array_zeros(d, 3, 4, &a));
    ASSERT_OK(tsr_array_zeros(d, 5, 2, &b));
    ASSERT_STATUS(tsr_matmul(a, b, &c), TSR_ERR_SHAPE);
    ASSERT_TRUE(c == NULL);
    ASSERT_CONTAINS(tsr_error_message(), "(3, 4) and (5, 2)");
    ASSERT_STATUS(tsr_matmul(a, NULL, &c), TSR_ERR_INVALID);
    tsr_array_free(&b);
    /* k == 0: zeros of m x n. */
    tsr_array_t *e, *f;
    ASSERT_OK(tsr_array_zeros(d, 3, 0, &e));
    ASSERT_OK(tsr_array_zeros(d, 0, 4, &f));
    ASSERT_OK(tsr_matmul(e, f, &c));
    double z[12];
    for (int i = 0; i < 12; i++) z[i] = 1;
    ASSERT_OK(tsr_array_gather(c, 0, tsr_rank() == 0 ? z : NULL));
    if (tsr_rank() == 0)
        for (int i = 0; i < 12; i++) ASSERT_EQ(z[i], 0);
    tsr_array_free(&c);
    tsr_array_free(&e);
    tsr_array_free(&f);
    tsr_array_free(&a);
    tsr_dist_free(&d);
}

int main(int argc, char **argv) {
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    int n = tsr_nranks();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int P = 1; P <= n; P++)
            if (n % P == 0) run_case(&cases[ci], P, n / P);
    for (int P = 1; P <= n; P++)
        if (n % P == 0) run_chain(P, n / P);
    for (int P = 1; P <= n; P++)
        if (n % P == 0) {
            run_failure(P, n / P, 5);
            run_failure(P, n / P, 1);
        }
    run_errors();
    ASSERT_OK(tsr_finalize());
    if (tsr_rank() == 0) printf("array matmul: ok on %d ranks\n", n);
    return 0;
}
