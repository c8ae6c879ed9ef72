/* A job with known task times for check_prof_job.py (tessera prof checked
 * against it). Run with TSR_TRACE set. On every rank, five traced tasks,
 * each labelled with its kind and busy for a fixed wall time:
 *
 *        syn_a 20 ms
 *         /        \
 *   syn_b 30 ms   syn_c 10 ms      syn_e 25 ms (independent)
 *         \        /
 *        syn_d 15 ms  -- sends MSG_BYTES to the next rank (2+ ranks)
 *
 * so a rank's critical path is a -> b -> d = 65 ms (plus the message
 * handler's time on the next rank when the path follows the message). Each
 * task also counts flops = 1000 x its ms and bytes = 10 x its ms
 * (tsr_trace_count) and records the site "synthetic_job.c:K kind".
 * Usage: synthetic_job [SCALE] — SCALE multiplies every duration (default 1). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MSG_BYTES 1000

static atomic_long received;
static int msg_id = -1;
static double scale = 1.0;

typedef struct syn_task {
    const char *kind;
    int ms;
    int send; /* send a message to the next rank when done */
} syn_task;

static const syn_task tasks[] = {
    {"syn_a", 20, 0}, {"syn_b", 30, 0}, {"syn_c", 10, 0}, {"syn_d", 15, 1}, {"syn_e", 25, 0},
};

/* Busy for the task's wall time: the trace measures wall time, so a thread
 * that the OS deschedules still ends on time (its event says how long). */
static int run_task(void *arg, void **value_out) {
    const syn_task *t = arg;
    uint64_t t0 = tsr_time_ns();
    uint64_t ns = (uint64_t)(t->ms * scale * 1e6);
    volatile uint64_t spins = 0;
    while (tsr_time_ns() - t0 < ns) spins++;
    tsr_trace_count((uint64_t)t->ms * 1000, (uint64_t)t->ms * 10);
    if (t->send && tsr_nranks() > 1) {
        char buf[MSG_BYTES];
        memset(buf, 7, sizeof buf);
        int rc = tsr_am_send((tsr_rank() + 1) % tsr_nranks(), msg_id, buf, sizeof buf);
        if (rc != TSR_OK) return rc;
    }
    *value_out = NULL;
    return TSR_OK;
}

static void on_msg(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    (void)src, (void)hdr, (void)hdrlen, (void)payload, (void)arg;
    if (len == MSG_BYTES) atomic_fetch_add(&received, 1);
}

/* Spawn one task of the table with its label and site current. */
static tsr_future_t *spawn(int k, int n, tsr_future_t *const *deps) {
    char buf[64];
    snprintf(buf, sizeof buf, "synthetic_job.c:%d %s", k + 1, tasks[k].kind);
    const char *prev_label = tsr_trace_label(tasks[k].kind);
    const char *prev_site = tsr_trace_site(tsr_trace_intern(buf));
    tsr_future_t *f = NULL;
    ASSERT_OK(tsr_async(run_task, (void *)&tasks[k], n, deps, &f));
    tsr_trace_site(prev_site);
    tsr_trace_label(prev_label);
    return f;
}

int main(int argc, char **argv) {
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    if (argc > 1) scale = atof(argv[1]);
    ASSERT_TRUE(scale > 0);
    ASSERT_OK(tsr_am_register(on_msg, NULL, NULL, &msg_id));

    tsr_future_t *a = spawn(0, 0, NULL);
    tsr_future_t *b = spawn(1, 1, &a);
    tsr_future_t *c = spawn(2, 1, &a);
    tsr_future_t *bc[2] = {b, c};
    tsr_future_t *d = spawn(3, 2, bc);
    tsr_future_t *e = spawn(4, 0, NULL);
    ASSERT_OK(tsr_wait(d, NULL));
    ASSERT_OK(tsr_wait(e, NULL));
    ASSERT_OK(tsr_fence());
    ASSERT_EQ(atomic_load(&received), tsr_nranks() > 1 ? 1 : 0);
    tsr_future_release(&a);
    tsr_future_release(&b);
    tsr_future_release(&c);
    tsr_future_release(&d);
    tsr_future_release(&e);
    ASSERT_OK(tsr_finalize());
    return 0;
}
