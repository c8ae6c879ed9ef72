/* A future that is ready once some others are, whether they succeeded or
 * failed. tsr_async/tsr_when_all skip their body when an input failed; a task
 * that SENDS to another rank must run anyway (to send the error instead of
 * data), or the receiver would wait forever. The public future API has no
 * "on settle" continuation, so this uses the scheduler's continuation hook. */
#include <stdlib.h>

#include "array/settle.h"
#include "base/internal.h"
#include "sched/future_private.h"
#include "tessera/runtime.h"

typedef struct settle settle;

typedef struct link {
    tsr__cont cont; /* first: the continuation is the link */
    settle *s;
} link;

struct settle {
    atomic_int left; /* inputs not yet ready, + 1 while registering */
    tsr_future_t *out;
    int n;
    tsr_future_t **fs; /* our references to the inputs */
    link links[];
};

static void settle_dec(settle *s) {
    if (atomic_fetch_sub_explicit(&s->left, 1, memory_order_acq_rel) != 1) return;
    /* Each input's fulfiller holds its own reference while it runs our
     * continuation, so dropping ours here is safe. For the trace, the gate
     * stands for the input whose producer started last (ids grow as tasks
     * start): a task behind the gate then records that producer as its
     * dependency, so `tessera prof` can follow the chain through it. */
    uint32_t id = 0;
    for (int i = 0; i < s->n; i++)
        if (s->fs[i]->trace_id > id) id = s->fs[i]->trace_id;
    s->out->trace_id = id;
    tsr_future_set(s->out, NULL);
    tsr_future_release(&s->out);
    for (int i = 0; i < s->n; i++) tsr_future_release(&s->fs[i]);
    free(s->fs);
    free(s);
}

static void link_ready(tsr__cont *c) { settle_dec(((link *)c)->s); }

int tsr__when_all_settled(int n, tsr_future_t *const *fs, tsr_future_t **out) {
    int rc = TSR_OK;
    settle *s = NULL;
    *out = NULL;
    s = calloc(1, sizeof *s + (size_t)(n > 0 ? n : 0) * sizeof(link));
    TSR_CHECK_MSG(s != NULL, TSR_ERR_NOMEM, "rank %d: no memory for a settle future", tsr_rank());
    s->fs = calloc((size_t)(n > 0 ? n : 1), sizeof *s->fs);
    TSR_CHECK_MSG(s->fs != NULL, TSR_ERR_NOMEM, "rank %d: no memory for a settle future",
                  tsr_rank());
    TSR_CHECK(tsr_future_create(&s->out));
    tsr_future_retain(s->out);
    *out = s->out;
    atomic_init(&s->left, 1);
    for (int i = 0; i < n; i++) {
        if (fs[i] == NULL) continue;
        tsr_future_retain(fs[i]);
        s->fs[s->n++] = fs[i];
        link *l = &s->links[i];
        l->s = s;
        l->cont.ready = link_ready;
        atomic_fetch_add_explicit(&s->left, 1, memory_order_relaxed);
        if (!tsr__future_on_ready(fs[i], &l->cont)) atomic_fetch_sub(&s->left, 1);
    }
    settle_dec(s); /* registration done */
    return TSR_OK;
fail:
    if (s) {
        free(s->fs);
        free(s);
    }
    return rc;
}

int tsr__first_failure(int n, tsr_future_t *const *fs) {
    for (int i = 0; i < n; i++) {
        if (fs[i] == NULL) continue;
        int st = tsr_future_status(fs[i]);
        if (st != TSR_OK) return tsr_error(st, "%s", tsr_future_message(fs[i]));
    }
    return TSR_OK;
}
