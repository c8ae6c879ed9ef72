/* Cost of tracing on the task path (perf/run trace).
 *
 * One process (no MPI peers needed: run it as a single rank). Each
 * repetition times, in this order, on the same warm runtime:
 *   spawn  N bare tsr_spawn tasks (empty): what perf/run tasks measures; the
 *          scheduler's run loop has no tracing branch at all;
 *   async  N tsr_async jobs with empty bodies: the job path, where the
 *          untraced cost of tracing is one predictable branch;
 *   work   N tsr_async jobs whose bodies spin --work ns (default 5000): a
 *          small real task;
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
 * Output: a table, then one JSON line (last). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int work_job(void *arg, void **value_out) {
    uint64_t ns = (uint64_t)(uintptr_t)arg, t0 = tsr_time_ns();
    while (tsr_time_ns() - t0 < ns) {
    }
    *value_out = NULL;
    return TSR_OK;
}

/* ns per task for n tasks of one kind. Jobs' futures are released at once
 * (the job holds its own reference), so memory stays flat. */
static double time_kind(int kind, long n, uint64_t work_ns) {
    int rc;
    double t0 = tsr_time();
    for (long i = 0; i < n; i++) {
        if (kind == 0) {
            rc = tsr_spawn(empty_task, NULL);
            if (rc != TSR_OK) die_tsr("tsr_spawn", rc);
        } else {
            tsr_future_t *f = NULL;
            rc = kind == 1 ? tsr_async(empty_job, NULL, 0, NULL, &f)
                           : tsr_async(work_job, (void *)(uintptr_t)work_ns, 0, NULL, &f);
            if (rc != TSR_OK) die_tsr("tsr_async", rc);
            tsr_future_release(&f);
        }
    }
    rc = tsr_sched_drain();
    if (rc != TSR_OK) die_tsr("tsr_sched_drain", rc);
    return (tsr_time() - t0) * 1e9 / (double)n;
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
    const long count[3] = {ntasks, ntasks, nwork};
    static double off[3][MAX_REPS], on[3][MAX_REPS];
    time_kind(1, ntasks / 10 + 1, 0); /* warm the pools */
    for (int r = 0; r < reps; r++) {
        time_kind(0, ntasks / 10 + 1, 0);
        for (int k = 0; k < 3; k++) off[k][r] = time_kind(k, count[k], work_ns);
        if (trace == NULL) continue;
        rc = tsr_trace_open(trace);
        if (rc != TSR_OK) die_tsr("tsr_trace_open", rc);
        time_kind(0, ntasks / 10 + 1, 0); /* wake the workers after open's collectives */
        for (int k = 0; k < 3; k++) on[k][r] = time_kind(k, count[k], work_ns);
        rc = tsr_trace_close();
        if (rc != TSR_OK) die_tsr("tsr_trace_close", rc);
    }
    static const char *const name[3] = {"spawn", "async", "work"};
    double b_off[3], b_on[3];
    printf("ns per task, best of %d (%d workers; work jobs spin %llu ns)\n", reps,
           tsr_num_workers(), (unsigned long long)work_ns);
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
        printf(",\"%s_off_ns\":%.2f", name[k], b_off[k]);
        if (trace) printf(",\"%s_on_ns\":%.2f", name[k], b_on[k]);
    }
    printf("}\n");
    rc = tsr_finalize();
    if (rc != TSR_OK) die_tsr("tsr_finalize", rc);
    return 0;
}
