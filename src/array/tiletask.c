/* Tile tasks: the unit of work of every array operation. */
#include <stdlib.h>

#include "array/tiletask.h"
#include "array/settle.h"

/* ---- tasks that run after their deps, failed or not ----
 * A plain tsr_async on the settled future of the deps, so its body always
 * runs; the record keeps references on the deps to report the first
 * failure. */
typedef struct settled {
    tsr__settled_fn fn;
    void *arg;
    int n;
    tsr_future_t *deps[];
} settled;

static int settled_run(void *arg, void **value_out) {
    settled *s = arg;
    int status = TSR_OK;
    const char *msg = "";
    for (int i = 0; i < s->n && status == TSR_OK; i++) {
        status = tsr_future_status(s->deps[i]);
        msg = status == TSR_OK ? "" : tsr_future_message(s->deps[i]);
    }
    /* msg stays valid while we hold the dep, i.e. until after fn. */
    int rc = s->fn(s->arg, status, msg, value_out);
    for (int i = 0; i < s->n; i++) tsr_future_release(&s->deps[i]);
    free(s);
    return rc;
}

int tsr__async_settled(tsr__settled_fn fn, void *arg, int n, tsr_future_t *const *deps,
                       tsr_future_t **out) {
    int rc = TSR_OK;
    tsr_future_t *gate = NULL;
    settled *s = calloc(1, sizeof *s + (size_t)n * sizeof(tsr_future_t *));
    TSR_CHECK_MSG(s != NULL, TSR_ERR_NOMEM, "no memory for a task with %d inputs", n);
    s->fn = fn;
    s->arg = arg;
    TSR_CHECK(tsr__when_all_settled(n, deps, &gate));
    for (int i = 0; i < n; i++) {
        if (!deps[i]) continue; /* NULL: ready */
        tsr_future_retain(deps[i]);
        s->deps[s->n++] = deps[i];
    }
    rc = tsr_async(settled_run, s, 1, &gate, out);
    tsr_future_release(&gate);
    if (rc == TSR_OK) return TSR_OK;
    for (int i = 0; i < s->n; i++) tsr_future_release(&s->deps[i]);
fail:
    free(s);
    return rc;
}

/* ---- one task per tile ---- */

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

/* Runs even when a dep failed, so that the task's record and its share of
 * arg are always released; the tile then fails with the dep's message. */
static int run_one(void *arg, int dep_status, const char *dep_msg, void **value_out) {
    one *o = arg;
    shared *sh = o->sh;
    int rc;
    if (dep_status != TSR_OK) {
        rc = tsr_error(dep_status, "%s", dep_msg);
    } else {
        tsr__tile t = tsr__local_tile(sh->a, o->li, o->lj);
        rc = sh->fn(&t, sh->a, sh->arg);
    }
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
            rc = tsr__async_settled(run_one, o, nd, deps, &a->ready[k]);
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
