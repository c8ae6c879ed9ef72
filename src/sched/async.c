/* Tasks that wait on futures: tsr_async, tsr_then, tsr_when_all.
 *
 * Each call makes one job record holding the function, references to its
 * inputs and to its output future, and one continuation per input. The job's
 * count starts at n + 1: each input that becomes ready takes one off, and
 * the call itself takes the last one after registering everywhere, so the
 * job cannot start while it is still being registered. Whoever brings the
 * count to zero spawns the job as a task.
 *
 * Errors: when the job runs, the inputs are checked in index order and the
 * first failed one fails the output with its status and message; the
 * function is not called. Checking only when all inputs are ready makes the
 * reported failure deterministic (lowest index), not the first in time. */
#include <stdlib.h>

#include "perf/perf_internal.h"
#include "sched/future_private.h"
#include "sched/sched_private.h"

enum { JOB_ASYNC, JOB_THEN, JOB_WHEN_ALL };

typedef struct job job;

typedef struct dep {
    tsr__cont link; /* first: the continuation is the dep */
    job *job;
    tsr_future_t *f;
} dep;

struct job {
    _Atomic int remaining;
    int kind;
    int n;
    union {
        tsr_async_fn async;
        tsr_then_fn then;
    } fn;
    void *arg;
    tsr_future_t *out;
    /* The spawning thread's trace label and site (tsr_trace_label): copied
     * always, no branch; +16 bytes keeps jobs of 0..7 deps in the same pool
     * size class. */
    const char *label, *site;
    dep deps[];
};

static size_t job_size(int n) { return sizeof(job) + (size_t)n * sizeof(dep); }

static void job_exec(void *p) {
    job *j = p;
    int rc = TSR_OK;
    void *value = NULL;
    for (int i = 0; i < j->n; i++) {
        tsr_future_t *f = j->deps[i].f;
        if (f->status != TSR_OK) {
            tsr_future_fail(j->out, f->status, f->msg);
            goto done;
        }
    }
    /* A body that fails without a message must not report a stale one. */
    tsr_error_clear();
    switch (j->kind) {
    case JOB_ASYNC: rc = j->fn.async(j->arg, &value); break;
    case JOB_THEN: rc = j->fn.then(j->deps[0].f->value, j->arg, &value); break;
    default: break;
    }
    if (rc == TSR_OK) {
        tsr_future_set(j->out, value);
    } else {
        const char *msg = tsr_error_message();
        if (rc > 0) rc = TSR_ERR_RUNTIME; /* not a status: still a failure */
        if (msg[0] == '\0') msg = tsr_status_string(rc);
        tsr_future_fail(j->out, rc, msg);
    }
done:
    for (int i = 0; i < j->n; i++) tsr_future_release(&j->deps[i].f);
    tsr_future_release(&j->out);
    tsr__pool_free(j, job_size(j->n));
}

/* The task body of every job. Tracing costs the untraced path this one
 * predictable branch, here and not in the scheduler's run loop: a job
 * already spends tens of nanoseconds on its futures, while a bare
 * tsr_spawn task may be a few (measured with perf/run tasks: a branch in
 * the run loop added ~0.6 ns to an 11 ns empty task). */
/* Out of line and cold: its 4 KiB of dependency ids must not give every
 * untraced job_run a large frame (and a stack-protector check). */
__attribute__((noinline, cold)) static void job_run_traced(job *j) {
    static const char *const kind_name[] = {"async", "then", "when_all"};
    /* The job's id goes on its output before job_exec sets it, so a job
     * waiting on that future finds it (the future's release/acquire orders
     * it); the inputs are ready, so their producers' ids are in place. */
    uint32_t deps[TSR__TRACE_MAX_DEPS];
    int nd = 0;
    for (int i = 0; i < j->n && nd < TSR__TRACE_MAX_DEPS; i++)
        if (j->deps[i].f->trace_id != 0) deps[nd++] = j->deps[i].f->trace_id;
    uint32_t id = tsr__trace_next_id();
    j->out->trace_id = id;
    tsr__trace_task(job_exec, j, j->label ? j->label : kind_name[j->kind], j->site, id, deps, nd);
}

static void job_run(void *p) {
    job *j = p;
    if (tsr__trace_enabled()) {
        job_run_traced(j);
        return;
    }
    job_exec(j);
}

static void job_schedule(job *j) {
    /* Spawning fails only without memory or after tsr_sched_fini (an input
     * fulfilled late by another thread); running here keeps the promise
     * that the output is always completed. */
    if (!tsr__sched_running() || tsr_spawn(job_run, j) != TSR_OK) job_run(j);
}

static void job_dec(job *j) {
    if (atomic_fetch_sub_explicit(&j->remaining, 1, memory_order_acq_rel) == 1) job_schedule(j);
}

