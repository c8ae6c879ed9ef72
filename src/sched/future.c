/* Futures: creation, reference counting, fulfilment and waiting.
 *
 * Fulfilment is claimed with one CAS (UNSET -> SETTING) so a second set is
 * TSR_ERR_STATE without locks; the value is then written, state becomes
 * READY, and the continuation stack is closed with one exchange, which hands
 * the setter every continuation registered before it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "perf/perf_internal.h"
#include "sched/future_private.h"
#include "sched/sched_private.h"

/* Threads that are not workers block here in tsr_wait. One pair for all
 * futures: such waits are rare (user threads), and setters only touch it
 * when a future has a blocked waiter. */
static pthread_mutex_t wait_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cv = PTHREAD_COND_INITIALIZER;

int tsr_future_create(tsr_future_t **out) {
    if (out == NULL) return tsr_error(TSR_ERR_INVALID, "tsr_future_create: out is NULL");
    tsr_future_t *f = tsr__pool_alloc(sizeof *f);
    if (f == NULL) return tsr_error(TSR_ERR_NOMEM, "tsr_future_create: out of memory");
    atomic_init(&f->refs, 1);
    atomic_init(&f->state, TSR_FUTURE_UNSET);
    f->status = TSR_OK;
    f->trace_id = 0;
    f->value = NULL;
    f->dtor = NULL;
    f->msg = NULL;
    atomic_init(&f->conts, NULL);
    atomic_init(&f->blocked, 0);
    *out = f;
    return TSR_OK;
}

void tsr_future_retain(tsr_future_t *f) {
    if (f) atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

void tsr_future_release(tsr_future_t **pf) {
    if (pf == NULL || *pf == NULL) return;
    tsr_future_t *f = *pf;
    *pf = NULL;
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1) return;
    /* Continuations hold references to what they wait on, so none can be
     * left on a future that is being freed. */
    tsr__cont *c = atomic_load_explicit(&f->conts, memory_order_relaxed);
    tsr_assert(c == NULL || c == TSR__CONTS_CLOSED);
    if (atomic_load_explicit(&f->state, memory_order_relaxed) == TSR_FUTURE_READY &&
        f->status == TSR_OK && f->dtor != NULL)
        f->dtor(f->value);
    free(f->msg);
    tsr__pool_free(f, sizeof *f);
}

int tsr__future_on_ready(tsr_future_t *f, tsr__cont *c) {
    tsr__cont *head = atomic_load_explicit(&f->conts, memory_order_acquire);
    do {
        if (head == TSR__CONTS_CLOSED) return 0;
        c->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&f->conts, &head, c, memory_order_release,
                                                    memory_order_acquire));
    return 1;
}

static int complete(tsr_future_t *f, int status, void *value, void (*dtor)(void *),
                    const char *msg, const char *who) {
    if (f == NULL) return tsr_error(TSR_ERR_INVALID, "%s: future is NULL", who);
    int expect = TSR_FUTURE_UNSET;
    if (!atomic_compare_exchange_strong_explicit(&f->state, &expect, TSR_FUTURE_SETTING,
                                                 memory_order_acquire, memory_order_relaxed))
        return tsr_error(TSR_ERR_STATE, "%s: future %p was already set", who, (void *)f);
    f->status = status;
    f->value = value;
    f->dtor = dtor;
    /* strdup failing leaves msg NULL: the status still says what failed. */
    if (status != TSR_OK) f->msg = strdup(msg ? msg : "");
    /* seq_cst: pairs with the blocked-waiter check below (store state, load
     * blocked here; increment blocked, load state in block_until_ready). */
    atomic_store_explicit(&f->state, TSR_FUTURE_READY, memory_order_seq_cst);
    tsr__cont *c = atomic_exchange_explicit(&f->conts, TSR__CONTS_CLOSED, memory_order_acq_rel);
    while (c != NULL) {
        tsr__cont *next = c->next; /* ready() may free c */
        c->ready(c);
        c = next;
    }
    if (atomic_load_explicit(&f->blocked, memory_order_seq_cst) > 0) {
        pthread_mutex_lock(&wait_mu);
        pthread_cond_broadcast(&wait_cv);
        pthread_mutex_unlock(&wait_mu);
    }
    return TSR_OK;
}

int tsr_future_set(tsr_future_t *f, void *value) {
    return complete(f, TSR_OK, value, NULL, NULL, "tsr_future_set");
}

int tsr_future_set_owned(tsr_future_t *f, void *value, void (*dtor)(void *)) {
    return complete(f, TSR_OK, value, dtor, NULL, "tsr_future_set_owned");
}

int tsr_future_fail(tsr_future_t *f, int status, const char *msg) {
    if (status >= 0)
        return tsr_error(TSR_ERR_INVALID, "tsr_future_fail: status %d is not an error (< 0)",
                         status);
    return complete(f, status, NULL, NULL, msg, "tsr_future_fail");
}

int tsr_future_ready(const tsr_future_t *f) {
    return f != NULL &&
           atomic_load_explicit(&((tsr_future_t *)f)->state, memory_order_acquire) ==
               TSR_FUTURE_READY;
}

int tsr_future_status(const tsr_future_t *f) {
    if (f == NULL) return TSR_ERR_INVALID;
    if (!tsr_future_ready(f)) return TSR_ERR_STATE;
    return f->status;
}

const char *tsr_future_message(const tsr_future_t *f) {
    if (!tsr_future_ready(f) || f->status == TSR_OK || f->msg == NULL) return "";
    return f->msg;
}

static int ready_pred(const void *f) { return tsr_future_ready(f); }

static void block_until_ready(tsr_future_t *f) {
    pthread_mutex_lock(&wait_mu);
    atomic_fetch_add_explicit(&f->blocked, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&f->state, memory_order_seq_cst) != TSR_FUTURE_READY)
        pthread_cond_wait(&wait_cv, &wait_mu);
    atomic_fetch_sub_explicit(&f->blocked, 1, memory_order_relaxed);
    pthread_mutex_unlock(&wait_mu);
}

int tsr_wait(tsr_future_t *f, void **value_out) {
    if (f == NULL) return tsr_error(TSR_ERR_INVALID, "tsr_wait: future is NULL");
    if (!tsr_future_ready(f)) {
        /* A wait span in the trace; a branch only on this slow path. */
        uint64_t t0 = tsr__trace_enabled() ? tsr_time_ns() : 0;
        /* A worker keeps running tasks (help-first); anyone else sleeps. */
        if (tsr__tls_worker != NULL)
            tsr__sched_help_until(ready_pred, f);
        else
            block_until_ready(f);
        if (t0 != 0) tsr__trace_wait(f->trace_id, t0, tsr_time_ns());
    }
    if (f->status != TSR_OK) {
        if (value_out) *value_out = NULL;
        return tsr_error(f->status, "%s", f->msg ? f->msg : "");
    }
    if (value_out) *value_out = f->value;
    return TSR_OK;
}
