/* Transpose: b(i, j) = a(j, i), on a's distribution. Tile (ti, tj) of b comes
 * from a's tiles around (tj, ti), which on most grids live on another rank. */
#include "array/remap.h"
#include "tessera/runtime.h"
#include "tessera/perf.h"

int tsr_array_transpose(tsr_array_t *a, tsr_array_t **out) {
    TSR_TRACE_SCOPE("transpose");
    int rc = TSR_OK;
    tsr_array_t *b = NULL;
    *out = NULL;
    TSR_CHECK_MSG(a != NULL, TSR_ERR_INVALID, "rank %d: tsr_array_transpose: the array is NULL",
                  tsr_rank());
    TSR_CHECK(tsr__array_alloc(a->dist, a->n, a->m, &b));
    tsr__remap_part part = {.src = a, .rows = a->m, .cols = a->n, .transpose = 1};
    TSR_CHECK(tsr__remap(b, 1, &part, "tsr_array_transpose"));
    *out = b;
    return TSR_OK;
fail:
    tsr_array_free(&b);
    return rc;
}
