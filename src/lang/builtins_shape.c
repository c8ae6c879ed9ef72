/* Shape builtins: shape size list nth len slice concat reshape shift at.
 * Indices follow Python: negative ones count from the end; a slice that is
 * empty or reaches outside the array is an error (Python would clamp it,
 * which hides bugs in index arithmetic). */
#include "lang/builtins_misc.h"

#define BIG ((int64_t)1 << 53)

static int number_val(tsr__ctx *cx, int64_t x, tsr__val *out) {
    (void)cx;
    *out = x < 0 ? tsr__unknown(TSR__V_NUM) : tsr__number((double)x);
    return TSR_OK;
}

static int wrap(tsr__ctx *cx, int rc, int ndim, bool is_row, tsr_array_t *r, tsr__val *out) {
    if (rc != TSR_OK) return tsr__misc_fail(cx, rc);
    int64_t m, n;
    tsr_array_shape(r, &m, &n);
    if (ndim == 1 && is_row) m = n;
    rc = tsr__val_array(ndim, m, ndim == 1 ? 1 : n, r, ndim == 1 && is_row, out);
    if (rc != TSR_OK) return tsr__err(cx, rc, "out of memory");
    return TSR_OK;
}

/* (shape x) a list; (shape x k) one dimension. */
static int b_shape(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    tsr__arr *a;
    int rc = tsr__arg_arr(cx, argv, 0, &a);
    if (rc != TSR_OK) return rc;
    int64_t dims[2] = {a->m, a->n};
    if (argc == 2) {
        int64_t k;
        bool known;
        if ((rc = tsr__arg_int(cx, argv, 1, -BIG, BIG, &k, &known)) != TSR_OK) return rc;
        if (!known) {
            *out = tsr__unknown(TSR__V_NUM);
            return TSR_OK;
        }
        if (k < -a->ndim || k >= a->ndim)
            return tsr__err(cx, TSR_ERR_INVALID, "axis %lld is out of range for a %d-D array",
                            (long long)k, a->ndim);
        return number_val(cx, dims[k < 0 ? k + a->ndim : k], out);
    }
    tsr__val items[2];
    for (int i = 0; i < a->ndim; i++) number_val(cx, dims[i], &items[i]);
    rc = tsr__val_list(a->ndim, items, out);
    if (rc != TSR_OK) return tsr__err(cx, rc, "out of memory");
    return TSR_OK;
}

static int b_size(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    (void)argc;
    tsr__arr *a;
    int rc = tsr__arg_arr(cx, argv, 0, &a);
    if (rc != TSR_OK) return rc;
    int64_t n = a->ndim == 1 ? a->m : (a->m < 0 || a->n < 0 ? -1 : a->m * a->n);
    return number_val(cx, n, out);
}

static int b_list(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    int rc = tsr__val_list(argc, argv, out);
    if (rc != TSR_OK) return tsr__err(cx, rc, "out of memory");
    return TSR_OK;
}

static int b_nth(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    (void)argc;
    char buf[64];
    if (argv[0].kind != TSR__V_LIST)
        return tsr__err(cx, TSR_ERR_INVALID, "argument 1 must be a list, got a %s",
                        tsr__describe(argv[0], buf, sizeof buf));
    const tsr__list *l = (const tsr__list *)argv[0].obj;
    int64_t k;
    bool known;
    int rc = tsr__arg_int(cx, argv, 1, -BIG, BIG, &k, &known);
    if (rc != TSR_OK) return rc;
    if (!known) {
        /* Check mode: any item could come out; only a list of numbers
         * gives a known kind. */
        *out = tsr__unknown(TSR__V_NUM);
        return TSR_OK;
    }
    if (k < -(int64_t)l->n || k >= l->n)
        return tsr__err(cx, TSR_ERR_INVALID, "index %lld is out of range for a list of %d",
                        (long long)k, l->n);
    *out = tsr__val_ref(l->items[k < 0 ? k + l->n : k]);
    return TSR_OK;
}

/* (len x): a list's items, a string's characters, an array's first
 * dimension (as Python's len). */
static int b_len(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    (void)argc;
    char buf[64];
    switch (argv[0].kind) {
    case TSR__V_LIST: *out = tsr__number(((const tsr__list *)argv[0].obj)->n); return TSR_OK;
    case TSR__V_STR:
        *out = tsr__number((double)strlen(((const tsr__str *)argv[0].obj)->text));
        return TSR_OK;
    case TSR__V_ARRAY: return number_val(cx, tsr__as_arr(argv[0])->m, out);
    default:
        return tsr__err(cx, TSR_ERR_INVALID, "argument 1 must be a list, a string or an array, "
                        "got a %s", tsr__describe(argv[0], buf, sizeof buf));
    }
}

