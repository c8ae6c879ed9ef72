/* Cost of tracing on the task path (perf/run trace).
 *
 * One process (no MPI peers needed: run it as a single rank). Each
 * repetition times, in this order, on the same warm runtime:
 *   spawn  N bare tsr_spawn tasks (empty): what perf/run tasks measures; the
 *          scheduler's run loop has no tracing branch at all;
 *   async  N tsr_async jobs with empty bodies: the job path, where the
 *          untraced cost of tracing is one predictable branch;
 *   work   N/10 tsr_async jobs whose bodies do --work ns (default 5000) of
 *          arithmetic (calibrated at start): a small real task;
 * first with tracing off, then (with --trace FILE) again with tracing on
 * between tsr_trace_open(FILE) and tsr_trace_close (which writes FILE; the
 * write is not timed). Alternating off/on in every repetition puts both
 * under the same interference on a shared machine; the figures are the
 * best (lowest) ns per task over the repetitions.
 *
 * Built twice by perf/run trace: in the normal build and in one configured
 * with -Dtrace=false; the ratio of their "off" figures is the cost of the
 * compiled-in branch.
 *
 * Run with TSR_THREADS=1: the figures are the main thread's CPU time per
 * task (it is the only worker and runs every task), so other jobs on a
 * shared machine do not inflate them; wall times are in the JSON too.
 *
 * Output: a table, then one JSON line (last). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tessera.h"

#define MAX_REPS 101

static void die_tsr(const char *what, int rc) {
    fprintf(stderr, "bench_trace: %s failed: %s: %s\n", what, tsr_status_string(rc),
            tsr_error_message());
    exit(1);
}

static void empty_task(void *arg) { (void)arg; }

static int empty_job(void *arg, void **value_out) {
    (void)arg;
    *value_out = NULL;
    return TSR_OK;
}

/* A fixed amount of arithmetic (not a spin on the clock: preemption by
 * other jobs on a shared machine must not shorten or lengthen the work). */
static double spin(long iters) {
    volatile double x = 1.0;
    for (long k = 0; k < iters; k++) x = x * 1.0000001 + 1e-9;
    return x;
}

static int work_job(void *arg, void **value_out) {
    spin((long)(uintptr_t)arg);
    *value_out = NULL;
    return TSR_OK;
}

static double thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Iterations of spin() that take about ns of CPU. */
static long calibrate(uint64_t ns) {
    long iters = 1000000;
    double best = 1e300;
    for (int r = 0; r < 5; r++) {
        double c0 = thread_cpu_ns();
        spin(iters);
        double d = thread_cpu_ns() - c0;
        if (d < best) best = d;
    }
    long k = (long)((double)ns * (double)iters / best);
    return k > 0 ? k : 1;
}

/* Main thread CPU ns per task (with one worker, the main thread is the
 * only worker and runs every task during the drain: its CPU time is the
 * work, not what other jobs on the machine took from it), and wall ns in
 * *wall. Jobs' futures are released at once (the job holds its own
 * reference), so memory stays flat. */
static double time_kind(int kind, long n, long work_iters, double *wall) {
    int rc;
    double t0 = tsr_time(), c0 = thread_cpu_ns();
    for (long i = 0; i < n; i++) {
        if (kind == 0) {
            rc = tsr_spawn(empty_task, NULL);
            if (rc != TSR_OK) die_tsr("tsr_spawn", rc);
        } else {
            tsr_future_t *f = NULL;
            rc = kind == 1 ? tsr_async(empty_job, NULL, 0, NULL, &f)
                           : tsr_async(work_job, (void *)(uintptr_t)work_iters, 0, NULL, &f);
            if (rc != TSR_OK) die_tsr("tsr_async", rc);
            tsr_future_release(&f);
        }
    }
    rc = tsr_sched_drain();
    if (rc != TSR_OK) die_tsr("tsr_sched_drain", rc);
    double c1 = thread_cpu_ns();
    if (wall) *wall = (tsr_time() - t0) * 1e9 / (double)n;
    return (c1 - c0) / (double)n;
}

static double best(const double *v, int n) {
    double b = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] < b) b = v[i];
    return b;
}

