/* tessera demo-tasks (or `tessera demo --tasks ...`): a distributed
 * Monte-Carlo estimate of pi that exercises the runtime below the arrays
 * (tasks, futures, active messages, fence) and checks its own answer.
 *
 *   every rank     N leaf tasks (tsr_async), each counting hits of S random
 *                  points in the unit quarter-disc
 *                  M chunk continuations (tsr_when_all + tsr_then): when a chunk's
 *                  leaves are done, its partial sum goes by active message to
 *                  EVERY rank (all-to-all, self included), so sending overlaps
 *                  the remaining leaves
 *   tsr_fence      all tasks and messages done everywhere
 *   every rank     sums what it received, checks the message count and that its
 *                  own partials came back intact, sends a verdict to rank 0
 *   rank 0         recomputes every point serially and compares: hits are
 *                  integers from a counter-based RNG seeded by the global task
 *                  index, so the answer is exact and independent of ranks,
 *                  threads and message order. Prints OK or MISMATCH.
 *
 * Exit status: 0 OK, 1 mismatch or runtime error (any rank), 2 bad usage.
 * --corrupt makes the last rank add one hit to its first task before sending,
 * which must turn the run into a MISMATCH with exit 1 (a test of the test). */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "tessera.h"

/* One partial result, sent as the message's bytes. */
typedef struct demo_partial {
    int32_t src, chunk;
    int64_t first_task, ntasks;
    uint64_t hits;
} demo_partial;

/* One rank's conclusion, sent to rank 0 after the fence. */
typedef struct demo_verdict {
    int32_t src, ok;
    uint64_t global_hits, msgs;
} demo_verdict;

static struct {
    long ntasks, nmsgs, samples;
    uint64_t seed;
    int corrupt;
    int rank, nranks;
    int id_partial, id_verdict;
    uint64_t *hits;            /* per local task, written by its leaf */
    atomic_uint_fast64_t *recv_hits, *recv_tasks; /* per source rank */
    atomic_uint_fast64_t recv_msgs;
    demo_verdict *verdicts;    /* rank 0: one per rank */
    atomic_int nverdicts;
} D;

/* splitmix64: a counter-based generator, so a task's points depend only on
 * (seed, global task index) and the serial check sees the same points. */
static inline uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t count_hits(uint64_t global_task) {
    uint64_t s = D.seed ^ (global_task * 0xd1b54a32d192ed03ULL), hits = 0;
    for (long i = 0; i < D.samples; i++) {
        double x = (double)(splitmix64(&s) >> 11) * 0x1.0p-53;
        double y = (double)(splitmix64(&s) >> 11) * 0x1.0p-53;
        hits += x * x + y * y <= 1.0;
    }
    return hits;
}

/* Leaf task, on any worker: arg points at this task's slot in D.hits. */
static int leaf(void *arg, void **value_out) {
    uint64_t *slot = arg;
    *slot = count_hits((uint64_t)D.rank * (uint64_t)D.ntasks + (uint64_t)(slot - D.hits));
    *value_out = NULL;
    return TSR_OK;
}

static void chunk_range(long c, long *lo, long *hi) {
    *lo = c * D.ntasks / D.nmsgs;
    *hi = (c + 1) * D.ntasks / D.nmsgs;
}

/* Chunk continuation, on a worker once the chunk's leaves are done: sum and
 * send to every rank, starting with the next one so that ranks do not all
 * hit rank 0 first. */
static int send_chunk(void *value, void *arg, void **value_out) {
    (void)value;
    long c = (long)(intptr_t)arg, lo, hi;
    chunk_range(c, &lo, &hi);
    demo_partial p = {.src = D.rank, .chunk = (int32_t)c, .first_task = lo, .ntasks = hi - lo};
    if (D.corrupt && D.rank == D.nranks - 1 && c == 0) D.hits[0] += 1;
    for (long i = lo; i < hi; i++) p.hits += D.hits[i];
    for (int k = 1; k <= D.nranks; k++) {
        int rc = tsr_am_send((D.rank + k) % D.nranks, D.id_partial, &p, sizeof p);
        if (rc != TSR_OK) return rc;
    }
    *value_out = NULL;
    return TSR_OK;
}

/* The bytes of a message sent with tsr_am_send, wherever the engine put them. */
static const void *message_bytes(const void *hdr, size_t hdrlen, const void *payload, size_t len,
                                 size_t want) {
    if (len == want && payload) return payload;
    if (hdrlen == want && hdr) return hdr;
    return NULL;
}

/* Handler, on a worker of the receiving rank. */
static void on_partial(int src, const void *hdr, size_t hdrlen, void *payload, size_t len,
                       void *arg) {
    (void)arg;
    demo_partial p;
    const void *b = message_bytes(hdr, hdrlen, payload, len, sizeof p);
    if (!b) tsr_abort("demo-tasks: partial from rank %d has %zu+%zu bytes, expected %zu", src, hdrlen,
                      len, sizeof p);
    memcpy(&p, b, sizeof p);
    if (p.src != src) tsr_abort("demo-tasks: partial says it is from rank %d, arrived from %d", p.src, src);
    atomic_fetch_add(&D.recv_hits[src], p.hits);
    atomic_fetch_add(&D.recv_tasks[src], (uint64_t)p.ntasks);
    atomic_fetch_add(&D.recv_msgs, 1);
}