/* Python index range [k0, k1) over a dimension of length dim (-1 unknown)
 * into [*lo, *hi); *len -1 when not known yet. what: "rows", "columns",
 * "indices". */
static int range(tsr__ctx *cx, const char *what, tsr__arr *a, int64_t k0, bool known0,
                 int64_t k1, bool known1, int64_t dim, int64_t *lo, int64_t *hi, int64_t *len) {
    char s[64];
    *len = -1;
    if (!known0 || !known1) return TSR_OK;
    if (dim < 0) {
        if ((k0 < 0) != (k1 < 0)) return TSR_OK;
        if (k0 >= k1)
            return tsr__err(cx, TSR_ERR_SHAPE, "%s %lld:%lld are an empty range", what,
                            (long long)k0, (long long)k1);
        *len = k1 - k0;
        return TSR_OK;
    }
    int64_t a0 = k0 < 0 ? k0 + dim : k0, a1 = k1 < 0 ? k1 + dim : k1;
    if (a0 < 0 || a0 > dim || a1 < 0 || a1 > dim)
        return tsr__err(cx, TSR_ERR_SHAPE, "%s %lld:%lld are out of range for a %d-D array %s%s",
                        what, (long long)k0, (long long)k1, a->ndim,
                        a->ndim == 1 ? "of " : "", tsr__shape_text(a, s, sizeof s));
    if (a0 >= a1)
        return tsr__err(cx, TSR_ERR_SHAPE, "%s %lld:%lld of a %d-D array %s%s are empty", what,
                        (long long)k0, (long long)k1, a->ndim, a->ndim == 1 ? "of " : "",
                        tsr__shape_text(a, s, sizeof s));
    *lo = a0;
    *hi = a1;
    *len = a1 - a0;
    return TSR_OK;
}

/* (slice x r0 r1): 1-D elements or 2-D rows; (slice x r0 r1 c0 c1). */
static int b_slice(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    tsr__arr *a;
    char s[64];
    int rc = tsr__arg_arr(cx, argv, 0, &a);
    if (rc != TSR_OK) return rc;
    if (argc == 4)
        return tsr__err(cx, TSR_ERR_INVALID, "takes (slice x r0 r1) or (slice x r0 r1 c0 c1), "
                        "got 3 indices");
    if (argc == 5 && a->ndim == 1)
        return tsr__err(cx, TSR_ERR_SHAPE, "a 1-D array of %s has no columns to slice",
                        tsr__shape_text(a, s, sizeof s));
    int64_t k[4] = {0, 0, 0, 0};
    bool kn[4] = {true, true, true, true};
    for (int i = 0; i + 1 < argc; i++)
        if ((rc = tsr__arg_int(cx, argv, i + 1, -BIG, BIG, &k[i], &kn[i])) != TSR_OK) return rc;
    int64_t r0 = 0, r1 = 0, c0 = 0, c1 = a->n, rows, cols = a->n;
    rc = range(cx, a->ndim == 1 ? "indices" : "rows", a, k[0], kn[0], k[1], kn[1], a->m, &r0,
               &r1, &rows);
    if (rc != TSR_OK) return rc;
    if (argc == 5) {
        rc = range(cx, "columns", a, k[2], kn[2], k[3], kn[3], a->n, &c0, &c1, &cols);
        if (rc != TSR_OK) return rc;
    }
    if (cx->check) return tsr__val_array(a->ndim, rows, a->ndim == 1 ? 1 : cols, NULL, false, out);
    tsr_array_t *h, *r = NULL;
    bool trans;
    if ((rc = tsr__misc_view(cx, a, &h, &trans)) != TSR_OK) return rc;
    if (a->ndim == 1) {
        /* the view is a 1 x m row: its m x 1 column when trans */
        if (trans)
            rc = tsr_array_slice(h, r0, r1, 0, 1, &r);
        else
            rc = tsr_array_slice(h, 0, 1, r0, r1, &r);
        return wrap(cx, rc, 1, !trans, r, out);
    }
    if (!trans) {
        rc = tsr_array_slice(h, r0, r1, c0, c1, &r);
        return wrap(cx, rc, 2, false, r, out);
    }
    /* A lazy transpose: slice its source and stay lazy. */
    tsr__val inner = tsr__nil();
    rc = tsr_array_slice(h, c0, c1, r0, r1, &r);
    if ((rc = wrap(cx, rc, 2, false, r, &inner)) != TSR_OK) return rc;
    return tsr__misc_lazy_t(&inner, out);
}

