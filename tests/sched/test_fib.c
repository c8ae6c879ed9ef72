/* fib(30) by tasks, two ways, against a loop: (a) each task makes two
 * tsr_async children and tsr_waits for them (a waiting worker runs other
 * tasks: help-first); (b) the main thread builds the whole call graph as
 * futures whose sums depend on their two children. The serial cutoff is
 * small so tens of thousands of tasks are made. argv[1]: worker count. */
#include <stdatomic.h>

#include "harness.h"

#define FIB_N 30
#define CUTOFF 10

static _Atomic int64_t tasks;

static long fib_serial(long n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

static long fib_loop(long n) {
    long a = 0, b = 1;
    for (long i = 0; i < n; i++) {
        long t = a + b;
        a = b;
        b = t;
    }
    return a;
}

/* (a) */
static int fib_wait(void *arg, void **out) {
    long n = (long)(intptr_t)arg;
    atomic_fetch_add_explicit(&tasks, 1, memory_order_relaxed);
    if (n < CUTOFF) {
        *out = (void *)(intptr_t)fib_serial(n);
        return TSR_OK;
    }
    tsr_future_t *a = NULL, *b = NULL;
    void *va = NULL, *vb = NULL;
    int rc = tsr_async(fib_wait, (void *)(intptr_t)(n - 1), 0, NULL, &a);
    if (rc == TSR_OK) rc = tsr_async(fib_wait, (void *)(intptr_t)(n - 2), 0, NULL, &b);
    if (rc == TSR_OK) rc = tsr_wait(b, &vb);
    if (rc == TSR_OK) rc = tsr_wait(a, &va);
    tsr_future_release(&a);
    tsr_future_release(&b);
    *out = (void *)((intptr_t)va + (intptr_t)vb);
    return rc;
}

/* (b) */
typedef struct {
    tsr_future_t *a, *b;
} pair;

static int leaf(void *arg, void **out) {
    atomic_fetch_add_explicit(&tasks, 1, memory_order_relaxed);
    *out = (void *)(intptr_t)fib_serial((long)(intptr_t)arg);
    return TSR_OK;
}

static int sum(void *arg, void **out) {
    pair *p = arg;
    void *va = NULL, *vb = NULL;
    atomic_fetch_add_explicit(&tasks, 1, memory_order_relaxed);
    /* Both inputs are ready: these waits return at once. */
    if (!tsr_future_ready(p->a) || !tsr_future_ready(p->b))
        return tsr_error(TSR_ERR_RUNTIME, "sum ran before its inputs were ready");
    int rc = tsr_wait(p->a, &va);
    if (rc == TSR_OK) rc = tsr_wait(p->b, &vb);
    tsr_future_release(&p->a);
    tsr_future_release(&p->b);
    free(p);
    *out = (void *)((intptr_t)va + (intptr_t)vb);
    return rc;
}

static tsr_future_t *fib_graph(long n) {
    tsr_future_t *f = NULL;
    if (n < CUTOFF) {
        ASSERT_OK(tsr_async(leaf, (void *)(intptr_t)n, 0, NULL, &f));
        return f;
    }
    pair *p = malloc(sizeof *p);
    ASSERT_TRUE(p != NULL);
    p->a = fib_graph(n - 1);
    p->b = fib_graph(n - 2);
    tsr_future_t *deps[2] = {p->a, p->b};
    ASSERT_OK(tsr_async(sum, p, 2, deps, &f));
    return f;
}

int main(int argc, char **argv) {
    int nthreads = argc > 1 ? atoi(argv[1]) : 2;
    long want = fib_loop(FIB_N);
    ASSERT_EQ(want, 832040);
    ASSERT_OK(tsr_sched_init(nthreads, 0));

    tsr_future_t *f = NULL;
    void *v = NULL;
    ASSERT_OK(tsr_async(fib_wait, (void *)(intptr_t)FIB_N, 0, NULL, &f));
    ASSERT_OK(tsr_wait(f, &v));
    ASSERT_EQ((intptr_t)v, want);
    tsr_future_release(&f);
    ASSERT_TRUE(f == NULL);
    int64_t ta = atomic_exchange(&tasks, 0);
    ASSERT_TRUE(ta > 10000);

    f = fib_graph(FIB_N);
    ASSERT_OK(tsr_wait(f, &v));
    ASSERT_EQ((intptr_t)v, want);
    tsr_future_release(&f);
    int64_t tb = atomic_load(&tasks);
    ASSERT_EQ(tb, ta); /* same call tree */

    ASSERT_OK(tsr_sched_drain());
    ASSERT_EQ(tsr_sched_pending(), 0);
    ASSERT_OK(tsr_sched_fini());
    printf("ok: fib(%d) = %ld with %lld tasks, %d threads\n", FIB_N, want, (long long)ta, nthreads);
    return 0;
}
