/* The .npy header parser alone (no MPI): accepted headers, every refusal
 * with its reason, and a small deterministic fuzz: every prefix, byte
 * mutations and random dicts, each in an exactly-sized heap buffer so an
 * overread trips ASan. A libFuzzer target can reuse fuzz_one(). */
#include <stdint.h>

#include "array/npy.h"
#include "harness.h"

/* prelude for version v + dict + spaces + '\n', padded to `align` bytes. */
static size_t build(int v, const char *dict, size_t align, char *buf, size_t cap) {
    size_t pre = v == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + align - 1) / align * align;
    if (total > cap) TEST_FAIL("build: header too large");
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (char)v;
    buf[7] = 0;
    size_t hl = total - pre;
    for (size_t k = 0; k < pre - 8; k++) buf[8 + k] = (char)((hl >> (8 * k)) & 0xff);
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', total - pre - dl - 1);
    buf[total - 1] = '\n';
    return total;
}

/* Parse a copy of buf[0, len) in a buffer of exactly len bytes. */
static int parse_exact(const char *buf, size_t len, tsr__npy_info *info) {
    char *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    int rc = tsr__npy_parse_header(copy, len, info);
    free(copy);
    return rc;
}

static void fuzz_one(const char *buf, size_t len) {
    tsr__npy_info info;
    int rc = parse_exact(buf, len, &info);
    if (rc == TSR_OK) {
        ASSERT_TRUE(info.ndim >= 0 && info.ndim <= 2);
        ASSERT_TRUE(info.rows >= 0 && info.cols >= 0);
        ASSERT_TRUE(info.data_offset <= len);
        ASSERT_TRUE(info.itemsize == 8 || info.itemsize == 4);
        ASSERT_EQ(info.message[0], '\0');
    } else {
        ASSERT_EQ(rc, TSR_ERR_IO);
        ASSERT_TRUE(info.message[0] != '\0');
        ASSERT_TRUE(memchr(info.message, '\0', sizeof info.message) != NULL);
    }
}

typedef struct good {
    int version;
    const char *dict;
    int dtype, fortran, ndim;
    int64_t rows, cols;
} good;

static const good goods[] = {
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }", TSR__NPY_F8, 0, 2, 3, 4},
    {1, "{'descr': '<i8', 'fortran_order': True, 'shape': (3, 4)}", TSR__NPY_I8, 1, 2, 3, 4},
    {2, "{'descr': '<f4', 'fortran_order': False, 'shape': (11,), }", TSR__NPY_F4, 0, 1, 11, 1},
    {3, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", TSR__NPY_F8, 0, 0, 1, 1},
    {1, "{\"shape\": (0, 5), \"fortran_order\": False, \"descr\": \"<f8\"}", TSR__NPY_F8, 0, 2, 0,
     5},
    {1, "{ 'descr' : '<f8' ,\t'fortran_order' : False , 'shape' : ( 2 , 7 , ) , }", TSR__NPY_F8,
     0, 2, 2, 7},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3L, 4L), }", TSR__NPY_F8, 0, 2, 3, 4},
    {1, "{'descr': '<f8', 'fortran_order': True, 'shape': (1,), }", TSR__NPY_F8, 1, 1, 1, 1},
};

typedef struct bad {
    int version;
    const char *dict;
    const char *why;
} bad;

static const bad bads[] = {
    {1, "{'descr': '>f8', 'fortran_order': False, 'shape': (3, 4), }", "big-endian"},
    {1, "{'descr': '<c16', 'fortran_order': False, 'shape': (3, 4), }", "'<c16' is not supported"},
    {1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3, 4), }", "not supported"},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4), }", "3 dimensions"},
    {1, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (3,), }", "structured"},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3), }", "not a tuple"},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (-3, 4), }", "negative"},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (03, 4), }", "leading zero"},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4.0), }", "expected ',' or ')'"},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': [3, 4], }", "list"},
    {1, "{'descr': '<f8', 'fortran_order': 0, 'shape': (3, 4), }", "True or False"},
    {1, "{'descr': '<f8', 'fortran_order': Falsey, 'shape': (3, 4), }", "True or False"},
    {1, "{'descr': '<f8', 'shape': (3, 4), }", "lacks 'fortran_order'"},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), 'x': 1}", "unexpected key 'x'"},
    {1, "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (3, 4)}", "twice"},
    {1, "{'descr': '<f8, 'fortran_order': False, 'shape': (3, 4), }", "not supported"},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), } x", "after the dict"},
    {1, "{'descr': '<f8', 'fortran_order': False 'shape': (3, 4), }", "expected ','"},
    {1, "['descr', '<f8']", "not a dict"},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999, 4), }",
     "too large"},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4000000000000000000, 4), }",
     "too large"},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), ", "malformed"},
    {1, "{'de\\scr': '<f8', 'fortran_order': False, 'shape': (3, 4), }", "unsupported character"},
};

