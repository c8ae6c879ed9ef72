/* Malformed messages reaching the receive path are rejected with a logged
 * error, never run a handler, never crash, and do not upset termination
 * detection; a well-formed message through the same path still runs. (The
 * transport's private communicator cannot be reached from outside, so the
 * bytes go in through tsr__am_inject, which is what the transport's delivery
 * calls.) Then real traffic still works. Expect "rejected" errors on stderr. */
#include "am/am_engine.h"
#include "am_test.h"

static atomic_int injected, sent;
static int id_ok;

/* "hello": injected; "world": really sent (it may be handled while this rank
 * is still in the first fence, after its sender left it). */
static void on_ok(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(hdr), TSR_UNUSED(hdrlen), TSR_UNUSED(arg);
    ASSERT_TRUE(src >= 0 && src < tsr_nranks());
    ASSERT_EQ(len, 5);
    if (memcmp(payload, "hello", 5) == 0)
        atomic_fetch_add(&injected, 1);
    else if (memcmp(payload, "world", 5) == 0)
        atomic_fetch_add(&sent, 1);
    else
        TEST_FAIL("unexpected payload");
}

int main(int argc, char **argv) {
    am_test_init(&argc, &argv);
    int me = tsr_rank(), n = tsr_nranks();
    ASSERT_OK(tsr_am_register(on_ok, NULL, NULL, &id_ok));

    unsigned char good[64], bad[64];
    size_t gn = tsr__am_eager_size(0, 5);
    tsr__am_encode(good, TSR__AM_EAGER, id_ok, 0, NULL, 0, "hello", 5);

    fprintf(stderr, "[rank %d] test: 7 'rejected' errors below are expected\n", me);
    tsr__am_inject(me, NULL, 0);              /* dropped by the transport */
    tsr__am_inject(me, "junk!", 5);           /* shorter than a header */
    memcpy(bad, good, gn);
    bad[0] ^= 0x55;                           /* bad magic */
    tsr__am_inject(me, bad, gn);
    tsr__am_inject(me, good, gn - 1);         /* lengths do not add up */
    tsr__am_encode(bad, TSR__AM_EAGER, id_ok + 1000, 0, NULL, 0, "hello", 5);
    tsr__am_inject(me, bad, gn);              /* handler id not registered */
    tsr__am_encode(bad, TSR__AM_EAGER, -3, 0, NULL, 0, "hello", 5);
    tsr__am_inject(me, bad, gn);              /* negative handler id */
    tsr__am_encode(bad, TSR__AM_RTS, id_ok, 1, NULL, 0, NULL, 10);
    tsr__am_inject(me, bad, tsr__am_rts_size(0) + 3); /* RTS with trailing bytes */
    tsr__am_inject((me + 1) % n, good, gn);   /* well formed: runs */
    ASSERT_OK(tsr_fence());
    ASSERT_EQ(atomic_load(&injected), 1);

    ASSERT_OK(tsr_am_send((me + 1) % n, id_ok, "world", 5));
    ASSERT_OK(tsr_fence());
    ASSERT_EQ(atomic_load(&injected), 1);
    ASSERT_EQ(atomic_load(&sent), 1);
    am_test_finalize();
    return 0;
}
