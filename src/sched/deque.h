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
    /* The owner's private view, on a line no thief reads. Slots
     * [top, pub_bottom) are public (pub_bottom is what bottom holds);
     * [pub_bottom, own_bottom) are private: a chunk the owner took back in
     * one step (tsr__deque_pop_public) and now pops with plain loads, no
     * fence. top_bound is a lower bound of top (top only grows). */
    alignas(TSR_CACHELINE) int64_t own_bottom;
    int64_t pub_bottom;
    int64_t top_bound;
    tsr__deque_buf *own_buf;
} tsr__deque;

/* Largest chunk the owner takes private at once, and the public size below
 * which it gives its private tasks back to thieves (checked before each
 * task it runs, so a long task strands at most what it spawns itself). */
#define TSR_DEQUE_CHUNK 32
#define TSR_DEQUE_LOW 4

int tsr__deque_init(tsr__deque *d, int log2_capacity);
void tsr__deque_destroy(tsr__deque *d);
/* Owner only: replace the full array by one twice as large. */
int tsr__deque_grow(tsr__deque *d, int64_t top, int64_t bottom);
/* Owner only: pop when there is no private task (see pop). */
int tsr__deque_pop_public(tsr__deque *d, tsr__task *out);
/* Any thread: 1 and *out on success, 0 if fewer than min (>= 1) public
 * tasks, -1 if it lost a race (the deque may still hold tasks). */
int tsr__deque_steal(tsr__deque *d, tsr__task *out, int64_t min);

/* Owner only: make every private task public. */
static inline void tsr__deque_publish(tsr__deque *d) {
#ifdef TSR_TSAN
    atomic_store_explicit(&d->bottom, d->own_bottom, memory_order_seq_cst);
#else
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&d->bottom, d->own_bottom, memory_order_relaxed);
#endif
    d->pub_bottom = d->own_bottom;
}

/* Owner only. The task is public at once (with any private ones): a task
 * spawned by application code on worker 0 must be visible to thieves
 * even if worker 0 does not come back to the scheduler for a while.
 * TSR_OK, or TSR_ERR_NOMEM if the array could not grow. */
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
    d->own_bottom = b + 1;
    tsr__deque_publish(d);
    return TSR_OK;
}

/* Owner only: take the newest task. 0: none; 1: *out; 2: *out, and private
 * tasks were just made public (the caller may wake sleeping workers). */
static inline int tsr__deque_pop(tsr__deque *d, tsr__task *out) {
    int64_t b = d->own_bottom;
    if (b <= d->pub_bottom) return tsr__deque_pop_public(d, out);
    b--;
    tsr__slot *s = &d->own_buf->slot[b & d->own_buf->mask];
    out->fn = atomic_load_explicit(&s->fn, memory_order_relaxed);
    out->arg = atomic_load_explicit(&s->arg, memory_order_relaxed);
    d->own_bottom = b;
    if (b > d->pub_bottom) {
        /* Private tasks remain: give them back if thieves are running dry.
         * Reading top misses the cache only after a steal changed it. */
        d->top_bound = atomic_load_explicit(&d->top, memory_order_acquire);
        if (d->pub_bottom - d->top_bound < TSR_DEQUE_LOW) {
            tsr__deque_publish(d);
            return 2;
        }
    }
    return 1;
}

/* Approximate number of public tasks, for heuristics only (any thread). */
static inline int64_t tsr__deque_size(tsr__deque *d) {
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    return b > t ? b - t : 0;
}

#endif
