/* Tile tasks: the unit of work of every array operation. */
#include <stdlib.h>

#include "array/tiletask.h"

typedef struct shared {
    atomic_int refs;
    tsr__tile_fn fn;
    void *arg;
    void (*dtor)(void *);
    tsr_array_t *a; /* one reference for all tasks */
} shared;

typedef struct one {
    shared *sh;
    int64_t li, lj;
} one;

static void shared_release(shared *sh) {
    if (atomic_fetch_sub(&sh->refs, 1) != 1) return;
    if (sh->dtor) sh->dtor(sh->arg);
    tsr__array_release(sh->a);
    free(sh);
}

static int run_one(void *arg, void **value_out) {
    one *o = arg;
    shared *sh = o->sh;
    tsr__tile t = tsr__local_tile(sh->a, o->li, o->lj);
    int rc = sh->fn(&t, sh->a, sh->arg);
    free(o);
    shared_release(sh);
    *value_out = NULL;
    return rc;
}

int tsr__for_each_tile_deps(tsr_array_t *a, tsr__tile_fn fn, tsr__tile_deps_fn deps_fn, void *arg,
                            void (*dtor)(void *)) {
    int rc = TSR_OK;
    shared *sh = calloc(1, sizeof *sh);
    if (!sh) {
        if (dtor) dtor(arg);
        return tsr_error(TSR_ERR_NOMEM, "rank %d: no memory for tile tasks", a->dist->rank);
    }
    atomic_init(&sh->refs, 1); /* ours, dropped at the end */
    sh->fn = fn;
    sh->arg = arg;
    sh->dtor = dtor;
    sh->a = a;
    tsr__array_retain(a);
    tsr_future_t *deps[TSR_TILE_MAX_DEPS];
    for (int64_t lj = 0; lj < a->lnt; lj++) {
        for (int64_t li = 0; li < a->lmt; li++) {
            int nd = 0;
            int64_t k = li + lj * a->lmt;
            /* A tile written before (in-place use) is rewritten only after. */
            tsr_future_t *prev = a->ready[k];
            if (prev) deps[nd++] = prev;
            if (deps_fn) {
                int got = deps_fn(a, li, lj, arg, deps + nd, TSR_TILE_MAX_DEPS - nd);
                nd = got < 0 ? got : nd + got;
                if (nd < 0) {
                    rc = nd;
                    goto fail;
                }
            }
            one *o = malloc(sizeof *o);
            TSR_CHECK_MSG(o != NULL, TSR_ERR_NOMEM, "rank %d: no memory for a tile task",
                          a->dist->rank);
            o->sh = sh;
            o->li = li;
            o->lj = lj;
            atomic_fetch_add(&sh->refs, 1);
            a->ready[k] = NULL;
            rc = tsr_async(run_one, o, nd, deps, &a->ready[k]);
            tsr_future_release(&prev);
            if (rc != TSR_OK) {
                free(o);
                atomic_fetch_sub(&sh->refs, 1);
                goto fail;
            }
        }
    }
fail:
    shared_release(sh);
    return rc;
}

int tsr__for_each_tile(tsr_array_t *a, tsr__tile_fn fn, void *arg, void (*dtor)(void *)) {
    return tsr__for_each_tile_deps(a, fn, NULL, arg, dtor);
}
