/* 64 MiB payloads (TSR_LARGE_BYTES overrides), each rank to the next:
 *   1. tsr_am_sendv, zero copy, with a done future; the receiver's alloc
 *      callback returns a preallocated "tile" and the handler must get exactly
 *      that pointer, i.e. the bytes were received straight into it;
 *   2. tsr_am_send (copied): the sender overwrites its buffer right after the
 *      call; the handler has no alloc callback, so the runtime's buffer;
 *   3. to itself with tsr_am_sendv and done == NULL.
 * Every byte is checked on arrival. */
#include "am_test.h"

typedef struct big_hdr {
    int32_t src, phase;
    uint64_t len;
} big_hdr;

static size_t size;
static unsigned char *tile;
static tsr_future_t *arrived;
static int id_tile, id_blob;

static uint64_t seed_of(int src, int phase) { return am_test_key((uint64_t)src, 100 + (uint64_t)phase); }

static void *tile_alloc(int src, const void *hdr, size_t hdrlen, size_t len, void *arg) {
    TSR_UNUSED(src), TSR_UNUSED(arg);
    ASSERT_EQ(hdrlen, sizeof(big_hdr));
    big_hdr h;
    memcpy(&h, hdr, sizeof h);
    ASSERT_EQ(h.len, len);
    ASSERT_EQ(len, size);
    return tile;
}

static void verify(int src, const big_hdr *h, const void *payload, size_t len) {
    ASSERT_EQ(h->src, src);
    ASSERT_EQ(len, size);
    if (!am_test_check(payload, len, seed_of(src, h->phase)))
        TEST_FAIL("phase %d: %zu bytes from rank %d corrupted", h->phase, len, src);
    ASSERT_OK(tsr_future_set(arrived, NULL));
}

static void on_tile(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(arg);
    ASSERT_EQ(hdrlen, sizeof(big_hdr));
    ASSERT_TRUE(payload == tile); /* landed in the tile, not in a copy */
    big_hdr h;
    memcpy(&h, hdr, sizeof h);
    verify(src, &h, payload, len);
}

static void on_blob(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(hdr), TSR_UNUSED(arg);
    ASSERT_EQ(hdrlen, 0);
    ASSERT_TRUE(len >= sizeof(big_hdr));
    big_hdr h;
    memcpy(&h, payload, sizeof h);
    verify(src, &h, (char *)payload + sizeof h, len - sizeof h);
}

/* The next phase's future exists before the fence: a rank that leaves the
 * fence first may send right away, and the message may be handled while
 * this rank is still inside it. */
static void expect_arrival(void) {
    ASSERT_OK(tsr_wait(arrived, NULL));
    tsr_future_release(&arrived);
    ASSERT_OK(tsr_future_create(&arrived));
    ASSERT_OK(tsr_fence());
}

int main(int argc, char **argv) {
    am_test_init(&argc, &argv);
    int me = tsr_rank(), n = tsr_nranks(), next = (me + 1) % n;
    size = (size_t)64 << 20;
    const char *env = getenv("TSR_LARGE_BYTES");
    if (env && *env) size = (size_t)atoll(env);
    /* Ready to receive before registering: once registration returns on any
     * rank, messages may come. */
    tile = malloc(size);
    unsigned char *src = malloc(size + sizeof(big_hdr));
    ASSERT_TRUE(tile && src);
    ASSERT_OK(tsr_future_create(&arrived));
    ASSERT_OK(tsr_am_register(on_tile, tile_alloc, NULL, &id_tile));
    ASSERT_OK(tsr_am_register(on_blob, NULL, NULL, &id_blob));
    double t0 = tsr_time();

    /* 1: zero copy into the receiver's tile. */
    big_hdr h = {.src = me, .phase = 1, .len = size};
    am_test_fill(src, size, seed_of(me, 1));
    tsr_future_t *done = NULL;
    ASSERT_OK(tsr_am_sendv(next, id_tile, &h, sizeof h, src, size, &done));
    ASSERT_OK(tsr_wait(done, NULL));
    tsr_future_release(&done);
    expect_arrival();
    double t1 = tsr_time();

    /* 2: copied by tsr_am_send; the sender's buffer is reused at once. */
    h.phase = 2;
    memcpy(src, &h, sizeof h);
    am_test_fill(src + sizeof h, size, seed_of(me, 2));
    ASSERT_OK(tsr_am_send(next, id_blob, src, size + sizeof h));
    memset(src, 0x5a, size + sizeof h);
    expect_arrival();

    /* 3: to self, zero copy, returning once the buffer may be reused. */
    memset(tile, 0, size);
    h.phase = 3;
    am_test_fill(src, size, seed_of(me, 3));
    ASSERT_OK(tsr_am_sendv(me, id_tile, &h, sizeof h, src, size, NULL));
    memset(src, 0xa5, size);
    expect_arrival();

    if (me == 0)
        printf("large: %zu bytes per message, phase 1 (zero copy, %d ranks) %.3f s\n", size, n,
               t1 - t0);
    tsr_future_release(&arrived);
    free(src);
    free(tile);
    am_test_finalize();
    return 0;
}