int main(void) {
    char buf[4096];
    tsr__npy_info info;

    /* Accepted headers. */
    for (size_t g = 0; g < sizeof goods / sizeof goods[0]; g++) {
        for (size_t align = 1; align <= 64; align *= 4) {
            size_t len = build(goods[g].version, goods[g].dict, align, buf, sizeof buf);
            int rc = parse_exact(buf, len, &info);
            if (rc != TSR_OK) TEST_FAIL("good header %zu refused: %s", g, info.message);
            ASSERT_EQ(info.major, goods[g].version);
            ASSERT_EQ(info.dtype, goods[g].dtype);
            ASSERT_EQ(info.fortran_order, goods[g].fortran);
            ASSERT_EQ(info.ndim, goods[g].ndim);
            ASSERT_EQ(info.rows, goods[g].rows);
            ASSERT_EQ(info.cols, goods[g].cols);
            ASSERT_EQ(info.data_offset, len);
            ASSERT_EQ(info.data_bytes,
                      (uint64_t)(goods[g].rows * goods[g].cols) * (uint64_t)info.itemsize);
            /* Data after the header is not the parser's business. */
            memset(buf + len, 0x55, 64);
            ASSERT_EQ(parse_exact(buf, len + 64, &info), TSR_OK);
        }
    }

    /* Refused headers, each with its reason. */
    for (size_t b = 0; b < sizeof bads / sizeof bads[0]; b++) {
        size_t len = build(bads[b].version, bads[b].dict, 64, buf, sizeof buf);
        int rc = parse_exact(buf, len, &info);
        if (rc != TSR_ERR_IO) TEST_FAIL("bad header %zu (%s) accepted", b, bads[b].dict);
        ASSERT_CONTAINS(info.message, bads[b].why);
    }

    /* The prelude. */
    size_t len = build(1, goods[0].dict, 64, buf, sizeof buf);
    buf[0] = 'X';
    ASSERT_EQ(parse_exact(buf, len, &info), TSR_ERR_IO);
    ASSERT_CONTAINS(info.message, "not a .npy file");
    buf[0] = '\x93';
    buf[6] = 4;
    ASSERT_EQ(parse_exact(buf, len, &info), TSR_ERR_IO);
    ASSERT_CONTAINS(info.message, "version 4.0");
    buf[6] = 1;
    buf[7] = 1;
    ASSERT_EQ(parse_exact(buf, len, &info), TSR_ERR_IO);
    ASSERT_CONTAINS(info.message, "version 1.1");
    buf[7] = 0;
    ASSERT_EQ(parse_exact(buf, len - 1, &info), TSR_ERR_IO);
    ASSERT_CONTAINS(info.message, "truncated header");
    ASSERT_EQ(parse_exact(buf, 9, &info), TSR_ERR_IO);
    ASSERT_CONTAINS(info.message, "truncated header");
    ASSERT_EQ(parse_exact(buf, 0, &info), TSR_ERR_IO);
    /* A version 2.0 length beyond what we accept. */
    len = build(2, goods[0].dict, 64, buf, sizeof buf);
    buf[10] = 0x10;
    ASSERT_EQ(parse_exact(buf, len, &info), TSR_ERR_IO);
    ASSERT_CONTAINS(info.message, "larger than");

    /* The writer's headers parse back, for numpy's alignment of 64. */
    const int64_t shapes[][2] = {{0, 0}, {1, 1}, {7, 5}, {123456789, 3}, {1, 1000000000000}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        len = tsr__npy_write_header(shapes[s][0], shapes[s][1], buf, sizeof buf);
        ASSERT_TRUE(len > 0 && len % 64 == 0 && buf[len - 1] == '\n');
        ASSERT_EQ(parse_exact(buf, len, &info), TSR_OK);
        ASSERT_EQ(info.rows, shapes[s][0]);
        ASSERT_EQ(info.cols, shapes[s][1]);
        ASSERT_EQ(info.fortran_order, 0);
        ASSERT_EQ(info.dtype, TSR__NPY_F8);
        ASSERT_EQ(info.data_offset, len);
    }
    ASSERT_EQ(tsr__npy_write_header(3, 4, buf, 100), 0);
    ASSERT_EQ(tsr__npy_write_header(-1, 4, buf, sizeof buf), 0);

    /* Fuzz: every prefix and every single-byte mutation of each good
     * header, then random dicts built from the grammar's own tokens. */
    static const char subst[] = {0, '\x93', '\xff', '(', ')', ',', '\'', '"', ' ', '{', '}', ':',
                                 '0', '9', '-', 'L', '<', '>', '[', '\n', '\\'};
    for (size_t g = 0; g < sizeof goods / sizeof goods[0]; g++) {
        for (int v = 1; v <= 3; v++) {
            len = build(v, goods[g].dict, 16, buf, sizeof buf);
            for (size_t k = 0; k <= len; k++) fuzz_one(buf, k);
            for (size_t k = 0; k < len; k++) {
                char keep = buf[k];
                for (size_t s = 0; s < sizeof subst; s++) {
                    buf[k] = subst[s];
                    fuzz_one(buf, len);
                }
                buf[k] = keep;
            }
        }
    }
    static const char *tokens[] = {"{", "}", "(", ")", ",", ":", " ", "'descr'", "'shape'",
                                   "'fortran_order'", "'<f8'", "'<i8'", "'>f4'", "True",
                                   "False", "0", "7", "12L", "-1", "[", "'", "\"", "99999999999",
                                   "()", "(3,)", "(2, 5)"};
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (int iter = 0; iter < 200000; iter++) {
        char dict[512];
        size_t dl = 0;
        int ntok = 1 + (int)(state % 24);
        for (int t = 0; t < ntok; t++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            const char *tok = tokens[(state >> 33) % (sizeof tokens / sizeof tokens[0])];
            size_t tl = strlen(tok);
            if (dl + tl >= sizeof dict) break;
            memcpy(dict + dl, tok, tl);
            dl += tl;
        }
        dict[dl] = '\0';
        len = build(1 + iter % 3, dict, 1 + (size_t)(iter % 2) * 63, buf, sizeof buf);
        fuzz_one(buf, len);
        fuzz_one(buf, len - (size_t)(state >> 60) % (len < 16 ? 1 : 16));
    }
    printf("npy header: ok\n");
    return 0;
}
