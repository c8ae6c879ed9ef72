/* Dense solvers on ScaLAPACK: x = a \ b by LU (pdgesv) and the Cholesky
 * factor (pdpotrf). Each factors a copy, made tile by tile on the input's
 * own distribution (the local layouts are identical, so a tile copy is a
 * few memcpy calls and no message), so the inputs stay as they were.
 *
 * ScaLAPACK routines are blocking collectives over the BLACS grid: a rank
 * inside pdgesv runs no tasks. They are entered only after an agreement
 * (tsr__array_agree: a nonblocking all-reduce waited on while helping) on
 * the copies being complete everywhere; once every rank has passed it, every
 * main thread is inside this call, and ScaLAPACK needs nothing but main
 * threads, so no rank can be waiting for a task of a rank blocked in
 * ScaLAPACK. That is what a tsr_fence() would buy, without waiting for
 * unrelated work of other operations to drain. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "array/array_internal.h"
#include "array/tiletask.h"
#include "tessera/runtime.h"
#include "tessera/perf.h"

/* Fortran ScaLAPACK from libscalapack-openmpi. gfortran passes the length of
 * a character argument as a trailing hidden size_t; we pass it explicitly. */
void pdgesv_(const int *n, const int *nrhs, double *a, const int *ia, const int *ja,
             const int *desca, int *ipiv, double *b, const int *ib, const int *jb,
             const int *descb, int *info);
void pdpotrf_(const char *uplo, const int *n, double *a, const int *ia, const int *ja,
              const int *desca, int *info, size_t uplo_len);

/* ---- tile-local copies ---- */

static int copy_tile(const tsr__tile *t, const tsr_array_t *dst, void *arg) {
    const tsr_array_t *src = arg;
    const tsr_dist_t *d = dst->dist;
    tsr__tile s = tsr__local_tile(src, t->ti / d->P, t->tj / d->Q);
    for (int64_t j = 0; j < t->cols; j++)
        memcpy(t->ptr + j * t->ld, s.ptr + j * s.ld, (size_t)t->rows * sizeof(double));
    return TSR_OK;
}

static int copy_deps(const tsr_array_t *dst, int64_t li, int64_t lj, void *arg,
                     tsr_future_t **deps, int cap) {
    (void)dst;
    (void)cap;
    const tsr_array_t *src = arg;
    tsr_future_t *f = src->ready[li + lj * src->lmt];
    if (!f) return 0;
    deps[0] = f;
    return 1;
}

static void release_array(void *arg) { tsr__array_release(arg); }

/* A copy of src on d, which has src's grid and tile size. */
static int copy_on(tsr_array_t *src, tsr_dist_t *d, tsr_array_t **out) {
    int rc = TSR_OK;
    tsr_array_t *c = NULL;
    TSR_CHECK(tsr__array_alloc(d, src->m, src->n, &c));
    tsr__array_retain(src); /* the tasks' reference, dropped by release_array */
    TSR_CHECK(tsr__for_each_tile_deps(c, copy_tile, copy_deps, src, release_array));
    *out = c;
    return TSR_OK;
fail:
    tsr_array_free(&c);
    return rc;
}

/* ---- checks, identical on every rank (shapes and distributions only) ---- */

static int same_layout(const tsr_dist_t *a, const tsr_dist_t *b) {
    return a->P == b->P && a->Q == b->Q && a->mb == b->mb && a->nb == b->nb;
}

static int check_square(const tsr_array_t *a, const char *fn, const char *routine) {
    const tsr_dist_t *d = a->dist;
    if (a->m != a->n)
        return tsr_error(TSR_ERR_SHAPE, "rank %d: %s: a must be square, got shape (%lld, %lld)",
                         d->rank, fn, (long long)a->m, (long long)a->n);
    if (d->mb != d->nb)
        return tsr_error(TSR_ERR_SHAPE,
                         "rank %d: %s: ScaLAPACK's %s needs square tiles, the distribution has "
                         "%lld x %lld tiles (create one with mb == nb)",
                         d->rank, fn, routine, (long long)d->mb, (long long)d->nb);
    return TSR_OK;
}

