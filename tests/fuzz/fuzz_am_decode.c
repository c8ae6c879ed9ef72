/* libFuzzer harness: the active-message decoder (src/am/wire.c).
 *
 * A rank hands every received eager message to tsr__am_decode before
 * anything else looks at it (engine.c deliver); whatever the bytes, the
 * decoder must either refuse them with a message or describe a message
 * whose header and payload lie inside the buffer, and encoding what it
 * describes must give the same bytes back (but the zeroed padding). The
 * input is the received message itself, in a buffer of exactly its size so
 * that ASan sees any read past the end. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/am_engine.h"
#include "tessera/base.h"

#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "fuzz_am_decode: %s:%d: %s\n", __FILE__, __LINE__, #c);               \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static int inside(const unsigned char *b, size_t n, const void *p, size_t len) {
    const unsigned char *q = p;
    return q >= b && q <= b + n && len <= (size_t)(b + n - q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    tsr__am_msg m;
    memset(&m, 0xA5, sizeof m);
    tsr__am_msg before = m;
    int rc = tsr__am_decode(buf, size, &m);
    if (rc != TSR_OK) {
        CHECK(rc == TSR_ERR_INVALID);
        CHECK(tsr_error_message()[0] != '\0');
        CHECK(memcmp(&m, &before, sizeof m) == 0); /* *out untouched on refusal */
        free(buf);
        return 0;
    }
    CHECK(m.kind == TSR__AM_EAGER || m.kind == TSR__AM_RTS);
    CHECK(m.id >= 0);
    CHECK(m.hdrlen <= TSR_AM_MAX_HDR);
    CHECK((m.hdr == NULL) == (m.hdrlen == 0));
    if (m.hdrlen) CHECK(inside(buf, size, m.hdr, m.hdrlen));
    /* Touch every byte the handler would read. */
    unsigned sum = 0;
    for (size_t i = 0; i < m.hdrlen; i++) sum += ((const unsigned char *)m.hdr)[i];
    size_t fb = m.flow ? sizeof(uint64_t) : 0;
    size_t want;
    if (m.kind == TSR__AM_EAGER) {
        CHECK(m.tag == 0);
        CHECK((m.payload == NULL) == (m.len == 0));
        if (m.len) CHECK(inside(buf, size, m.payload, m.len));
        for (size_t i = 0; i < m.len; i++) sum += ((const unsigned char *)m.payload)[i];
        want = tsr__am_eager_size_flow(m.hdrlen, m.len, m.flow);
    } else {
        CHECK(m.payload == NULL && m.len > 0);
        want = tsr__am_rts_size_flow(m.hdrlen, m.flow);
    }
    CHECK(want == size);
    /* Round trip: the same fixed header, user header, flow id and payload. */
    unsigned char *again = malloc(want ? want : 1);
    if (again) {
        tsr__am_encode_flow(again, m.kind, m.id, m.tag, m.hdr, m.hdrlen, m.payload, m.len,
                            m.flow);
        size_t head = TSR__AM_FIXED_BYTES + m.hdrlen + fb;
        CHECK(memcmp(again, buf, head) == 0);
        if (m.kind == TSR__AM_EAGER && m.len)
            CHECK(memcmp(again + (size - m.len), m.payload, m.len) == 0);
        free(again);
    }
    free(buf);
    return (int)(sum & 0); /* keep the reads */
}
