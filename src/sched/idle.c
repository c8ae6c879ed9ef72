/* What a worker does when it finds nothing: call the idle hook, spin, yield,
 * then sleep on a condition variable until a push wakes it; and the backoff
 * of threads that wait for a condition (drain, tsr_wait on a worker). */
#include <errno.h>
#include <sched.h>
#include <time.h>

#include "sched/sched_private.h"

/* An idle worker, after its spin and yield rounds (sched_private.h), sleeps
 * on the condition variable until a push wakes it, for at most
 * TSR_IDLE_SLEEP_NS at a time, so that the idle hook (MPI progress) still
 * runs every millisecond even when nothing is pushed. */
#define TSR_IDLE_SLEEP_NS 1000000L
/* Waiters (drain, tsr_wait on a worker) do not sleep on the condition
 * variable, because no push is addressed to them; after spinning and
 * yielding they nanosleep with a doubling interval up to WAIT_SLEEP_MAX_NS
 * (Linux adds ~50 us of timer slack to each). */
#define TSR_WAIT_SLEEP_MIN_NS 1000L
#define TSR_WAIT_SLEEP_MAX_NS 100000L

/* Sleeping idle workers. tsr__sleepers is changed under sleep_mu but read
 * without it after every push; wakeups counts signals not yet consumed, so
 * a signal is never lost to a worker that timed out at the same moment. */
static pthread_mutex_t sleep_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cv = PTHREAD_COND_INITIALIZER;
static int wakeups;
_Atomic int tsr__sleepers;
static _Atomic(tsr__idle_hook_fn) hook;

/* The sleep condition variable waits on the monotonic clock (a wall-clock
 * step must not turn a 1 ms nap into minutes). It is set up once and never
 * destroyed, so tsr__sched_wake_all is safe at any time, even between a
 * fini and the next init. */
static pthread_once_t sleep_cv_once = PTHREAD_ONCE_INIT;
static void sleep_cv_init(void) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&sleep_cv);
    pthread_cond_init(&sleep_cv, &ca);
    pthread_condattr_destroy(&ca);
}

void tsr__idle_init(void) {
    pthread_once(&sleep_cv_once, sleep_cv_init);
    pthread_mutex_lock(&sleep_mu);
    atomic_store_explicit(&tsr__sleepers, 0, memory_order_relaxed);
    wakeups = 0;
    pthread_mutex_unlock(&sleep_mu);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spin-phase pause: 1, 2, 4, ... up to 64 pauses as idle rounds accumulate,
 * so a thief polling a busy owner's deque reads its bottom line less and
 * less often (every read forces the owner's next push to refetch it). */
void tsr__idle_spin(unsigned idle) {
    unsigned n = 1u << (idle < 24 ? idle / 4 : 6);
    for (unsigned i = 0; i < n; i++) cpu_relax();
}

void tsr__sched_set_idle_hook(tsr__idle_hook_fn fn) {
    atomic_store_explicit(&hook, fn, memory_order_release);
}

int tsr__idle_call_hook(void) {
    tsr__idle_hook_fn h = atomic_load_explicit(&hook, memory_order_acquire);
    return h ? h() : 0;
}

void tsr__idle_wake_one(void) {
    pthread_mutex_lock(&sleep_mu);
    int s = atomic_load_explicit(&tsr__sleepers, memory_order_relaxed);
    if (s > 0) {
        atomic_store_explicit(&tsr__sleepers, s - 1, memory_order_relaxed);
        wakeups++;
        pthread_cond_signal(&sleep_cv);
    }
    pthread_mutex_unlock(&sleep_mu);
}

void tsr__sched_wake_all(void) {
    pthread_mutex_lock(&sleep_mu);
    int s = atomic_load_explicit(&tsr__sleepers, memory_order_relaxed);
    if (s > 0) {
        atomic_store_explicit(&tsr__sleepers, 0, memory_order_relaxed);
        wakeups += s;
    }
    pthread_cond_broadcast(&sleep_cv);
    pthread_mutex_unlock(&sleep_mu);
}

/* Sleep until woken or TSR_IDLE_SLEEP_NS passes. Returns 1 if woken by a
 * push (the caller spins again), 0 on timeout. */
int tsr__idle_sleep(tsr__worker *w) {
    int woken = 0;
    pthread_mutex_lock(&sleep_mu);
    atomic_store_explicit(&tsr__sleepers,
                          atomic_load_explicit(&tsr__sleepers, memory_order_relaxed) + 1,
                          memory_order_seq_cst);
    if (tsr__sched_work_visible()) {
        atomic_store_explicit(&tsr__sleepers,
                              atomic_load_explicit(&tsr__sleepers, memory_order_relaxed) - 1,
                              memory_order_relaxed);
        pthread_mutex_unlock(&sleep_mu);
        return 1;
    }
    struct timespec until;
    tsr__deadline_ns(&until, TSR_IDLE_SLEEP_NS);
    int e = 0;
    while (wakeups == 0 && e != ETIMEDOUT && !tsr__sched_stopping())
        e = pthread_cond_timedwait(&sleep_cv, &sleep_mu, &until);
    if (wakeups > 0) {
        /* Whoever signalled already took us off sleepers. */
        wakeups--;
        woken = 1;
    } else {
        atomic_store_explicit(&tsr__sleepers,
                              atomic_load_explicit(&tsr__sleepers, memory_order_relaxed) - 1,
                              memory_order_relaxed);
    }
    pthread_mutex_unlock(&sleep_mu);
    tsr__bump(&w->sleeps);
    return woken;
}

/* Backoff for a thread that waits for a condition rather than for work. */
void tsr__idle_wait_backoff(unsigned *idle) {
    unsigned i = ++*idle;
    if (i > TSR_IDLE_SPIN + TSR_IDLE_YIELD + 64) *idle = i = TSR_IDLE_SPIN + TSR_IDLE_YIELD + 64;
    if (i < TSR_IDLE_SPIN) {
        tsr__idle_spin(i);
    } else if (i < TSR_IDLE_SPIN + TSR_IDLE_YIELD) {
        sched_yield();
    } else {
        unsigned k = i - (TSR_IDLE_SPIN + TSR_IDLE_YIELD);
        long ns = k < 7 ? TSR_WAIT_SLEEP_MIN_NS << k : TSR_WAIT_SLEEP_MAX_NS;
        if (ns > TSR_WAIT_SLEEP_MAX_NS) ns = TSR_WAIT_SLEEP_MAX_NS;
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
    }
}