int main(int argc, char **argv) {
    long ntasks = 200000, nwork = 20000;
    int reps = 7;
    uint64_t work_ns = 5000;
    const char *trace = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tasks") && i + 1 < argc) {
            ntasks = atol(argv[++i]);
        } else if (!strcmp(argv[i], "--work-tasks") && i + 1 < argc) {
            nwork = atol(argv[++i]);
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--work") && i + 1 < argc) {
            work_ns = (uint64_t)atol(argv[++i]);
        } else if (!strcmp(argv[i], "--trace") && i + 1 < argc) {
            trace = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: bench_trace [--tasks N] [--work-tasks N] [--work NS] [--reps R] "
                    "[--trace FILE]\n"
                    "  --tasks N       empty tasks / jobs per repetition (default 200000)\n"
                    "  --work-tasks N  jobs of --work ns each per repetition (default 20000)\n"
                    "  --work NS       body of the work jobs in ns (default 5000)\n"
                    "  --reps R        repetitions (default 7); best reported\n"
                    "  --trace FILE    also time each kind with tracing on (FILE is written\n"
                    "                  and rewritten by every repetition)\n");
            return 2;
        }
    }
    if (ntasks < 1 || nwork < 1 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "bench_trace: bad --tasks/--work-tasks/--reps\n");
        return 2;
    }
    int rc = tsr_init(&argc, &argv);
    if (rc != TSR_OK) die_tsr("tsr_init", rc);
    if (tsr_num_workers() != 1) {
        fprintf(stderr, "bench_trace: run it with TSR_THREADS=1 (%d workers): the figures are "
                        "the main thread's CPU time, which is all the work only with one\n",
                tsr_num_workers());
        return 2;
    }
    const long count[3] = {ntasks, ntasks, nwork};
    const long work_iters = calibrate(work_ns);
    static double off[3][MAX_REPS], on[3][MAX_REPS], offw[3][MAX_REPS], onw[3][MAX_REPS];
    time_kind(1, ntasks / 10 + 1, 0, NULL); /* warm the pools */
    for (int r = 0; r < reps; r++) {
        time_kind(0, ntasks / 10 + 1, 0, NULL);
        for (int k = 0; k < 3; k++) off[k][r] = time_kind(k, count[k], work_iters, &offw[k][r]);
        if (trace == NULL) continue;
        rc = tsr_trace_open(trace);
        if (rc != TSR_OK) die_tsr("tsr_trace_open", rc);
        time_kind(0, ntasks / 10 + 1, 0, NULL); /* wake the workers after open's collectives */
        for (int k = 0; k < 3; k++) on[k][r] = time_kind(k, count[k], work_iters, &onw[k][r]);
        rc = tsr_trace_close();
        if (rc != TSR_OK) die_tsr("tsr_trace_close", rc);
    }
    static const char *const name[3] = {"spawn", "async", "work"};
    double b_off[3], b_on[3];
    printf("CPU ns per task, best of %d (1 worker; work jobs: %ld iterations, ~%llu ns)\n", reps,
           work_iters, (unsigned long long)work_ns);
    printf("  %-8s %12s %12s %8s\n", "kind", "trace off", "trace on", "on/off");
    for (int k = 0; k < 3; k++) {
        b_off[k] = best(off[k], reps);
        b_on[k] = trace ? best(on[k], reps) : 0.0;
        if (trace)
            printf("  %-8s %12.1f %12.1f %8.3f\n", name[k], b_off[k], b_on[k], b_on[k] / b_off[k]);
        else
            printf("  %-8s %12.1f %12s %8s\n", name[k], b_off[k], "-", "-");
    }
    printf("{\"bench\":\"trace_tasks\",\"workers\":%d,\"reps\":%d,\"work_ns\":%llu",
           tsr_num_workers(), reps, (unsigned long long)work_ns);
    for (int k = 0; k < 3; k++) {
        printf(",\"%s_off_ns\":%.2f,\"%s_off_wall_ns\":%.2f", name[k], b_off[k], name[k],
               best(offw[k], reps));
        if (trace)
            printf(",\"%s_on_ns\":%.2f,\"%s_on_wall_ns\":%.2f", name[k], b_on[k], name[k],
                   best(onw[k], reps));
    }
    printf("}\n");
    rc = tsr_finalize();
    if (rc != TSR_OK) die_tsr("tsr_finalize", rc);
    return 0;
}
