/* Remote futures. Rank r creates futures and sends their handles to
 * (r+1) % n, whose handler fulfils them:
 *   - with a small value (eager) and a large one (rendezvous), contents checked;
 *   - with an empty value (the future's value is NULL);
 *   - by failing it: tsr_wait returns that status and message;
 *   - a continuation (tsr_then) on a remote future runs with the value.
 * Then: a future fulfilled by its own rank; a second set of a fulfilled
 * future is logged and ignored on the owner (the value stays); bad handles
 * and statuses are refused by the caller's call. */
#include "am_test.h"

enum { SMALL, LARGE, EMPTY, FAILED, THEN, NKIND };
#define LARGE_BYTES 300000

typedef struct ask {
    int32_t kind, pad;
    tsr_remote_handle h;
} ask;

static int me, n, id_ask;

static size_t kind_size(int kind) { return kind == SMALL ? 100 : kind == LARGE ? LARGE_BYTES : kind == THEN ? 64 : 0; }
static uint64_t seed_of(int owner, int kind) { return am_test_key((uint64_t)owner, 500 + (uint64_t)kind); }

static void on_ask(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(hdr), TSR_UNUSED(hdrlen), TSR_UNUSED(arg);
    ASSERT_EQ(len, sizeof(ask));
    ask a;
    memcpy(&a, payload, sizeof a);
    ASSERT_EQ(a.h.rank, src);
    if (a.kind == FAILED) {
        char msg[64];
        snprintf(msg, sizeof msg, "fail from rank %d", me);
        ASSERT_OK(tsr_remote_future_fail(a.h, TSR_ERR_RUNTIME, msg));
        return;
    }
    size_t sz = kind_size(a.kind);
    unsigned char *buf = malloc(sz + 1);
    am_test_fill(buf, sz, seed_of(src, a.kind));
    ASSERT_OK(tsr_remote_future_set(a.h, sz ? buf : NULL, sz));
    free(buf);
}

static int then_fn(void *value, void *arg, void **value_out) {
    TSR_UNUSED(arg);
    ASSERT_TRUE(am_test_check(value, kind_size(THEN), seed_of(me, THEN)));
    *value_out = (void *)(intptr_t)4242;
    return TSR_OK;
}

int main(int argc, char **argv) {
    am_test_init(&argc, &argv);
    me = tsr_rank();
    n = tsr_nranks();
    ASSERT_OK(tsr_am_register(on_ask, NULL, NULL, &id_ask));

    tsr_future_t *f[NKIND];
    for (int k = 0; k < NKIND; k++) {
        ask a = {.kind = k};
        ASSERT_OK(tsr_remote_future_create(&f[k], &a.h));
        ASSERT_EQ(a.h.rank, me);
        ASSERT_TRUE(!tsr_future_ready(f[k]));
        ASSERT_OK(tsr_am_send((me + 1) % n, id_ask, &a, sizeof a));
    }
    tsr_future_t *then = NULL;
    ASSERT_OK(tsr_then(f[THEN], then_fn, NULL, &then));
    void *v = NULL;
    ASSERT_OK(tsr_wait(f[SMALL], &v));
    ASSERT_TRUE(am_test_check(v, kind_size(SMALL), seed_of(me, SMALL)));
    ASSERT_OK(tsr_wait(f[LARGE], &v));
    ASSERT_TRUE(am_test_check(v, kind_size(LARGE), seed_of(me, LARGE)));
    ASSERT_OK(tsr_wait(f[EMPTY], &v));
    ASSERT_TRUE(v == NULL);
    ASSERT_STATUS(tsr_wait(f[FAILED], NULL), TSR_ERR_RUNTIME);
    char want[64];
    snprintf(want, sizeof want, "fail from rank %d", (me + 1) % n);
    ASSERT_CONTAINS(tsr_error_message(), want);
    ASSERT_CONTAINS(tsr_future_message(f[FAILED]), want);
    ASSERT_OK(tsr_wait(then, &v));
    ASSERT_EQ((intptr_t)v, 4242);
    tsr_future_release(&then);
    for (int k = 0; k < NKIND; k++) tsr_future_release(&f[k]);

    /* Fulfilled by its own rank, then set again: the second set is logged
     * on the owner and changes nothing. */
    tsr_future_t *self = NULL;
    tsr_remote_handle h;
    ASSERT_OK(tsr_remote_future_create(&self, &h));
    double x = 2.5, y = -1.0;
    ASSERT_OK(tsr_remote_future_set(h, &x, sizeof x));
    ASSERT_OK(tsr_wait(self, &v));
    ASSERT_TRUE(memcmp(v, &x, sizeof x) == 0);
    fprintf(stderr, "[rank %d] test: an error about key 0x%llx below is expected\n", me,
            (unsigned long long)h.key);
    ASSERT_OK(tsr_remote_future_set(h, &y, sizeof y));
    ASSERT_OK(tsr_fence());
    ASSERT_TRUE(memcmp(v, &x, sizeof x) == 0);
    tsr_future_release(&self);

    /* What the caller is told at once. */
    tsr_remote_handle bad = h;
    bad.rank = n;
    ASSERT_STATUS(tsr_remote_future_set(bad, &x, sizeof x), TSR_ERR_INVALID);
    bad.rank = -1;
    ASSERT_STATUS(tsr_remote_future_fail(bad, TSR_ERR_RUNTIME, "x"), TSR_ERR_INVALID);
    ASSERT_STATUS(tsr_remote_future_fail(h, TSR_OK, "not an error"), TSR_ERR_INVALID);

    /* One left unfulfilled: finalize drops it without a leak. */
    tsr_future_t *orphan = NULL;
    ASSERT_OK(tsr_remote_future_create(&orphan, &h));
    tsr_future_release(&orphan);

    ASSERT_OK(tsr_fence());
    am_test_finalize();
    return 0;
}
