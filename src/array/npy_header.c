/* The .npy header parser and writer (see npy.h). Pure: no MPI, no I/O, no
 * allocation, so a fuzzer can call it with any bytes.
 *
 * The header is a Python literal; we accept the subset numpy writes (and
 * ast.literal_eval would read): a dict with exactly the keys 'descr',
 * 'fortran_order' and 'shape', single- or double-quoted strings without
 * escapes, True/False, and tuples of non-negative decimal integers (an 'L'
 * suffix from Python 2 writers is allowed). Everything is bounds-checked
 * through one cursor; nothing reads past buf + len. */
#include "array/npy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tessera/base.h"

static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

typedef struct cursor {
    const char *p, *end, *base; /* base: start of the dict, for byte offsets */
} cursor;

static int fail(tsr__npy_info *out, const char *fmt, ...) TSR_PRINTF(2, 3);
static int fail(tsr__npy_info *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    return TSR_ERR_IO;
}

static int peek(const cursor *c) { return c->p < c->end ? (unsigned char)*c->p : -1; }

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int eat(cursor *c, char ch) {
    skip_ws(c);
    if (peek(c) != (unsigned char)ch) return 0;
    c->p++;
    return 1;
}

static size_t offset(const cursor *c) { return (size_t)(c->p - c->base); }

/* A printable copy of [s, s + n) for messages: at most cap - 1 bytes, other
 * bytes shown as '?', "..." when cut. */
