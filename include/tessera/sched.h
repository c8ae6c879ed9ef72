/* Tessera per-rank task scheduler.
 *
 * Each rank runs W workers: the thread that called tsr_init is worker 0 and
 * works whenever it waits (tsr_wait, tsr_sched_drain, tsr_fence); W-1 more
 * threads are started and pinned to this rank's cores with hwloc. Each worker
 * owns a Chase-Lev deque: it pushes and pops at the bottom, idle workers steal
 * from the top of a random victim. Idle workers spin briefly, then yield, then
 * sleep until new work is pushed, so oversubscribed ranks do not burn cores.
 *
 * Tasks are fire-and-forget here; tasks that produce values and wait on other
 * tasks are futures (tessera/future.h). */
#ifndef TESSERA_SCHED_H
#define TESSERA_SCHED_H

#include "tessera/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Start the scheduler without MPI (tsr_init does this for you): nthreads
 * workers including the calling thread (nthreads > 0 is used as given; 0:
 * TSR_THREADS if set, else the cores hwloc says this process is bound to),
 * pinned if pin != 0 and binding is allowed (workers are left unpinned, with
 * an info-level log line, when binding fails or there are more threads than
 * cores). For scheduler-only programs and tests. TSR_ERR_STATE if already
 * running. */
TSR_API int tsr_sched_init(int nthreads, int pin);
/* Drain all tasks, stop and join the workers. Called by the thread that
 * called tsr_sched_init (else TSR_ERR_STATE). */
TSR_API int tsr_sched_fini(void);

/* A task body. Runs exactly once on some worker thread of this rank. */
typedef void (*tsr_task_fn)(void *arg);

/* Queue fn(arg) on the calling worker's deque (worker 0's if the caller is
 * not a worker). Never runs fn inline. Thread-safe from any thread, including
 * inside tasks. Fails only with TSR_ERR_NOMEM or TSR_ERR_STATE (scheduler not
 * running); on failure fn is never called. */
TSR_API int tsr_spawn(tsr_task_fn fn, void *arg);

/* Run tasks on the calling thread until every task spawned on this rank so
 * far, and every task those spawn, has finished. Called by worker 0 (the
 * main thread) outside any task: inside a task it is TSR_ERR_STATE (it would
 * wait for itself); a thread that is not a worker just waits. */
TSR_API int tsr_sched_drain(void);

/* Number of workers of this rank (0 when the scheduler is not running), and
 * the calling thread's worker index (0..W-1), or -1 for a thread that is not
 * a worker. */
TSR_API int tsr_num_workers(void);
TSR_API int tsr_worker_id(void);

/* Run at most one queued task on the calling thread (local pop, else steal).
 * Returns 1 if a task ran, 0 if none was found. For waits written outside the
 * scheduler; a thread that is not a worker gets 0. */
TSR_API int tsr_sched_help(void);

/* Count of tasks spawned on this rank that have not finished. Exact when
 * the rank is quiescent; while tasks run it may overcount, never undercount.
 * 0 when the scheduler is not running. */
TSR_API int64_t tsr_sched_pending(void);

/* Statistics since start, summed over workers. */
typedef struct tsr_sched_stats {
    uint64_t spawned, executed, steals, steal_attempts, sleeps;
} tsr_sched_stats;
TSR_API void tsr_sched_stats_get(tsr_sched_stats *out);

#ifdef __cplusplus
}
#endif
#endif
