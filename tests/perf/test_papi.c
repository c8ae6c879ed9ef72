/* PAPI layer (src/perf/papi.c), run by check_papi.py under MPI:
 *
 *   test_papi basic   init (twice: idempotent), reads from every worker in
 *                     tasks, fini, a second session, fini. Rank 0 prints
 *                     "nevents=N" and "note=..." on stdout; the script
 *                     counts the "PAPI:" lines on stderr (one per job when
 *                     there are no counters, whatever the ranks/threads).
 *   test_papi bad     TSR_PAPI_EVENTS with unknown names and malformed
 *                     lists: TSR_ERR_INVALID naming the unknown events (and
 *                     not the known ones); "none" turns counters off with no
 *                     note. Errors hold on every rank alike. */
#include <mpi.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "perf/papi.h"

static atomic_long reads_done;
static atomic_llong delta0; /* event 0's counts over the busy loops, this session */

/* Reads counters around a small busy loop; with counters on, the second
 * read of the thread is >= the first (running counts only grow). */
static int reader(void *arg, void **value_out) {
    (void)arg;
    long long a[TSR__PAPI_MAX_EVENTS], b[TSR__PAPI_MAX_EVENTS];
    int n = tsr__papi_nevents();
    /* A thread's first read starts its counters and gives 0s: skip it. */
    static _Thread_local unsigned long long my_calls;
    int me_started = my_calls++ > 0;
    for (int i = 0; i < TSR__PAPI_MAX_EVENTS; i++) a[i] = b[i] = -7;
    tsr__papi_read(a);
    volatile double x = 0;
    for (int k = 0; k < 20000; k++) x += (double)k;
    (void)x;
    tsr__papi_read(b);
    if (n > 0 && me_started) atomic_fetch_add(&delta0, b[0] - a[0]);
    for (int i = 0; i < n; i++)
        if (b[i] < a[i]) tsr_abort("counter %s went back: %lld -> %lld", tsr__papi_event_name(i),
                                   a[i], b[i]);
    /* nothing written past nevents (and nothing at all when 0) */
    for (int i = n; i < TSR__PAPI_MAX_EVENTS; i++)
        if (a[i] != -7 || b[i] != -7) tsr_abort("tsr__papi_read wrote past nevents=%d", n);
    atomic_fetch_add(&reads_done, 1);
    *value_out = NULL;
    return TSR_OK;
}

static void run_readers(int ntasks) {
    tsr_future_t *f[64];
    for (int i = 0; i < ntasks; i++) ASSERT_OK(tsr_async(reader, NULL, 0, NULL, &f[i]));
    for (int i = 0; i < ntasks; i++) {
        ASSERT_OK(tsr_wait(f[i], NULL));
        tsr_future_release(&f[i]);
    }
}

static void session(int first) {
    ASSERT_OK(tsr__papi_init());
    ASSERT_OK(tsr__papi_init()); /* again while on: no-op */
    int n = tsr__papi_nevents();
    ASSERT_TRUE(n >= 0 && n <= TSR__PAPI_MAX_EVENTS);
    const char *env = getenv("TSR_PAPI_EVENTS");
    int none = env != NULL && strcmp(env, "none") == 0;
    if (n == 0 && !none) ASSERT_TRUE(tsr__papi_note() != NULL);
    if (n > 0 || none) ASSERT_TRUE(tsr__papi_note() == NULL);
    for (int i = 0; i < n; i++) ASSERT_TRUE(tsr__papi_event_name(i) != NULL);
    ASSERT_TRUE(tsr__papi_event_name(n) == NULL);
    ASSERT_TRUE(tsr__papi_event_name(-1) == NULL);
    if (first && tsr_rank() == 0) {
        printf("nevents=%d\n", n);
        for (int i = 0; i < n; i++) printf("event=%s\n", tsr__papi_event_name(i));
        printf("note=%s\n", tsr__papi_note() ? tsr__papi_note() : "");
        fflush(stdout);
    }
    long long v[TSR__PAPI_MAX_EVENTS];
    tsr__papi_read(v); /* main thread too */
    run_readers(4 * (int)tsr_num_workers() > 64 ? 64 : 4 * (int)tsr_num_workers());
    long long d0 = atomic_exchange(&delta0, 0), sum = 0;
    MPI_Allreduce(&d0, &sum, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    if (tsr_rank() == 0) printf("delta0=%lld\n", sum);
    tsr__papi_fini();
    ASSERT_EQ(tsr__papi_nevents(), 0);
    ASSERT_TRUE(tsr__papi_event_name(0) == NULL);
    tsr__papi_read(v); /* after fini: harmless */
}

static void expect_invalid(const char *events, const char *want1, const char *want2,
                           const char *absent) {
    setenv("TSR_PAPI_EVENTS", events, 1);
    ASSERT_STATUS(tsr__papi_init(), TSR_ERR_INVALID);
    const char *m = tsr_error_message();
    ASSERT_CONTAINS(m, "TSR_PAPI_EVENTS");
    if (want1) ASSERT_CONTAINS(m, want1);
    if (want2) ASSERT_CONTAINS(m, want2);
    if (absent) { /* the list of offenders: up to the hint in parentheses */
        const char *hint = strchr(m, '(');
        const char *hit = strstr(m, absent);
        if (hit != NULL && (hint == NULL || hit < hint)) TEST_FAIL("'%s' names '%s'", m, absent);
    }
    ASSERT_EQ(tsr__papi_nevents(), 0);
    if (tsr_rank() == 0) printf("error=%s\n", m);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "basic";
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    if (strcmp(mode, "basic") == 0) {
        session(1);
        session(0);
        ASSERT_TRUE(atomic_load(&reads_done) > 0);
    } else if (strcmp(mode, "bad") == 0) {
        expect_invalid("NOT_AN_EVENT", "unknown PAPI event NOT_AN_EVENT", NULL, NULL);
        expect_invalid("PAPI_TOT_CYC, NOT_AN_EVENT,ALSO_BOGUS", "NOT_AN_EVENT", "ALSO_BOGUS",
                       "PAPI_TOT_CYC");
        expect_invalid("PAPI_TOT_CYC,PAPI_TOT_CYC", "PAPI_TOT_CYC is named twice", NULL, NULL);
        expect_invalid("A,B,C,D,E,F,G,H,I", "more than", NULL, NULL);
        /* a good list after bad ones still works */
        setenv("TSR_PAPI_EVENTS", "none", 1);
        ASSERT_OK(tsr__papi_init());
        ASSERT_EQ(tsr__papi_nevents(), 0);
        ASSERT_TRUE(tsr__papi_note() == NULL);
        tsr__papi_fini();
        unsetenv("TSR_PAPI_EVENTS");
        ASSERT_OK(tsr__papi_init());
        tsr__papi_fini();
    } else {
        TEST_FAIL("unknown mode %s", mode);
    }
    ASSERT_OK(tsr_finalize());
    return 0;
}