/* (concat a b ... [axis]): a trailing number is the axis (default 0). */
static int b_concat(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    int rc, narr = argc;
    int64_t axis = 0;
    bool known = true;
    char s0[64], s1[64], d0[64], d1[64];
    if (argc >= 2 && tsr__is_scalar(argv[argc - 1])) {
        narr = argc - 1;
        if ((rc = tsr__arg_int(cx, argv, argc - 1, -2, 1, &axis, &known)) != TSR_OK) return rc;
    }
    if (narr < 1)
        return tsr__err(cx, TSR_ERR_INVALID, "needs at least one array");
    tsr__arr *first;
    if ((rc = tsr__arg_arr(cx, argv, 0, &first)) != TSR_OK) return rc;
    int ndim = first->ndim;
    if (known && (axis >= ndim || axis < -ndim))
        return tsr__err(cx, TSR_ERR_INVALID, "axis %lld is out of range for %d-D arrays",
                        (long long)axis, ndim);
    if (axis < 0) axis += ndim;
    int64_t along = 0, across = ndim == 1 ? 1 : (axis == 0 ? first->n : first->m);
    for (int i = 0; i < narr; i++) {
        tsr__arr *a;
        if ((rc = tsr__arg_arr(cx, argv, i, &a)) != TSR_OK) return rc;
        if (a->ndim != ndim)
            return tsr__err(cx, TSR_ERR_SHAPE, "all arrays must have the same number of "
                            "dimensions: argument 1 is a %s, argument %d a %s",
                            tsr__describe(argv[0], d0, sizeof d0), i + 1,
                            tsr__describe(argv[i], d1, sizeof d1));
        if (!known) continue;
        int64_t al = ndim == 1 || axis == 0 ? a->m : a->n;
        int64_t ac = ndim == 1 ? 1 : (axis == 0 ? a->n : a->m);
        along = along < 0 || al < 0 ? -1 : along + al;
        if (ac >= 0 && across >= 0 && ac != across)
            return tsr__err(cx, TSR_ERR_SHAPE, "shapes %s and %s do not match along axis %lld "
                            "(the %s must be equal)", tsr__shape_text(first, s0, sizeof s0),
                            tsr__shape_text(a, s1, sizeof s1), (long long)axis,
                            axis == 0 ? "columns" : "rows");
        if (across < 0) across = ac;
    }
    if (cx->check) {
        if (!known) return tsr__val_array(ndim, -1, ndim == 1 ? 1 : -1, NULL, false, out);
        if (ndim == 1) return tsr__val_array(1, along, 1, NULL, false, out);
        return tsr__val_array(2, axis == 0 ? along : across, axis == 0 ? across : along, NULL,
                              false, out);
    }
    if (narr == 1) {
        *out = tsr__val_ref(argv[0]);
        return TSR_OK;
    }
    tsr_array_t **hs = malloc(sizeof *hs * (size_t)narr), *r = NULL;
    if (!hs) return tsr__err(cx, TSR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < narr && rc == TSR_OK; i++) {
        tsr__arr *a = tsr__as_arr(argv[i]);
        rc = ndim == 1 ? tsr__arr_col(cx, a, &hs[i]) : tsr__arr_get(cx, a, &hs[i]);
    }
    if (rc == TSR_OK) {
        rc = tsr_array_concat(narr, hs, (int)axis, &r);
        rc = wrap(cx, rc, ndim, false, r, out);
    }
    free(hs);
    return rc;
}

/* (reshape x n) / (reshape x m n): only between a 1-D array and an m x 1 or
 * 1 x n 2-D array, which share their storage (a 1-D value's m x 1 column
 * form is an m x 1 array), so nothing moves. */
