/* Storm: 100,000 messages in all (TSR_STORM_MSGS overrides), each rank
 * sending its share from tasks to destinations drawn from a hash of
 * (src, seq), with sizes from 0 to 64 KiB (3/4 below the eager limit, 1/4
 * above, so both paths) and three ways of sending: tsr_am_send with the
 * header inside the payload; tsr_am_sendv with done == NULL; tsr_am_sendv
 * with a done future the sending task waits for. The second handler has an
 * alloc callback, so payloads land in memory the handler owns (eager: copied
 * into it; rendezvous: received into it). Each payload is the stream keyed on
 * (src, seq) with its checksum in the header. After ONE tsr_fence every rank
 * checks that each message meant for it arrived exactly once and nothing
 * else did, and the ranks agree that everything sent was received. */
#include <stdatomic.h>

#include "am_test.h"

#define BATCH 64

typedef struct storm_hdr {
    uint32_t src, seq;
    uint64_t len, sum;
} storm_hdr;

static int me, n;
static int64_t per_rank;
static atomic_uchar *seen; /* [src * per_rank + seq]: times received */
static int id_plain, id_v;

static int dest_of(int src, int64_t seq) { return (int)(am_test_key((uint64_t)src, (uint64_t)seq ^ 0xd0d0) % (uint64_t)n); }
static int mode_of(int src, int64_t seq) { return (int)(am_test_key((uint64_t)src + 77, (uint64_t)seq) % 3); }
static uint64_t seed_of(int src, int64_t seq) { return am_test_key((uint64_t)src, (uint64_t)seq); }
static size_t size_of(int src, int64_t seq) {
    uint64_t h = am_test_key((uint64_t)src + 1000, (uint64_t)seq);
    if (h % 4 != 0) return (size_t)((h >> 8) % 15000);
    return 16384 + (size_t)((h >> 8) % (65536 - 16384 + 1));
}

static void record(int src, const storm_hdr *h, const void *bytes, size_t len, int mode) {
    if (h->src != (uint32_t)src || (int64_t)h->seq >= per_rank)
        TEST_FAIL("message from rank %d says src %u seq %u", src, h->src, h->seq);
    int64_t seq = h->seq;
    ASSERT_EQ(mode_of(src, seq), mode);
    ASSERT_EQ(dest_of(src, seq), me);
    ASSERT_EQ(len, size_of(src, seq));
    ASSERT_EQ(h->len, len);
    uint64_t got = am_test_sum(bytes, len);
    if (got != h->sum || got != am_test_expected_sum(len, seed_of(src, seq)))
        TEST_FAIL("message (src %d, seq %lld, %zu bytes): checksum %016llx, header says %016llx",
                  src, (long long)seq, len, (unsigned long long)got, (unsigned long long)h->sum);
    atomic_fetch_add(&seen[(int64_t)src * per_rank + seq], 1);
}

static void on_plain(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(hdr), TSR_UNUSED(arg);
    ASSERT_EQ(hdrlen, 0);
    ASSERT_TRUE(len >= sizeof(storm_hdr));
    storm_hdr h;
    memcpy(&h, payload, sizeof h);
    record(src, &h, (char *)payload + sizeof h, len - sizeof h, 0);
}

static void *v_alloc(int src, const void *hdr, size_t hdrlen, size_t len, void *arg) {
    TSR_UNUSED(src), TSR_UNUSED(arg);
    ASSERT_EQ(hdrlen, sizeof(storm_hdr));
    storm_hdr h;
    memcpy(&h, hdr, sizeof h);
    ASSERT_EQ(h.len, len);
    return malloc(len);
}

static void on_v(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(arg);
    ASSERT_EQ(hdrlen, sizeof(storm_hdr));
    storm_hdr h;
    memcpy(&h, hdr, sizeof h);
    record(src, &h, payload, len, mode_of(src, h.seq) == 1 ? 1 : 2);
    free(payload); /* from v_alloc (NULL when len == 0) */
}

static void send_batch(void *arg) {
    int64_t b = (int64_t)(intptr_t)arg;
    tsr_future_t *done[BATCH];
    void *keep[BATCH];
    int ndone = 0;
    for (int64_t seq = b * BATCH; seq < (b + 1) * BATCH && seq < per_rank; seq++) {
        int dest = dest_of(me, seq), mode = mode_of(me, seq);
        size_t len = size_of(me, seq);
        unsigned char *buf = malloc(len + sizeof(storm_hdr));
        ASSERT_TRUE(buf != NULL);
        unsigned char *bytes = mode == 0 ? buf + sizeof(storm_hdr) : buf;
        am_test_fill(bytes, len, seed_of(me, seq));
        storm_hdr h = {.src = (uint32_t)me, .seq = (uint32_t)seq, .len = len,
                       .sum = am_test_sum(bytes, len)};
        if (mode == 0) {
            memcpy(buf, &h, sizeof h);
            ASSERT_OK(tsr_am_send(dest, id_plain, buf, len + sizeof h));
            free(buf);
        } else if (mode == 1) {
            ASSERT_OK(tsr_am_sendv(dest, id_v, &h, sizeof h, bytes, len, NULL));
            free(buf);
        } else {
            ASSERT_OK(tsr_am_sendv(dest, id_v, &h, sizeof h, bytes, len, &done[ndone]));
            keep[ndone++] = buf;
        }
    }
    for (int i = 0; i < ndone; i++) {
        ASSERT_OK(tsr_wait(done[i], NULL));
        tsr_future_release(&done[i]);
        free(keep[i]);
    }
}

int main(int argc, char **argv) {
    am_test_init(&argc, &argv);
    me = tsr_rank();
    n = tsr_nranks();
    int64_t total = 100000;
    const char *env = getenv("TSR_STORM_MSGS");
    if (env && *env) total = atoll(env);
    per_rank = total / n;
    seen = calloc((size_t)(per_rank * n), sizeof *seen);
    ASSERT_TRUE(seen != NULL);
    ASSERT_OK(tsr_am_register(on_plain, NULL, NULL, &id_plain));
    ASSERT_OK(tsr_am_register(on_v, v_alloc, NULL, &id_v));

    double t0 = tsr_time();
    for (int64_t b = 0; b * BATCH < per_rank; b++) ASSERT_OK(tsr_spawn(send_batch, (void *)(intptr_t)b));
    ASSERT_OK(tsr_fence());
    double t1 = tsr_time();

    int64_t mine = 0, expected_mine = 0;
    for (int src = 0; src < n; src++) {
        for (int64_t seq = 0; seq < per_rank; seq++) {
            int want = dest_of(src, seq) == me;
            int got = atomic_load(&seen[(int64_t)src * per_rank + seq]);
            if (got != want)
                TEST_FAIL("message (src %d, seq %lld) received %d times, expected %d", src,
                          (long long)seq, got, want);
            mine += got;
            expected_mine += want;
        }
    }
    ASSERT_EQ(mine, expected_mine);
    ASSERT_EQ(am_test_sum_all(mine), per_rank * n);
    tsr_am_stats st;
    tsr_am_stats_get(&st);
    ASSERT_EQ(st.sent, per_rank);
    ASSERT_EQ(am_test_sum_all((int64_t)st.received), per_rank * n);
    if (me == 0)
        printf("storm: %lld messages on %d ranks in %.2f s (rank 0: %llu eager, %llu rendezvous)\n",
               (long long)(per_rank * n), n, t1 - t0, (unsigned long long)st.eager_sent,
               (unsigned long long)st.rndv_sent);
    free(seen);
    am_test_finalize();
    return 0;
}
