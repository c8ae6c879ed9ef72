/* Reduction partials (reduce_part.c), shared with the tree (reduce.c). */
#ifndef TSR_ARRAY_REDUCE_INTERNAL_H
#define TSR_ARRAY_REDUCE_INTERNAL_H

#include "array/array_internal.h"

/* One output element's partial; the meaning of v and w depends on the op
 * (reduce_part.c). Two doubles, so partials travel as plain doubles. */
typedef struct tsr__red_part {
    double v, w;
} tsr__red_part;

int tsr__red_is_arg(int op);
/* The partial of nothing. */
tsr__red_part tsr__red_identity(int op);
/* Fold q into p. */
void tsr__red_combine(int op, tsr__red_part *p, tsr__red_part q);
/* The result; count is the number of elements reduced (for MEAN). */
double tsr__red_final(int op, tsr__red_part p, double count);
/* Fold tile t of a into out: 1 entry (axis -1: the whole array), t's
 * columns (axis 0) or t's rows (axis 1), already holding partials. */
int tsr__red_tile_partial(int op, int axis, const tsr_array_t *a, const tsr__tile *t,
                          tsr__red_part *out);

#endif
