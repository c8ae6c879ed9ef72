/* The work-stealing deque alone: one owner pushing and popping in random
 * bursts (so the array grows from 4 slots, chunks are taken private and
 * given back) against argv[1] - 1 thieves (at least 1); every item must be
 * taken exactly once, by the owner or by a thief. */
#include <pthread.h>
#include <stdatomic.h>

#include "harness.h"
#include "sched/deque.h"

#define ITEMS 400000

static tsr__deque dq;
static _Atomic unsigned char *taken;
static _Atomic int done;
static _Atomic int64_t stolen;

static void dummy(void *arg) { (void)arg; }

static void take(tsr__task *t, const char *who) {
    if (t->fn != dummy) TEST_FAIL("%s got a task with a wrong function", who);
    uintptr_t i = (uintptr_t)t->arg;
    if (i >= ITEMS) TEST_FAIL("%s got item %zu out of range", who, (size_t)i);
    if (atomic_fetch_add_explicit(&taken[i], 1, memory_order_relaxed) != 0)
        TEST_FAIL("%s took item %zu a second time", who, (size_t)i);
}

static void *thief(void *arg) {
    int64_t min = (int64_t)(intptr_t)arg;
    tsr__task t;
    int64_t n = 0;
    while (!atomic_load_explicit(&done, memory_order_acquire)) {
        if (tsr__deque_steal(&dq, &t, min) == 1) {
            take(&t, "thief");
            n++;
        }
    }
    for (;;) { /* the owner emptied it before done; this must find nothing */
        int r = tsr__deque_steal(&dq, &t, 1);
        if (r == 0) break;
        if (r == 1) TEST_FAIL("thief found item %zu after the owner emptied the deque",
                              (size_t)(uintptr_t)t.arg);
    }
    atomic_fetch_add(&stolen, n);
    return NULL;
}

int main(int argc, char **argv) {
    int nthreads = argc > 1 ? atoi(argv[1]) : 2;
    int nthieves = nthreads > 1 ? nthreads - 1 : 1;
    taken = calloc(ITEMS, sizeof *taken);
    ASSERT_TRUE(taken != NULL);
    ASSERT_OK(tsr__deque_init(&dq, 2));
    pthread_t th[8];
    for (int i = 0; i < nthieves && i < 8; i++)
        ASSERT_EQ(pthread_create(&th[i], NULL, thief, (void *)(intptr_t)(i % 2 ? 1 : 3)), 0);

    uint64_t rng = 88172645463325252ULL;
    uintptr_t next = 0;
    int64_t popped = 0;
    tsr__task t;
    while (next < ITEMS) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        /* Long bursts grow the array and make big private chunks; in the
         * second half short ones keep the deque nearly empty, where the
         * owner's chunks and pops meet the thieves at the same indices. */
        int big = next < ITEMS / 2;
        int burst = (int)(rng % (big ? 97 : 9)), pops = (int)((rng >> 8) % (big ? 89 : 9));
        for (int i = 0; i < burst && next < ITEMS; i++)
            ASSERT_OK(tsr__deque_push(&dq, dummy, (void *)next++));
        for (int i = 0; i < pops; i++) {
            if (tsr__deque_pop(&dq, &t) == 0) break;
            take(&t, "owner");
            popped++;
        }
    }
    while (tsr__deque_pop(&dq, &t) != 0) {
        take(&t, "owner");
        popped++;
    }
    atomic_store_explicit(&done, 1, memory_order_release);
    for (int i = 0; i < nthieves && i < 8; i++) ASSERT_EQ(pthread_join(th[i], NULL), 0);
    for (size_t i = 0; i < ITEMS; i++)
        if (atomic_load(&taken[i]) != 1) TEST_FAIL("item %zu taken %d times", i, (int)taken[i]);
    ASSERT_EQ(popped + atomic_load(&stolen), ITEMS);
    tsr__deque_destroy(&dq);
    free(taken);
    printf("ok: owner popped %lld, %d thieves stole %lld\n", (long long)popped, nthieves,
           (long long)atomic_load(&stolen));
    return 0;
}
