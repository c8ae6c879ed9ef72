/* Slicing: a rectangle of an array as a new array on the same distribution.
 * Tile boundaries of the slice fall elsewhere than the array's, so most
 * tiles gather pieces of up to four source tiles, often from other ranks. */
#include "array/remap.h"
#include "tessera/runtime.h"
#include "tessera/perf.h"

int tsr_array_slice(tsr_array_t *a, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                    tsr_array_t **out) {
    TSR_TRACE_SCOPE("slice");
    int rc = TSR_OK;
    tsr_array_t *b = NULL;
    *out = NULL;
    TSR_CHECK_MSG(a != NULL, TSR_ERR_INVALID, "rank %d: tsr_array_slice: the array is NULL",
                  tsr_rank());
    /* Empty slices are refused too: a 0-row array is more often a caller's
     * off-by-one than an intent. */
    TSR_CHECK_MSG(0 <= r0 && r0 < r1 && r1 <= a->m && 0 <= c0 && c0 < c1 && c1 <= a->n,
                  TSR_ERR_SHAPE,
                  "rank %d: tsr_array_slice: rows [%lld, %lld) and columns [%lld, %lld) of an "
                  "array of shape (%lld, %lld): %s",
                  a->dist->rank, (long long)r0, (long long)r1, (long long)c0, (long long)c1,
                  (long long)a->m, (long long)a->n,
                  (r0 >= r1 || c0 >= c1) ? "the range is empty or reversed" : "out of range");
    TSR_CHECK(tsr__array_alloc(a->dist, r1 - r0, c1 - c0, &b));
    tsr__remap_part part = {.src = a, .sr0 = r0, .sc0 = c0, .rows = r1 - r0, .cols = c1 - c0};
    TSR_CHECK(tsr__remap(b, 1, &part, "tsr_array_slice"));
    *out = b;
    return TSR_OK;
fail:
    tsr_array_free(&b);
    return rc;
}
