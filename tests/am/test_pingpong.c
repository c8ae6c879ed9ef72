/* Ping-pong between pairs of ranks (0<->1, 2<->3, a lone rank with itself),
 * then every rank with itself. Each hop carries a header {hop, size} and a
 * payload of hop-dependent size and content, eager and rendezvous, sent
 * alternately by tsr_am_sendv (done == NULL: returns once reusable), by
 * tsr_am_sendv with a done future, and by tsr_am_send. The receiver checks the
 * sender, the header and every byte before answering. Finally an 8-byte
 * round-trip latency is printed (informative; perf/ has the benchmark). */
#include <sched.h>

#include "am_test.h"

#define HOPS 120

static const size_t sizes[] = {0, 1, 8, 1000, 16000, 17000, 300000, 16384};
#define NSIZES (sizeof sizes / sizeof sizes[0])

typedef struct hop_hdr {
    int32_t hop, peer;
    uint64_t size;
} hop_hdr;

static int id_hop, id_hop_plain, id_lat;
static tsr_future_t *finished;
static atomic_int got, expect;
static int peer;

static uint64_t seed_of(int hop) { return am_test_key(0x9090, (uint64_t)hop); }

static void send_hop(int dest, int hop) {
    size_t n = sizes[hop % NSIZES];
    unsigned char *buf = malloc(n + 16);
    ASSERT_TRUE(buf != NULL);
    hop_hdr h = {.hop = hop, .peer = tsr_rank(), .size = n};
    switch (hop % 3) {
    case 0:
        am_test_fill(buf, n, seed_of(hop));
        ASSERT_OK(tsr_am_sendv(dest, id_hop, &h, sizeof h, buf, n, NULL));
        break;
    case 1: {
        tsr_future_t *done = NULL;
        am_test_fill(buf, n, seed_of(hop));
        ASSERT_OK(tsr_am_sendv(dest, id_hop, &h, sizeof h, buf, n, &done));
        ASSERT_OK(tsr_wait(done, NULL));
        tsr_future_release(&done);
        break;
    }
    default: /* no header: it travels in front of the payload */
        memcpy(buf, &h, sizeof h);
        am_test_fill(buf + 16, n, seed_of(hop));
        ASSERT_OK(tsr_am_send(dest, id_hop_plain, buf, n + 16));
        break;
    }
    /* The payload was sent or copied: scribbling on it must not matter. */
    memset(buf, 0xee, n + 16);
    free(buf);
}

static void arrive(int src, const hop_hdr *h, const void *payload, size_t len) {
    if (src != peer || h->peer != peer)
        TEST_FAIL("hop %d from rank %d (header says %d), expected rank %d", h->hop, src, h->peer,
                  peer);
    ASSERT_EQ(h->size, sizes[h->hop % NSIZES]);
    ASSERT_EQ(len, h->size);
    ASSERT_TRUE(len == 0 || payload != NULL);
    if (!am_test_check(payload, len, seed_of(h->hop)))
        TEST_FAIL("hop %d from rank %d: payload of %zu bytes corrupted", h->hop, src, len);
    if (h->hop + 1 < HOPS) send_hop(src, h->hop + 1);
    if (atomic_fetch_add(&got, 1) + 1 == atomic_load(&expect)) ASSERT_OK(tsr_future_set(finished, NULL));
}

static void on_hop(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    ASSERT_EQ(hdrlen, sizeof(hop_hdr));
    ASSERT_TRUE(arg == &id_hop);
    hop_hdr h;
    memcpy(&h, hdr, sizeof h);
    arrive(src, &h, payload, len);
}

static void on_hop_plain(int src, const void *hdr, size_t hdrlen, void *payload, size_t len,
                         void *arg) {
    TSR_UNUSED(arg);
    ASSERT_TRUE(hdr == NULL);
    ASSERT_EQ(hdrlen, 0);
    ASSERT_TRUE(len >= 16);
    hop_hdr h;
    memcpy(&h, payload, sizeof h);
    arrive(src, &h, (char *)payload + 16, len - 16);
}

