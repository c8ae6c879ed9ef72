/* The wire decoder on its own (no MPI): valid messages decode to what was
 * encoded; every kind of malformation is rejected with a message; and random
 * or mutated buffers never make it read outside the buffer (run under ASan)
 * nor describe a message that does not fit in it. */
#include <limits.h>

#include "am/am_engine.h"
#include "harness.h"

static uint64_t rng = 0x1234567887654321ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A decoded message must lie inside [buf, buf + n). */
static void check_inside(const unsigned char *buf, size_t n, const tsr__am_msg *m) {
    ASSERT_TRUE(m->kind == TSR__AM_EAGER || m->kind == TSR__AM_RTS);
    ASSERT_TRUE(m->hdrlen <= TSR_AM_MAX_HDR);
    if (m->hdrlen) {
        const unsigned char *h = m->hdr;
        ASSERT_TRUE(h >= buf && h + m->hdrlen <= buf + n);
    } else {
        ASSERT_TRUE(m->hdr == NULL);
    }
    if (m->kind == TSR__AM_EAGER) {
        if (m->len) {
            const unsigned char *p = m->payload;
            ASSERT_TRUE(p >= buf && p + m->len == buf + n);
            ASSERT_EQ(((uintptr_t)(p - buf)) % 16, 0);
        } else {
            ASSERT_TRUE(m->payload == NULL);
        }
    } else {
        ASSERT_TRUE(m->payload == NULL && m->len > 0 && m->tag <= (uint32_t)INT_MAX);
    }
}

static void roundtrip(int kind, int id, uint32_t tag, size_t hdrlen, size_t len) {
    unsigned char hdr[TSR_AM_MAX_HDR], *payload = malloc(len + 1);
    ASSERT_TRUE(payload != NULL);
    for (size_t i = 0; i < hdrlen; i++) hdr[i] = (unsigned char)(i * 7 + 1);
    for (size_t i = 0; i < len; i++) payload[i] = (unsigned char)(i * 13 + 5);
    size_t n = kind == TSR__AM_EAGER ? tsr__am_eager_size(hdrlen, len) : tsr__am_rts_size(hdrlen);
    unsigned char *buf = malloc(n);
    ASSERT_TRUE(buf != NULL);
    tsr__am_encode(buf, kind, id, tag, hdr, hdrlen, payload, len);
    tsr__am_msg m;
    ASSERT_OK(tsr__am_decode(buf, n, &m));
    check_inside(buf, n, &m);
    ASSERT_EQ(m.kind, kind);
    ASSERT_EQ(m.id, id);
    ASSERT_EQ(m.tag, tag);
    ASSERT_EQ(m.hdrlen, hdrlen);
    ASSERT_EQ(m.len, len);
    ASSERT_TRUE(hdrlen == 0 || memcmp(m.hdr, hdr, hdrlen) == 0);
    if (kind == TSR__AM_EAGER) ASSERT_TRUE(len == 0 || memcmp(m.payload, payload, len) == 0);
    /* One byte more or less is never the same message. */
    ASSERT_STATUS(tsr__am_decode(buf, n - 1, &m), TSR_ERR_INVALID);
    unsigned char *longer = calloc(1, n + 1);
    memcpy(longer, buf, n);
    ASSERT_STATUS(tsr__am_decode(longer, n + 1, &m), TSR_ERR_INVALID);
    free(longer);
    free(buf);
    free(payload);
}

/* Encode a valid eager message, let poke() damage it, expect rejection
 * with a message containing `why`. */
static void expect_bad(void (*poke)(unsigned char *w), const char *why) {
    unsigned char buf[64];
    tsr__am_encode(buf, TSR__AM_EAGER, 3, 0, "hdr", 3, "payload", 7);
    size_t n = tsr__am_eager_size(3, 7);
    ASSERT_TRUE(n <= sizeof buf);
    poke(buf);
    tsr__am_msg m;
    ASSERT_STATUS(tsr__am_decode(buf, n, &m), TSR_ERR_INVALID);
    ASSERT_CONTAINS(tsr_error_message(), why);
}

static void bad_magic(unsigned char *w) { w[0] ^= 0xff; }
static void bad_kind(unsigned char *w) { w[2] = 9; }
static void bad_flags(unsigned char *w) { w[3] = 1; }
static void bad_id(unsigned char *w) { int32_t v = -5; memcpy(w + 4, &v, 4); }
static void bad_hdrlen(unsigned char *w) { uint32_t v = TSR_AM_MAX_HDR + 1; memcpy(w + 8, &v, 4); }
static void bad_tag(unsigned char *w) { uint32_t v = 7; memcpy(w + 12, &v, 4); }
static void bad_len(unsigned char *w) { uint64_t v = 8; memcpy(w + 16, &v, 8); }
static void huge_len(unsigned char *w) { uint64_t v = UINT64_MAX - 3; memcpy(w + 16, &v, 8); }
static void huge_hdrlen(unsigned char *w) { uint32_t v = UINT32_MAX; memcpy(w + 8, &v, 4); }

