/* Futures: error propagation (async -> then -> when_all, first failure by
 * index, functions downstream of a failure never called), set twice, waiting
 * on ready futures, owned values, and fulfilment/waiting across threads that
 * are not workers. argv[1]: worker count. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "harness.h"
#include "sched/sched_internal.h"

static _Atomic int downstream_calls;
static _Atomic int dtor_calls;

static void sleep_ms(int ms) {
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

static int fail_io(void *arg, void **out) {
    (void)out;
    return tsr_error(TSR_ERR_IO, "cannot read '%s'", (const char *)arg);
}

static int fail_silent(void *arg, void **out) {
    (void)arg;
    (void)out;
    tsr_error(TSR_ERR_SHAPE, "stale message from earlier");
    tsr_error_clear();
    return TSR_ERR_RUNTIME;
}

static int give(void *arg, void **out) {
    *out = arg;
    return TSR_OK;
}

static int add_one(void *value, void *arg, void **out) {
    (void)arg;
    atomic_fetch_add(&downstream_calls, 1);
    *out = (void *)((intptr_t)value + 1);
    return TSR_OK;
}

static int never(void *arg, void **out) {
    (void)arg;
    (void)out;
    atomic_fetch_add(&downstream_calls, 1);
    return TSR_OK;
}

static void count_dtor(void *p) {
    atomic_fetch_add(&dtor_calls, 1);
    free(p);
}

typedef struct {
    tsr_future_t *f;
    int delay_ms;
    int fail;
} setter_arg;

static void *setter(void *p) {
    setter_arg *a = p;
    sleep_ms(a->delay_ms);
    if (a->fail)
        tsr_future_fail(a->f, TSR_ERR_REMOTE, "rank 3 failed");
    else
        tsr_future_set(a->f, (void *)(intptr_t)77);
    return NULL;
}

typedef struct {
    tsr_future_t *f;
    int rc;
    void *value;
} waiter_arg;

static void *waiter(void *p) {
    waiter_arg *a = p;
    a->rc = tsr_wait(a->f, &a->value);
    return NULL;
}

/* A thread that is not a worker makes tasks and blocks on them, then sets
 * the promise p that worker 0 helps on meanwhile (with one worker, worker 0
 * is the only one who can run them). */
static void *outsider(void *p) {
    tsr_future_t *fs[8];
    intptr_t total = 0;
    for (intptr_t i = 0; i < 8; i++)
        if (tsr_async(give, (void *)(i + 1), 0, NULL, &fs[i]) != TSR_OK) {
            tsr_future_fail(p, TSR_ERR_RUNTIME, "outsider: a task failed");
            return (void *)-1;
        }
    for (int i = 0; i < 8; i++) {
        void *v = NULL;
        if (tsr_wait(fs[i], &v) != TSR_OK) {
            tsr_future_fail(p, TSR_ERR_RUNTIME, "outsider: a task failed");
            return (void *)-1;
        }
        total += (intptr_t)v;
        tsr_future_release(&fs[i]);
    }
    tsr_future_set(p, (void *)total);
    return (void *)total;
}

static _Atomic int hook_calls;
static int hook(void) {
    atomic_fetch_add(&hook_calls, 1);
    return 0;
}

