/* Who drives message progress, and how a thread waits without hogging a core.
 *
 * TSR_PROGRESS=poll (default): the scheduler's idle workers and waiting
 * threads call tsr_am_progress through the idle hook; the transport trylocks,
 * so one polls at a time and the rest go back to looking for tasks.
 * TSR_PROGRESS=thread: one extra thread polls with back-off; workers don't.
 * The measured comparison behind the default is in the comment at
 * tsr__am_progress_start. */
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "am/am_engine.h"
#include "base/internal.h"
#include "sched/sched_internal.h"
#include "tessera/sched.h"

/* Back-off steps. Spinning a few rounds catches a reply that is already on
 * its way; after that yield (a peer rank may be waiting for this core: tests
 * run 4 ranks on 2 cores), then sleep briefly. */
#define SPIN_ROUNDS 64u
#define YIELD_ROUNDS 1024u
#define SLEEP_SHORT_NS 20000L  /* Linux rounds this up to ~60-70 us (timer slack) */
#define SLEEP_LONG_NS 200000L  /* after ~100 ms of nothing */
#define LONG_AFTER 2048u

void tsr__am_pace(int events, unsigned *idle) {
    if (events > 0) {
        *idle = 0;
        return;
    }
    unsigned i = (*idle)++;
    if (i < SPIN_ROUNDS) return;
    if (i < YIELD_ROUNDS) {
        sched_yield();
        return;
    }
    struct timespec ts = {0, i < LONG_AFTER ? SLEEP_SHORT_NS : SLEEP_LONG_NS};
    nanosleep(&ts, NULL);
    if (*idle > LONG_AFTER + 1) *idle = LONG_AFTER + 1;
}

/* While a transfer is in flight, MPI moves it only when someone polls (with
 * Open MPI's shared memory and no single-copy mechanism, fragment by
 * fragment), yet no request completes until the end. Reporting "nothing
 * happened" then would send the caller to sleep between fragments: measured
 * with perf/run am (poll, waiting in tsr_wait), 16 MiB went at 0.63 GB/s
 * against 3.6 GB/s raw. So in-flight work counts as activity: the caller
 * keeps polling, yielding the core between polls (ranks may share cores). */
int tsr__am_poll(void) {
    int n = tsr_am_progress();
    if (n > 0) return n;
    if (atomic_load_explicit(&tsr__am.inflight, memory_order_relaxed) > 0) {
        sched_yield();
        return 1;
    }
    return 0;
}

int tsr__am_drive(void) { return tsr__am_poll() + tsr_sched_help(); }

int tsr__am_allreduce(const int64_t *in, int64_t *out, int n, tsr__am_reduce_op op) {
    int rc = TSR_OK;
    unsigned idle = 0;
    TSR_CHECK(tsr__am.tp->reduce_start(in, out, n, op));
    for (;;) {
        int done = 0;
        TSR_CHECK(tsr__am.tp->reduce_test(&done));
        if (done) break;
        tsr__am_pace(tsr__am_drive(), &idle);
    }
    return TSR_OK;
fail:
    return rc;
}

static struct {
    pthread_t thread;
    int running;
    atomic_int stop;
} pt;

static void *progress_main(void *arg) {
    TSR_UNUSED(arg);
    tsr__sched_unpin_helper_thread();
    unsigned idle = 0;
    while (!atomic_load_explicit(&pt.stop, memory_order_relaxed)) tsr__am_pace(tsr__am_poll(), &idle);
    return NULL;
}

/* Polling is the default (TSR_PROGRESS=poll, base/options.c) because it
 * measured better on the 2-core machines Tessera is tested on. perf/run am's
 * bench_am, 2 ranks, TSR_THREADS=1, pinned to 2 cores (taskset -c 0,1 on a
 * quiet 16-core host; the shared 2-core VM gave the same ranking but with
 * figures that moved 3x between runs under other jobs' load):
 *                         8 B one way    16 MiB      (raw MPI, same run)
 *   poll,   tsr_wait          3.1 us     5.9 GB/s    2.0 us  6.0 GB/s
 *   poll,   spin loop         3.1 us     5.6 GB/s    2.1 us  5.8 GB/s
 *   thread, tsr_wait         83   us     3.8 GB/s    2.7 us  5.3 GB/s
 *   thread, spin loop         4.8 us     5.1 GB/s    2.6 us  5.1 GB/s
 *   storm test, 4 ranks on 2 cores: poll 5.5 s, thread 5.7 s.
 * (Repeat runs of the poll rows: 2.8-3.0 us against 2.0-2.3 raw; 16 MiB
 * 3.4-5.9 GB/s against 3.7-6.0 raw. Testing a short send for completion
 * right after MPI_Isend gained 0.1-0.2 us but lost 1 MiB bandwidth: not kept.)
 * With a thread, every message needs a second thread to be scheduled on a
 * core the ranks already fill, and a worker waiting in tsr_wait learns of the
 * handler task only when its own back-off sleep ends. A progress thread can
 * still win on nodes with a spare core per rank and long compute tasks (no
 * idle worker polls then): measure there before changing the default. */
int tsr__am_progress_start(int use_thread) {
    if (!use_thread) {
        tsr__sched_set_idle_hook(tsr__am_poll);
        return TSR_OK;
    }
    atomic_store(&pt.stop, 0);
    int e = pthread_create(&pt.thread, NULL, progress_main, NULL);
    if (e != 0)
        return tsr_error(TSR_ERR_RUNTIME, "rank %d: cannot start the progress thread (error %d)",
                         tsr__am.rank, e);
    pt.running = 1;
    return TSR_OK;
}

void tsr__am_progress_stop(void) {
    tsr__sched_set_idle_hook(NULL);
    if (pt.running) {
        atomic_store(&pt.stop, 1);
        pthread_join(pt.thread, NULL);
        pt.running = 0;
    }
}
