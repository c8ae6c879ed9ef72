/* Redistribution: the same values on another grid and tile size. */
#include "array/remap.h"
#include "tessera/runtime.h"
#include "tessera/perf.h"

int tsr_array_redistribute(tsr_array_t *a, tsr_dist_t *d, tsr_array_t **out) {
    TSR_TRACE_SCOPE("redistribute");
    int rc = TSR_OK;
    tsr_array_t *b = NULL;
    *out = NULL;
    TSR_CHECK_MSG(a != NULL && d != NULL, TSR_ERR_INVALID,
                  "rank %d: tsr_array_redistribute: %s is NULL", tsr_rank(),
                  a == NULL ? "the array" : "the distribution");
    /* Ranks are the same processes on both sides; another count cannot be. */
    TSR_CHECK_MSG(d->nranks == a->dist->nranks, TSR_ERR_INVALID,
                  "rank %d: tsr_array_redistribute: array of shape (%lld, %lld) is on %d ranks, "
                  "the target distribution on %d",
                  d->rank, (long long)a->m, (long long)a->n, a->dist->nranks, d->nranks);
    TSR_CHECK(tsr__array_alloc(d, a->m, a->n, &b));
    tsr__remap_part part = {.src = a, .rows = a->m, .cols = a->n};
    TSR_CHECK(tsr__remap(b, 1, &part, "tsr_array_redistribute"));
    *out = b;
    return TSR_OK;
fail:
    tsr_array_free(&b);
    return rc;
}