int main(int argc, char **argv) {
    int nthreads = argc > 1 ? atoi(argv[1]) : 2;
    tsr_future_t *f = NULL, *g = NULL, *h = NULL;
    void *v = NULL;

    /* Without a scheduler: tasks cannot be made, promises still work. */
    ASSERT_STATUS(tsr_async(give, NULL, 0, NULL, &f), TSR_ERR_STATE);
    ASSERT_TRUE(f == NULL);
    ASSERT_OK(tsr_sched_init(nthreads, 0));

    /* 1. async fails -> then -> then -> when_all: message and status reach
     *    the end, no downstream function runs. */
    ASSERT_OK(tsr_async(fail_io, "data.npy", 0, NULL, &f));
    ASSERT_OK(tsr_then(f, add_one, NULL, &g));
    ASSERT_OK(tsr_then(g, add_one, NULL, &h));
    tsr_future_t *ok = NULL, *all = NULL;
    ASSERT_OK(tsr_async(give, (void *)5, 0, NULL, &ok));
    tsr_future_t *set1[2] = {ok, h};
    ASSERT_OK(tsr_when_all(2, set1, &all));
    tsr_error_clear();
    ASSERT_STATUS(tsr_wait(all, &v), TSR_ERR_IO);
    ASSERT_CONTAINS(tsr_error_message(), "cannot read 'data.npy'");
    ASSERT_TRUE(v == NULL);
    ASSERT_EQ(atomic_load(&downstream_calls), 0);
    ASSERT_EQ(tsr_future_status(h), TSR_ERR_IO);
    ASSERT_CONTAINS(tsr_future_message(h), "data.npy");
    /* Waiting again on a ready (failed) future gives the same answer. */
    tsr_error_clear();
    ASSERT_STATUS(tsr_wait(f, NULL), TSR_ERR_IO);
    ASSERT_CONTAINS(tsr_error_message(), "cannot read 'data.npy'");
    ASSERT_OK(tsr_wait(ok, &v));
    ASSERT_EQ((intptr_t)v, 5);
    ASSERT_EQ(tsr_future_status(ok), TSR_OK);
    ASSERT_TRUE(strcmp(tsr_future_message(ok), "") == 0);
    tsr_future_release(&f);
    tsr_future_release(&g);
    tsr_future_release(&h);
    tsr_future_release(&all);

    /* 2. tsr_async with a failed dep does not run fn; with good deps it does. */
    ASSERT_OK(tsr_async(fail_io, "x", 0, NULL, &f));
    tsr_future_t *d2[2] = {ok, f};
    ASSERT_OK(tsr_async(never, NULL, 2, d2, &g));
    ASSERT_STATUS(tsr_wait(g, NULL), TSR_ERR_IO);
    ASSERT_EQ(atomic_load(&downstream_calls), 0);
    tsr_future_release(&f);
    tsr_future_release(&g);
    ASSERT_OK(tsr_then(ok, add_one, NULL, &g));
    ASSERT_OK(tsr_wait(g, &v));
    ASSERT_EQ((intptr_t)v, 6);
    ASSERT_EQ(atomic_load(&downstream_calls), 1);
    tsr_future_release(&g);

    /* 3. when_all reports the first failure by index, not by time: p2 fails
     *    first, p1 later; p1's error wins. */
    tsr_future_t *p[3];
    for (int i = 0; i < 3; i++) ASSERT_OK(tsr_future_create(&p[i]));
    ASSERT_OK(tsr_when_all(3, p, &all));
    ASSERT_OK(tsr_async(never, NULL, 3, p, &h));
    ASSERT_OK(tsr_future_fail(p[2], TSR_ERR_SHAPE, "shape (3,4) vs (4,3)"));
    ASSERT_EQ(tsr_future_ready(all), 0);
    ASSERT_OK(tsr_future_set(p[0], (void *)1));
    ASSERT_OK(tsr_future_fail(p[1], TSR_ERR_NOMEM, "out of tiles"));
    ASSERT_STATUS(tsr_wait(all, NULL), TSR_ERR_NOMEM);
    ASSERT_CONTAINS(tsr_error_message(), "out of tiles");
    ASSERT_STATUS(tsr_wait(h, NULL), TSR_ERR_NOMEM);
    ASSERT_EQ(atomic_load(&downstream_calls), 1);
    /* 4. setting twice is a state error and changes nothing */
    ASSERT_STATUS(tsr_future_set(p[0], (void *)2), TSR_ERR_STATE);
    ASSERT_STATUS(tsr_future_fail(p[0], TSR_ERR_IO, "late"), TSR_ERR_STATE);
    ASSERT_STATUS(tsr_future_set(p[1], NULL), TSR_ERR_STATE);
    ASSERT_STATUS(tsr_future_fail(p[0], 3, "not an error"), TSR_ERR_INVALID);
    ASSERT_OK(tsr_wait(p[0], &v));
    ASSERT_EQ((intptr_t)v, 1);
    for (int i = 0; i < 3; i++) tsr_future_release(&p[i]);
    tsr_future_release(&all);
    tsr_future_release(&h);
    tsr_future_release(&ok);

    /* 5. a body failing without a message gets its status as the message */
    ASSERT_OK(tsr_async(fail_silent, NULL, 0, NULL, &f));
    ASSERT_STATUS(tsr_wait(f, NULL), TSR_ERR_RUNTIME);
    ASSERT_CONTAINS(tsr_error_message(), "TSR_ERR_RUNTIME");
    tsr_future_release(&f);

    /* 6. when_all of nothing is ready; NULL-safe release; bad arguments */
    ASSERT_OK(tsr_when_all(0, NULL, &all));
    ASSERT_EQ(tsr_future_ready(all), 1);
    ASSERT_OK(tsr_wait(all, &v));
    ASSERT_TRUE(v == NULL);
    tsr_future_release(&all);
    tsr_future_release(&all);
    tsr_future_release(NULL);
    ASSERT_STATUS(tsr_async(give, NULL, 1, NULL, &f), TSR_ERR_INVALID);
    tsr_future_t *nulls[1] = {NULL};
    ASSERT_STATUS(tsr_when_all(1, nulls, &f), TSR_ERR_INVALID);
    ASSERT_STATUS(tsr_wait(NULL, NULL), TSR_ERR_INVALID);

    /* 7. owned values are destroyed once, with the last reference */
    ASSERT_OK(tsr_future_create(&f));
    ASSERT_EQ(tsr_future_status(f), TSR_ERR_STATE); /* not ready */
    ASSERT_OK(tsr_then(f, add_one, NULL, &g));
    ASSERT_OK(tsr_future_set_owned(f, malloc(16), count_dtor));
    ASSERT_OK(tsr_wait(g, NULL));
    tsr_future_release(&g);
    tsr_future_release(&f);
    ASSERT_OK(tsr_sched_drain());
    ASSERT_EQ(atomic_load(&dtor_calls), 1);

    /* 8. worker 0 waits (helping, calling the idle hook) for a promise that
     *    a plain pthread fulfils later, then for one it fails. */
    tsr__sched_set_idle_hook(hook);
    for (int fail = 0; fail < 2; fail++) {
        setter_arg sa = {NULL, 20, fail};
        ASSERT_OK(tsr_future_create(&sa.f));
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, setter, &sa), 0);
        int rc = tsr_wait(sa.f, &v);
        ASSERT_EQ(pthread_join(th, NULL), 0);
        if (fail) {
            ASSERT_EQ(rc, TSR_ERR_REMOTE);
            ASSERT_CONTAINS(tsr_error_message(), "rank 3 failed");
        } else {
            ASSERT_EQ(rc, TSR_OK);
            ASSERT_EQ((intptr_t)v, 77);
        }
        tsr_future_release(&sa.f);
    }
    tsr__sched_set_idle_hook(NULL);
    ASSERT_TRUE(atomic_load(&hook_calls) > 0);

    /* 9. a plain pthread blocks in tsr_wait on a future a task fulfils */
    ASSERT_OK(tsr_future_create(&f));
    waiter_arg wa = {f, -100, NULL};
    pthread_t wt;
    ASSERT_EQ(pthread_create(&wt, NULL, waiter, &wa), 0);
    sleep_ms(10);
    ASSERT_OK(tsr_then(f, add_one, NULL, &g));
    ASSERT_OK(tsr_future_set(f, (void *)41));
    ASSERT_EQ(pthread_join(wt, NULL), 0);
    ASSERT_EQ(wa.rc, TSR_OK);
    ASSERT_EQ((intptr_t)wa.value, 41);
    ASSERT_OK(tsr_wait(g, &v));
    ASSERT_EQ((intptr_t)v, 42);
    tsr_future_release(&f);
    tsr_future_release(&g);

    /* 10. a plain pthread makes tasks (injection queue) and blocks on them
     *     while worker 0 helps in tsr_wait */
    pthread_t ot;
    ASSERT_OK(tsr_future_create(&f));
    ASSERT_EQ(pthread_create(&ot, NULL, outsider, f), 0);
    ASSERT_OK(tsr_wait(f, &v));
    void *total = NULL;
    ASSERT_EQ(pthread_join(ot, &total), 0);
    ASSERT_EQ((intptr_t)total, 36);
    ASSERT_EQ((intptr_t)v, 36);
    tsr_future_release(&f);

    ASSERT_OK(tsr_sched_fini());
    ASSERT_STATUS(tsr_then(f = NULL, add_one, NULL, &g), TSR_ERR_INVALID);
    printf("ok: %d threads\n", nthreads);
    return 0;
}
