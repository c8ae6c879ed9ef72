/* tsr_solve and tsr_cholesky on every grid and several square tile sizes
 * (tiles larger than the matrix, ranks with no tiles, sizes that do not
 * divide), checked by a serial residual here, against ScaLAPACK called
 * directly on Tessera arrays, and against numpy. Errors: singular and
 * indefinite matrices (the same message on every rank), shapes and
 * distributions refused before any work. */
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <sys/wait.h>

#include "harness.h"

#ifndef TSR_NPY_CHECK
#define TSR_NPY_CHECK "tests/array/npy_check.py"
#endif
#define PYTHON "/usr/bin/python3"

void pdgesv_(const int *n, const int *nrhs, double *a, const int *ia, const int *ja,
             const int *desca, int *ipiv, double *b, const int *ib, const int *jb,
             const int *descb, int *info);

static int rank, nranks;

/* Deterministic values in [-1, 1) from (i, j, seed). */
static double hash01(int64_t i, int64_t j, uint64_t seed) {
    uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15ull ^ ((uint64_t)j + 0x632BE59BD9B4E019ull) *
                 0xC2B2AE3D27D4EB4Full ^ seed * 0xD6E8FEB86659FD93ull;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return (double)(h >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static double *gather0(tsr_array_t *a) {
    int64_t m, n;
    tsr_array_shape(a, &m, &n);
    double *buf = rank == 0 ? malloc(sizeof(double) * (size_t)(m * n + 1)) : NULL;
    ASSERT_OK(tsr_array_gather(a, 0, buf));
    return buf;
}

static double max_abs(const double *x, int64_t count) {
    double v = 0;
    for (int64_t k = 0; k < count; k++) v = fmax(v, fabs(x[k]));
    return v;
}

/* max |a x - b| against a tolerance scaled by the sizes involved. */
static void check_residual(const double *a, const double *x, const double *b, int64_t n,
                           int64_t nrhs, const char *what) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t r = 0; r < nrhs; r++) {
            double s = -b[i * nrhs + r];
            for (int64_t k = 0; k < n; k++) s += a[i * n + k] * x[k * nrhs + r];
            worst = fmax(worst, fabs(s));
        }
    double tol =
        1e-13 * ((double)n * max_abs(a, n * n) * max_abs(x, n * nrhs) + max_abs(b, n * nrhs));
    if (!(worst <= tol)) TEST_FAIL("%s: residual %g above %g", what, worst, tol);
}

static void check_same_everywhere(const char *msg) {
    char mine[1024], root[1024];
    const char *p = strstr(msg, ": ");
    snprintf(mine, sizeof mine, "%s", p ? p + 2 : msg);
    memcpy(root, mine, sizeof root);
    MPI_Bcast(root, (int)sizeof root, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (strcmp(root, mine) != 0) TEST_FAIL("rank 0 says '%.400s', this rank '%.400s'", root, mine);
}

typedef struct scase {
    int64_t n, nrhs, nb;
} scase;

static const scase cases[] = {{1, 1, 1}, {5, 1, 2}, {7, 3, 3}, {5, 2, 16}, {13, 4, 4},
                              {2, 1, 2}, {30, 2, 7}, {3, 5, 1}};

static void solve_cases(void) {
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t n = cases[c].n, nrhs = cases[c].nrhs, nb = cases[c].nb;
        double *a = malloc(sizeof(double) * (size_t)(n * n));
        double *b = malloc(sizeof(double) * (size_t)(n * nrhs));
        for (int64_t i = 0; i < n; i++) {
            for (int64_t j = 0; j < n; j++)
                a[i * n + j] = hash01(i, j, c) + (i == j ? (double)n : 0);
            for (int64_t r = 0; r < nrhs; r++) b[i * nrhs + r] = 10 * hash01(i, r, c + 100);
        }
        for (int P = 1; P <= nranks; P++) {
            if (nranks % P) continue;
            char what[128];
            snprintf(what, sizeof what, "solve n=%lld nrhs=%lld on %d x %d, tiles %lld",
                     (long long)n, (long long)nrhs, P, nranks / P, (long long)nb);
            tsr_dist_t *d, *d_same;
            tsr_array_t *ta, *tb, *tx, *ta2, *tb2;
            ASSERT_OK(tsr_dist_create(P, nranks / P, nb, nb, &d));
            /* b on another distribution object with the same layout. */
            ASSERT_OK(tsr_dist_create(P, nranks / P, nb, nb, &d_same));
            ASSERT_OK(tsr_array_scatter(d, n, n, a, 0, &ta));
            ASSERT_OK(tsr_array_scatter(d_same, n, nrhs, b, 0, &tb));
            ASSERT_OK(tsr_solve(ta, tb, &tx));
            int64_t xm, xn;
            tsr_array_shape(tx, &xm, &xn);
            ASSERT_EQ(xm, n);
            ASSERT_EQ(xn, nrhs);
            double *x = gather0(tx), *a_after = gather0(ta), *b_after = gather0(tb);
            if (rank == 0) {
                check_residual(a, x, b, n, nrhs, what);
                /* The inputs are untouched. */
                ASSERT_TRUE(memcmp(a, a_after, sizeof(double) * (size_t)(n * n)) == 0);
                ASSERT_TRUE(memcmp(b, b_after, sizeof(double) * (size_t)(n * nrhs)) == 0);
            }

            /* ScaLAPACK directly on Tessera arrays gives the same x. */
            ASSERT_OK(tsr_array_scatter(d, n, n, a, 0, &ta2));
            ASSERT_OK(tsr_array_scatter(d, n, nrhs, b, 0, &tb2));
            int desca[9], descb[9], lda, ldb, info = -1, one = 1, nn = (int)n, nr = (int)nrhs;
            double *pa, *pb, dummy[2];
            ASSERT_OK(tsr_array_scalapack(ta2, desca, &pa, &lda));
            ASSERT_OK(tsr_array_scalapack(tb2, descb, &pb, &ldb));
            int64_t lm = desca[8];
            int *ipiv = malloc(sizeof(int) * (size_t)(lm + nb));
            ASSERT_OK(tsr_fence());
            pdgesv_(&nn, &nr, pa ? pa : dummy, &one, &one, desca, ipiv, pb ? pb : dummy + 1, &one,
                    &one, descb, &info);
            ASSERT_EQ(info, 0);
            double *x2 = gather0(tb2);
            if (rank == 0)
                for (int64_t k = 0; k < n * nrhs; k++)
                    ASSERT_NEAR(x2[k], x[k], 1e-14 * fmax(1.0, fabs(x[k])));
            free(ipiv);
            free(x);
            free(x2);
            free(a_after);
            free(b_after);
            tsr_array_free(&ta);
            tsr_array_free(&tb);
            tsr_array_free(&tx);
            tsr_array_free(&ta2);
            tsr_array_free(&tb2);
            tsr_dist_free(&d);
            tsr_dist_free(&d_same);
        }
        free(a);
        free(b);
    }
}

