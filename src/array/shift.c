/* tsr_array_shift: out(i, j) = a(i + di, j + dj) inside a, else fill.
 *
 * The part of out that reads a is one rectangle; the region-copy engine
 * (remap.c) moves it, and since the shift is (di, dj), a destination tile
 * overlaps at most four source tiles, of which only those on other ranks
 * travel: for |di| and |dj| below a tile the strips di rows high and dj
 * columns wide (the halo), everything else is copied in place. A second
 * tile task per tile, after the copy, writes fill into the rest. */
#include <stdlib.h>

#include "array/remap.h"
#include "array/tiletask.h"
#include "tessera/runtime.h"
#include "tessera/perf.h"

typedef struct shift_fill {
    int64_t r0, r1, c0, c1; /* the rectangle the copy wrote (may be empty) */
    double fill;
} shift_fill;

static int fill_tile(const tsr__tile *t, const tsr_array_t *a, void *arg) {
    (void)a;
    const shift_fill *s = arg;
    for (int64_t j = 0; j < t->cols; j++) {
        int64_t gj = t->j0 + j;
        double *col = t->ptr + j * t->ld;
        if (gj < s->c0 || gj >= s->c1) {
            for (int64_t i = 0; i < t->rows; i++) col[i] = s->fill;
            continue;
        }
        for (int64_t i = 0; i < t->rows; i++) {
            int64_t gi = t->i0 + i;
            if (gi < s->r0 || gi >= s->r1) col[i] = s->fill;
        }
    }
    return TSR_OK;
}

/* [lo, hi) of the out indices whose source index + shift lies in [0, len). */
static void inside(int64_t len, int64_t shift, int64_t *lo, int64_t *hi) {
    if (shift >= len || shift <= -len) {
        *lo = *hi = 0;
        return;
    }
    *lo = shift < 0 ? -shift : 0;
    *hi = shift > 0 ? len - shift : len;
}

int tsr_array_shift(tsr_array_t *a, int64_t di, int64_t dj, double fill, tsr_array_t **out) {
    TSR_TRACE_SCOPE("shift");
    int rc = TSR_OK;
    tsr_array_t *b = NULL;
    shift_fill *s = NULL;
    TSR_CHECK_MSG(out != NULL, TSR_ERR_INVALID, "rank %d: tsr_array_shift: out is NULL", tsr_rank());
    *out = NULL;
    TSR_CHECK_MSG(a != NULL, TSR_ERR_INVALID, "rank %d: tsr_array_shift: the array is NULL",
                  tsr_rank());
    int64_t r0, r1, c0, c1;
    inside(a->m, di, &r0, &r1);
    inside(a->n, dj, &c0, &c1);
    if (r0 >= r1 || c0 >= c1) return tsr_array_full(a->dist, a->m, a->n, fill, out);
    TSR_CHECK(tsr__array_alloc(a->dist, a->m, a->n, &b));
    tsr__remap_part part = {.src = a,
                            .sr0 = r0 + di,
                            .sc0 = c0 + dj,
                            .rows = r1 - r0,
                            .cols = c1 - c0,
                            .dr0 = r0,
                            .dc0 = c0};
    TSR_CHECK(tsr__remap(b, 1, &part, "tsr_array_shift"));
    if (r1 - r0 < a->m || c1 - c0 < a->n) {
        s = malloc(sizeof *s);
        if (!s)
            tsr_abort("rank %d: tsr_array_shift: no memory", tsr_rank()); /* peers went on */
        *s = (shift_fill){.r0 = r0, .r1 = r1, .c0 = c0, .c1 = c1, .fill = fill};
        /* Each tile's task runs after the copy into it (its ready future). */
        rc = tsr__for_each_tile(b, fill_tile, s, free);
        if (rc != TSR_OK)
            tsr_abort("rank %d: tsr_array_shift: cannot queue tile tasks: %s", tsr_rank(),
                      tsr_error_message());
    }
    *out = b;
    return TSR_OK;
fail:
    tsr_array_free(&b);
    return rc;
}