static int b_reshape(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    tsr__arr *a;
    char s[64];
    int rc = tsr__arg_arr(cx, argv, 0, &a);
    if (rc != TSR_OK) return rc;
    int64_t t[2] = {-1, 1};
    bool kn[2] = {true, true};
    for (int i = 0; i + 1 < argc; i++) {
        if ((rc = tsr__arg_int(cx, argv, i + 1, 0, BIG, &t[i], &kn[i])) != TSR_OK) return rc;
        if (!kn[i]) t[i] = -1;
    }
    int tdim = argc - 1;
    int64_t size = a->ndim == 1 ? a->m : (a->m < 0 || a->n < 0 ? -1 : a->m * a->n);
    /* Same shape: the value itself. */
    if (tdim == a->ndim && t[0] >= 0 && t[0] == a->m && (tdim == 1 || (t[1] >= 0 && t[1] == a->n))) {
        *out = tsr__val_ref(argv[0]);
        return TSR_OK;
    }
    if (tdim == 2 && a->ndim == 2)
        return tsr__err(cx, TSR_ERR_SHAPE, "only reshapes between a 1-D array and an m x 1 or "
                        "1 x n 2-D array (no data movement), got a 2-D array %s",
                        tsr__shape_text(a, s, sizeof s));
    if (tdim == 1 && a->ndim == 2 && a->m != 1 && a->n != 1 && a->m >= 0 && a->n >= 0)
        return tsr__err(cx, TSR_ERR_SHAPE, "only reshapes between a 1-D array and an m x 1 or "
                        "1 x n 2-D array (no data movement), got a 2-D array %s",
                        tsr__shape_text(a, s, sizeof s));
    if (tdim == 2 && t[0] != 1 && t[1] != 1 && t[0] >= 0 && t[1] >= 0)
        return tsr__err(cx, TSR_ERR_SHAPE, "only reshapes between a 1-D array and an m x 1 or "
                        "1 x n 2-D array (no data movement), not into %lldx%lld",
                        (long long)t[0], (long long)t[1]);
    int64_t tsize = tdim == 1 ? t[0] : (t[0] < 0 || t[1] < 0 ? -1 : t[0] * t[1]);
    if (tsize >= 0 && size >= 0 && tsize != size) {
        if (tdim == 1)
            return tsr__err(cx, TSR_ERR_SHAPE, "cannot reshape a %d-D array %s%s into %lld",
                            a->ndim, a->ndim == 1 ? "of " : "", tsr__shape_text(a, s, sizeof s),
                            (long long)t[0]);
        return tsr__err(cx, TSR_ERR_SHAPE, "cannot reshape a %d-D array %s%s into %lldx%lld",
                        a->ndim, a->ndim == 1 ? "of " : "", tsr__shape_text(a, s, sizeof s),
                        (long long)t[0], (long long)t[1]);
    }
    if (tdim == 1) {
        if (cx->check) return tsr__val_array(1, size >= 0 ? size : t[0], 1, NULL, false, out);
        /* 2-D m x 1 or 1 x n into 1-D: share the handle (a lazy transpose's
         * source is already the other form). */
        tsr_array_t *h;
        bool trans;
        if ((rc = tsr__misc_view(cx, a, &h, &trans)) != TSR_OK) return rc;
        int64_t hm, hn;
        tsr_array_shape(h, &hm, &hn);
        (void)trans;
        bool is_row = hm == 1 && hn != 1; /* the handle's own shape says which form it is */
        return wrap(cx, TSR_OK, 1, is_row, tsr__misc_share(h), out);
    }
    /* 1-D into m x 1 or 1 x n. */
    if (cx->check) {
        int64_t m = t[0], n = t[1];
        if (m < 0 && n == 1) m = size;
        if (n < 0 && m == 1) n = size;
        return tsr__val_array(2, m, n, NULL, false, out);
    }
    tsr_array_t *h;
    if (t[1] == 1) {
        if ((rc = tsr__arr_col(cx, a, &h)) != TSR_OK) return rc;
    } else {
        if ((rc = tsr__arr_row(cx, a, &h)) != TSR_OK) return rc;
    }
    return wrap(cx, TSR_OK, 2, false, tsr__misc_share(h), out);
}

/* (shift x di dj [fill]): out[i, j] = x[i + di, j + dj], fill outside.
 * A 1-D array shifts along its length (dj must be 0). */