/* ScaLAPACK takes int sizes. Checked from the shapes and the grid only (grid
 * row 0 has the most local rows, so the largest lld), so every rank agrees
 * and tsr_array_scalapack cannot then fail on some ranks only. */
static int check_int_sizes(const tsr_array_t *a, int64_t ncols, const char *fn) {
    const tsr_dist_t *d = a->dist;
    if (a->m > INT_MAX || ncols > INT_MAX || d->mb > INT_MAX ||
        tsr__numroc(a->m, d->mb, 0, d->P) > INT_MAX)
        return tsr_error(TSR_ERR_UNSUPPORTED,
                         "rank %d: %s: shape (%lld, %lld) is too large for ScaLAPACK's int sizes",
                         d->rank, fn, (long long)a->m, (long long)ncols);
    return TSR_OK;
}

/* ---- running a ScaLAPACK routine ---- */

/* Wait for the copies, then agree that every rank has them: after this,
 * blocking in ScaLAPACK is safe (see the top). */
static int ready_everywhere(tsr_array_t *x, tsr_array_t *y, int lrc, const char *fn) {
    int w = tsr_array_wait(x);
    if (lrc == TSR_OK) lrc = w;
    if (y) {
        w = tsr_array_wait(y);
        if (lrc == TSR_OK) lrc = w;
    }
    return tsr__array_agree(lrc, fn);
}

/* ScaLAPACK's INFO is already the same on every rank for these routines
 * (their callers branch on it collectively); reducing it anyway costs one
 * small all-reduce and guarantees every rank reports the same error. Gives
 * the most negative value if any, else the smallest positive, else 0. */
static int agree_info(int *info, const char *fn) {
    int rc = TSR_OK;
    int mine[2] = {*info < 0 ? *info : 0, *info > 0 ? *info : INT_MAX}, all[2];
    MPI_Request req;
    TSR_MPI(MPI_Iallreduce(mine, all, 2, MPI_INT, MPI_MIN, tsr__array_comm(), &req));
    TSR_CHECK(tsr__mpi_wait_helping(&req, fn));
    *info = all[0] < 0 ? all[0] : all[1] < INT_MAX ? all[1] : 0;
fail:
    return rc;
}

int tsr_solve(tsr_array_t *a, tsr_array_t *b, tsr_array_t **out) {
    TSR_TRACE_SCOPE("solve");
    int rc = TSR_OK, lrc = TSR_OK;
    tsr_array_t *lu = NULL, *x = NULL;
    int *ipiv = NULL;
    if (out) *out = NULL;
    TSR_CHECK_MSG(a != NULL && b != NULL && out != NULL, TSR_ERR_INVALID,
                  "rank %d: tsr_solve: NULL %s", tsr_rank(), !a ? "a" : !b ? "b" : "output");
    const tsr_dist_t *d = a->dist;
    TSR_CHECK(check_square(a, "tsr_solve", "pdgesv"));
    TSR_CHECK_MSG(b->m == a->m, TSR_ERR_SHAPE,
                  "rank %d: tsr_solve: shapes (%lld, %lld) and (%lld, %lld) do not match: b needs "
                  "%lld rows",
                  d->rank, (long long)a->m, (long long)a->n, (long long)b->m, (long long)b->n,
                  (long long)a->m);
    TSR_CHECK_MSG(same_layout(d, b->dist), TSR_ERR_SHAPE,
                  "rank %d: tsr_solve: a and b must share a distribution: a is on a %d x %d grid "
                  "with %lld x %lld tiles, b on %d x %d with %lld x %lld",
                  d->rank, d->P, d->Q, (long long)d->mb, (long long)d->nb, b->dist->P,
                  b->dist->Q, (long long)b->dist->mb, (long long)b->dist->nb);
    TSR_CHECK(check_int_sizes(a, a->n, "tsr_solve"));
    TSR_CHECK(check_int_sizes(b, b->n, "tsr_solve"));
    /* b is copied onto a's distribution object, so both descriptors name
     * the same BLACS context even when b's dist is another, equal one. */
    TSR_CHECK(copy_on(a, a->dist, &lu));
    TSR_CHECK(copy_on(b, a->dist, &x));
    if (a->n > 0 && b->n > 0) {
        /* LOCr(M_A) + MB_A entries, as pdgesv documents. */
        ipiv = malloc(sizeof(int) * (size_t)(lu->lm + d->mb));
        if (!ipiv)
            lrc = tsr_error(TSR_ERR_NOMEM, "rank %d: tsr_solve: no memory for %lld pivots",
                            d->rank, (long long)(lu->lm + d->mb));
        TSR_CHECK(ready_everywhere(lu, x, lrc, "tsr_solve"));
        int desca[9], descb[9], lda, ldb, info = 0, one = 1;
        int n = (int)a->n, nrhs = (int)b->n;
        double *pa, *pb, dummy_a = 0, dummy_b = 0;
        TSR_CHECK(tsr_array_scalapack(lu, desca, &pa, &lda));
        TSR_CHECK(tsr_array_scalapack(x, descb, &pb, &ldb));
        /* A rank with no part still takes part; give it valid pointers. */
        pdgesv_(&n, &nrhs, pa ? pa : &dummy_a, &one, &one, desca, ipiv, pb ? pb : &dummy_b, &one,
                &one, descb, &info);
        TSR_CHECK(agree_info(&info, "tsr_solve"));
        TSR_CHECK_MSG(info >= 0, TSR_ERR_RUNTIME,
                      "rank %d: tsr_solve: pdgesv rejected its argument %d (a Tessera bug)",
                      d->rank, -info);
        TSR_CHECK_MSG(info == 0, TSR_ERR_RUNTIME,
                      "rank %d: tsr_solve: matrix is singular: U(k,k) is exactly zero (k=%d)",
                      d->rank, info);
    }
    *out = x;
    x = NULL;
fail:
    free(ipiv);
    tsr_array_free(&lu);
    tsr_array_free(&x);
    return rc;
}