static void dep_ready(tsr__cont *c) { job_dec(((dep *)c)->job); }

/* Make a job and its output; nothing is registered yet. */
static int job_new(int kind, int n, tsr_future_t *const *deps, const char *who, job **jout,
                   tsr_future_t **fout) {
    int rc = TSR_OK;
    job *j = NULL;
    tsr_future_t *o = NULL;
    TSR_CHECK_MSG(fout != NULL, TSR_ERR_INVALID, "%s: out is NULL", who);
    TSR_CHECK_MSG(n >= 0, TSR_ERR_INVALID, "%s: n=%d < 0", who, n);
    TSR_CHECK_MSG(n == 0 || deps != NULL, TSR_ERR_INVALID, "%s: n=%d but the array is NULL",
                  who, n);
    for (int i = 0; i < n; i++)
        TSR_CHECK_MSG(deps[i] != NULL, TSR_ERR_INVALID, "%s: future %d of %d is NULL", who, i,
                      n);
    j = tsr__pool_alloc(job_size(n));
    TSR_CHECK_MSG(j != NULL, TSR_ERR_NOMEM, "%s: cannot allocate a job with %d inputs", who, n);
    TSR_CHECK(tsr_future_create(&o));
    tsr_future_retain(o); /* the job's reference; the caller gets the other */
    j->kind = kind;
    j->n = n;
    j->arg = NULL;
    j->out = o;
    j->label = tsr__trace_tls.label;
    j->site = tsr__trace_tls.site;
    for (int i = 0; i < n; i++) {
        tsr_future_retain(deps[i]);
        j->deps[i].link.next = NULL;
        j->deps[i].link.ready = dep_ready;
        j->deps[i].job = j;
        j->deps[i].f = deps[i];
    }
    *jout = j;
    *fout = o;
    return TSR_OK;
fail:
    tsr__pool_free(j, job_size(n > 0 ? n : 0));
    return rc;
}

/* Register on every input; the job may run (and be freed) before this
 * returns, so j must not be used afterwards. */
static void job_arm(job *j) {
    int n = j->n;
    atomic_init(&j->remaining, n + 1);
    for (int i = 0; i < n; i++)
        if (!tsr__future_on_ready(j->deps[i].f, &j->deps[i].link)) job_dec(j);
    job_dec(j);
}

int tsr_async(tsr_async_fn fn, void *arg, int n, tsr_future_t *const *deps,
              tsr_future_t **out) {
    int rc = TSR_OK;
    job *j = NULL;
    tsr_future_t *o = NULL;
    TSR_CHECK_MSG(fn != NULL, TSR_ERR_INVALID, "tsr_async: fn is NULL");
    TSR_CHECK_MSG(tsr__sched_running(), TSR_ERR_STATE,
                  "tsr_async: the scheduler is not running (tsr_init or tsr_sched_init first)");
    TSR_CHECK(job_new(JOB_ASYNC, n, deps, "tsr_async", &j, &o));
    j->fn.async = fn;
    j->arg = arg;
    job_arm(j);
    *out = o;
    return TSR_OK;
fail:
    return rc;
}

int tsr_then(tsr_future_t *f, tsr_then_fn fn, void *arg, tsr_future_t **out) {
    int rc = TSR_OK;
    job *j = NULL;
    tsr_future_t *o = NULL;
    TSR_CHECK_MSG(fn != NULL, TSR_ERR_INVALID, "tsr_then: fn is NULL");
    TSR_CHECK_MSG(f != NULL, TSR_ERR_INVALID, "tsr_then: future is NULL");
    TSR_CHECK_MSG(tsr__sched_running(), TSR_ERR_STATE,
                  "tsr_then: the scheduler is not running (tsr_init or tsr_sched_init first)");
    TSR_CHECK(job_new(JOB_THEN, 1, &f, "tsr_then", &j, &o));
    j->fn.then = fn;
    j->arg = arg;
    job_arm(j);
    *out = o;
    return TSR_OK;
fail:
    return rc;
}

int tsr_when_all(int n, tsr_future_t *const *fs, tsr_future_t **out) {
    int rc = TSR_OK;
    job *j = NULL;
    tsr_future_t *o = NULL;
    if (n == 0 && out != NULL) {
        TSR_CHECK(tsr_future_create(&o));
        tsr_future_set(o, NULL);
        *out = o;
        return TSR_OK;
    }
    /* No function to run, so no running scheduler is needed: without one
     * the completion runs on the thread that readies the last input. */
    TSR_CHECK(job_new(JOB_WHEN_ALL, n, fs, "tsr_when_all", &j, &o));
    job_arm(j);
    *out = o;
    return TSR_OK;
fail:
    return rc;
}