static int b_shift(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    tsr__arr *a;
    char s[64];
    int64_t di, dj;
    bool k0, k1, kf = true;
    double fill = 0;
    int rc = tsr__arg_arr(cx, argv, 0, &a);
    if (rc == TSR_OK) rc = tsr__arg_int(cx, argv, 1, -BIG, BIG, &di, &k0);
    if (rc == TSR_OK) rc = tsr__arg_int(cx, argv, 2, -BIG, BIG, &dj, &k1);
    if (rc == TSR_OK && argc == 4) rc = tsr__arg_num(cx, argv, 3, &fill, &kf);
    if (rc != TSR_OK) return rc;
    if (a->ndim == 1 && k1 && dj != 0)
        return tsr__err(cx, TSR_ERR_SHAPE, "a 1-D array of %s has no columns to shift by %lld",
                        tsr__shape_text(a, s, sizeof s), (long long)dj);
    if (cx->check) return tsr__val_array(a->ndim, a->m, a->n, NULL, false, out);
    tsr_array_t *h, *r = NULL;
    if ((rc = (a->ndim == 1 ? tsr__arr_col(cx, a, &h) : tsr__arr_get(cx, a, &h))) != TSR_OK)
        return rc;
    rc = tsr_array_shift(h, di, a->ndim == 1 ? 0 : dj, fill, &r);
    return wrap(cx, rc, a->ndim, false, r, out);
}

/* (at x i) for 1-D, (at x i j) for 2-D: one element, a number known later
 * (a 1 x 1 slice reduced asynchronously; MAX of one element is exact, -0
 * included). */
static int b_at(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    tsr__arr *a;
    char s[64];
    int64_t k[2] = {0, 0};
    bool kn[2] = {true, true};
    int rc = tsr__arg_arr(cx, argv, 0, &a);
    if (rc != TSR_OK) return rc;
    if (argc - 1 != a->ndim)
        return tsr__err(cx, TSR_ERR_INVALID, "a %d-D array %s%s takes %d ind%s, got %d", a->ndim,
                        a->ndim == 1 ? "of " : "", tsr__shape_text(a, s, sizeof s), a->ndim,
                        a->ndim == 1 ? "ex" : "ices", argc - 1);
    for (int i = 0; i + 1 < argc; i++)
        if ((rc = tsr__arg_int(cx, argv, i + 1, -BIG, BIG, &k[i], &kn[i])) != TSR_OK) return rc;
    int64_t dims[2] = {a->m, a->n}, idx[2] = {0, 0};
    for (int i = 0; i < a->ndim; i++) {
        if (!kn[i] || dims[i] < 0) continue;
        idx[i] = k[i] < 0 ? k[i] + dims[i] : k[i];
        if (idx[i] < 0 || idx[i] >= dims[i]) {
            if (a->ndim == 1)
                return tsr__err(cx, TSR_ERR_SHAPE, "index %lld is out of range for a 1-D array "
                                "of %s", (long long)k[0], tsr__shape_text(a, s, sizeof s));
            return tsr__err(cx, TSR_ERR_SHAPE, "index (%lld, %lld) is out of range for a 2-D "
                            "array %s", (long long)k[0], (long long)k[1],
                            tsr__shape_text(a, s, sizeof s));
        }
    }
    if (cx->check) {
        *out = tsr__unknown(TSR__V_NUM);
        return TSR_OK;
    }
    tsr_array_t *h, *r = NULL;
    tsr_future_t *f = NULL;
    bool trans;
    if ((rc = tsr__misc_view(cx, a, &h, &trans)) != TSR_OK) return rc;
    int64_t i = a->ndim == 1 ? 0 : idx[0], j = a->ndim == 1 ? idx[0] : idx[1];
    if (trans)
        rc = tsr_array_slice(h, j, j + 1, i, i + 1, &r);
    else
        rc = tsr_array_slice(h, i, i + 1, j, j + 1, &r);
    if (rc == TSR_OK) rc = tsr_array_reduce_async(r, TSR_MAX, &f);
    tsr_array_free(&r);
    if (rc != TSR_OK) return tsr__misc_fail(cx, rc);
    rc = tsr__val_pending(TSR__V_NUM, f, out);
    if (rc != TSR_OK) return tsr__err(cx, rc, "out of memory");
    return TSR_OK;
}

const tsr__builtin tsr__builtins_shape[] = {
    {"shape", 1, 2, b_shape, "(shape x [axis])"},
    {"size", 1, 1, b_size, "(size x)"},
    {"list", 0, -1, b_list, "(list a ...)"},
    {"nth", 2, 2, b_nth, "(nth lst k)"},
    {"len", 1, 1, b_len, "(len x)"},
    {"slice", 3, 5, b_slice, "(slice x r0 r1 [c0 c1])"},
    {"concat", 1, -1, b_concat, "(concat a b ... [axis])"},
    {"reshape", 2, 3, b_reshape, "(reshape x m [n])"},
    {"shift", 3, 4, b_shift, "(shift x di dj [fill])"},
    {"at", 2, 3, b_at, "(at x i [j])"},
    {NULL, 0, 0, NULL, NULL},
};
