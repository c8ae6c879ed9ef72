/* I/O builtins (load save print) and the print format of every value
 * (tsr__format_value), shared with `tessera run`'s result.
 *
 * Numbers print in the shortest form that reads back to the same double,
 * as Python's repr does; arrays in numpy's bracket layout without padding.
 * Only small parts of an array ever reach one rank: the whole array when it
 * has at most 1000 elements, else its corners (3 per axis end, like numpy's
 * summary), gathered on rank 0 and broadcast so every rank makes the same
 * text. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "lang/builtins_misc.h"
#include "array/array_internal.h"
#include "array/npy_io.h"
#include "tessera/runtime.h"

#define SUMMARY_THRESHOLD 1000 /* numpy's print threshold */
#define EDGE 3                 /* numpy's edgeitems */

/* ---- growing text ---- */

typedef struct text {
    char *s;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...) TSR_PRINTF(2, 3);
static void put(text *t, const char *fmt, ...) {
    if (t->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = 1;
        return;
    }
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap < t->len + (size_t)n + 1) cap *= 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->failed = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* ---- numbers ---- */

/* Shortest round-trip text of x, laid out like Python's repr but without
 * ".0" on integral values: fixed notation for decimal exponents -4..15,
 * else d.ddde+XX. */
static void format_number(double x, char *out, size_t size) {
    if (x != x) {
        snprintf(out, size, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(out, size, x < 0 ? "-inf" : "inf");
        return;
    }
    if (x == 0) {
        snprintf(out, size, signbit(x) ? "-0" : "0");
        return;
    }
    char e[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    /* e is [-]d[.ddd]e[+-]XX: split into sign, digits and exponent. */
    const char *p = e;
    int neg = *p == '-';
    if (neg) p++;
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int exp10 = atoi(p + 1);
    char *o = out;
    size_t left = size;
#define EMIT(...)                                                                        \
    do {                                                                                 \
        int k_ = snprintf(o, left, __VA_ARGS__);                                         \
        if (k_ > 0 && (size_t)k_ < left) {                                               \
            o += k_;                                                                     \
            left -= (size_t)k_;                                                          \
        }                                                                                \
    } while (0)
    if (neg) EMIT("-");
    if (exp10 < -4 || exp10 >= 16) {
        EMIT("%c", digits[0]);
        if (nd > 1) EMIT(".%s", digits + 1);
        EMIT("e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        EMIT("0.");
        for (int i = 0; i < -exp10 - 1; i++) EMIT("0");
        EMIT("%s", digits);
    } else {
        for (int i = 0; i <= exp10; i++) EMIT("%c", i < nd ? digits[i] : '0');
        if (nd > exp10 + 1) EMIT(".%s", digits + exp10 + 1);
    }
#undef EMIT
}

/* ---- arrays ---- */

/* Elements [r0, r1) x [c0, c1) of the value viewed through (h, trans),
 * row-major into dst, on every rank: gathered on rank 0, then broadcast. */
static int fetch(tsr_array_t *h, bool trans, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                 double *dst) {
    int rc = TSR_OK;
    tsr_array_t *part = NULL, *src = h;
    int64_t hm, hn, rows = r1 - r0, cols = c1 - c0, count = rows * cols;
    double *buf = NULL;
    tsr_array_shape(h, &hm, &hn);
    int64_t s0 = trans ? c0 : r0, s1 = trans ? c1 : r1, t0 = trans ? r0 : c0, t1 = trans ? r1 : c1;
    if (!(s0 == 0 && s1 == hm && t0 == 0 && t1 == hn)) {
        TSR_CHECK(tsr_array_slice(h, s0, s1, t0, t1, &part));
        src = part;
    }
    buf = malloc(sizeof(double) * (size_t)(count ? count : 1));
    TSR_CHECK_MSG(buf, TSR_ERR_NOMEM, "no memory for %lld elements", (long long)count);
    TSR_CHECK(tsr_array_gather(src, 0, tsr_rank() == 0 ? buf : NULL));
    if (tsr_nranks() > 1) {
        MPI_Request req;
        TSR_MPI(MPI_Ibcast(buf, (int)count, MPI_DOUBLE, 0, tsr__array_comm(), &req));
        TSR_CHECK(tsr__mpi_wait_helping(&req, "print"));
    }
    /* buf is src row-major: (s1 - s0) x (t1 - t0). */
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            dst[i * cols + j] = trans ? buf[j * rows + i] : buf[i * cols + j];
fail:
    free(buf);
    tsr_array_free(&part);
    return rc;
}

/* The indices shown along an axis of length n: all, or the first and last
 * EDGE when summarised (*gap then says where "..." goes). */
static int64_t shown(int64_t n, bool summarise, int64_t *idx, int64_t *gap) {
    *gap = -1;
    if (!summarise || n <= 2 * EDGE) {
        for (int64_t i = 0; i < n; i++) idx[i] = i;
        return n;
    }
    for (int i = 0; i < EDGE; i++) {
        idx[i] = i;
        idx[EDGE + i] = n - EDGE + i;
    }
    *gap = EDGE;
    return 2 * EDGE;
}

static int format_array(tsr__ctx *cx, tsr__arr *a, text *t) {
    int rc = TSR_OK;
    int64_t m = a->ndim == 1 ? 1 : a->m, n = a->ndim == 1 ? a->m : a->n;
    if (m < 0 || n < 0) { /* check mode: shape only */
        char s[64];
        put(t, "<%d-D array %s>", a->ndim, tsr__shape_text(a, s, sizeof s));
        return TSR_OK;
    }
    if (m * n == 0) {
        put(t, "[]");
        return TSR_OK;
    }
    tsr_array_t *h;
    bool trans;
    if ((rc = tsr__misc_view(cx, a, &h, &trans)) != TSR_OK) return rc;
    bool summarise = m * n > SUMMARY_THRESHOLD;
    int64_t *ri = NULL, *ci = NULL, rgap, cgap;
    double *v = NULL;
    int64_t cap_r = summarise && m > 2 * EDGE ? 2 * EDGE : m;
    int64_t cap_c = summarise && n > 2 * EDGE ? 2 * EDGE : n;
    ri = malloc(sizeof *ri * (size_t)cap_r);
    ci = malloc(sizeof *ci * (size_t)cap_c);
    v = malloc(sizeof *v * (size_t)(cap_r * cap_c));
    if (!ri || !ci || !v) {
        rc = tsr__err(cx, TSR_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t nr = shown(m, summarise, ri, &rgap), nc = shown(n, summarise, ci, &cgap);
    /* One fetch per block of contiguous shown rows x shown columns. */
    int64_t rb[2][2] = {{0, nr}, {0, 0}}, cb[2][2] = {{0, nc}, {0, 0}};
    int nrb = 1, ncb = 1;
    if (rgap >= 0) {
        rb[0][1] = rgap;
        rb[1][0] = rgap;
        rb[1][1] = nr;
        nrb = 2;
    }
    if (cgap >= 0) {
        cb[0][1] = cgap;
        cb[1][0] = cgap;
        cb[1][1] = nc;
        ncb = 2;
    }
    for (int x = 0; x < nrb; x++) {
        for (int y = 0; y < ncb; y++) {
            int64_t br = rb[x][1] - rb[x][0], bc = cb[y][1] - cb[y][0];
            double *blk = malloc(sizeof *blk * (size_t)(br * bc));
            if (!blk) {
                rc = tsr__err(cx, TSR_ERR_NOMEM, "out of memory");
                goto done;
            }
            rc = fetch(h, trans, ri[rb[x][0]], ri[rb[x][0]] + br, ci[cb[y][0]], ci[cb[y][0]] + bc,
                       blk);
            if (rc == TSR_OK)
                for (int64_t i = 0; i < br; i++)
                    for (int64_t j = 0; j < bc; j++)
                        v[(rb[x][0] + i) * nc + cb[y][0] + j] = blk[i * bc + j];
            free(blk);
            if (rc != TSR_OK) {
                rc = tsr__misc_fail(cx, rc);
                goto done;
            }
        }
    }
    char num[40];
    if (a->ndim == 2) put(t, "[");
    for (int64_t i = 0; i < nr; i++) {
        if (i == rgap) put(t, "\n ...");
        if (i > 0) put(t, "\n ");
        put(t, "[");
        for (int64_t j = 0; j < nc; j++) {
            if (j == cgap) put(t, " ...");
            format_number(v[i * nc + j], num, sizeof num);
            put(t, "%s%s", j > 0 ? " " : "", num);
        }
        put(t, "]");
    }
    if (a->ndim == 2) put(t, "]");
done:
    free(ri);
    free(ci);
    free(v);
    return rc;
}

static int format_into(tsr__ctx *cx, tsr__val v, text *t) {
    int rc = TSR_OK;
    char num[40];
    switch (v.kind) {
    case TSR__V_NIL: put(t, "nil"); break;
    case TSR__V_NUM:
    case TSR__V_BOOL: {
        tsr__val c = tsr__val_ref(v);
        bool known = true;
        rc = tsr__num_force(cx, &c, &known);
        if (rc == TSR_OK) {
            if (!known)
                put(t, "?");
            else if (v.kind == TSR__V_BOOL)
                put(t, c.num != 0 ? "true" : "false");
            else {
                format_number(c.num, num, sizeof num);
                put(t, "%s", num);
            }
        }
        tsr__val_drop(&c);
        break;
    }
    case TSR__V_STR: put(t, "%s", ((const tsr__str *)v.obj)->text); break;
    case TSR__V_LIST: {
        const tsr__list *l = (const tsr__list *)v.obj;
        put(t, "(");
        for (int i = 0; i < l->n && rc == TSR_OK; i++) {
            if (i > 0) put(t, " ");
            rc = format_into(cx, l->items[i], t);
        }
        put(t, ")");
        break;
    }
    case TSR__V_ARRAY: rc = format_array(cx, tsr__as_arr(v), t); break;
    case TSR__V_FUNC: put(t, "<function %s>", ((const tsr__func *)v.obj)->name); break;
    default: put(t, "<?>"); break;
    }
    return rc;
}

int tsr__format_value(tsr__ctx *cx, tsr__val v, char **out) {
    text t = {0};
    *out = NULL;
    put(&t, "%s", "");
    int rc = format_into(cx, v, &t);
    if (rc == TSR_OK && t.failed) rc = tsr__err(cx, TSR_ERR_NOMEM, "out of memory");
    if (rc != TSR_OK) {
        free(t.s);
        return rc;
    }
    *out = t.s;
    return TSR_OK;
}

/* ---- builtins ---- */

/* (load "f.npy"): 2-D file a 2-D array, 1-D a 1-D array, 0-D a number. The
 * check pass reads the header alone; a file it cannot read yet (a program
 * may save it before loading it) is an unknown 2-D array there, and the run
 * reports what is wrong with it. */
static int b_load(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    (void)argc;
    const char *path;
    int rc = tsr__arg_str(cx, argv, 0, &path);
    if (rc != TSR_OK) return rc;
    int ndim = 0;
    int64_t m = 0, n = 0;
    if (cx->check) {
        if (tsr_npy_info(path, &ndim, &m, &n) != TSR_OK) {
            tsr_error_clear();
            return tsr__val_array(2, -1, -1, NULL, false, out);
        }
        if (ndim == 0) {
            *out = tsr__unknown(TSR__V_NUM);
            return TSR_OK;
        }
        return tsr__val_array(ndim, m, ndim == 1 ? 1 : n, NULL, false, out);
    }
    /* The collective load first: its errors are agreed on every rank. */
    tsr_array_t *a = NULL;
    if ((rc = tsr_array_load(cx->dist, path, &a)) != TSR_OK) {
        /* The commonest case in the plain words of the shell: "PATH: No
         * such file or directory". */
        struct stat st;
        if (rc == TSR_ERR_IO && stat(path, &st) != 0 && errno == ENOENT)
            return tsr__err(cx, rc, "%s: %s", path, strerror(ENOENT));
        return tsr__misc_fail(cx, rc);
    }
    if ((rc = tsr_npy_info(path, &ndim, &m, &n)) != TSR_OK) {
        tsr_array_free(&a);
        return tsr__misc_fail(cx, rc);
    }
    if (ndim == 0) {
        tsr_future_t *f = NULL;
        rc = tsr_array_reduce_async(a, TSR_MAX, &f); /* one element: exact */
        tsr_array_free(&a);
        if (rc != TSR_OK) return tsr__misc_fail(cx, rc);
        rc = tsr__val_pending(TSR__V_NUM, f, out);
    } else {
        tsr_array_shape(a, &m, &n);
        rc = tsr__val_array(ndim, m, ndim == 1 ? 1 : n, a, false, out);
    }
    if (rc != TSR_OK) return tsr__err(cx, rc, "out of memory");
    return TSR_OK;
}

/* (save x "f.npy"): 1-D arrays as shape (n,); a lazy transpose is formed
 * first. Waits for x. The check pass looks at the target (below). */
static int b_save(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    (void)argc;
    tsr__arr *a;
    const char *path;
    int rc = tsr__arg_arr(cx, argv, 0, &a);
    if (rc == TSR_OK) rc = tsr__arg_str(cx, argv, 1, &path);
    if (rc != TSR_OK) return rc;
    *out = tsr__nil();
    if (cx->check) {
        /* Before any array work: a directory that is missing, read-only or
         * a file, or (shape known) a file system without room for it, fails
         * here rather than after the computation. */
        char why[600];
        double bytes = a->m >= 0 && a->n >= 0 ? 128.0 + (double)a->m * (double)a->n * 8.0 : 0;
        if (tsr__npy_check_target(path, bytes, why, sizeof why) != TSR_OK)
            return tsr__err(cx, TSR_ERR_IO, "%s: %s", path, why);
        return TSR_OK;
    }
    tsr_array_t *h;
    if (a->ndim == 1 && a->row && !a->col)
        h = a->row;
    else if ((rc = tsr__arr_get(cx, a, &h)) != TSR_OK)
        return rc;
    if ((rc = tsr_array_save_nd(h, path, a->ndim)) != TSR_OK) return tsr__misc_fail(cx, rc);
    return TSR_OK;
}

/* (print a ...): every rank formats (arrays gather collectively), rank 0
 * writes one line. */
static int b_print(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    *out = tsr__nil();
    if (cx->check) return TSR_OK;
    text line = {0};
    int rc = TSR_OK;
    for (int i = 0; i < argc; i++) {
        char *s = NULL;
        if ((rc = tsr__format_value(cx, argv[i], &s)) != TSR_OK) break;
        put(&line, "%s%s", i > 0 ? " " : "", s);
        free(s);
    }
    if (rc == TSR_OK && line.failed) rc = tsr__err(cx, TSR_ERR_NOMEM, "out of memory");
    if (rc == TSR_OK && tsr_rank() == 0) {
        fputs(line.s ? line.s : "", stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    free(line.s);
    return rc;
}

const tsr__builtin tsr__builtins_io[] = {
    {"load", 1, 1, b_load, "(load \"file.npy\")"},
    {"save", 2, 2, b_save, "(save x \"file.npy\")"},
    {"print", 0, -1, b_print, "(print a ...)"},
    {NULL, 0, 0, NULL, NULL},
};
