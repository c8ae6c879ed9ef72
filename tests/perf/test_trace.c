/* A program for check_trace.py: runs one scenario under MPI; the script
 * sets TSR_TRACE / TSR_TRACE_EVENTS and checks the file it leaves.
 *
 *   test_trace work N      N labelled async tasks (half make a child), N
 *                          unlabelled ones, N bare tsr_spawn tasks, spans,
 *                          messages to the next rank, a chain a -> b ->
 *                          when_all(a, b) with counts and a wait
 *   test_trace empty       tsr_init and tsr_finalize only
 *   test_trace off N       as work, and asserts that tracing is off
 *   test_trace open PATH N tracing started by tsr_trace_open(PATH) after
 *                          init, written by tsr_trace_close before finalize
 *   test_trace badpath     tsr_trace_open of an unwritable path fails with
 *                          TSR_ERR_IO on every rank and tracing stays off */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static atomic_long ran;
static atomic_long received;

static int child(void *arg, void **value_out) {
    (void)arg;
    atomic_fetch_add(&ran, 1);
    *value_out = NULL;
    return TSR_OK;
}

/* Bare tsr_spawn tasks: run, but are not traced. */
static void bare(void *arg) {
    (void)arg;
    atomic_fetch_add(&ran, 1);
}

static int work_async(void *arg, void **value_out) {
    volatile double x = 0;
    intptr_t i = (intptr_t)arg;
    for (int k = 0; k < 200; k++) x += (double)k * (double)i;
    (void)x;
    atomic_fetch_add(&ran, 1);
    /* Made inside a labelled job with no label set here: inherits the
     * job's label and site. Waited for by tsr_sched_drain. */
    if (i % 2) {
        tsr_future_t *f = NULL;
        if (tsr_async(child, NULL, 0, NULL, &f) != TSR_OK) tsr_abort("async in a task failed");
        tsr_future_release(&f);
    }
    *value_out = NULL;
    return TSR_OK;
}

static void on_msg(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    (void)src, (void)hdr, (void)hdrlen, (void)payload, (void)len, (void)arg;
    atomic_fetch_add(&received, 1);
}

/* A known dependency chain for the schema check: chain-a (counts 1000
 * flops, 64 bytes; spins ~2 ms so that main's wait is a real one) ->
 * chain-b (tsr_then) -> chain-c (tsr_when_all of a and b). */
static int chain_a(void *arg, void **value_out) {
    (void)arg;
    uint64_t t0 = tsr_time_ns();
    while (tsr_time_ns() - t0 < 2000000) {
    }
    tsr_trace_count(600, 40);
    tsr_trace_count(400, 24);
    *value_out = NULL;
    return TSR_OK;
}

static int chain_b(void *value, void *arg, void **value_out) {
    (void)value, (void)arg;
    tsr_trace_count(7, 0);
    *value_out = NULL;
    return TSR_OK;
}

static void run_chain(void) {
    tsr_future_t *a = NULL, *b = NULL, *c = NULL;
    const char *prev = tsr_trace_label("chain-a");
    ASSERT_OK(tsr_async(chain_a, NULL, 0, NULL, &a));
    tsr_trace_label("chain-b");
    ASSERT_OK(tsr_then(a, chain_b, NULL, &b));
    tsr_trace_label("chain-c");
    tsr_future_t *ab[2] = {a, b};
    ASSERT_OK(tsr_when_all(2, ab, &c));
    tsr_trace_label(prev);
    ASSERT_OK(tsr_wait(c, NULL));
    tsr_future_release(&a);
    tsr_future_release(&b);
    tsr_future_release(&c);
}

