/* Workers: start and stop, the run loop, finding work (own deque, injection
 * queue, stealing), spawning, counters, drain and help. Idle backoff and
 * sleeping are in idle.c.
 *
 * Who runs what: worker 0 is the thread that called tsr_sched_init and runs
 * tasks only inside tsr_sched_drain, tsr_sched_help and tsr_wait; workers
 * 1..W-1 are pthreads started here that loop in worker_main until fini. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched/sched_private.h"
#include "sched/topology.h"

/* Initial deque size; it doubles as needed (16 bytes per slot). */
#define TSR_DEQUE_LOG2 10
#define TSR_MAX_WORKERS 1024

TSR_TLS_IE _Thread_local tsr__worker *tsr__tls_worker = NULL;

/* A task spawned by a thread that is not a worker. */
typedef struct inject_node {
    struct inject_node *next;
    tsr__task task;
} inject_node;

static struct {
    _Atomic int running;
    _Atomic int stop;
    int n;
    tsr__worker *w;
    tsr__topo *topo;
    int pinned;

    /* Tasks from non-worker threads. inject_len lets workers skip the lock
     * when the queue is empty; accepting turns spawns away during fini. */
    pthread_mutex_t inject_mu;
    inject_node *inject_head, *inject_tail;
    _Atomic int64_t inject_len;
    _Atomic uint64_t inject_spawned;
    int accepting;
} S = {
    .inject_mu = PTHREAD_MUTEX_INITIALIZER,
};

int tsr__sched_running(void) { return atomic_load_explicit(&S.running, memory_order_acquire); }

int tsr__sched_stopping(void) { return atomic_load_explicit(&S.stop, memory_order_acquire); }

int tsr__sched_work_visible(void) {
    if (atomic_load_explicit(&S.stop, memory_order_acquire)) return 1;
    if (atomic_load_explicit(&S.inject_len, memory_order_relaxed) > 0) return 1;
    for (int i = 0; i < S.n; i++)
        if (tsr__deque_size(&S.w[i].dq) > 0) return 1;
    return 0;
}

/* ---- finding and running tasks ------------------------------------------ */