static void cholesky_cases(void) {
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t n = cases[c].n, nb = cases[c].nb;
        double *r = malloc(sizeof(double) * (size_t)(n * n));
        double *s = malloc(sizeof(double) * (size_t)(n * n));
        for (int64_t k = 0; k < n * n; k++) r[k] = hash01(k / n, k % n, 7 + c);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double v = i == j ? (double)n : 0;
                for (int64_t k = 0; k < n; k++) v += r[i * n + k] * r[j * n + k];
                s[i * n + j] = v;
            }
        for (int P = 1; P <= nranks; P++) {
            if (nranks % P) continue;
            tsr_dist_t *d;
            tsr_array_t *ts, *tl;
            ASSERT_OK(tsr_dist_create(P, nranks / P, nb, nb, &d));
            ASSERT_OK(tsr_array_scatter(d, n, n, s, 0, &ts));
            ASSERT_OK(tsr_cholesky(ts, &tl));
            double *l = gather0(tl), *s_after = gather0(ts);
            if (rank == 0) {
                ASSERT_TRUE(memcmp(s, s_after, sizeof(double) * (size_t)(n * n)) == 0);
                double worst = 0;
                for (int64_t i = 0; i < n; i++)
                    for (int64_t j = 0; j < n; j++) {
                        if (j > i && l[i * n + j] != 0.0)
                            TEST_FAIL("cholesky n=%lld: l(%lld, %lld) = %g above the diagonal",
                                      (long long)n, (long long)i, (long long)j, l[i * n + j]);
                        if (j == i) ASSERT_TRUE(l[i * n + i] > 0);
                        double v = -s[i * n + j];
                        for (int64_t k = 0; k < n; k++) v += l[i * n + k] * l[j * n + k];
                        worst = fmax(worst, fabs(v));
                    }
                double tol = 1e-13 * (double)n * max_abs(s, n * n);
                if (!(worst <= tol))
                    TEST_FAIL("cholesky n=%lld on %d x %d, tiles %lld: |l l^T - a| = %g > %g",
                              (long long)n, P, nranks / P, (long long)nb, worst, tol);
            }
            free(l);
            free(s_after);
            tsr_array_free(&ts);
            tsr_array_free(&tl);
            tsr_dist_free(&d);
        }
        free(r);
        free(s);
    }
}

/* Inputs still being computed when solve is called: it waits for them,
 * running tasks meanwhile. c = s I comes from matmul (tiles move between
 * ranks), and the last rank waits for its part of c alone before solving:
 * the others must keep serving it until then. */
