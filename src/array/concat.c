/* Concatenation along axis 0 (rows stacked) or 1 (side by side), on the
 * first array's distribution; the others may be on any distribution. */
#include <stdlib.h>

#include "array/remap.h"
#include "tessera/runtime.h"
#include "tessera/perf.h"

int tsr_array_concat(int count, tsr_array_t *const *arrays, int axis, tsr_array_t **out) {
    TSR_TRACE_SCOPE("concat");
    int rc = TSR_OK;
    tsr_array_t *b = NULL;
    tsr__remap_part *parts = NULL;
    *out = NULL;
    int rank = tsr_rank();
    TSR_CHECK_MSG(count >= 1 && arrays != NULL, TSR_ERR_INVALID,
                  "rank %d: tsr_array_concat: needs at least one array (count %d)", rank, count);
    TSR_CHECK_MSG(axis == 0 || axis == 1, TSR_ERR_INVALID,
                  "rank %d: tsr_array_concat: axis %d is not 0 or 1", rank, axis);
    for (int i = 0; i < count; i++)
        TSR_CHECK_MSG(arrays[i] != NULL, TSR_ERR_INVALID,
                      "rank %d: tsr_array_concat: array %d of %d is NULL", rank, i, count);
    const tsr_array_t *a0 = arrays[0];
    int64_t along = 0; /* total length along axis */
    for (int i = 0; i < count; i++) {
        const tsr_array_t *ai = arrays[i];
        int64_t across0 = axis == 0 ? a0->n : a0->m, across = axis == 0 ? ai->n : ai->m;
        TSR_CHECK_MSG(across == across0, TSR_ERR_SHAPE,
                      "rank %d: tsr_array_concat: along axis %d: shapes (%lld, %lld) and (%lld, "
                      "%lld) (arrays 0 and %d) differ in their %s",
                      rank, axis, (long long)a0->m, (long long)a0->n, (long long)ai->m,
                      (long long)ai->n, i, axis == 0 ? "columns" : "rows");
        TSR_CHECK_MSG(ai->dist->nranks == a0->dist->nranks, TSR_ERR_INVALID,
                      "rank %d: tsr_array_concat: array %d is on %d ranks, array 0 on %d", rank,
                      i, ai->dist->nranks, a0->dist->nranks);
        along += axis == 0 ? ai->m : ai->n;
    }
    parts = malloc(sizeof *parts * (size_t)count);
    TSR_CHECK_MSG(parts != NULL, TSR_ERR_NOMEM, "rank %d: tsr_array_concat: no memory", rank);
    TSR_CHECK(tsr__array_alloc(a0->dist, axis == 0 ? along : a0->m, axis == 0 ? a0->n : along,
                               &b));
    int64_t off = 0;
    for (int i = 0; i < count; i++) {
        tsr_array_t *ai = arrays[i];
        parts[i] = (tsr__remap_part){.src = ai,
                                     .rows = ai->m,
                                     .cols = ai->n,
                                     .dr0 = axis == 0 ? off : 0,
                                     .dc0 = axis == 0 ? 0 : off};
        off += axis == 0 ? ai->m : ai->n;
    }
    TSR_CHECK(tsr__remap(b, count, parts, "tsr_array_concat"));
    *out = b;
    b = NULL;
fail:
    free(parts);
    tsr_array_free(&b);
    return rc;
}
