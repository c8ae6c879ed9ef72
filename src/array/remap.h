/* The region-copy engine under redistribute, transpose, slice and concat:
 * rectangles of source arrays (any distributions) land in rectangles of a
 * destination array, optionally transposed.
 *
 * For every destination tile the engine knows, from the distributions alone,
 * which source tiles overlap it. Each rank that owns some of them packs its
 * pieces for that tile into ONE message, keyed (op, destination tile, source
 * rank), once its source tiles are ready; the destination tile's task waits
 * for those messages and for the local source tiles and copies everything in.
 * Local pieces never travel. A failed source tile still sends its message, so
 * the error reaches the destination's future instead of a rank waiting
 * forever. */
#ifndef TSR_ARRAY_REMAP_H
#define TSR_ARRAY_REMAP_H

#include "array/array_internal.h"

/* One region copy: the rows x cols block of src whose first element is
 * (sr0, sc0) lands in the destination at (dr0, dc0); with transpose, as its
 * transpose (cols x rows): dst(dr0 + i, dc0 + j) = src(sr0 + j, sc0 + i). */
typedef struct tsr__remap_part {
    tsr_array_t *src;
    int64_t sr0, sc0, rows, cols;
    int64_t dr0, dc0;
    int transpose;
} tsr__remap_part;

/* Collective (same parts on every rank, main thread): fill dst, fresh from
 * tsr__array_alloc, from the parts, and make every local tile of dst's ready
 * future the task that writes it. The caller has checked that each part lies
 * inside its source and inside dst, that the parts do not overlap in dst and
 * that every source's distribution has dst's rank count; elements no part
 * covers are left unwritten. The tasks hold references on the sources and on
 * dst, so both may be freed at once. `what` names the operation in errors.
 * Returns TSR_OK once everything is queued; a failure after the first
 * message may have been promised to another rank ends the job (tsr_abort),
 * since that rank could otherwise wait forever. */
int tsr__remap(tsr_array_t *dst, int nparts, const tsr__remap_part *parts, const char *what);

#endif
