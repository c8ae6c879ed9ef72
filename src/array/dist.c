/* Distributions: the process grid, the tile size and the BLACS context that
 * lets ScaLAPACK work on the same grid. */
#include <math.h>
#include <stdlib.h>

#include "array/array_internal.h"
#include "tessera/runtime.h"

/* The C interface to BLACS shipped inside Debian's libscalapack-openmpi. */
void Cblacs_get(int icontxt, int what, int *val);
void Cblacs_gridinit(int *icontxt, char *order, int nprow, int npcol);
void Cblacs_gridinfo(int icontxt, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int icontxt);

/* Contexts made so far, exited at finalize. Freeing a context is collective
 * (it frees MPI communicators), while the last reference to a distribution
 * may drop inside a task on one rank only; so contexts live until finalize,
 * where every rank exits them in the same order. */
static int *contexts;
static size_t ncontexts, capcontexts;

static int remember_context(int ctx) {
    if (ncontexts == capcontexts) {
        size_t cap = capcontexts ? 2 * capcontexts : 16;
        int *p = realloc(contexts, cap * sizeof *p);
        if (!p) return tsr_error(TSR_ERR_NOMEM, "tsr_dist_create: no memory");
        contexts = p;
        capcontexts = cap;
    }
    contexts[ncontexts++] = ctx;
    return TSR_OK;
}

/* The most square P x Q = n with P <= Q: square grids balance SUMMA's row
 * and column broadcasts. */
static void square_grid(int n, int *P, int *Q) {
    int p = (int)sqrt((double)n);
    while (p > 1 && n % p != 0) p--;
    *P = p;
    *Q = n / p;
}

int tsr_dist_create(int P, int Q, int64_t mb, int64_t nb, tsr_dist_t **out) {
    int rc = TSR_OK;
    tsr_dist_t *d = NULL;
    int rank = tsr_rank(), n = tsr_nranks();
    *out = NULL;
    TSR_CHECK_MSG(n > 0, TSR_ERR_STATE, "tsr_dist_create: call tsr_init first");
    TSR_CHECK_MSG(mb > 0 && nb > 0, TSR_ERR_INVALID,
                  "rank %d: tsr_dist_create: tile size %lld x %lld must be positive", rank,
                  (long long)mb, (long long)nb);
    if (P == 0 && Q == 0) square_grid(n, &P, &Q);
    TSR_CHECK_MSG(P > 0 && Q > 0 && P * Q == n, TSR_ERR_INVALID,
                  "rank %d: tsr_dist_create: a %d x %d grid needs %d ranks, the job has %d", rank,
                  P, Q, P * Q, n);
    TSR_CHECK(tsr__array_layer_init());
    d = calloc(1, sizeof *d);
    TSR_CHECK_MSG(d != NULL, TSR_ERR_NOMEM, "rank %d: tsr_dist_create: no memory", rank);
    atomic_init(&d->refs, 1);
    d->P = P;
    d->Q = Q;
    d->rank = rank;
    d->nranks = n;
    d->myrow = rank / Q;
    d->mycol = rank % Q;
    d->mb = mb;
    d->nb = nb;
    /* Row-major BLACS grid: BLACS then puts rank r at (r / Q, r % Q), the
     * same place Tessera does, which the check below confirms. */
    Cblacs_get(-1, 0, &d->blacs_ctx);
    Cblacs_gridinit(&d->blacs_ctx, "Row", P, Q);
    int bp, bq, br, bc;
    Cblacs_gridinfo(d->blacs_ctx, &bp, &bq, &br, &bc);
    TSR_CHECK_MSG(bp == P && bq == Q && br == d->myrow && bc == d->mycol, TSR_ERR_MPI,
                  "rank %d: BLACS placed this rank at (%d, %d) of %d x %d, expected (%d, %d) of "
                  "%d x %d",
                  rank, br, bc, bp, bq, d->myrow, d->mycol, P, Q);
    TSR_CHECK(remember_context(d->blacs_ctx));
    *out = d;
    return TSR_OK;
fail:
    free(d);
    return rc;
}

void tsr__dist_retain(tsr_dist_t *d) { atomic_fetch_add(&d->refs, 1); }

void tsr_dist_free(tsr_dist_t **dp) {
    if (!dp || !*dp) return;
    tsr_dist_t *d = *dp;
    *dp = NULL;
    if (atomic_fetch_sub(&d->refs, 1) == 1) free(d);
}

void tsr__dist_fini(void) {
    for (size_t i = 0; i < ncontexts; i++) Cblacs_gridexit(contexts[i]);
    free(contexts);
    contexts = NULL;
    ncontexts = capcontexts = 0;
}

void tsr_dist_grid(const tsr_dist_t *d, int *P, int *Q, int *myrow, int *mycol) {
    if (P) *P = d->P;
    if (Q) *Q = d->Q;
    if (myrow) *myrow = d->myrow;
    if (mycol) *mycol = d->mycol;
}

void tsr_dist_tile(const tsr_dist_t *d, int64_t *mb, int64_t *nb) {
    if (mb) *mb = d->mb;
    if (nb) *nb = d->nb;
}

int tsr_dist_owner(const tsr_dist_t *d, int64_t i, int64_t j) {
    return tsr__tile_owner(d, i / d->mb, j / d->nb);
}

int tsr_dist_blacs_context(const tsr_dist_t *d) { return d->blacs_ctx; }