/* Zero the strict upper triangle of a tile of the factor. */
static int zero_upper(const tsr__tile *t, const tsr_array_t *l, void *arg) {
    (void)l;
    (void)arg;
    for (int64_t j = 0; j < t->cols; j++) {
        int64_t above = t->j0 + j - t->i0; /* local rows i with global row < global column */
        int64_t stop = above < 0 ? 0 : above > t->rows ? t->rows : above;
        if (stop > 0) memset(t->ptr + j * t->ld, 0, (size_t)stop * sizeof(double));
    }
    return TSR_OK;
}

int tsr_cholesky(tsr_array_t *a, tsr_array_t **out) {
    TSR_TRACE_SCOPE("cholesky");
    int rc = TSR_OK;
    tsr_array_t *l = NULL;
    if (out) *out = NULL;
    TSR_CHECK_MSG(a != NULL && out != NULL, TSR_ERR_INVALID, "rank %d: tsr_cholesky: NULL %s",
                  tsr_rank(), !a ? "a" : "output");
    const tsr_dist_t *d = a->dist;
    TSR_CHECK(check_square(a, "tsr_cholesky", "pdpotrf"));
    TSR_CHECK(check_int_sizes(a, a->n, "tsr_cholesky"));
    TSR_CHECK(copy_on(a, a->dist, &l));
    if (a->n > 0) {
        TSR_CHECK(ready_everywhere(l, NULL, TSR_OK, "tsr_cholesky"));
        int desc[9], ld, info = 0, one = 1, n = (int)a->n;
        double *p, dummy = 0;
        TSR_CHECK(tsr_array_scalapack(l, desc, &p, &ld));
        pdpotrf_("L", &n, p ? p : &dummy, &one, &one, desc, &info, 1);
        TSR_CHECK(agree_info(&info, "tsr_cholesky"));
        TSR_CHECK_MSG(info >= 0, TSR_ERR_RUNTIME,
                      "rank %d: tsr_cholesky: pdpotrf rejected its argument %d (a Tessera bug)",
                      d->rank, -info);
        TSR_CHECK_MSG(info == 0, TSR_ERR_RUNTIME,
                      "rank %d: tsr_cholesky: matrix is not positive definite: its leading minor "
                      "of order %d is not",
                      d->rank, info);
        /* pdpotrf leaves a's strict upper triangle in place. */
        TSR_CHECK(tsr__for_each_tile(l, zero_upper, NULL, NULL));
    }
    *out = l;
    return TSR_OK;
fail:
    tsr_array_free(&l);
    return rc;
}
