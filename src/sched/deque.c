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

int tsr__deque_steal(tsr__deque *d, tsr__task *out) {
#ifdef TSR_TSAN
    int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);
#else
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    /* Pairs with the owner's fence in pop: top is read before bottom. */
    atomic_thread_fence(memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
#endif
    if (t >= b) return 0;
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
