/* Plain tasks: every one of 10^6 tasks runs exactly once, whether spawned in
 * a batch by worker 0, recursively from inside tasks (stealing), or by a
 * thread that is not a worker (injection queue). Also counters, the idle
 * hook, idle sleeping and init/fini state errors. argv[1]: worker count. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "sched/sched_internal.h"
#include "harness.h"

#define N 1000000
#define NREC (N / 4)
#define LEAF 64

static _Atomic unsigned char *flags;
static _Atomic int64_t ran;
static _Atomic int bad_worker_id;
static int nthreads;

static void mark(void *arg) {
    size_t i = (size_t)(uintptr_t)arg;
    atomic_fetch_add_explicit(&flags[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
    int id = tsr_worker_id();
    if (id < 0 || id >= nthreads) atomic_store(&bad_worker_id, 1);
}

/* arg encodes [lo, hi): halves are spawned until LEAF elements remain, then
 * one task per element, so most tasks are spawned by workers other than 0. */
static void split(void *arg) {
    uint64_t r = (uint64_t)(uintptr_t)arg;
    uint32_t lo = (uint32_t)(r >> 32), hi = (uint32_t)r;
    if (hi - lo > LEAF) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tsr_spawn(split, (void *)(uintptr_t)(((uint64_t)lo << 32) | mid)) != TSR_OK ||
            tsr_spawn(split, (void *)(uintptr_t)(((uint64_t)mid << 32) | hi)) != TSR_OK)
            atomic_store(&bad_worker_id, 2);
        return;
    }
    for (uint32_t i = lo; i < hi; i++)
        if (tsr_spawn(mark, (void *)(uintptr_t)i) != TSR_OK) atomic_store(&bad_worker_id, 3);
}

/* Number of split tasks that split(lo, hi) makes, itself included. */
static int64_t count_splits(uint32_t lo, uint32_t hi) {
    if (hi - lo <= LEAF) return 1;
    uint32_t mid = lo + (hi - lo) / 2;
    return 1 + count_splits(lo, mid) + count_splits(mid, hi);
}

static void reset(void) {
    for (size_t i = 0; i < N; i++) atomic_store_explicit(&flags[i], 0, memory_order_relaxed);
    atomic_store(&ran, 0);
}

static void check_all_once(const char *phase, size_t n) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        if (atomic_load_explicit(&flags[i], memory_order_relaxed) != 1) {
            if (bad++ == 0) first = i;
        }
    }
    if (bad) TEST_FAIL("%s: %zu tasks did not run exactly once (first: %zu ran %d times)", phase,
                       bad, first, (int)atomic_load(&flags[first]));
    ASSERT_EQ(atomic_load(&ran), (int64_t)n);
    ASSERT_EQ(atomic_load(&bad_worker_id), 0);
    ASSERT_EQ(tsr_sched_pending(), 0);
}

#define NINJECT 100000
static void *injector(void *arg) {
    (void)arg;
    for (size_t i = 0; i < NINJECT; i++)
        if (tsr_spawn(mark, (void *)(uintptr_t)i) != TSR_OK) atomic_store(&bad_worker_id, 4);
    return NULL;
}

static _Atomic int64_t hook_calls;
static int count_hook(void) {
    atomic_fetch_add_explicit(&hook_calls, 1, memory_order_relaxed);
    return 0;
}

int main(int argc, char **argv) {
    nthreads = argc > 1 ? atoi(argv[1]) : 2;
    flags = calloc(N, sizeof *flags);
    ASSERT_TRUE(flags != NULL);

    ASSERT_STATUS(tsr_spawn(mark, NULL), TSR_ERR_STATE); /* not running yet */
    ASSERT_STATUS(tsr_sched_drain(), TSR_ERR_STATE);
    ASSERT_EQ(tsr_worker_id(), -1);
    ASSERT_OK(tsr_sched_init(nthreads, 0));
    ASSERT_STATUS(tsr_sched_init(nthreads, 0), TSR_ERR_STATE);
    ASSERT_EQ(tsr_num_workers(), nthreads);
    ASSERT_EQ(tsr_worker_id(), 0);
    ASSERT_STATUS(tsr_spawn(NULL, NULL), TSR_ERR_INVALID);

    /* 1. a batch from worker 0, then drain */
    for (size_t i = 0; i < N; i++) ASSERT_OK(tsr_spawn(mark, (void *)(uintptr_t)i));
    ASSERT_TRUE(tsr_sched_pending() > 0 || nthreads > 1);
    ASSERT_OK(tsr_sched_drain());
    check_all_once("batch", N);

    /* 2. recursive spawning from inside tasks (a quarter as many: enough to
     *    steal all the time, and this test also runs under TSan) */
    reset();
    ASSERT_OK(tsr_spawn(split, (void *)(uintptr_t)NREC));
    ASSERT_OK(tsr_sched_drain());
    check_all_once("recursive", NREC);

    /* 3. spawns from a thread that is not a worker while worker 0 helps */
    reset();
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, injector, NULL), 0);
    for (int i = 0; i < 1000; i++) tsr_sched_help();
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_OK(tsr_sched_drain());
    check_all_once("injected", NINJECT);

    tsr_sched_stats sst;
    tsr_sched_stats_get(&sst);
    ASSERT_EQ(sst.executed, sst.spawned);
    ASSERT_EQ(sst.spawned, (uint64_t)(N + count_splits(0, NREC) + NREC + NINJECT));
    if (nthreads > 1) ASSERT_TRUE(sst.steals > 0);
    ASSERT_EQ(tsr_sched_help(), 0); /* nothing left */

    /* 4. idle workers call the hook, then go to sleep instead of spinning */
    tsr__sched_set_idle_hook(count_hook);
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    tsr_sched_stats_get(&sst);
    uint64_t sleeps0 = sst.sleeps;
    nanosleep(&ts, NULL);
    tsr_sched_stats_get(&sst);
    tsr__sched_set_idle_hook(NULL);
    if (nthreads > 1) {
        ASSERT_TRUE(atomic_load(&hook_calls) > 0);
        ASSERT_TRUE(sst.sleeps > sleeps0);
        /* Sleeping workers poll the hook about once per millisecond, not in
         * a tight loop: 60 ms must not give millions of calls. */
        ASSERT_TRUE(atomic_load(&hook_calls) < 200000);
    }
    /* Sleepers wake up for new work. */
    reset();
    for (size_t i = 0; i < 1000; i++) ASSERT_OK(tsr_spawn(mark, (void *)(uintptr_t)i));
    tsr__sched_wake_all();
    ASSERT_OK(tsr_sched_drain());
    check_all_once("after sleep", 1000);

    ASSERT_OK(tsr_sched_fini());
    ASSERT_STATUS(tsr_sched_fini(), TSR_ERR_STATE);
    ASSERT_STATUS(tsr_spawn(mark, NULL), TSR_ERR_STATE);
    ASSERT_EQ(tsr_num_workers(), 0);
    ASSERT_EQ(tsr_worker_id(), -1);
    ASSERT_EQ(tsr_sched_pending(), 0);

    /* A second life, with pinning requested (it may be refused: fine). */
    reset();
    ASSERT_OK(tsr_sched_init(nthreads, 1));
    ASSERT_OK(tsr_spawn(split, (void *)(uintptr_t)10000));
    ASSERT_OK(tsr_sched_fini()); /* fini drains */
    check_all_once("second init", 10000);
    free(flags);
    printf("ok: %d threads\n", nthreads);
    return 0;
}
