/* Spawn + run cost of an empty task: worker 0 spawns `tasks` empty tasks,
 * then drains; prints the best of `reps` runs in ns per task. Also a
 * recursive variant (tasks spawned from inside tasks, so all workers spawn).
 * Usage: bench_sched_spawn [threads=2] [tasks=1000000] [reps=5] */
#include <stdatomic.h>

#include "harness.h"

static void empty(void *arg) { (void)arg; }

static void tree(void *arg) {
    uintptr_t n = (uintptr_t)arg;
    if (n > 1) {
        tsr_spawn(tree, (void *)(n / 2));
        tsr_spawn(tree, (void *)(n - n / 2 - 1));
    }
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    long tasks = argc > 2 ? atol(argv[2]) : 1000000;
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    ASSERT_OK(tsr_sched_init(threads, 1));
    double best_flat = 1e30, best_tree = 1e30;
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = tsr_time_ns();
        for (long i = 0; i < tasks; i++) ASSERT_OK(tsr_spawn(empty, NULL));
        ASSERT_OK(tsr_sched_drain());
        double ns = (double)(tsr_time_ns() - t0) / (double)tasks;
        if (ns < best_flat) best_flat = ns;

        t0 = tsr_time_ns();
        ASSERT_OK(tsr_spawn(tree, (void *)(uintptr_t)tasks));
        ASSERT_OK(tsr_sched_drain());
        ns = (double)(tsr_time_ns() - t0) / (double)tasks;
        if (ns < best_tree) best_tree = ns;
    }
    tsr_sched_stats st;
    tsr_sched_stats_get(&st);
    printf("threads=%d tasks=%ld flat: %.1f ns/task  tree: %.1f ns/task  (steals %llu of %llu "
           "attempts, sleeps %llu)\n",
           threads, tasks, best_flat, best_tree, (unsigned long long)st.steals,
           (unsigned long long)st.steal_attempts, (unsigned long long)st.sleeps);
    ASSERT_OK(tsr_sched_fini());
    return 0;
}
