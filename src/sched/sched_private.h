/* State private to the scheduler's files: the worker record, the calling
 * thread's worker, and per-worker object pools. Other layers use
 * sched_internal.h. */
#ifndef TSR_SCHED_PRIVATE_H
#define TSR_SCHED_PRIVATE_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sched/deque.h"
#include "sched/sched_internal.h"

/* Size classes of the per-worker free lists (bytes): futures fit the first,
 * the continuation record of a tsr_async with up to 3 deps the second. */
#define TSR_POOL_NCLASS 3
#define TSR_POOL_MIN 64

typedef struct tsr__pool {
    void *head[TSR_POOL_NCLASS];
    int len[TSR_POOL_NCLASS];
} tsr__pool;

/* One worker. Counters are written only by the owning thread (plain load +
 * store of an atomic, no read-modify-write), read by anyone with acquire, so
 * spawning a task touches no shared cache line. */
typedef struct tsr__worker {
    tsr__deque dq;
    alignas(TSR_CACHELINE) _Atomic uint64_t spawned;
    _Atomic uint64_t executed;
    _Atomic uint64_t steals, steal_attempts, sleeps;
    uint64_t rng;   /* xorshift64 state for victim choice */
    uint64_t steal_t0, next_steal; /* steal throttling (worker.c) */
    unsigned tiny;  /* steals in a row that brought almost no work */
    int id;
    int depth;      /* tasks running on this thread's stack */
    pthread_t thread;
    tsr__pool pool;
} tsr__worker;

/* The calling thread's worker, NULL for threads that are not workers.
 * initial-exec: one %fs-relative load instead of a __tls_get_addr call per
 * spawn in the shared library (8 bytes of static TLS, which glibc reserves
 * even for a library loaded with dlopen). */
#if defined(__GNUC__)
#define TSR_TLS_IE __attribute__((tls_model("initial-exec")))
#else
#define TSR_TLS_IE
#endif
extern TSR_TLS_IE _Thread_local tsr__worker *tsr__tls_worker;

/* Owner-only increment of a counter that others may read. */
static inline void tsr__bump(_Atomic uint64_t *c) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_release);
}

/* ---- idle.c: idle hook, backoff, sleeping and waking ---- */

/* Idle rounds of a worker: TSR_IDLE_SPIN rounds with growing pauses, then
 * TSR_IDLE_YIELD rounds of sched_yield (another rank's thread may need this
 * core: ranks oversubscribe cores in tests), then timed sleeps. */
#define TSR_IDLE_SPIN 64
#define TSR_IDLE_YIELD 16

extern _Atomic int tsr__sleepers;
void tsr__idle_init(void);
int tsr__idle_call_hook(void);
void tsr__idle_spin(unsigned idle);
/* Sleep until a push wakes us (1) or about a millisecond passes (0). */
int tsr__idle_sleep(tsr__worker *w);
void tsr__idle_wake_one(void);
/* Backoff of a thread waiting for a condition: spin, yield, nanosleep. */
void tsr__idle_wait_backoff(unsigned *idle);

/* Called after every push that made work visible. The check is a relaxed
 * load, with no fence between the push and it: on the rare interleaving
 * where a worker goes to sleep just as a task is pushed, that worker sleeps
 * at most one timed nap (1 ms) instead of every push paying a full fence.
 * The pushing thread comes back for its own tasks, so none is stranded. */
static inline void tsr__maybe_wake(void) {
    if (atomic_load_explicit(&tsr__sleepers, memory_order_relaxed) > 0) tsr__idle_wake_one();
}

/* ---- worker.c ---- */

/* 1 if an idle worker should stay awake: public tasks somewhere, tasks in
 * the injection queue, or shutdown. */
int tsr__sched_work_visible(void);
int tsr__sched_stopping(void);

/* 1 while tsr_sched_init has succeeded and tsr_sched_fini has not begun. */
int tsr__sched_running(void);

/* On a worker: run tasks (and the idle hook, with backoff) until done(arg)
 * returns nonzero; done is checked before each task so the caller resumes
 * as soon as it can. Used by tsr_wait. */
void tsr__sched_help_until(int (*done)(const void *arg), const void *arg);

/* Small objects from the calling worker's free list (malloc for other
 * threads and for sizes over the largest class). Freed blocks go to the
 * freeing worker's list, capped; beyond the cap, and on non-workers, free(). */
void *tsr__pool_alloc(size_t size);
void tsr__pool_free(void *p, size_t size);
/* Release every block on a worker's lists (scheduler shutdown). */
void tsr__pool_clear(tsr__pool *pool);

#endif