static void pending_inputs(void) {
    tsr_dist_t *d;
    tsr_array_t *a, *b, *x, *s, *eye, *c;
    ASSERT_OK(tsr_dist_create(0, 0, 6, 6, &d));
    ASSERT_OK(tsr_array_random_uniform(d, 40, 40, 11, 0.0, 1.0, &a));
    ASSERT_OK(tsr_array_random_uniform(d, 40, 2, 12, -1.0, 1.0, &b));
    ASSERT_OK(tsr_solve(a, b, &x));
    double *ga = gather0(a), *gb = gather0(b), *gx = gather0(x);
    if (rank == 0) check_residual(ga, gx, gb, 40, 2, "random 40 x 40");
    free(ga);
    free(gx);
    tsr_array_free(&x);

    double *m = malloc(sizeof(double) * 1600);
    for (int64_t k = 0; k < 1600; k++)
        m[k] = hash01(k / 40, k % 40, 3) + (k / 40 == k % 40 ? 40 : 0);
    ASSERT_OK(tsr_array_scatter(d, 40, 40, m, 0, &s));
    ASSERT_OK(tsr_array_identity(d, 40, &eye));
    ASSERT_OK(tsr_matmul(s, eye, &c));
    if (rank == nranks - 1) ASSERT_OK(tsr_array_wait(c));
    ASSERT_OK(tsr_solve(c, b, &x));
    gx = gather0(x);
    if (rank == 0) check_residual(m, gx, gb, 40, 2, "matmul result 40 x 40");
    ASSERT_OK(tsr_array_wait(c));
    free(m);
    free(gb);
    free(gx);
    tsr_array_free(&a);
    tsr_array_free(&b);
    tsr_array_free(&x);
    tsr_array_free(&s);
    tsr_array_free(&eye);
    tsr_array_free(&c);
    tsr_dist_free(&d);
}

