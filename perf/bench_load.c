/* Load benchmark and leak check (perf/load; tests/load runs a small one):
 *
 *   mpirun -np R bench_load [--tasks N] [--messages N] [--gib G] [--rounds K]
 *                           [--parts tasks,messages,arrays] [--tile T] [--leak-mib B]
 *
 * Defaults are issue 8's figures: 10^7 tasks, 10^6 active messages and
 * 16 GiB of distributed arrays, over all ranks. Each part runs --rounds
 * times (default 1); every round is checked against a serial computation
 * (bench_load_*.c say how) and a mismatch ends the job through tsr_abort
 * (message naming the rank, non-zero exit). Memory per rank: VmRSS before
 * and after each round (after freeing everything and malloc_trim) and the
 * round's peak (VmHWM, reset per round through /proc/self/clear_refs). With
 * --leak-mib B, a rank whose RSS after the last round exceeds its RSS after
 * the first round by more than B MiB fails the run (the same work twice
 * must not need more memory the second time). --plant PART makes that part
 * compute a wrong answer (off by one somewhere): a test that the checks
 * catch it.
 * Output on rank 0: a line per round, then one JSON line per part; the last
 * line is a JSON summary. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_load.h"

MPI_Comm load_comm;

double load_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void load_check(int rc, const char *what) {
    if (rc != TSR_OK)
        tsr_abort("bench_load: %s: %s: %s", what, tsr_status_string(rc), tsr_error_message());
}

/* A /proc/self/status field in MiB (-1 if absent). */
static double status_mib(const char *key) {
    char line[256];
    size_t k = strlen(key);
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, k) == 0 && line[k] == ':') {
            kb = strtol(line + k + 1, NULL, 10);
            break;
        }
    if (f) fclose(f);
    return kb < 0 ? -1 : (double)kb / 1024.0;
}

/* Start a new peak: writing 5 to clear_refs resets VmHWM to the current RSS. */
static void reset_peak(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static double settled_rss(void) {
    malloc_trim(0);
    return status_mib("VmRSS");
}

typedef void (*part_fn)(const load_opts *, load_round *);

typedef struct part {
    const char *name, *unit;
    part_fn fn;
} part;

/* Per-rank figures gathered on rank 0 into a JSON array. */
static void json_ranks(FILE *out, const char *key, double v, int last) {
    int nranks = tsr_nranks();
    double *all = malloc(sizeof(double) * (size_t)nranks);
    if (!all) tsr_abort("bench_load: out of memory");
    MPI_Gather(&v, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, 0, load_comm);
    if (tsr_rank() == 0) {
        fprintf(out, "\"%s\":[", key);
        for (int r = 0; r < nranks; r++) fprintf(out, "%s%.1f", r ? "," : "", all[r]);
        fprintf(out, "]%s", last ? "" : ",");
    }
    free(all);
}

int load_planted(const load_opts *o, const char *part) {
    return o->plant && strcmp(o->plant, part) == 0;
}

static int run_part(const part *p, const load_opts *o, double *max_growth) {
    int rank = tsr_rank();
    double before = settled_rss(), first_after = 0, after = 0, peak = 0, best = 0, worst = 0;
    load_round r = {0};
    for (int k = 0; k < o->rounds; k++) {
        reset_peak();
        p->fn(o, &r);
        double hwm = status_mib("VmHWM");
        after = settled_rss();
        if (k == 0) first_after = after;
        if (hwm > peak) peak = hwm;
        double t = r.seconds;
        MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, load_comm);
        if (k == 0 || t < best) best = t;
        if (t > worst) worst = t;
        double rss_max = after, hwm_max = hwm;
        MPI_Allreduce(MPI_IN_PLACE, &rss_max, 1, MPI_DOUBLE, MPI_MAX, load_comm);
        MPI_Allreduce(MPI_IN_PLACE, &hwm_max, 1, MPI_DOUBLE, MPI_MAX, load_comm);
        if (rank == 0) {
            printf("%-9s round %d: %lld %s in %.3f s (%.3g/s); RSS after %.1f MiB, peak %.1f MiB "
                   "(largest rank)\n",
                   p->name, k + 1, (long long)r.count, p->unit, t, (double)r.count / t, rss_max,
                   hwm_max);
            fflush(stdout);
        }
    }
    double growth = after - first_after;
    if (growth > *max_growth) *max_growth = growth;
    int leak = o->leak_mib > 0 && o->rounds > 1 && growth > o->leak_mib, any_leak = 0;
    if (leak)
        fprintf(stderr, "[rank %d] bench_load %s: RSS after round %d is %.1f MiB, after round 1 "
                        "%.1f MiB: grew %.1f MiB, more than --leak-mib %.1f\n",
                rank, p->name, o->rounds, after, first_after, growth, o->leak_mib);
    MPI_Allreduce(&leak, &any_leak, 1, MPI_INT, MPI_MAX, load_comm);
    if (rank == 0)
        printf("{\"bench\":\"load\",\"part\":\"%s\",\"ranks\":%d,\"threads\":%d,\"rounds\":%d,"
               "\"%s\":%lld,\"seconds\":%.4f,\"worst_seconds\":%.4f,\"per_s\":%.1f,"
               "\"checksum\":%.17g,\"leak_ok\":%s,",
               p->name, tsr_nranks(), tsr_num_workers(), o->rounds, p->unit, (long long)r.count,
               best, worst, (double)r.count / best, r.checksum, any_leak ? "false" : "true");
    json_ranks(stdout, "rss_before_mib", before, 0);
    json_ranks(stdout, "rss_after_first_mib", first_after, 0);
    json_ranks(stdout, "rss_after_mib", after, 0);
    json_ranks(stdout, "peak_rss_mib", peak, 1);
    if (rank == 0) {
        printf("}\n");
        fflush(stdout);
    }
    return !any_leak;
}