static void run_pingpong(int partner) {
    peer = partner;
    int me = tsr_rank();
    int starter = me <= partner;
    /* The starter receives odd hops, the other even ones; alone: all. */
    atomic_store(&got, 0);
    atomic_store(&expect, partner == me ? HOPS : starter ? HOPS / 2 : HOPS - HOPS / 2);
    ASSERT_OK(tsr_future_create(&finished));
    /* Nobody starts before everybody is ready for the first hop. */
    ASSERT_OK(tsr_fence());
    if (starter) send_hop(partner, 0);
    ASSERT_OK(tsr_wait(finished, NULL));
    tsr_future_release(&finished);
    ASSERT_OK(tsr_fence());
    ASSERT_EQ(atomic_load(&got), atomic_load(&expect));
}

static atomic_int lat_count;
static void on_lat(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(hdr), TSR_UNUSED(hdrlen), TSR_UNUSED(arg);
    ASSERT_EQ(len, 8);
    uint64_t v;
    memcpy(&v, payload, 8);
    atomic_fetch_add(&lat_count, 1);
    if (tsr_rank() != 0) ASSERT_OK(tsr_am_send(src, id_lat, &v, 8));
}

int main(int argc, char **argv) {
    am_test_init(&argc, &argv);
    int me = tsr_rank(), n = tsr_nranks();
    ASSERT_OK(tsr_am_register(on_hop, NULL, &id_hop, &id_hop));
    ASSERT_OK(tsr_am_register(on_hop_plain, NULL, NULL, &id_hop_plain));
    ASSERT_OK(tsr_am_register(on_lat, NULL, NULL, &id_lat));
    ASSERT_TRUE(id_hop_plain == id_hop + 1 && id_lat == id_hop + 2);

    /* Errors the caller can make. */
    ASSERT_STATUS(tsr_am_send(n, id_hop, NULL, 0), TSR_ERR_INVALID);
    ASSERT_STATUS(tsr_am_send(-1, id_hop, NULL, 0), TSR_ERR_INVALID);
    ASSERT_STATUS(tsr_am_send(me, id_lat + 100, NULL, 0), TSR_ERR_NOT_FOUND);
    ASSERT_STATUS(tsr_am_send(me, id_hop, NULL, 5), TSR_ERR_INVALID);
    char big[TSR_AM_MAX_HDR + 1] = {0};
    ASSERT_STATUS(tsr_am_sendv(me, id_hop, big, sizeof big, NULL, 0, NULL), TSR_ERR_INVALID);

    int partner = (me ^ 1) < n ? (me ^ 1) : me;
    run_pingpong(partner);
    run_pingpong(me);

    /* 8-byte round trips between ranks 0 and 1 (or 0 and itself). */
    int other = n > 1 ? 1 : 0;
    const int iters = 2000;
    double t0 = tsr_time();
    if (me == 0) {
        for (int i = 0; i < iters; i++) {
            int before = atomic_load(&lat_count);
            uint64_t v = (uint64_t)i;
            ASSERT_OK(tsr_am_send(other, id_lat, &v, 8));
            int want = before + 1; /* the reply (or, alone, the message itself) */
            unsigned spins = 0;
            while (atomic_load(&lat_count) < want) {
                if (tsr_am_progress() == 0 && tsr_sched_help() == 0 && ++spins > 64) sched_yield();
            }
        }
    }
    double t1 = tsr_time();
    ASSERT_OK(tsr_fence());
    if (me == 0)
        printf("am ping-pong 8 B rank 0 <-> rank %d: %.2f us round trip (%s progress)\n", other,
               (t1 - t0) / iters * 1e6, tsr_runtime_options()->progress_thread ? "thread" : "poll");
    tsr_am_stats st;
    tsr_am_stats_get(&st);
    ASSERT_TRUE(st.sent > 0 && st.received > 0 && st.eager_sent > 0);
    /* To itself everything goes eagerly; to others the 300000-byte hops go
     * by rendezvous unless TSR_EAGER_LIMIT was raised above them. */
    if (n > 1 && tsr_runtime_options()->eager_limit < 300000) ASSERT_TRUE(st.rndv_sent > 0);
    am_test_finalize();
    return 0;
}