static void printable(const char *s, size_t n, char *dst, size_t cap) {
    size_t k;
    for (k = 0; k < n && k + 1 < cap; k++) {
        unsigned char ch = (unsigned char)s[k];
        dst[k] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    dst[k] = '\0';
    if (k < n && k >= 3) memcpy(dst + k - 3, "...", 3);
}

/* A quoted string; *s and *n point into the buffer. */
static int parse_string(cursor *c, const char **s, size_t *n, tsr__npy_info *out,
                        const char *what) {
    skip_ws(c);
    int q = peek(c);
    if (q != '\'' && q != '"')
        return fail(out, "malformed header: expected a quoted string for %s at byte %zu", what,
                    offset(c));
    const char *start = ++c->p;
    while (c->p < c->end && *c->p != (char)q) {
        if (*c->p == '\\' || *c->p == '\n' || *c->p == '\0')
            return fail(out, "malformed header: unsupported character in the string for %s at "
                        "byte %zu", what, offset(c));
        c->p++;
    }
    if (c->p == c->end)
        return fail(out, "malformed header: unterminated string for %s", what);
    *s = start;
    *n = (size_t)(c->p - start);
    c->p++;
    return TSR_OK;
}

static int is_ident(int ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static int parse_bool(cursor *c, int *v, tsr__npy_info *out) {
    skip_ws(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0 &&
        (left == 4 || !is_ident((unsigned char)c->p[4]))) {
        c->p += 4;
        *v = 1;
        return TSR_OK;
    }
    if (left >= 5 && memcmp(c->p, "False", 5) == 0 &&
        (left == 5 || !is_ident((unsigned char)c->p[5]))) {
        c->p += 5;
        *v = 0;
        return TSR_OK;
    }
    return fail(out, "malformed header: 'fortran_order' must be True or False (byte %zu)",
                offset(c));
}

/* A decimal integer as Python writes it: no sign but '-', no leading zeros,
 * optional 'L'. Values above 2^62 are refused as too large. */
static int parse_int(cursor *c, int64_t *v, tsr__npy_info *out) {
    int neg = 0;
    int64_t x = 0;
    skip_ws(c);
    if (peek(c) == '-') {
        neg = 1;
        c->p++;
    }
    const char *start = c->p;
    while (peek(c) >= '0' && peek(c) <= '9') {
        if (x > ((int64_t)1 << 62) / 10)
            return fail(out, "shape has a dimension too large (byte %zu)", offset(c));
        x = x * 10 + (*c->p - '0');
        c->p++;
    }
    if (c->p == start)
        return fail(out, "malformed header: expected an integer in 'shape' at byte %zu", offset(c));
    if (c->p - start > 1 && *start == '0')
        return fail(out, "malformed header: integer with a leading zero in 'shape' at byte %zu",
                    (size_t)(start - c->base));
    if (peek(c) == 'L') c->p++;
    if (is_ident(peek(c)))
        return fail(out, "malformed header: bad integer in 'shape' at byte %zu", offset(c));
    if (neg) return fail(out, "shape has a negative dimension (-%lld)", (long long)x);
    *v = x;
    return TSR_OK;
}

/* A tuple of integers: "()", "(n,)", "(m, n)" and, to report them, more. */
static int parse_shape(cursor *c, tsr__npy_info *out) {
    int rc;
    skip_ws(c);
    const char *open = c->p;
    if (!eat(c, '(')) {
        if (peek(c) == '[')
            return fail(out, "malformed header: 'shape' is a list; numpy writes a tuple");
        return fail(out, "malformed header: expected a tuple for 'shape' at byte %zu", offset(c));
    }
    int ndim = 0, trailing_comma = 0;
    while (!eat(c, ')')) {
        int64_t v = 0;
        if ((rc = parse_int(c, &v, out)) != TSR_OK) return rc;
        if (ndim < 2) out->shape[ndim] = v;
        ndim++;
        trailing_comma = eat(c, ',');
        if (!trailing_comma) {
            if (!eat(c, ')'))
                return fail(out, "malformed header: expected ',' or ')' in 'shape' at byte %zu",
                            offset(c));
            break;
        }
    }
    char text[64];
    printable(open, (size_t)(c->p - open), text, sizeof text);
    if (ndim == 1 && !trailing_comma)
        return fail(out, "malformed header: shape %s is not a tuple (a 1-D shape is written "
                    "(n,))", text);
    if (ndim > 2)
        return fail(out, "shape %s has %d dimensions; only 0-D, 1-D and 2-D arrays can be loaded",
                    text, ndim);
    out->ndim = ndim;
    return TSR_OK;
}

static int parse_descr(cursor *c, tsr__npy_info *out) {
    int rc;
    const char *s;
    size_t n;
    skip_ws(c);
    if (peek(c) == '[')
        return fail(out, "structured dtype (a list in 'descr') is not supported; float64, int64 or "
                    "float32 only");
    if ((rc = parse_string(c, &s, &n, out, "'descr'")) != TSR_OK) return rc;
    static const struct {
        const char *descr;
        int dtype, itemsize;
    } ok[] = {{"<f8", TSR__NPY_F8, 8}, {"<i8", TSR__NPY_I8, 8}, {"<f4", TSR__NPY_F4, 4}};
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        if (n == 3 && memcmp(s, ok[k].descr, 3) == 0) {
            out->dtype = ok[k].dtype;
            out->itemsize = ok[k].itemsize;
            return TSR_OK;
        }
    }
    char text[32];
    printable(s, n, text, sizeof text);
    if (n == 3 && s[0] == '>' && (memcmp(s + 1, "f8", 2) == 0 || memcmp(s + 1, "i8", 2) == 0 ||
                                  memcmp(s + 1, "f4", 2) == 0))
        return fail(out, "dtype '%s' is big-endian; only little-endian '<f8', '<i8' and '<f4' are "
                    "supported", text);
    return fail(out, "dtype '%s' is not supported; float64, int64 or float32 ('<f8', '<i8', "
                "'<f4') only", text);
}

static int parse_dict(cursor *c, tsr__npy_info *out) {
    int rc;
    int seen_descr = 0, seen_order = 0, seen_shape = 0;
    if (!eat(c, '{'))
        return fail(out, "malformed header: it is not a dict (expected '{' at byte %zu)",
                    offset(c));
    while (!eat(c, '}')) {
        const char *key;
        size_t n;
        if ((rc = parse_string(c, &key, &n, out, "a key")) != TSR_OK) return rc;
        if (!eat(c, ':'))
            return fail(out, "malformed header: expected ':' after a key at byte %zu", offset(c));
        int *seen;
        if (n == 5 && memcmp(key, "descr", 5) == 0) {
            seen = &seen_descr;
            rc = parse_descr(c, out);
        } else if (n == 13 && memcmp(key, "fortran_order", 13) == 0) {
            seen = &seen_order;
            rc = parse_bool(c, &out->fortran_order, out);
        } else if (n == 5 && memcmp(key, "shape", 5) == 0) {
            seen = &seen_shape;
            rc = parse_shape(c, out);
        } else {
            char text[40];
            printable(key, n, text, sizeof text);
            return fail(out, "malformed header: unexpected key '%s' (numpy writes only 'descr', "
                        "'fortran_order' and 'shape')", text);
        }
        if (rc != TSR_OK) return rc;
        if (*seen)
            return fail(out, "malformed header: a key appears twice (byte %zu)", offset(c));
        *seen = 1;
        if (!eat(c, ',')) {
            skip_ws(c);
            if (peek(c) != '}')
                return fail(out, "malformed header: expected ',' or '}' at byte %zu", offset(c));
        }
    }
    if (!seen_descr || !seen_order || !seen_shape)
        return fail(out, "malformed header: the dict lacks%s%s%s", seen_descr ? "" : " 'descr'",
                    seen_order ? "" : " 'fortran_order'", seen_shape ? "" : " 'shape'");
    skip_ws(c);
    if (c->p != c->end)
        return fail(out, "malformed header: unexpected bytes after the dict at byte %zu",
                    offset(c));
    return TSR_OK;
}

int tsr__npy_parse_header(const char *buf, size_t len, tsr__npy_info *out) {
    int rc;
    memset(out, 0, sizeof *out);
    if (len < sizeof magic || memcmp(buf, magic, sizeof magic) != 0)
        return fail(out, "not a .npy file: it does not start with \\x93NUMPY");
    if (len < 8) return fail(out, "truncated header: the file has only %zu bytes", len);
    out->major = (unsigned char)buf[6];
    out->minor = (unsigned char)buf[7];
    if (out->major < 1 || out->major > 3 || out->minor != 0)
        return fail(out, "unsupported .npy format version %d.%d (1.0, 2.0 and 3.0 are supported)",
                    out->major, out->minor);
    size_t prelude = out->major == 1 ? 10 : 12;
    if (len < prelude) return fail(out, "truncated header: the file has only %zu bytes", len);
    const unsigned char *u = (const unsigned char *)buf;
    uint64_t hlen = out->major == 1
                        ? (uint64_t)u[8] | (uint64_t)u[9] << 8
                        : (uint64_t)u[8] | (uint64_t)u[9] << 8 | (uint64_t)u[10] << 16 |
                              (uint64_t)u[11] << 24;
    if (hlen > TSR__NPY_MAX_HEADER - prelude)
        return fail(out, "header of %llu bytes is larger than the %zu supported",
                    (unsigned long long)hlen, TSR__NPY_MAX_HEADER - prelude);
    if (len < prelude + hlen)
        return fail(out, "truncated header: it says %llu bytes, the file has %zu after the prelude",
                    (unsigned long long)hlen, len - prelude);
    cursor c = {buf + prelude, buf + prelude + hlen, buf + prelude};
    if ((rc = parse_dict(&c, out)) != TSR_OK) return rc;

    out->rows = out->ndim >= 1 ? out->shape[0] : 1;
    out->cols = out->ndim == 2 ? out->shape[1] : 1;
    out->data_offset = prelude + hlen;
    /* Both dimensions are below 2^62; refuse products that do not fit. */
    uint64_t limit = ((uint64_t)INT64_MAX - TSR__NPY_MAX_HEADER) / (uint64_t)out->itemsize;
    if (out->cols > 0 && (uint64_t)out->rows > limit / (uint64_t)out->cols)
        return fail(out, "shape (%lld, %lld) is too large", (long long)out->rows,
                    (long long)out->cols);
    out->data_bytes = (uint64_t)out->rows * (uint64_t)out->cols * (uint64_t)out->itemsize;
    return TSR_OK;
}

size_t tsr__npy_write_header(int64_t m, int64_t n, char *buf, size_t cap) {
    return tsr__npy_write_header_nd(2, m, n, buf, cap);
}

size_t tsr__npy_write_header_nd(int ndim, int64_t m, int64_t n, char *buf, size_t cap) {
    char dict[128];
    if (m < 0 || n < 0 || (ndim != 1 && ndim != 2)) return 0;
    int k = ndim == 2 ? snprintf(dict, sizeof dict,
                                 "{'descr': '<f8', 'fortran_order': False, 'shape': (%lld, %lld), }",
                                 (long long)m, (long long)n)
                      : snprintf(dict, sizeof dict,
                                 "{'descr': '<f8', 'fortran_order': False, 'shape': (%lld,), }",
                                 (long long)(m * n));
    if (k < 0 || (size_t)k >= sizeof dict) return 0;
    size_t total = ((size_t)10 + (size_t)k + 1 + 63) / 64 * 64; /* +1: the final '\n' */
    if (total > cap) return 0;
    size_t hlen = total - 10;
    memcpy(buf, magic, sizeof magic);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)k);
    memset(buf + 10 + k, ' ', hlen - (size_t)k - 1);
    buf[total - 1] = '\n';
    return total;
}