static void usage(FILE *f) {
    fputs("usage: bench_load [--tasks N] [--messages N] [--gib G] [--rounds K] [--tile T]\n"
          "                  [--parts tasks,messages,arrays] [--leak-mib B]\n",
          f);
}

static int64_t parse_count(const char *s, const char *opt) {
    char *end;
    double v = strtod(s, &end); /* accepts 1e7 */
    if (*end || v < 0 || v > 9e18 || v != (double)(int64_t)v) {
        fprintf(stderr, "bench_load: %s '%s' is not a count\n", opt, s);
        exit(2);
    }
    return (int64_t)v;
}

int main(int argc, char **argv) {
    load_opts o = {.tasks = 10000000, .messages = 1000000, .gib = 16, .rounds = 1};
    const char *parts = "tasks,messages,arrays";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "bench_load: '%s' needs a value (or is unknown)\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--tasks")) o.tasks = parse_count(v, a);
        else if (!strcmp(a, "--messages")) o.messages = parse_count(v, a);
        else if (!strcmp(a, "--gib")) o.gib = atof(v);
        else if (!strcmp(a, "--rounds")) o.rounds = (int)parse_count(v, a);
        else if (!strcmp(a, "--tile")) o.tile = parse_count(v, a);
        else if (!strcmp(a, "--leak-mib")) o.leak_mib = atof(v);
        else if (!strcmp(a, "--parts")) parts = v;
        else if (!strcmp(a, "--plant")) o.plant = v;
        else {
            fprintf(stderr, "bench_load: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (o.rounds < 1) o.rounds = 1;
    if (tsr_init(&argc, &argv) != TSR_OK) {
        fprintf(stderr, "bench_load: tsr_init: %s\n", tsr_error_message());
        return 1;
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &load_comm);
    load_messages_setup();
    static const part all[] = {{"tasks", "tasks", load_tasks},
                               {"messages", "messages", load_messages},
                               {"arrays", "bytes", load_arrays}};
    int ok = 1, ran = 0;
    double growth = 0, t0 = load_now(), start_rss = settled_rss();
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!strstr(parts, all[i].name)) continue;
        ran++;
        ok &= run_part(&all[i], &o, &growth);
    }
    if (!ran) tsr_abort("bench_load: --parts '%s' names no part (tasks, messages, arrays)", parts);
    load_check(tsr_fence(), "tsr_fence");
    double end_rss = settled_rss(), hwm = status_mib("VmHWM");
    MPI_Allreduce(MPI_IN_PLACE, &growth, 1, MPI_DOUBLE, MPI_MAX, load_comm);
    if (tsr_rank() == 0)
        printf("{\"bench\":\"load\",\"part\":\"all\",\"ok\":%s,\"ranks\":%d,\"tasks\":%lld,"
               "\"messages\":%lld,\"gib\":%g,\"rounds\":%d,\"seconds\":%.3f,"
               "\"max_rss_growth_mib\":%.1f,",
               ok ? "true" : "false", tsr_nranks(), (long long)o.tasks, (long long)o.messages,
               o.gib, o.rounds, load_now() - t0, growth);
    json_ranks(stdout, "rss_start_mib", start_rss, 0);
    json_ranks(stdout, "rss_end_mib", end_rss, 0);
    json_ranks(stdout, "peak_rss_last_part_mib", hwm, 1);
    if (tsr_rank() == 0) printf("}\n");
    fflush(stdout);
    MPI_Comm_free(&load_comm);
    tsr_finalize();
    return ok ? 0 : 1;
}
