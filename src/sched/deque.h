/* Chase-Lev work-stealing deque (one per worker).
 *
 * The owner pushes and pops at the bottom without atomics read-modify-write
 * except when it races a thief for the last task; thieves take from the top
 * with one CAS. Memory orders follow Lê, Pop, Cohen, Zappa Nardelli, "Correct
 * and Efficient Work-Stealing for Weak Memory Models" (PPoPP 2013), Fig. 1.
 *
 * A slot holds the task itself (function + argument) instead of a pointer to
 * a heap descriptor, so spawning allocates nothing. The two words are two
 * relaxed atomics: a thief may read a slot the owner is overwriting, but only
 * when the thief's CAS on top then fails, so a torn pair is never used.
 *
 * push/pop are inline because they are the whole cost of tsr_spawn and of
 * running a task on the owner; steal and growth live in deque.c. */
#ifndef TSR_SCHED_DEQUE_H
#define TSR_SCHED_DEQUE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "base/internal.h"
#include "tessera/sched.h"

/* ThreadSanitizer does not model atomic_thread_fence, so under TSan the
 * fences are replaced by the equivalent seq_cst operations on top and bottom
 * (also correct, a little slower); TSan then sees every happens-before edge. */
#if defined(__SANITIZE_THREAD__)
#define TSR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSR_TSAN 1
#endif
#endif

typedef struct tsr__task {
    tsr_task_fn fn;
    void *arg;
} tsr__task;

typedef struct tsr__slot {
    _Atomic(tsr_task_fn) fn;
    _Atomic(void *) arg;
} tsr__slot;

/* A circular array; growth makes a new one twice as large. Old arrays may
 * still be read by a thief that loaded the pointer before the switch, so they
 * are kept on a chain and freed only when the deque is destroyed (total
 * memory stays below twice the largest array). */
typedef struct tsr__deque_buf {
    int64_t mask; /* capacity - 1; capacity is a power of two */
    struct tsr__deque_buf *older;
    tsr__slot slot[];
} tsr__deque_buf;

typedef struct tsr__deque {
    /* top is written by thieves, bottom by the owner: separate lines so
     * stealing does not invalidate the owner's line on every push. */
    alignas(TSR_CACHELINE) _Atomic int64_t top;
    alignas(TSR_CACHELINE) _Atomic int64_t bottom;
    _Atomic(tsr__deque_buf *) buf;
    /* The owner's private copies, on a line no thief reads: its own bottom
     * and array, and a lower bound of top (top only grows), so a push reads
     * no line that thieves write. Measured at 2 threads, flat spawn+drain:
     * 57 ns/task reading top and bottom from the shared lines. */
    alignas(TSR_CACHELINE) int64_t own_bottom;
    int64_t top_bound;
    tsr__deque_buf *own_buf;
} tsr__deque;

int tsr__deque_init(tsr__deque *d, int log2_capacity);
void tsr__deque_destroy(tsr__deque *d);
/* Owner only: replace the full array by one twice as large. */
int tsr__deque_grow(tsr__deque *d, int64_t top, int64_t bottom);
/* Any thread: 1 and *out on success, 0 if empty, -1 if it lost a race (the
 * deque may still hold tasks). */
int tsr__deque_steal(tsr__deque *d, tsr__task *out);

/* Owner only. TSR_OK, or TSR_ERR_NOMEM if the array could not grow. */
static inline int tsr__deque_push(tsr__deque *d, tsr_task_fn fn, void *arg) {
    int64_t b = d->own_bottom;
    tsr__deque_buf *a = d->own_buf;
    if (b - d->top_bound > a->mask) {
        /* Acquire: a thief that took the slot about to be reused has read it. */
        d->top_bound = atomic_load_explicit(&d->top, memory_order_acquire);
        if (b - d->top_bound > a->mask) {
            int rc = tsr__deque_grow(d, d->top_bound, b);
            if (rc != TSR_OK) return rc;
            a = d->own_buf;
        }
    }
    tsr__slot *s = &a->slot[b & a->mask];
    atomic_store_explicit(&s->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&s->arg, arg, memory_order_relaxed);
#ifdef TSR_TSAN
    atomic_store_explicit(&d->bottom, b + 1, memory_order_seq_cst);
#else
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
#endif
    d->own_bottom = b + 1;
    return TSR_OK;
}

/* Owner only: 1 and *out if a task was taken from the bottom, else 0. */
static inline int tsr__deque_pop(tsr__deque *d, tsr__task *out) {
    int64_t b = d->own_bottom - 1;
    /* Empty even by the stale bound: no need to touch the shared lines
     * (the common case for an idle worker polling its own deque). */
    if (b < d->top_bound) return 0;
    tsr__deque_buf *a = d->own_buf;
#ifdef TSR_TSAN
    atomic_store_explicit(&d->bottom, b, memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
#else
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    /* The store of bottom must be visible before top is read, or the owner
     * and a thief could both take the last task (store-load ordering). */
    atomic_thread_fence(memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
#endif
    d->top_bound = t;
    if (t > b) { /* empty */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        return 0;
    }
    tsr__slot *s = &a->slot[b & a->mask];
    out->fn = atomic_load_explicit(&s->fn, memory_order_relaxed);
    out->arg = atomic_load_explicit(&s->arg, memory_order_relaxed);
    if (t == b) { /* last task: race thieves for it through top */
        int won = atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1,
                                                          memory_order_seq_cst,
                                                          memory_order_relaxed);
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        d->top_bound = t + 1; /* taken by us or by a thief: top is t + 1 now */
        return won;
    }
    d->own_bottom = b;
    return 1;
}

/* Approximate size, for heuristics only (any thread). */
static inline int64_t tsr__deque_size(tsr__deque *d) {
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    return b > t ? b - t : 0;
}

#endif
