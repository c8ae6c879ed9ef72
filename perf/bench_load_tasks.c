/* Load, tasks: half of this rank's share as a tree of plain tsr_spawn tasks,
 * half as futures: chains of tsr_async + tsr_then, each batch of chains
 * fanned in by one tsr_async that depends on every chain's end and by a
 * tsr_when_all. Both halves are checked against the same arithmetic done in
 * a plain loop: every task ran exactly once and saw its input. */
#include <stdatomic.h>
#include <stdlib.h>

#include "bench_load.h"

#define CHAIN_LEN 50
#define CHAINS_PER_BATCH 1000

static atomic_llong spawn_count, spawn_sum;
static int planted; /* --plant tasks: every fan-in sum is off by one */

/* A tree node standing for n tasks: itself and two subtrees. */
static void tree_task(void *arg) {
    int64_t n = (int64_t)(intptr_t)arg;
    atomic_fetch_add_explicit(&spawn_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&spawn_sum, n, memory_order_relaxed);
    int64_t rest = n - 1, left = rest / 2;
    if (left > 0) load_check(tsr_spawn(tree_task, (void *)(intptr_t)left), "tsr_spawn");
    if (rest - left > 0)
        load_check(tsr_spawn(tree_task, (void *)(intptr_t)(rest - left)), "tsr_spawn");
}

/* The same sum of subtree sizes, serially (iterative: no deep recursion). */
static int64_t tree_sum_serial(int64_t n) {
    int64_t sum = 0, *stack = malloc(sizeof(int64_t) * 128), top = 0;
    if (!stack) tsr_abort("bench_load: out of memory");
    stack[top++] = n;
    while (top > 0) {
        int64_t v = stack[--top], rest = v - 1, left = rest / 2;
        sum += v;
        if (left > 0) stack[top++] = left;
        if (rest - left > 0) stack[top++] = rest - left;
    }
    free(stack);
    return sum;
}

static uint64_t step_value(uint64_t v) { return v * 6364136223846793005ULL + 1442695040888963407ULL; }

static int chain_start(void *arg, void **out) {
    *out = (void *)(uintptr_t)step_value((uint64_t)(uintptr_t)arg);
    return TSR_OK;
}

static int chain_step(void *value, void *arg, void **out) {
    (void)arg;
    *out = (void *)(uintptr_t)step_value((uint64_t)(uintptr_t)value);
    return TSR_OK;
}

typedef struct fanin {
    tsr_future_t **ends;
    int n;
} fanin;

/* Runs once every chain end is ready (its dependencies): sums their values. */
static int fanin_sum(void *arg, void **out) {
    fanin *f = arg;
    uint64_t s = 0;
    for (int i = 0; i < f->n; i++) {
        void *v;
        int rc = tsr_wait(f->ends[i], &v); /* ready: does not block */
        if (rc != TSR_OK) return rc;
        s += (uint64_t)(uintptr_t)v;
    }
    *out = (void *)(uintptr_t)(s + (uint64_t)planted);
    return TSR_OK;
}

/* Chains of CHAIN_LEN tasks starting from first..first+nchains-1; returns the
 * fan-in sum (wrapping). */
static uint64_t run_batch(uint64_t first, int nchains, int len) {
    tsr_future_t **ends = malloc(sizeof(*ends) * (size_t)nchains);
    if (!ends) tsr_abort("bench_load: out of memory");
    for (int c = 0; c < nchains; c++) {
        tsr_future_t *f;
        load_check(tsr_async(chain_start, (void *)(uintptr_t)(first + (uint64_t)c), 0, NULL, &f),
                   "tsr_async");
        for (int k = 1; k < len; k++) {
            tsr_future_t *g;
            load_check(tsr_then(f, chain_step, NULL, &g), "tsr_then");
            tsr_future_release(&f); /* the runtime keeps what it needs */
            f = g;
        }
        ends[c] = f;
    }
    fanin fi = {ends, nchains};
    tsr_future_t *sum, *all;
    load_check(tsr_async(fanin_sum, &fi, nchains, ends, &sum), "tsr_async (fan-in)");
    load_check(tsr_when_all(nchains, ends, &all), "tsr_when_all");
    void *v;
    load_check(tsr_wait(sum, &v), "fan-in");
    load_check(tsr_wait(all, NULL), "tsr_when_all wait");
    tsr_future_release(&sum);
    tsr_future_release(&all);
    for (int c = 0; c < nchains; c++) tsr_future_release(&ends[c]);
    free(ends);
    return (uint64_t)(uintptr_t)v;
}