static void on_verdict(int src, const void *hdr, size_t hdrlen, void *payload, size_t len,
                       void *arg) {
    (void)arg;
    demo_verdict v;
    const void *b = message_bytes(hdr, hdrlen, payload, len, sizeof v);
    if (!b || src < 0 || src >= D.nranks) tsr_abort("demo-tasks: bad verdict from rank %d", src);
    memcpy(&v, b, sizeof v);
    D.verdicts[src] = v;
    atomic_fetch_add(&D.nverdicts, 1);
}

static void check(int rc, const char *what) {
    if (rc != TSR_OK) tsr_abort("demo-tasks: %s failed: %s: %s", what, tsr_status_string(rc),
                                tsr_error_message());
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: [mpirun -np P] tessera demo-tasks [--tasks N] [--msgs M] [--samples S]\n"
            "                                         [--seed X] [--corrupt]\n"
            "  Monte-Carlo pi: N tasks per rank of S points each; each rank sends its partial\n"
            "  sums in M messages to every rank; rank 0 checks the total against a serial\n"
            "  recomputation and prints OK (exit 0) or MISMATCH (exit 1).\n"
            "  --tasks N     tasks per rank (default 512)\n"
            "  --msgs M      messages per rank to each rank, 1 <= M <= N (default 16)\n"
            "  --samples S   points per task (default 10000)\n"
            "  --seed X      random seed (default 1)\n"
            "  --corrupt     deliberately add a wrong hit on the last rank (must MISMATCH)\n");
}

/* Options are parsed before tsr_init, so --help and usage errors need no MPI. */
static int parse(int argc, char **argv) {
    D.ntasks = 512, D.nmsgs = 16, D.samples = 10000, D.seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--corrupt")) {
            D.corrupt = 1;
            continue;
        } else if (!strcmp(a, "--tasks")) {
            if (app_parse_long("demo-tasks", a, v, 1, 100000000, &D.ntasks)) return 2;
        } else if (!strcmp(a, "--msgs")) {
            if (app_parse_long("demo-tasks", a, v, 1, 1000000, &D.nmsgs)) return 2;
        } else if (!strcmp(a, "--samples")) {
            if (app_parse_long("demo-tasks", a, v, 1, 1000000000, &D.samples)) return 2;
        } else if (!strcmp(a, "--seed")) {
            if (app_parse_long("demo-tasks", a, v, 0, 2147483647, &x)) return 2;
            D.seed = (uint64_t)x;
        } else {
            fprintf(stderr, "tessera demo-tasks: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (D.nmsgs > D.ntasks) {
        fprintf(stderr, "tessera demo-tasks: --msgs %ld is more than --tasks %ld (a message carries "
                        "at least one task's result)\n", D.nmsgs, D.ntasks);
        return 2;
    }
    return -1; /* go on */
}

/* Build the task graph, wait for it, fence. Returns the elapsed seconds. */
static double distributed_run(void) {
    long n = D.ntasks, m = D.nmsgs;
    tsr_future_t **leaves = calloc((size_t)n, sizeof *leaves);
    tsr_future_t **chunks = calloc((size_t)m, sizeof *chunks);
    if (!leaves || !chunks) tsr_abort("demo-tasks: out of memory for %ld futures", n + m);
    double t0 = tsr_time();
    for (long i = 0; i < n; i++) check(tsr_async(leaf, &D.hits[i], 0, NULL, &leaves[i]), "tsr_async");
    for (long c = 0; c < m; c++) {
        long lo, hi;
        chunk_range(c, &lo, &hi);
        tsr_future_t *all = NULL;
        check(tsr_when_all((int)(hi - lo), leaves + lo, &all), "tsr_when_all");
        check(tsr_then(all, send_chunk, (void *)(intptr_t)c, &chunks[c]), "tsr_then");
        tsr_future_release(&all);
    }
    for (long i = 0; i < n; i++) tsr_future_release(&leaves[i]);
    tsr_future_t *sent = NULL;
    check(tsr_when_all((int)m, chunks, &sent), "tsr_when_all");
    check(tsr_wait(sent, NULL), "waiting for the chunks");
    tsr_future_release(&sent);
    for (long c = 0; c < m; c++) tsr_future_release(&chunks[c]);
    check(tsr_fence(), "tsr_fence");
    double t = tsr_time() - t0;
    free(leaves);
    free(chunks);
    return t;
}