static inline uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static int inject_pop(tsr__task *out) {
    if (atomic_load_explicit(&S.inject_len, memory_order_relaxed) == 0) return 0;
    pthread_mutex_lock(&S.inject_mu);
    inject_node *nd = S.inject_head;
    if (nd != NULL) {
        S.inject_head = nd->next;
        if (S.inject_head == NULL) S.inject_tail = NULL;
        atomic_fetch_sub_explicit(&S.inject_len, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&S.inject_mu);
    if (nd == NULL) return 0;
    *out = nd->task;
    free(nd);
    return 1;
}

/* One pass over the other workers from a random start. A lost race means
 * the victim still has work, so it is retried once before moving on.
 *
 * A thief that just had work leaves a victim's last few tasks alone for
 * TSR_STEAL_PATIENT idle rounds (about a microsecond): stealing from a
 * nearly empty deque makes thief and owner write the same cache lines
 * (bottom, the slots near it), and with fine tasks the owner then slows
 * down to the thief's pace. Measured, 2 threads, 10^6 empty tasks spawned
 * by worker 0: the spawn loop took 9 to 42 ns/task (bimodal) without this. */
#define TSR_STEAL_PATIENT 16
#define TSR_STEAL_MIN 8

/* Steal throttling by yield. The work a steal brings is measured from the
 * steal until the thief is back looking for work (the stolen task and all
 * it spawned on the thief). When steals keep bringing less than
 * TSR_TINY_CYCLES of work (~100 ns: empty or trivial tasks), each one costs
 * the victim more (cache lines pulled away) than it saves, so the thief
 * waits TSR_THROTTLE_STEP cycles per such steal in a row (up to 16) before
 * stealing again. A steal that brings real work (16x that) resets it; one
 * in between halves it, so an occasional slow tiny steal (a cache miss, a
 * preemption) does not switch the throttle off.
 * Measured on a 16-core x86 box (workers on 2 / 4 / 8 cores), 10^6 empty
 * tasks spawned by worker 0 then drained: 28-36 / 58 / 112 ns/task without
 * throttling (thieves taking 9-19% of the tasks one CAS at a time), 13-14 /
 * 14 / 18 with it (1 worker: 16). Tasks of ~250 ns and ~2 us and a
 * recursive spawn tree ran as fast as without it (a 500-cycle threshold
 * already slowed the 250 ns tasks by 10-15%). */
#define TSR_TINY_CYCLES 250
#define TSR_THROTTLE_STEP 1024
#define TSR_THROTTLE_MAX 16

static inline uint64_t cycles(void) {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_ia32_rdtsc();
#else
    return tsr_time_ns() * 2; /* about cycles at 2 GHz: only thresholds use it */
#endif
}

/* 1 if this worker should not steal yet (see above). */
static inline int steal_throttled(tsr__worker *w) {
    if (w->steal_t0 != 0) { /* the last steal's work has run out: judge it */
        uint64_t dt = cycles() - w->steal_t0;
        w->steal_t0 = 0;
        if (dt >= 16 * TSR_TINY_CYCLES)
            w->tiny = 0;   /* real work: steal freely */
        else if (dt >= TSR_TINY_CYCLES)
            w->tiny /= 2;  /* a little work, or a preempted tiny task */
        else if (w->tiny < TSR_THROTTLE_MAX)
            w->tiny++;
        if (w->tiny >= 2) w->next_steal = cycles() + (uint64_t)w->tiny * TSR_THROTTLE_STEP;
    }
    if (w->tiny < 2) return 0;
    return cycles() < w->next_steal;
}

static int steal_some(tsr__worker *w, tsr__task *out, unsigned idle) {
    int64_t min = idle < TSR_STEAL_PATIENT ? TSR_STEAL_MIN : 1;
    int n = S.n;
    if (n < 2 || steal_throttled(w)) return 0;
    int start = (int)(xorshift(&w->rng) % (uint64_t)n);
    for (int i = 0; i < n; i++) {
        int v = start + i;
        if (v >= n) v -= n;
        if (v == w->id) continue;
        for (int tries = 0; tries < 2; tries++) {
            tsr__bump(&w->steal_attempts);
            int r = tsr__deque_steal(&S.w[v].dq, out, min);
            if (r == 1) {
                tsr__bump(&w->steals);
                w->steal_t0 = cycles();
                return 1;
            }
            if (r == 0) break;
        }
    }
    return 0;
}

static inline int find_work(tsr__worker *w, tsr__task *out, unsigned idle) {
    int r = tsr__deque_pop(&w->dq, out);
    if (r != 0) {
        if (r == 2) tsr__maybe_wake();
        return 1;
    }
    if (inject_pop(out)) return 1;
    return steal_some(w, out, idle);
}

static inline void run_task(tsr__worker *w, tsr__task t) {
    w->depth++;
    t.fn(t.arg);
    w->depth--;
    /* After the body: everything it spawned is already counted, so a
     * reader that sees this increment also sees those spawns. */
    tsr__bump(&w->executed);
}

static void *worker_main(void *p) {
    tsr__worker *w = p;
    tsr__tls_worker = w;
    if (S.pinned) tsr__topo_pin_self(S.topo, w->id, 0);
    unsigned idle = 0;
    tsr__task t;
    while (!atomic_load_explicit(&S.stop, memory_order_acquire)) {
        if (find_work(w, &t, idle)) {
            run_task(w, t);
            idle = 0;
            continue;
        }
        if (tsr__idle_call_hook() > 0) {
            idle = 0;
            continue;
        }
        idle++;
        /* A throttled thief yields instead of spinning: the work it sees
         * (and may not take yet) keeps it from sleeping, and spinning would
         * take the core from the owner when threads share cores. */
        if (idle < TSR_IDLE_SPIN && w->tiny >= 2) idle = TSR_IDLE_SPIN;
        if (idle < TSR_IDLE_SPIN)
            tsr__idle_spin(idle);
        else if (idle < TSR_IDLE_SPIN + TSR_IDLE_YIELD)
            sched_yield();
        else
            idle = tsr__idle_sleep(w) ? 0 : TSR_IDLE_SPIN + TSR_IDLE_YIELD;
    }
    tsr__tls_worker = NULL;
    return NULL;
}

void tsr__sched_help_until(int (*done)(const void *arg), const void *arg) {
    tsr__worker *w = tsr__tls_worker;
    tsr__task t;
    unsigned idle = 0;
    while (!done(arg)) {
        if (w != NULL && find_work(w, &t, idle)) {
            run_task(w, t);
            idle = 0;
            continue;
        }
        if (tsr__idle_call_hook() > 0) {
            idle = 0;
            continue;
        }
        tsr__idle_wait_backoff(&idle);
    }
}

/* ---- spawning ----------------------------------------------------------- */

static int spawn_inject(tsr_task_fn fn, void *arg) {
    inject_node *nd = malloc(sizeof *nd);
    if (nd == NULL) return tsr_error(TSR_ERR_NOMEM, "tsr_spawn: cannot allocate a task");
    nd->next = NULL;
    nd->task.fn = fn;
    nd->task.arg = arg;
    pthread_mutex_lock(&S.inject_mu);
    if (!S.accepting) {
        pthread_mutex_unlock(&S.inject_mu);
        free(nd);
        return tsr_error(TSR_ERR_STATE, "tsr_spawn: the scheduler is not running");
    }
    /* Counted before it can run, as on the worker path. */
    atomic_fetch_add_explicit(&S.inject_spawned, 1, memory_order_release);
    if (S.inject_tail)
        S.inject_tail->next = nd;
    else
        S.inject_head = nd;
    S.inject_tail = nd;
    atomic_fetch_add_explicit(&S.inject_len, 1, memory_order_relaxed);
    pthread_mutex_unlock(&S.inject_mu);
    tsr__maybe_wake();
    return TSR_OK;
}

int tsr_spawn(tsr_task_fn fn, void *arg) {
    if (fn == NULL) return tsr_error(TSR_ERR_INVALID, "tsr_spawn: fn is NULL");
    tsr__worker *w = tsr__tls_worker;
    if (w == NULL) return spawn_inject(fn, arg);
    /* Count first: the push's release publishes the count with the task, so
     * whoever runs it (and bumps executed) never makes pending dip to 0. */
    uint64_t s = atomic_load_explicit(&w->spawned, memory_order_relaxed);
    atomic_store_explicit(&w->spawned, s + 1, memory_order_release);
    int rc = tsr__deque_push(&w->dq, fn, arg);
    if (rc != TSR_OK) {
        atomic_store_explicit(&w->spawned, s, memory_order_release);
        return rc;
    }
    tsr__maybe_wake();
    return TSR_OK;
}

/* ---- counters ----------------------------------------------------------- */

int64_t tsr_sched_pending(void) {
    if (!tsr__sched_running()) return 0;
    /* Executed first, then spawned: every task counted as executed was
     * counted as spawned before, so the difference never undercounts, and
     * it is exact once the system is quiescent. */
    uint64_t ex = 0, sp = 0;
    for (int i = 0; i < S.n; i++) ex += atomic_load_explicit(&S.w[i].executed, memory_order_acquire);
    sp = atomic_load_explicit(&S.inject_spawned, memory_order_acquire);
    for (int i = 0; i < S.n; i++) sp += atomic_load_explicit(&S.w[i].spawned, memory_order_acquire);
    return (int64_t)(sp - ex);
}

void tsr_sched_stats_get(tsr_sched_stats *out) {
    if (out == NULL) return;
    memset(out, 0, sizeof *out);
    if (!tsr__sched_running()) return;
    out->spawned = atomic_load_explicit(&S.inject_spawned, memory_order_relaxed);
    for (int i = 0; i < S.n; i++) {
        tsr__worker *w = &S.w[i];
        out->spawned += atomic_load_explicit(&w->spawned, memory_order_relaxed);
        out->executed += atomic_load_explicit(&w->executed, memory_order_relaxed);
        out->steals += atomic_load_explicit(&w->steals, memory_order_relaxed);
        out->steal_attempts += atomic_load_explicit(&w->steal_attempts, memory_order_relaxed);
        out->sleeps += atomic_load_explicit(&w->sleeps, memory_order_relaxed);
    }
}

int tsr_num_workers(void) { return tsr__sched_running() ? S.n : 0; }

int tsr_worker_id(void) {
    tsr__worker *w = tsr__tls_worker;
    return w ? w->id : -1;
}

/* ---- help and drain ----------------------------------------------------- */

int tsr_sched_help(void) {
    tsr__worker *w = tsr__tls_worker;
    tsr__task t;
    if (w == NULL || !find_work(w, &t, TSR_STEAL_PATIENT)) return 0;
    run_task(w, t);
    return 1;
}

int tsr_sched_drain(void) {
    if (!tsr__sched_running())
        return tsr_error(TSR_ERR_STATE, "tsr_sched_drain: the scheduler is not running");
    tsr__worker *w = tsr__tls_worker;
    if (w != NULL && w->depth > 0)
        return tsr_error(TSR_ERR_STATE,
                         "tsr_sched_drain called inside a task on worker %d: it would wait "
                         "for itself",
                         w->id);
    tsr__task t;
    unsigned idle = 0;
    for (;;) {
        /* pending is summed over all workers, so it is read only when this
         * thread finds nothing to run. */
        if (w != NULL && find_work(w, &t, idle)) {
            run_task(w, t);
            idle = 0;
            continue;
        }
        if (tsr_sched_pending() == 0) return TSR_OK;
        if (tsr__idle_call_hook() > 0) {
            idle = 0;
            continue;
        }
        tsr__idle_wait_backoff(&idle);
    }
}

/* ---- start and stop ----------------------------------------------------- */

/* TSR_THREADS if set (strictly parsed), else 0. */
static int threads_from_env(int *out) {
    const char *s = getenv("TSR_THREADS");
    *out = 0;
    if (s == NULL || *s == '\0') return TSR_OK;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > TSR_MAX_WORKERS)
        return tsr_error(TSR_ERR_INVALID, "TSR_THREADS='%s' is not an integer in [1, %d]", s,
                         TSR_MAX_WORKERS);
    *out = (int)v;
    return TSR_OK;
}