static void run_work(long n) {
    int id = -1;
    ASSERT_OK(tsr_am_register(on_msg, NULL, NULL, &id));
    tsr_trace_span_begin("test:setup");
    tsr_future_t **fs = calloc((size_t)n, sizeof *fs);
    ASSERT_TRUE(fs != NULL);
    {
        TSR_TRACE_SCOPE("test-label");
        const char *site = tsr_trace_intern("test_trace.c:1 work");
        ASSERT_TRUE(site != NULL);
        ASSERT_TRUE(site == tsr_trace_intern("test_trace.c:1 work"));
        const char *prev_site = tsr_trace_site(site);
        for (long i = 0; i < n; i++)
            ASSERT_OK(tsr_async(work_async, (void *)(intptr_t)i, 0, NULL, &fs[i]));
        tsr_trace_site(prev_site);
    }
    ASSERT_TRUE(tsr_trace_label(NULL) == NULL); /* the scope restored it */
    for (long i = 0; i < n; i++) {
        tsr_future_t *f = NULL;
        ASSERT_OK(tsr_async(child, NULL, 0, NULL, &f)); /* no label: "async" */
        tsr_future_release(&f);
        ASSERT_OK(tsr_spawn(bare, NULL));
    }
    tsr_trace_span_end("test:setup");
    uint64_t t0 = tsr_time_ns();
    for (long i = 0; i < n; i++) {
        ASSERT_OK(tsr_wait(fs[i], NULL));
        tsr_future_release(&fs[i]);
    }
    free(fs);
    tsr_trace_event("test:waited", "test", t0, tsr_time_ns());
    run_chain();
    tsr_trace_instant("test:mark", "test", -1, 0);
    char msg[100] = {0};
    int next = (tsr_rank() + 1) % tsr_nranks();
    ASSERT_OK(tsr_am_send(next, id, msg, sizeof msg));
    ASSERT_OK(tsr_fence());
    ASSERT_EQ(atomic_load(&received), 1);
    ASSERT_OK(tsr_sched_drain());
    ASSERT_EQ(atomic_load(&ran), n + n / 2 + 2 * n);
    /* The counts go nowhere outside a task (and must not crash). */
    tsr_trace_count(1, 1);
}

int main(int argc, char **argv) {
    ASSERT_TRUE(argc >= 2);
    const char *mode = argv[1];
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    if (strcmp(mode, "work") == 0) {
        ASSERT_TRUE(argc >= 3);
        ASSERT_EQ(tsr_trace_on(), 1);
        run_work(atol(argv[2]));
    } else if (strcmp(mode, "off") == 0) {
        ASSERT_TRUE(argc >= 3);
        ASSERT_EQ(tsr_trace_on(), 0);
        run_work(atol(argv[2]));
        tsr_trace_stats st;
        tsr_trace_stats_get(&st);
        ASSERT_EQ(st.events, 0);
    } else if (strcmp(mode, "empty") == 0) {
        ASSERT_EQ(tsr_trace_on(), 1);
    } else if (strcmp(mode, "open") == 0) {
        ASSERT_TRUE(argc >= 4);
        ASSERT_EQ(tsr_trace_on(), 0);
        ASSERT_OK(tsr_trace_open(argv[2]));
        ASSERT_EQ(tsr_trace_on(), 1);
        run_work(atol(argv[3]));
        tsr_trace_stats st;
        tsr_trace_stats_get(&st);
        ASSERT_TRUE(st.events > 0);
        ASSERT_OK(tsr_trace_close());
        ASSERT_EQ(tsr_trace_on(), 0);
        ASSERT_EQ(access(argv[2], R_OK), 0); /* written before finalize */
        ASSERT_OK(tsr_trace_close());         /* a second close does nothing */
    } else if (strcmp(mode, "badpath") == 0) {
        ASSERT_STATUS(tsr_trace_open("/nonexistent-tessera-dir/trace.json"), TSR_ERR_IO);
        ASSERT_TRUE(strstr(tsr_error_message(), "nonexistent-tessera-dir") != NULL);
        ASSERT_EQ(tsr_trace_on(), 0);
        ASSERT_STATUS(tsr_trace_open(""), TSR_ERR_INVALID);
    } else {
        TEST_FAIL("unknown mode %s", mode);
    }
    ASSERT_OK(tsr_finalize());
    return 0;
}
