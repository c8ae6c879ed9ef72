/* Chase-Lev deque: creation, growth and stealing (see deque.h). */
#include <stdlib.h>
#include <string.h>

#include "sched/deque.h"

static tsr__deque_buf *buf_new(int64_t capacity) {
    tsr__deque_buf *a = malloc(sizeof *a + (size_t)capacity * sizeof(tsr__slot));
    if (a == NULL) return NULL;
    a->mask = capacity - 1;
    a->older = NULL;
    return a;
}

int tsr__deque_init(tsr__deque *d, int log2_capacity) {
    tsr__deque_buf *a = buf_new((int64_t)1 << log2_capacity);
    if (a == NULL)
        return tsr_error(TSR_ERR_NOMEM, "tsr_sched: cannot allocate a deque of %lld slots",
                         (long long)1 << log2_capacity);
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    atomic_init(&d->buf, a);
    d->own_bottom = 0;
    d->pub_bottom = 0;
    d->top_bound = 0;
    d->own_buf = a;
    return TSR_OK;
}

void tsr__deque_destroy(tsr__deque *d) {
    tsr__deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    while (a != NULL) {
        tsr__deque_buf *older = a->older;
        free(a);
        a = older;
    }
    atomic_store_explicit(&d->buf, NULL, memory_order_relaxed);
    d->own_buf = NULL;
}

int tsr__deque_grow(tsr__deque *d, int64_t t, int64_t b) {
    tsr__deque_buf *a = d->own_buf;
    int64_t cap = (a->mask + 1) * 2;
    tsr__deque_buf *n = buf_new(cap);
    if (n == NULL)
        return tsr_error(TSR_ERR_NOMEM, "tsr_spawn: cannot grow a deque to %lld slots",
                         (long long)cap);
    for (int64_t i = t; i < b; i++) {
        tsr__slot *from = &a->slot[i & a->mask], *to = &n->slot[i & n->mask];
        atomic_store_explicit(&to->fn, atomic_load_explicit(&from->fn, memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&to->arg, atomic_load_explicit(&from->arg, memory_order_relaxed),
                              memory_order_relaxed);
    }
    n->older = a;
    /* Release: a thief that loads the new array sees the copied slots. */
    atomic_store_explicit(&d->buf, n, memory_order_release);
    d->own_buf = n;
    return TSR_OK;
}

/* Store bottom = nb, then read top, with the store-load ordering that both
 * pop variants need: a thief that read the old bottom read top before we
 * do, so it can only take an index <= the top we see. */
static inline int64_t set_bottom_read_top(tsr__deque *d, int64_t nb) {
#ifdef TSR_TSAN
    atomic_store_explicit(&d->bottom, nb, memory_order_seq_cst);
    return atomic_load_explicit(&d->top, memory_order_seq_cst);
#else
    atomic_store_explicit(&d->bottom, nb, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    return atomic_load_explicit(&d->top, memory_order_relaxed);
#endif
}

static inline void read_slot(tsr__deque *d, int64_t i, tsr__task *out) {
    tsr__slot *s = &d->own_buf->slot[i & d->own_buf->mask];
    out->fn = atomic_load_explicit(&s->fn, memory_order_relaxed);
    out->arg = atomic_load_explicit(&s->arg, memory_order_relaxed);
}

int tsr__deque_pop_public(tsr__deque *d, tsr__task *out) {
    int64_t b = d->pub_bottom; /* == own_bottom: nothing private */
    /* Empty even by the stale bound: touch no shared line (an idle worker
     * polling its own deque). */
    if (b - 1 < d->top_bound) return 0;
    int64_t k = (b - d->top_bound) / 2;
    if (k > TSR_DEQUE_CHUNK) k = TSR_DEQUE_CHUNK;
    if (k > 1) {
        /* Take [b - k, b) private with one fence: any thief that can still
         * succeed takes an index <= t, so if t < b - k the chunk is ours.
         * The owner then runs k tasks without touching shared lines. */
        int64_t nb = b - k;
        int64_t t = set_bottom_read_top(d, nb);
        d->top_bound = t;
        if (t < nb) {
            d->pub_bottom = nb;
            d->own_bottom = b - 1;
            read_slot(d, b - 1, out);
            if (nb - t < TSR_DEQUE_LOW) { /* the bound was stale: share */
                tsr__deque_publish(d);
                return 2;
            }
            return 1;
        }
        /* Fewer tasks than the stale bound said: fall back to one. */
    }
    /* Lê et al.'s take(). */
    int64_t b1 = b - 1;
    int64_t t = set_bottom_read_top(d, b1);
    if (t > b1) { /* empty */
        atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
        d->top_bound = t;
        return 0;
    }
    read_slot(d, b1, out);
    if (t == b1) { /* the last task: race thieves for it through top */
        int won = atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1,
                                                          memory_order_seq_cst,
                                                          memory_order_relaxed);
        atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
        d->top_bound = b; /* top is b now, whoever won */
        return won;
    }
    d->top_bound = t;
    d->own_bottom = d->pub_bottom = b1;
    return 1;
}

int tsr__deque_steal(tsr__deque *d, tsr__task *out, int64_t min) {
#ifdef TSR_TSAN
    int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);
#else
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    /* Pairs with the owner's fence in pop: top is read before bottom. */
    atomic_thread_fence(memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
#endif
    if (b - t < min) return 0;
    /* Acquire (the paper's consume): the slots of a freshly grown array. */
    tsr__deque_buf *a = atomic_load_explicit(&d->buf, memory_order_acquire);
    tsr__slot *s = &a->slot[t & a->mask];
    tsr__task x;
    x.fn = atomic_load_explicit(&s->fn, memory_order_relaxed);
    x.arg = atomic_load_explicit(&s->arg, memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return -1;
    *out = x;
    return 1;
}