static void free_workers(int n) {
    for (int i = 0; i < n; i++) {
        tsr__deque_destroy(&S.w[i].dq);
        tsr__pool_clear(&S.w[i].pool);
    }
    tsr_aligned_free(S.w);
    S.w = NULL;
    S.n = 0;
    tsr__topo_close(S.topo);
    S.topo = NULL;
    S.pinned = 0;
}

int tsr_sched_init(int nthreads, int pin) {
    int rc = TSR_OK, ninit = 0, started = 1;
    if (tsr__sched_running() || S.w != NULL)
        return tsr_error(TSR_ERR_STATE, "tsr_sched_init: the scheduler is already running");
    if (nthreads < 0 || nthreads > TSR_MAX_WORKERS)
        return tsr_error(TSR_ERR_INVALID, "tsr_sched_init: nthreads=%d is not in [0, %d]",
                         nthreads, TSR_MAX_WORKERS);
    int n = nthreads;
    if (n == 0) TSR_CHECK(threads_from_env(&n));
    /* Loading the topology costs milliseconds: only when it is needed. */
    if (n == 0 || pin) S.topo = tsr__topo_open();
    if (n == 0) n = tsr__topo_ncores(S.topo);

    S.w = tsr_aligned_alloc(2 * TSR_CACHELINE, (size_t)n * sizeof(tsr__worker));
    TSR_CHECK_MSG(S.w != NULL, TSR_ERR_NOMEM, "tsr_sched_init: cannot allocate %d workers", n);
    memset(S.w, 0, (size_t)n * sizeof(tsr__worker));
    for (; ninit < n; ninit++) {
        tsr__worker *w = &S.w[ninit];
        TSR_CHECK(tsr__deque_init(&w->dq, TSR_DEQUE_LOG2));
        w->id = ninit;
        w->rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(ninit + 1);
    }
    S.n = n;
    atomic_store(&S.stop, 0);
    atomic_store(&S.inject_spawned, 0);
    atomic_store(&S.inject_len, 0);
    tsr__idle_init();

    S.pinned = pin && tsr__topo_plan(S.topo, n) == 0;
    tsr__tls_worker = &S.w[0];
    if (S.pinned) tsr__topo_pin_self(S.topo, 0, 1);
    pthread_mutex_lock(&S.inject_mu);
    S.accepting = 1;
    pthread_mutex_unlock(&S.inject_mu);
    atomic_store_explicit(&S.running, 1, memory_order_release);

    for (; started < n; started++) {
        int e = pthread_create(&S.w[started].thread, NULL, worker_main, &S.w[started]);
        if (e != 0) {
            rc = tsr_error(TSR_ERR_NOMEM, "tsr_sched_init: cannot start worker %d of %d: %s",
                           started, n, strerror(e));
            goto fail_started;
        }
    }
    tsr_log(TSR_LOG_DEBUG, "sched: %d workers, %s", n, S.pinned ? "pinned" : "not pinned");
    return TSR_OK;

fail_started:
    atomic_store(&S.stop, 1);
    tsr__sched_wake_all();
    for (int i = 1; i < started; i++) pthread_join(S.w[i].thread, NULL);
    atomic_store(&S.running, 0);
    pthread_mutex_lock(&S.inject_mu);
    S.accepting = 0;
    pthread_mutex_unlock(&S.inject_mu);
    if (S.pinned) tsr__topo_restore_self(S.topo);
    tsr__tls_worker = NULL;
    free_workers(n);
    return rc;
fail:
    if (S.w != NULL) {
        for (int i = 0; i < ninit; i++) tsr__deque_destroy(&S.w[i].dq);
        tsr_aligned_free(S.w);
        S.w = NULL;
    }
    tsr__topo_close(S.topo);
    S.topo = NULL;
    S.n = 0;
    return rc;
}