static int run0(const char *fmt, ...) TSR_PRINTF(1, 2);
static int run0(const char *fmt, ...) {
    int st = 0;
    if (rank == 0) {
        char cmd[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof cmd, fmt, ap);
        va_end(ap);
        st = system(cmd);
        st = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return st;
}

/* numpy agrees, through .npy files. */
static void against_numpy(void) {
    if (run0("%s -c 'import numpy' 2>/dev/null", PYTHON) != 0) {
        if (rank == 0) printf("  %s has no numpy: skipping the numpy cross-check\n", PYTHON);
        return;
    }
    char dir[64] = "/tmp/tsr-solve-XXXXXX", pa[128], pb[128], px[128], pl[128];
    if (rank == 0) ASSERT_TRUE(mkdtemp(dir) != NULL);
    MPI_Bcast(dir, (int)sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    snprintf(pa, sizeof pa, "%s/a.npy", dir);
    snprintf(pb, sizeof pb, "%s/b.npy", dir);
    snprintf(px, sizeof px, "%s/x.npy", dir);
    snprintf(pl, sizeof pl, "%s/l.npy", dir);
    tsr_dist_t *d;
    tsr_array_t *a, *b, *x, *l;
    ASSERT_OK(tsr_dist_create(0, 0, 5, 5, &d));
    ASSERT_OK(tsr_array_random_uniform(d, 23, 23, 5, 0.0, 1.0, &a));
    ASSERT_OK(tsr_array_random_uniform(d, 23, 3, 6, -1.0, 1.0, &b));
    ASSERT_OK(tsr_solve(a, b, &x));
    ASSERT_OK(tsr_array_save(a, pa));
    ASSERT_OK(tsr_array_save(b, pb));
    ASSERT_OK(tsr_array_save(x, px));
    ASSERT_EQ(run0("%s %s solve %s %s %s", PYTHON, TSR_NPY_CHECK, pa, pb, px), 0);
    tsr_array_free(&a);
    tsr_array_free(&x);
    /* A symmetric, diagonally dominant (so positive definite) matrix. */
    int64_t n = 23;
    double *s = malloc(sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            s[i * n + j] = (i == j ? 2.0 * n : 0) + hash01(i < j ? i : j, i < j ? j : i, 99);
    ASSERT_OK(tsr_array_scatter(d, n, n, s, 0, &a));
    ASSERT_OK(tsr_cholesky(a, &l));
    ASSERT_OK(tsr_array_save(a, pa));
    ASSERT_OK(tsr_array_save(l, pl));
    ASSERT_EQ(run0("%s %s cholesky %s %s", PYTHON, TSR_NPY_CHECK, pa, pl), 0);
    free(s);
    tsr_array_free(&a);
    tsr_array_free(&b);
    tsr_array_free(&l);
    tsr_dist_free(&d);
    run0("rm -rf '%s'", dir);
}

static void errors(void) {
    tsr_dist_t *d, *d_rect, *d_other;
    tsr_array_t *a, *b, *x = NULL;
    ASSERT_OK(tsr_dist_create(0, 0, 2, 2, &d));
    ASSERT_OK(tsr_dist_create(0, 0, 2, 3, &d_rect));
    ASSERT_OK(tsr_dist_create(0, 0, 3, 3, &d_other));

    /* Singular: column 3 is zero, so U(4,4) is exactly zero. */
    int64_t n = 6;
    double m6[36];
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            m6[i * n + j] = j == 3 ? 0.0 : hash01(i, j, 5) + (i == j ? 6 : 0);
    ASSERT_OK(tsr_array_scatter(d, n, n, m6, 0, &a));
    ASSERT_OK(tsr_array_ones(d, n, 1, &b));
    ASSERT_STATUS(tsr_solve(a, b, &x), TSR_ERR_RUNTIME);
    ASSERT_TRUE(x == NULL);
    ASSERT_CONTAINS(tsr_error_message(), "matrix is singular: U(k,k) is exactly zero (k=4)");
    check_same_everywhere(tsr_error_message());
    tsr_array_free(&a);

    /* Not positive definite: diag(1, 2, -1, 4, 5, 6) fails at order 3. */
    for (int64_t k = 0; k < 36; k++) m6[k] = 0;
    for (int64_t i = 0; i < n; i++) m6[i * n + i] = i == 2 ? -1.0 : (double)(i + 1);
    ASSERT_OK(tsr_array_scatter(d, n, n, m6, 0, &a));
    ASSERT_STATUS(tsr_cholesky(a, &x), TSR_ERR_RUNTIME);
    ASSERT_TRUE(x == NULL);
    ASSERT_CONTAINS(tsr_error_message(), "not positive definite");
    ASSERT_CONTAINS(tsr_error_message(), "order 3");
    check_same_everywhere(tsr_error_message());
    tsr_array_free(&a);
    tsr_array_free(&b);

    /* Shapes and distributions, refused before any work. */
    ASSERT_OK(tsr_array_zeros(d, 3, 4, &a));
    ASSERT_OK(tsr_array_zeros(d, 3, 1, &b));
    ASSERT_STATUS(tsr_solve(a, b, &x), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "square, got shape (3, 4)");
    ASSERT_STATUS(tsr_cholesky(a, &x), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "(3, 4)");
    tsr_array_free(&a);
    tsr_array_free(&b);
    ASSERT_OK(tsr_array_zeros(d, 5, 5, &a));
    ASSERT_OK(tsr_array_zeros(d, 4, 1, &b));
    ASSERT_STATUS(tsr_solve(a, b, &x), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "shapes (5, 5) and (4, 1) do not match");
    tsr_array_free(&b);
    ASSERT_OK(tsr_array_zeros(d_other, 5, 1, &b));
    ASSERT_STATUS(tsr_solve(a, b, &x), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "share a distribution");
    tsr_array_free(&a);
    tsr_array_free(&b);
    ASSERT_OK(tsr_array_zeros(d_rect, 5, 5, &a));
    ASSERT_OK(tsr_array_zeros(d_rect, 5, 1, &b));
    ASSERT_STATUS(tsr_solve(a, b, &x), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "pdgesv needs square tiles");
    ASSERT_STATUS(tsr_cholesky(a, &x), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "pdpotrf needs square tiles");
    ASSERT_STATUS(tsr_solve(NULL, b, &x), TSR_ERR_INVALID);
    tsr_array_free(&a);
    tsr_array_free(&b);

    /* Empty systems are fine: x is 0 x k, or n x 0. */
    ASSERT_OK(tsr_array_zeros(d, 0, 0, &a));
    ASSERT_OK(tsr_array_zeros(d, 0, 2, &b));
    ASSERT_OK(tsr_solve(a, b, &x));
    int64_t xm, xn;
    tsr_array_shape(x, &xm, &xn);
    ASSERT_EQ(xm, 0);
    ASSERT_EQ(xn, 2);
    tsr_array_free(&x);
    ASSERT_OK(tsr_cholesky(a, &x));
    tsr_array_free(&x);
    tsr_array_free(&a);
    tsr_array_free(&b);

    tsr_dist_free(&d);
    tsr_dist_free(&d_rect);
    tsr_dist_free(&d_other);
}

int main(int argc, char **argv) {
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    rank = tsr_rank();
    nranks = tsr_nranks();
    solve_cases();
    cholesky_cases();
    pending_inputs();
    errors();
    against_numpy();
    ASSERT_OK(tsr_finalize());
    if (rank == 0) printf("array solve: ok on %d ranks\n", nranks);
    return 0;
}
