/* Empty-task cost: Tessera (tsr_spawn of an empty function N times from
 * worker 0, then tsr_sched_drain) against libgomp (omp parallel + omp single
 * spawning N empty omp tasks, then taskwait), in one process with the same
 * thread count.
 *
 * Both runtimes live in this process, so each must be idle while the other
 * is timed: the phases alternate, libgomp runs with OMP_WAIT_POLICY=passive
 * (its threads block on a futex as soon as a region ends) and after every
 * phase we wait QUIESCE_MS and measure the process's CPU time over a second
 * quiet window. Tessera's idle workers are supposed to spin briefly, yield and
 * then sleep; if they do not, the "idle CPU" column says so.
 *
 * The libgomp thread pool is created before tsr_sched_init: threads inherit
 * the creator's affinity, and Tessera may pin the main thread (worker 0) to
 * one core, which would otherwise put every libgomp thread on that core.
 *
 * Output: a human table on stdout, then one JSON line (always last). The
 * JSON's main figures are the best (lowest) over the repetitions: the machine
 * is shared and interference only ever adds time, so the minimum is the
 * figure that reproduces; medians are there too (*_median_*), and the table
 * shows both. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tessera.h"

#define QUIESCE_MS 30
#define MAX_REPS 101

/* The task bodies: do nothing. Called through a pointer by both runtimes. */
static void empty_task(void *arg) { (void)arg; }

static void die_tsr(const char *what, int rc) {
    fprintf(stderr, "bench_tasks: %s failed: %s: %s\n", what, tsr_status_string(rc),
            tsr_error_message());
    exit(1);
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* Let the runtime that just ran go idle, then return the CPU it burns while
 * nothing runs, in percent of one core, over a window of ms milliseconds. */
static double quiesce_and_measure_idle(int ms) {
    sleep_ms(QUIESCE_MS);
    double c0 = cpu_seconds(), w0 = tsr_time();
    sleep_ms(ms);
    double c1 = cpu_seconds(), w1 = tsr_time();
    return 100.0 * (c1 - c0) / (w1 - w0);
}

static double tessera_ns_per_task(long n) {
    uint64_t t0 = tsr_time_ns();
    for (long i = 0; i < n; i++) {
        int rc = tsr_spawn(empty_task, NULL);
        if (rc != TSR_OK) die_tsr("tsr_spawn", rc);
    }
    int rc = tsr_sched_drain();
    if (rc != TSR_OK) die_tsr("tsr_sched_drain", rc);
    return (double)(tsr_time_ns() - t0) / (double)n;
}

static double libgomp_ns_per_task(long n, int threads) {
    uint64_t t0 = tsr_time_ns();
#pragma omp parallel num_threads(threads)
#pragma omp single
    {
        for (long i = 0; i < n; i++) {
#pragma omp task
            empty_task(NULL);
        }
#pragma omp taskwait
    }
    return (double)(tsr_time_ns() - t0) / (double)n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_tasks [--threads T] [--tasks N] [--reps R] [--omp-only]\n"
            "  --threads T  workers for both runtimes (default: TSR_THREADS, else 2)\n"
            "  --tasks N    empty tasks per repetition (default 1000000)\n"
            "  --reps R     repetitions, alternating runtimes (default 9); best and median reported\n"
            "  --omp-only   time libgomp alone, Tessera never started (to check that\n"
            "               sharing the process and the passive wait policy cost nothing)\n"
            "Run with OMP_WAIT_POLICY=passive and OMP_NUM_THREADS=T (perf/run does).\n");
}