int tsr_sched_fini(void) {
    int rc = TSR_OK;
    if (!tsr__sched_running())
        return tsr_error(TSR_ERR_STATE, "tsr_sched_fini: the scheduler is not running");
    if (tsr__tls_worker != &S.w[0])
        return tsr_error(TSR_ERR_STATE,
                         "tsr_sched_fini must be called by the thread that called "
                         "tsr_sched_init");
    TSR_CHECK(tsr_sched_drain());
    /* Refuse new tasks from other threads, then run what slipped in. */
    pthread_mutex_lock(&S.inject_mu);
    S.accepting = 0;
    pthread_mutex_unlock(&S.inject_mu);
    TSR_CHECK(tsr_sched_drain());

    atomic_store_explicit(&S.stop, 1, memory_order_release);
    tsr__sched_wake_all();
    for (int i = 1; i < S.n; i++) pthread_join(S.w[i].thread, NULL);
    atomic_store_explicit(&S.running, 0, memory_order_release);
    if (S.pinned) tsr__topo_restore_self(S.topo);
    tsr__tls_worker = NULL;
    free_workers(S.n);
    return TSR_OK;
fail:
    return rc;
}

void tsr__sched_unpin_helper_thread(void) {
    if (S.pinned && tsr__topo_unpin_self(S.topo) != 0)
        tsr_log(TSR_LOG_DEBUG, "sched: could not unpin a helper thread");
}
