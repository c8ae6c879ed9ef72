/* Array creation: every local tile is filled by its own task. */
#include <stdlib.h>

#include "array/array_internal.h"
#include "array/philox.h"
#include "array/tiletask.h"
#include "tessera/perf.h"

enum fill_kind { FILL_CONST, FILL_IDENTITY, FILL_ARANGE, FILL_LINSPACE, FILL_UNIFORM, FILL_NORMAL };

typedef struct fill_spec {
    int kind;
    double a, b;   /* constant / start,step / lo,hi / mean,std */
    double stop;   /* linspace: the last value, exactly (as numpy) */
    int64_t last;  /* linspace: its index */
    uint64_t seed;
} fill_spec;

static int fill_tile(const tsr__tile *t, const tsr_array_t *arr, void *arg) {
    const fill_spec *s = arg;
    for (int64_t j = 0; j < t->cols; j++) {
        double *col = t->ptr + j * t->ld;
        int64_t gj = t->j0 + j;
        for (int64_t i = 0; i < t->rows; i++) {
            int64_t gi = t->i0 + i;
            uint64_t g = (uint64_t)gi * (uint64_t)arr->n + (uint64_t)gj; /* row-major index */
            double v;
            switch (s->kind) {
            case FILL_CONST: v = s->a; break;
            case FILL_IDENTITY: v = gi == gj ? 1.0 : 0.0; break;
            case FILL_ARANGE: v = s->a + s->b * (double)g; break;
            case FILL_LINSPACE: v = (int64_t)g == s->last ? s->stop : s->a + s->b * (double)g; break;
            case FILL_UNIFORM: v = s->a + (s->b - s->a) * tsr__philox_uniform(g, s->seed); break;
            default: v = s->a + s->b * tsr__philox_normal(g, s->seed); break;
            }
            col[i] = v;
        }
    }
    return TSR_OK;
}

static int make(tsr_dist_t *d, int64_t m, int64_t n, const fill_spec *spec, tsr_array_t **out) {
    TSR_TRACE_SCOPE("create");
    int rc = TSR_OK;
    tsr_array_t *a = NULL;
    fill_spec *s = NULL;
    *out = NULL;
    TSR_CHECK(tsr__array_alloc(d, m, n, &a));
    s = malloc(sizeof *s);
    TSR_CHECK_MSG(s != NULL, TSR_ERR_NOMEM, "rank %d: no memory", d->rank);
    *s = *spec;
    TSR_CHECK(tsr__for_each_tile(a, fill_tile, s, free));
    *out = a;
    return TSR_OK;
fail:
    tsr_array_free(&a);
    return rc;
}

int tsr_array_full(tsr_dist_t *d, int64_t m, int64_t n, double value, tsr_array_t **out) {
    fill_spec s = {.kind = FILL_CONST, .a = value};
    return make(d, m, n, &s, out);
}

int tsr_array_zeros(tsr_dist_t *d, int64_t m, int64_t n, tsr_array_t **out) {
    return tsr_array_full(d, m, n, 0.0, out);
}

int tsr_array_ones(tsr_dist_t *d, int64_t m, int64_t n, tsr_array_t **out) {
    return tsr_array_full(d, m, n, 1.0, out);
}

int tsr_array_identity(tsr_dist_t *d, int64_t n, tsr_array_t **out) {
    fill_spec s = {.kind = FILL_IDENTITY};
    return make(d, n, n, &s, out);
}

int tsr_array_arange(tsr_dist_t *d, int64_t n, double start, double step, tsr_array_t **out) {
    fill_spec s = {.kind = FILL_ARANGE, .a = start, .b = step};
    return make(d, n, 1, &s, out);
}

int tsr_array_linspace(tsr_dist_t *d, double start, double stop, int64_t n, tsr_array_t **out) {
    fill_spec s = {.kind = FILL_LINSPACE, .a = start, .b = n > 1 ? (stop - start) / (double)(n - 1) : 0.0,
                   .stop = n > 1 ? stop : start, .last = n - 1};
    return make(d, n, 1, &s, out);
}

int tsr_array_random_uniform(tsr_dist_t *d, int64_t m, int64_t n, uint64_t seed, double lo,
                             double hi, tsr_array_t **out) {
    fill_spec s = {.kind = FILL_UNIFORM, .a = lo, .b = hi, .seed = seed};
    return make(d, m, n, &s, out);
}

int tsr_array_random_normal(tsr_dist_t *d, int64_t m, int64_t n, uint64_t seed, double mean,
                            double stddev, tsr_array_t **out) {
    fill_spec s = {.kind = FILL_NORMAL, .a = mean, .b = stddev, .seed = seed};
    return make(d, m, n, &s, out);
}