static uint64_t batch_serial(uint64_t first, int nchains, int len) {
    uint64_t s = 0;
    for (int c = 0; c < nchains; c++) {
        uint64_t v = first + (uint64_t)c;
        for (int k = 0; k < len; k++) v = step_value(v);
        s += v;
    }
    return s;
}

void load_tasks(const load_opts *o, load_round *out) {
    int rank = tsr_rank(), nranks = tsr_nranks();
    int64_t mine = o->tasks / nranks + (rank < o->tasks % nranks);
    int64_t nspawn = mine / 2, nfut = mine - nspawn;
    planted = load_planted(o, "tasks");
    tsr_sched_stats s0, s1;
    tsr_sched_stats_get(&s0);
    MPI_Barrier(load_comm);
    double t0 = load_now();

    atomic_store(&spawn_count, 0);
    atomic_store(&spawn_sum, 0);
    if (nspawn > 0) load_check(tsr_spawn(tree_task, (void *)(intptr_t)nspawn), "tsr_spawn");
    load_check(tsr_sched_drain(), "tsr_sched_drain");

    /* Futures: batches of chains; each batch is CHAINS*LEN chain tasks + 1 fan-in. */
    uint64_t got = 0, want = 0, first = (uint64_t)rank << 40;
    int64_t left = nfut;
    while (left > 1) {
        int64_t per = left - 1; /* the fan-in task counts too */
        int len = per < CHAIN_LEN ? (int)per : CHAIN_LEN;
        int64_t chains = per / len;
        if (chains > CHAINS_PER_BATCH) chains = CHAINS_PER_BATCH;
        got += run_batch(first, (int)chains, len);
        want += batch_serial(first, (int)chains, len);
        first += (uint64_t)chains;
        left -= chains * len + 1;
    }
    if (left == 1) { /* one task left over: a plain spawn */
        load_check(tsr_spawn(tree_task, (void *)(intptr_t)1), "tsr_spawn");
        nspawn++;
    }
    load_check(tsr_sched_drain(), "tsr_sched_drain");
    double t1 = load_now();

    if (atomic_load(&spawn_count) != nspawn)
        tsr_abort("bench_load tasks: %lld spawned tasks ran, %lld expected",
                  (long long)atomic_load(&spawn_count), (long long)nspawn);
    int64_t tree_want = (nspawn > 0 ? tree_sum_serial(nspawn - (left == 1)) : 0) + (left == 1);
    if (atomic_load(&spawn_sum) != tree_want)
        tsr_abort("bench_load tasks: spawn tree checksum %lld, serial %lld",
                  (long long)atomic_load(&spawn_sum), (long long)tree_want);
    if (got != want)
        tsr_abort("bench_load tasks: chain checksum %llu, serial %llu", (unsigned long long)got,
                  (unsigned long long)want);
    if (tsr_sched_pending() != 0)
        tsr_abort("bench_load tasks: %lld tasks still pending after drain",
                  (long long)tsr_sched_pending());
    tsr_sched_stats_get(&s1);
    int64_t ran = (int64_t)(s1.executed - s0.executed), all = 0;
    if (ran < mine)
        tsr_abort("bench_load tasks: the scheduler ran %lld tasks, at least %lld expected",
                  (long long)ran, (long long)mine);
    MPI_Allreduce(&ran, &all, 1, MPI_INT64_T, MPI_SUM, load_comm);
    out->seconds = t1 - t0;
    out->count = all;
    out->checksum = (double)(got >> 11);
}
