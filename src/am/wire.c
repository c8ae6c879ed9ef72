/* Encoding and decoding of one active message. Decoding is a pure function of
 * the received bytes so that it can be fuzzed on its own: whatever arrives, it
 * either describes a message whose every pointer lies inside the buffer, or
 * says why it does not. */
#include <limits.h>
#include <string.h>

#include "am/am_engine.h"
#include "base/internal.h"

typedef struct wire_hdr {
    uint16_t magic;
    uint8_t kind;
    uint8_t flags;
    int32_t id;
    uint32_t hdrlen;
    uint32_t tag;
    uint64_t len;
} wire_hdr;

_Static_assert(sizeof(wire_hdr) == TSR__AM_FIXED_BYTES, "wire header is 24 bytes");

/* Bytes of the optional trace flow id after the user header (flag FLOW). */
static size_t flow_bytes(uint64_t flow) { return flow ? sizeof(uint64_t) : 0; }

static size_t payload_offset(size_t hdrlen, uint64_t flow) {
    return (TSR__AM_FIXED_BYTES + hdrlen + flow_bytes(flow) + 15u) & ~(size_t)15u;
}

size_t tsr__am_eager_size_flow(size_t hdrlen, size_t len, uint64_t flow) {
    if (hdrlen > TSR_AM_MAX_HDR) return SIZE_MAX;
    size_t off = payload_offset(hdrlen, flow);
    return len > SIZE_MAX - off ? SIZE_MAX : off + len;
}

size_t tsr__am_rts_size_flow(size_t hdrlen, uint64_t flow) {
    return hdrlen > TSR_AM_MAX_HDR ? SIZE_MAX : TSR__AM_FIXED_BYTES + hdrlen + flow_bytes(flow);
}

size_t tsr__am_eager_size(size_t hdrlen, size_t len) { return tsr__am_eager_size_flow(hdrlen, len, 0); }

size_t tsr__am_rts_size(size_t hdrlen) { return tsr__am_rts_size_flow(hdrlen, 0); }

void tsr__am_encode_flow(void *buf, int kind, int id, uint32_t tag, const void *hdr,
                         size_t hdrlen, const void *payload, size_t len, uint64_t flow) {
    wire_hdr w = {.magic = TSR__AM_MAGIC,
                  .kind = (uint8_t)kind,
                  .flags = flow ? TSR__AM_F_FLOW : 0,
                  .id = id,
                  .hdrlen = (uint32_t)hdrlen,
                  .tag = tag,
                  .len = len};
    unsigned char *p = buf;
    memcpy(p, &w, sizeof w);
    if (hdrlen) memcpy(p + TSR__AM_FIXED_BYTES, hdr, hdrlen);
    size_t end = TSR__AM_FIXED_BYTES + hdrlen;
    if (flow) {
        memcpy(p + end, &flow, sizeof flow);
        end += sizeof flow;
    }
    if (kind == TSR__AM_EAGER) {
        size_t off = payload_offset(hdrlen, flow);
        /* Zero the padding: no uninitialised bytes go on the wire. */
        memset(p + end, 0, off - end);
        if (len) memcpy(p + off, payload, len);
    }
}

void tsr__am_encode(void *buf, int kind, int id, uint32_t tag, const void *hdr, size_t hdrlen,
                    const void *payload, size_t len) {
    tsr__am_encode_flow(buf, kind, id, tag, hdr, hdrlen, payload, len, 0);
}

int tsr__am_decode(const void *buf, size_t n, tsr__am_msg *out) {
    wire_hdr w;
    if (buf == NULL || n < sizeof w)
        return tsr_error(TSR_ERR_INVALID, "message of %zu bytes is shorter than the %u-byte header",
                         n, TSR__AM_FIXED_BYTES);
    memcpy(&w, buf, sizeof w);
    if (w.magic != TSR__AM_MAGIC)
        return tsr_error(TSR_ERR_INVALID, "bad magic 0x%04x (want 0x%04x)", w.magic, TSR__AM_MAGIC);
    if ((w.flags & ~TSR__AM_F_FLOW) != 0)
        return tsr_error(TSR_ERR_INVALID, "unknown flags 0x%02x", w.flags);
    if (w.id < 0) return tsr_error(TSR_ERR_INVALID, "negative handler id %d", (int)w.id);
    if (w.hdrlen > TSR_AM_MAX_HDR)
        return tsr_error(TSR_ERR_INVALID, "header length %u > %d", w.hdrlen, TSR_AM_MAX_HDR);
    const unsigned char *p = buf;
    tsr__am_msg m = {.kind = w.kind,
                     .id = w.id,
                     .tag = w.tag,
                     .hdr = w.hdrlen ? p + TSR__AM_FIXED_BYTES : NULL,
                     .hdrlen = w.hdrlen,
                     .payload = NULL,
                     .len = 0,
                     .flow = 0};
    size_t fb = (w.flags & TSR__AM_F_FLOW) ? sizeof(uint64_t) : 0;
    if (fb) {
        if (n < TSR__AM_FIXED_BYTES + (size_t)w.hdrlen + fb)
            return tsr_error(TSR_ERR_INVALID, "message of %zu bytes too short for its flow id", n);
        memcpy(&m.flow, p + TSR__AM_FIXED_BYTES + w.hdrlen, fb);
        if (m.flow == 0) return tsr_error(TSR_ERR_INVALID, "flow flag with flow id 0");
    }
    if (w.kind == TSR__AM_EAGER) {
        size_t off = payload_offset(w.hdrlen, m.flow);
        if (w.tag != 0) return tsr_error(TSR_ERR_INVALID, "eager message with tag %u", w.tag);
        if (n < off || w.len != (uint64_t)(n - off))
            return tsr_error(TSR_ERR_INVALID,
                             "eager message of %zu bytes: header %u + payload %llu do not add up",
                             n, w.hdrlen, (unsigned long long)w.len);
        m.len = (size_t)w.len;
        m.payload = m.len ? p + off : NULL;
    } else if (w.kind == TSR__AM_RTS) {
        if (n != TSR__AM_FIXED_BYTES + (size_t)w.hdrlen + fb)
            return tsr_error(TSR_ERR_INVALID, "RTS of %zu bytes with header %u (want %zu bytes)", n,
                             w.hdrlen, TSR__AM_FIXED_BYTES + (size_t)w.hdrlen + fb);
        if (w.len == 0 || w.len > (uint64_t)SIZE_MAX / 2)
            return tsr_error(TSR_ERR_INVALID, "RTS announces %llu payload bytes",
                             (unsigned long long)w.len);
        if (w.tag > (uint32_t)INT_MAX) return tsr_error(TSR_ERR_INVALID, "RTS tag %u", w.tag);
        m.len = (size_t)w.len;
    } else {
        return tsr_error(TSR_ERR_INVALID, "unknown message kind %u", w.kind);
    }
    *out = m;
    return TSR_OK;
}