/* Rank 0's report. Returns 1 if every check passed. */
static int report(double elapsed) {
    long p = D.nranks;
    uint64_t total_tasks = (uint64_t)p * (uint64_t)D.ntasks;
    double t0 = tsr_time();
    uint64_t serial = 0;
    for (uint64_t g = 0; g < total_tasks; g++) serial += count_hits(g);
    double serial_s = tsr_time() - t0;

    double samples = (double)total_tasks * (double)D.samples;
    double pi = 4.0 * (double)D.verdicts[0].global_hits / samples;
    printf("tessera demo-tasks: Monte-Carlo pi on %ld rank%s x %d worker%s: %ld tasks/rank x %ld "
           "samples, %ld messages/rank to each rank\n",
           p, p > 1 ? "s" : "", tsr_num_workers(), tsr_num_workers() > 1 ? "s" : "", D.ntasks,
           D.samples, D.nmsgs);
    printf("  pi ~ %.8f  (|error| %.2e; %llu hits of %.0f points)\n", pi,
           pi > 3.14159265358979 ? pi - 3.14159265358979 : 3.14159265358979 - pi,
           (unsigned long long)D.verdicts[0].global_hits, samples);
    printf("  distributed: %.4f s  (%.1f M points/s, %.0f tasks/s, %ld messages)\n", elapsed,
           samples / elapsed / 1e6, (double)total_tasks / elapsed, D.nmsgs * p * p);
    printf("  serial check on rank 0: %.4f s (speedup %.2fx), %llu hits\n", serial_s,
           serial_s / elapsed, (unsigned long long)serial);
    int ok = 1;
    for (int r = 0; r < p; r++) {
        const demo_verdict *v = &D.verdicts[r];
        if (!v->ok || v->global_hits != serial) {
            printf("  rank %d: %s, total hits %llu, %llu messages received\n", r,
                   v->ok ? "its own checks passed" : "ITS OWN CHECKS FAILED",
                   (unsigned long long)v->global_hits, (unsigned long long)v->msgs);
            ok = 0;
        }
    }
    if (ok)
        printf("OK\n");
    else
        printf("MISMATCH: distributed total differs from the serial one (or a rank's own checks "
               "failed)\n");
    fflush(stdout);
    return ok;
}

int cmd_demo_tasks(int argc, char **argv) {
    int rc = parse(argc, argv);
    if (rc >= 0) return rc;
    check(tsr_init(NULL, NULL), "tsr_init");
    D.rank = tsr_rank(), D.nranks = tsr_nranks();
    /* Everything a handler touches exists before the handler is registered. */
    D.hits = calloc((size_t)D.ntasks, sizeof *D.hits);
    D.recv_hits = calloc((size_t)D.nranks, sizeof *D.recv_hits);
    D.recv_tasks = calloc((size_t)D.nranks, sizeof *D.recv_tasks);
    D.verdicts = calloc((size_t)D.nranks, sizeof *D.verdicts);
    if (!D.hits || !D.recv_hits || !D.recv_tasks || !D.verdicts)
        tsr_abort("demo-tasks: out of memory for %ld tasks", D.ntasks);
    for (int r = 0; r < D.nranks; r++) atomic_init(&D.recv_hits[r], 0), atomic_init(&D.recv_tasks[r], 0);
    check(tsr_am_register(on_partial, NULL, NULL, &D.id_partial), "tsr_am_register");
    check(tsr_am_register(on_verdict, NULL, NULL, &D.id_verdict), "tsr_am_register");

    double elapsed = distributed_run();

    /* This rank's own checks: every rank's every chunk arrived, covering all
     * of its tasks, and this rank's partials came back equal to its hits. */
    uint64_t mine = 0, global = 0;
    for (long i = 0; i < D.ntasks; i++) mine += D.hits[i];
    int ok = atomic_load(&D.recv_msgs) == (uint64_t)(D.nmsgs * D.nranks);
    for (int r = 0; r < D.nranks; r++) {
        global += atomic_load(&D.recv_hits[r]);
        ok &= atomic_load(&D.recv_tasks[r]) == (uint64_t)D.ntasks;
    }
    ok &= atomic_load(&D.recv_hits[D.rank]) == mine;
    demo_verdict v = {.src = D.rank, .ok = ok, .global_hits = global,
                      .msgs = atomic_load(&D.recv_msgs)};
    check(tsr_am_send(0, D.id_verdict, &v, sizeof v), "tsr_am_send(verdict)");
    check(tsr_fence(), "tsr_fence");

    int exit_code = ok ? 0 : 1;
    if (D.rank == 0) {
        if (atomic_load(&D.nverdicts) != D.nranks)
            tsr_abort("demo-tasks: %d verdicts after the fence, expected %d", atomic_load(&D.nverdicts),
                      D.nranks);
        exit_code = report(elapsed) ? 0 : 1;
    }
    check(tsr_finalize(), "tsr_finalize");
    free(D.hits);
    free(D.recv_hits);
    free(D.recv_tasks);
    free(D.verdicts);
    return exit_code;
}
