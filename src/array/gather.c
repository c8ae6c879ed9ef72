/* Scatter from and gather to one rank: the only ways a whole array meets a
 * single rank's memory. Each rank's local matrix travels whole (it is already
 * contiguous: lld == local rows); the root maps local to global indices. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "array/array_internal.h"
#include "tessera/runtime.h"
#include "tessera/perf.h"

/* Global index of local index l on process p of n, blocks of nb. */
static inline int64_t global_of(int64_t l, int64_t nb, int p, int n) {
    return ((l / nb) * n + p) * nb + l % nb;
}

/* Per-rank element counts and displacements of local matrices, in rank
 * order; fails if a count does not fit MPI's int. */
static int layout(const tsr_array_t *a, int *counts, int *displs, const char *what) {
    const tsr_dist_t *d = a->dist;
    int64_t off = 0;
    for (int r = 0; r < d->nranks; r++) {
        int64_t lm = tsr__numroc(a->m, d->mb, r / d->Q, d->P);
        int64_t ln = tsr__numroc(a->n, d->nb, r % d->Q, d->Q);
        int64_t c = lm * ln;
        if (c > INT_MAX || off > INT_MAX)
            return tsr_error(TSR_ERR_UNSUPPORTED,
                             "rank %d: %s of a (%lld, %lld) array: rank %d's part is too large for "
                             "one MPI message; use .npy I/O instead",
                             d->rank, what, (long long)a->m, (long long)a->n, r);
        counts[r] = (int)c;
        displs[r] = (int)off;
        off += c;
    }
    return TSR_OK;
}

/* Root-side copy between the row-major whole array and rank r's packed
 * local matrix, in the direction given by to_local. */
static void map_rank(const tsr_array_t *a, int r, double *packed, double *whole, int to_local) {
    const tsr_dist_t *d = a->dist;
    int pr = r / d->Q, pc = r % d->Q;
    int64_t lm = tsr__numroc(a->m, d->mb, pr, d->P);
    int64_t ln = tsr__numroc(a->n, d->nb, pc, d->Q);
    for (int64_t lj = 0; lj < ln; lj++) {
        int64_t gj = global_of(lj, d->nb, pc, d->Q);
        for (int64_t li = 0; li < lm; li++) {
            int64_t gi = global_of(li, d->mb, pr, d->P);
            double *w = &whole[gi * a->n + gj];
            double *p = &packed[li + lj * lm];
            if (to_local)
                *p = *w;
            else
                *w = *p;
        }
    }
}

static int check_root(const tsr_dist_t *d, int root, const void *buf, const char *what) {
    if (root < 0 || root >= d->nranks)
        return tsr_error(TSR_ERR_INVALID, "rank %d: %s: root %d is not a rank (0..%d)", d->rank, what,
                         root, d->nranks - 1);
    if (d->rank == root && buf == NULL)
        return tsr_error(TSR_ERR_INVALID, "rank %d: %s: the root's buffer is NULL", d->rank, what);
    return TSR_OK;
}

int tsr_array_scatter(tsr_dist_t *d, int64_t m, int64_t n, const double *buf, int root,
                      tsr_array_t **out) {
    TSR_TRACE_SCOPE("scatter");
    int rc = TSR_OK;
    tsr_array_t *a = NULL;
    int *counts = NULL, *displs = NULL;
    double *packed = NULL;
    MPI_Request req;
    *out = NULL;
    TSR_CHECK(tsr__array_alloc(d, m, n, &a));
    TSR_CHECK(tsr__array_agree(check_root(d, root, buf, "tsr_array_scatter"), "tsr_array_scatter"));
    counts = malloc(sizeof(int) * (size_t)d->nranks);
    displs = malloc(sizeof(int) * (size_t)d->nranks);
    TSR_CHECK_MSG(counts && displs, TSR_ERR_NOMEM, "rank %d: no memory", d->rank);
    TSR_CHECK(layout(a, counts, displs, "tsr_array_scatter"));
    if (d->rank == root) {
        packed = malloc(sizeof(double) * ((size_t)m * (size_t)n + 1));
        if (packed == NULL)
            rc = tsr_error(TSR_ERR_NOMEM, "rank %d: no memory to scatter a (%lld, %lld) array",
                           d->rank, (long long)m, (long long)n);
    }
    TSR_CHECK(tsr__array_agree(rc, "tsr_array_scatter"));
    if (d->rank == root) {
        for (int r = 0; r < d->nranks; r++) map_rank(a, r, packed + displs[r], (double *)buf, 1);
    }
    TSR_MPI(MPI_Iscatterv(packed, counts, displs, MPI_DOUBLE, a->data, counts[d->rank], MPI_DOUBLE,
                          root, tsr__array_comm(), &req));
    TSR_CHECK(tsr__mpi_wait_helping(&req, "tsr_array_scatter"));
    *out = a;
    a = NULL;
fail:
    free(packed);
    free(counts);
    free(displs);
    tsr_array_free(&a);
    return rc;
}

int tsr_array_gather(tsr_array_t *a, int root, double *buf) {
    TSR_TRACE_SCOPE("gather");
    int rc = TSR_OK;
    const tsr_dist_t *d = a->dist;
    int *counts = NULL, *displs = NULL;
    double *packed = NULL;
    MPI_Request req;
    TSR_CHECK(tsr__array_agree(check_root(d, root, buf, "tsr_array_gather"), "tsr_array_gather"));
    counts = malloc(sizeof(int) * (size_t)d->nranks);
    displs = malloc(sizeof(int) * (size_t)d->nranks);
    TSR_CHECK_MSG(counts && displs, TSR_ERR_NOMEM, "rank %d: no memory", d->rank);
    TSR_CHECK(layout(a, counts, displs, "tsr_array_gather"));
    /* A failed tile may be seen by some ranks only: agree before the collective. */
    TSR_CHECK(tsr__array_agree(tsr_array_wait(a), "tsr_array_gather"));
    if (d->rank == root) {
        packed = malloc(sizeof(double) * ((size_t)a->m * (size_t)a->n + 1));
        if (packed == NULL)
            rc = tsr_error(TSR_ERR_NOMEM, "rank %d: no memory to gather a (%lld, %lld) array",
                           d->rank, (long long)a->m, (long long)a->n);
    }
    TSR_CHECK(tsr__array_agree(rc, "tsr_array_gather"));
    TSR_MPI(MPI_Igatherv(a->data, counts[d->rank], MPI_DOUBLE, packed, counts, displs, MPI_DOUBLE,
                         root, tsr__array_comm(), &req));
    TSR_CHECK(tsr__mpi_wait_helping(&req, "tsr_array_gather"));
    if (d->rank == root)
        for (int r = 0; r < d->nranks; r++) map_rank(a, r, packed + displs[r], buf, 0);
fail:
    free(packed);
    free(counts);
    free(displs);
    return rc;
}