int main(int argc, char **argv) {
    const char *env_threads = getenv("TSR_THREADS");
    int threads = env_threads && *env_threads ? atoi(env_threads) : 2;
    long ntasks = 1000000;
    int reps = 9, omp_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--tasks") && i + 1 < argc) {
            ntasks = atol(argv[++i]);
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--omp-only")) {
            omp_only = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (threads < 1 || ntasks < 1 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "bench_tasks: need threads >= 1, tasks >= 1, 1 <= reps <= %d\n",
                MAX_REPS);
        return 2;
    }
    const char *policy = getenv("OMP_WAIT_POLICY");
    if (!omp_only && (!policy || strcmp(policy, "passive") != 0))
        fprintf(stderr, "bench_tasks: warning: OMP_WAIT_POLICY is not 'passive'; idle libgomp "
                        "threads will spin while Tessera is timed\n");

    /* Create libgomp's pool now, unpinned (see the file comment). */
    libgomp_ns_per_task(1000, threads);

    double tsr_ns[MAX_REPS], omp_ns[MAX_REPS];
    double tsr_idle = 0.0, omp_idle = 0.0;
    tsr_sched_stats st0 = {0}, st1 = {0};
    int workers = 0;
    if (!omp_only) {
        const char *pin_env = getenv("TSR_PIN");
        int pin = pin_env && *pin_env ? atoi(pin_env) : 1;
        int rc = tsr_sched_init(threads, pin);
        if (rc != TSR_OK) die_tsr("tsr_sched_init", rc);
        workers = tsr_num_workers();
        if (workers != threads) {
            fprintf(stderr, "bench_tasks: asked for %d workers, Tessera started %d (TSR_THREADS "
                            "overrides --threads)\n", threads, workers);
            return 1;
        }
        tessera_ns_per_task(ntasks / 10 + 1); /* warm up: deque growth, page faults */
        tsr_sched_stats_get(&st0);
    }
    libgomp_ns_per_task(ntasks / 10 + 1, threads);

    for (int r = 0; r < reps; r++) {
        if (!omp_only) {
            tsr_ns[r] = tessera_ns_per_task(ntasks);
            double idle = quiesce_and_measure_idle(QUIESCE_MS);
            if (idle > tsr_idle) tsr_idle = idle;
        }
        omp_ns[r] = libgomp_ns_per_task(ntasks, threads);
        double idle = quiesce_and_measure_idle(QUIESCE_MS);
        if (idle > omp_idle) omp_idle = idle;
    }
    if (!omp_only) tsr_sched_stats_get(&st1);

    double omp_best = omp_ns[0], tsr_best = tsr_ns[0];
    for (int r = 1; r < reps; r++) {
        if (omp_ns[r] < omp_best) omp_best = omp_ns[r];
        if (!omp_only && tsr_ns[r] < tsr_best) tsr_best = tsr_ns[r];
    }
    double omp_med = median(omp_ns, reps);
    printf("threads %d, %ld empty tasks x %d reps (ns per task: median [best])\n", threads, ntasks,
           reps);
    printf("  %-10s %9.1f [%7.1f]   idle CPU after: %5.1f%% of a core (max)\n", "libgomp", omp_med,
           omp_best, omp_idle);
    if (omp_only) {
        printf("{\"bench\":\"tasks_omp_only\",\"threads\":%d,\"tasks\":%ld,"
               "\"libgomp_ns_per_task\":%.2f,\"libgomp_median_ns_per_task\":%.2f}\n",
               threads, ntasks, omp_best, omp_med);
        return 0;
    }
    double tsr_med = median(tsr_ns, reps);
    uint64_t spawned = st1.spawned - st0.spawned, steals = st1.steals - st0.steals;
    printf("  %-10s %9.1f [%7.1f]   idle CPU after: %5.1f%% of a core (max)\n", "tessera", tsr_med,
           tsr_best, tsr_idle);
    printf("  tessera stats over the timed reps: spawned %llu, executed %llu, steals %llu "
           "(%.1f%%), steal attempts %llu, sleeps %llu\n",
           (unsigned long long)spawned, (unsigned long long)(st1.executed - st0.executed),
           (unsigned long long)steals, spawned ? 100.0 * (double)steals / (double)spawned : 0.0,
           (unsigned long long)(st1.steal_attempts - st0.steal_attempts),
           (unsigned long long)(st1.sleeps - st0.sleeps));
    printf("  ratio tessera/libgomp: best %.3f, median %.3f\n", tsr_best / omp_best,
           tsr_med / omp_med);
    int rc = tsr_sched_fini();
    if (rc != TSR_OK) die_tsr("tsr_sched_fini", rc);
    printf("{\"bench\":\"tasks\",\"threads\":%d,\"tasks\":%ld,\"tessera_ns_per_task\":%.2f,"
           "\"libgomp_ns_per_task\":%.2f,\"ratio\":%.4f,\"tessera_median_ns_per_task\":%.2f,"
           "\"libgomp_median_ns_per_task\":%.2f,\"median_ratio\":%.4f,\"tessera_idle_cpu_pct\":%.1f,"
           "\"libgomp_idle_cpu_pct\":%.1f,\"steals\":%llu,\"stat\":\"best\"}\n",
           threads, ntasks, tsr_best, omp_best, tsr_best / omp_best, tsr_med, omp_med,
           tsr_med / omp_med, tsr_idle, omp_idle, (unsigned long long)steals);
    return 0;
}