int main(void) {
    tsr__am_msg m;
    size_t hl[] = {0, 1, 7, 8, 24, 255, 256};
    size_t ll[] = {0, 1, 15, 16, 17, 4096, 100000};
    for (size_t i = 0; i < sizeof hl / sizeof hl[0]; i++) {
        for (size_t j = 0; j < sizeof ll / sizeof ll[0]; j++) roundtrip(TSR__AM_EAGER, (int)(i + j), 0, hl[i], ll[j]);
        roundtrip(TSR__AM_RTS, 42, 12345, hl[i], 1u << 26);
        roundtrip(TSR__AM_RTS, 0, (uint32_t)INT_MAX, hl[i], 1);
    }
    /* Sizes that cannot be encoded. */
    ASSERT_TRUE(tsr__am_eager_size(TSR_AM_MAX_HDR + 1, 0) == SIZE_MAX);
    ASSERT_TRUE(tsr__am_eager_size(0, SIZE_MAX - 8) == SIZE_MAX);
    ASSERT_TRUE(tsr__am_rts_size(TSR_AM_MAX_HDR + 1) == SIZE_MAX);

    ASSERT_STATUS(tsr__am_decode(NULL, 0, &m), TSR_ERR_INVALID);
    ASSERT_STATUS(tsr__am_decode("short", 5, &m), TSR_ERR_INVALID);
    ASSERT_CONTAINS(tsr_error_message(), "shorter than");
    expect_bad(bad_magic, "magic");
    expect_bad(bad_kind, "kind");
    expect_bad(bad_flags, "flags");
    expect_bad(bad_id, "handler id");
    expect_bad(bad_hdrlen, "header length");
    expect_bad(huge_hdrlen, "header length");
    expect_bad(bad_tag, "tag");
    expect_bad(bad_len, "do not add up");
    expect_bad(huge_len, "do not add up");

    /* RTS-specific rules. */
    unsigned char rts[TSR__AM_FIXED_BYTES + 4];
    tsr__am_encode(rts, TSR__AM_RTS, 1, 5, "abcd", 4, NULL, 100);
    ASSERT_OK(tsr__am_decode(rts, sizeof rts, &m));
    uint64_t zero = 0;
    memcpy(rts + 16, &zero, 8);
    ASSERT_STATUS(tsr__am_decode(rts, sizeof rts, &m), TSR_ERR_INVALID);
    tsr__am_encode(rts, TSR__AM_RTS, 1, (uint32_t)INT_MAX + 1u, "abcd", 4, NULL, 100);
    ASSERT_STATUS(tsr__am_decode(rts, sizeof rts, &m), TSR_ERR_INVALID);

    /* Random buffers, and valid messages with random bytes changed. */
    unsigned char *buf = malloc(600);
    for (int it = 0; it < 200000; it++) {
        size_t n;
        if (it % 2 == 0) {
            n = next() % 600;
            for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)next();
            /* Often a right magic, so the later checks get exercised. */
            if (n >= 2 && it % 4 == 0) buf[0] = 0x54, buf[1] = 0x53;
        } else {
            size_t hdrlen = next() % 64, len = next() % 200;
            int rtsk = next() % 3 == 0;
            n = rtsk ? tsr__am_rts_size(hdrlen) : tsr__am_eager_size(hdrlen, len);
            tsr__am_encode(buf, rtsk ? TSR__AM_RTS : TSR__AM_EAGER, (int)(next() % 100),
                           rtsk ? (uint32_t)(next() % 1000) : 0, buf + 300, hdrlen, buf + 400,
                           rtsk ? len + 1 : len);
            int flips = 1 + (int)(next() % 3);
            for (int f = 0; f < flips; f++) buf[next() % n] ^= (unsigned char)(1u << (next() % 8));
            if (next() % 4 == 0) n = next() % (n + 1);
        }
        /* Decode from an exact-size copy, so ASan sees any read past n. */
        unsigned char *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        if (tsr__am_decode(exact, n, &m) == TSR_OK) check_inside(exact, n, &m);
        free(exact);
    }
    free(buf);
    printf("decode: ok\n");
    return 0;
}
