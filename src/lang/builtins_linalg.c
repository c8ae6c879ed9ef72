/* Linear-algebra builtins: dot transpose solve cholesky.
 *
 * transpose of a 2-D value is lazy (tsr__arr.tof): nothing moves until
 * something needs the transposed tiles, and dot never does: aᵀ b is
 * tsr_matmul_tn(a, b), which multiplies each rank's own rows of a and b and
 * sums the partial products, so logistic regression's gradient Xᵀ r leaves X
 * where it is. 1-D values are m x 1 columns (or 1 x m rows) underneath. */
#include "lang/builtins_misc.h"
#include "array/array_internal.h"

tsr_array_t *tsr__misc_share(tsr_array_t *a) {
    tsr__array_retain(a);
    return a;
}

int tsr__misc_lazy_t(tsr__val *inner, tsr__val *out) {
    tsr__arr *a = tsr__as_arr(*inner);
    if (a->tof) {
        /* (transpose (transpose x)) is x itself. */
        *out = tsr__val_ref((tsr__val){.kind = TSR__V_ARRAY, .obj = &a->tof->hdr});
        tsr__val_drop(inner);
        return TSR_OK;
    }
    int rc = tsr__val_array(2, a->n, a->m, NULL, false, out);
    if (rc != TSR_OK) {
        tsr__val_drop(inner);
        return rc;
    }
    tsr__as_arr(*out)->tof = a; /* the reference moves from *inner */
    *inner = tsr__nil();
    return TSR_OK;
}

int tsr__misc_view(tsr__ctx *cx, tsr__arr *a, tsr_array_t **h, bool *trans) {
    if (a->ndim == 1) {
        if (a->row) {
            *h = a->row;
            *trans = false;
            return TSR_OK;
        }
        *trans = true;
        return tsr__arr_col(cx, a, h);
    }
    if (a->tof && !a->col) {
        *trans = true;
        return tsr__arr_get(cx, a->tof, h);
    }
    *trans = false;
    return tsr__arr_get(cx, a, h);
}

/* A new 1-D (m x 1 from the array layer) or 2-D value owning r. */
static int wrap(tsr__ctx *cx, int rc, int ndim, tsr_array_t *r, tsr__val *out) {
    if (rc != TSR_OK) return tsr__misc_fail(cx, rc);
    int64_t m, n;
    tsr_array_shape(r, &m, &n);
    rc = tsr__val_array(ndim, m, ndim == 1 ? 1 : n, r, false, out);
    if (rc != TSR_OK) return tsr__err(cx, rc, "out of memory");
    return TSR_OK;
}

/* The lazy-transpose source's handle when a is a lazy transpose, else NULL. */
static int lazy_source(tsr__ctx *cx, tsr__arr *a, tsr_array_t **h) {
    *h = NULL;
    if (a->ndim != 2 || !a->tof || a->col) return TSR_OK;
    return tsr__arr_get(cx, a->tof, h);
}

/* 1-D times 1-D: sum of the element-wise product, a number known later. */
static int dot_vv(tsr__ctx *cx, tsr__arr *a, tsr__arr *b, tsr__val *out) {
    int rc;
    tsr_array_t *x, *y, *p = NULL;
    tsr_future_t *f = NULL;
    if (a->row && b->row) {
        x = a->row;
        y = b->row;
    } else {
        if ((rc = tsr__arr_col(cx, a, &x)) != TSR_OK) return rc;
        if ((rc = tsr__arr_col(cx, b, &y)) != TSR_OK) return rc;
    }
    tsr_expr_t *e = tsr_ex_binary(TSR_MUL, tsr_ex_array(x), tsr_ex_array(y));
    rc = tsr_array_eval(e, &p);
    tsr_ex_free(&e);
    if (rc == TSR_OK) rc = tsr_array_reduce_async(p, TSR_SUM, &f);
    tsr_array_free(&p);
    if (rc != TSR_OK) return tsr__misc_fail(cx, rc);
    rc = tsr__val_pending(TSR__V_NUM, f, out);
    if (rc != TSR_OK) return tsr__err(cx, rc, "out of memory");
    return TSR_OK;
}

static int b_dot(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    (void)argc;
    tsr__arr *a, *b;
    int rc;
    char sa[64], sb[64];
    if ((rc = tsr__arg_arr(cx, argv, 0, &a)) != TSR_OK) return rc;
    if ((rc = tsr__arg_arr(cx, argv, 1, &b)) != TSR_OK) return rc;
    /* The inner dimensions: a's last, b's first. */
    int64_t ka = a->ndim == 2 ? a->n : a->m, kb = b->m;
    if (ka >= 0 && kb >= 0 && ka != kb) {
        const char *why = a->ndim == 2 ? (b->ndim == 2 ? "columns of the first must equal the rows of the second"
                                                       : "columns of the first must equal the length of the second")
                                       : (b->ndim == 2 ? "the length of the first must equal the rows of the second"
                                                       : "lengths must be equal");
        return tsr__err(cx, TSR_ERR_SHAPE, "shapes %s and %s do not match (%s)",
                        tsr__shape_text(a, sa, sizeof sa), tsr__shape_text(b, sb, sizeof sb), why);
    }
    if (cx->check) {
        if (a->ndim == 1 && b->ndim == 1) {
            *out = tsr__unknown(TSR__V_NUM);
            return TSR_OK;
        }
        if (a->ndim == 2 && b->ndim == 2) return tsr__val_array(2, a->m, b->n, NULL, false, out);
        return tsr__val_array(1, a->ndim == 2 ? a->m : b->n, 1, NULL, false, out);
    }
    if (a->ndim == 1 && b->ndim == 1) return dot_vv(cx, a, b, out);

    tsr_array_t *ta, *tb, *ha, *hb, *r = NULL;
    if ((rc = lazy_source(cx, a, &ta)) != TSR_OK) return rc;
    if ((rc = lazy_source(cx, b, &tb)) != TSR_OK) return rc;
    if (a->ndim == 2 && b->ndim == 2) {
        if (ta && tb) {
            /* aᵀ-form times bᵀ-form = (tb ta)ᵀ: one product, left lazy. */
            tsr__val inner = tsr__nil();
            rc = tsr_matmul(tb, ta, &r);
            if ((rc = wrap(cx, rc, 2, r, &inner)) != TSR_OK) return rc;
            return tsr__misc_lazy_t(&inner, out);
        }
        if ((rc = tsr__arr_get(cx, b, &hb)) != TSR_OK) return rc;
        if (ta) {
            rc = tsr_matmul_tn(ta, hb, &r);
        } else {
            if ((rc = tsr__arr_get(cx, a, &ha)) != TSR_OK) return rc;
            rc = tsr_matmul(ha, hb, &r);
        }
        return wrap(cx, rc, 2, r, out);
    }
    if (a->ndim == 2) { /* matrix times vector */
        if ((rc = tsr__arr_col(cx, b, &hb)) != TSR_OK) return rc;
        if (ta) {
            rc = tsr_matmul_tn(ta, hb, &r);
        } else {
            if ((rc = tsr__arr_get(cx, a, &ha)) != TSR_OK) return rc;
            rc = tsr_matmul(ha, hb, &r);
        }
        return wrap(cx, rc, 1, r, out);
    }
    /* vector times matrix: a b = bᵀ a as a column. */
    if ((rc = tsr__arr_col(cx, a, &ha)) != TSR_OK) return rc;
    if (tb) {
        rc = tsr_matmul(tb, ha, &r); /* b = tbᵀ, so bᵀ a = tb a */
    } else {
        if ((rc = tsr__arr_get(cx, b, &hb)) != TSR_OK) return rc;
        rc = tsr_matmul_tn(hb, ha, &r);
    }
    return wrap(cx, rc, 1, r, out);
}

static int b_transpose(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    (void)argc;
    tsr__arr *a;
    int rc = tsr__arg_arr(cx, argv, 0, &a);
    if (rc != TSR_OK) return rc;
    if (a->ndim == 1) { /* numpy: a 1-D array's transpose is itself */
        *out = tsr__val_ref(argv[0]);
        return TSR_OK;
    }
    tsr__val inner = tsr__val_ref(argv[0]);
    rc = tsr__misc_lazy_t(&inner, out);
    if (rc != TSR_OK) return tsr__err(cx, rc, "out of memory");
    return TSR_OK;
}

static int square(tsr__ctx *cx, tsr__arr *a, const char *what) {
    char s[64];
    if (a->ndim != 2)
        return tsr__err(cx, TSR_ERR_SHAPE, "%s must be a square 2-D array, got a 1-D array of %s",
                        what, tsr__shape_text(a, s, sizeof s));
    if (a->m >= 0 && a->n >= 0 && a->m != a->n)
        return tsr__err(cx, TSR_ERR_SHAPE, "%s must be square, got %s", what,
                        tsr__shape_text(a, s, sizeof s));
    return TSR_OK;
}

/* (solve a b): x with a x = b; b 1-D (result 1-D) or 2-D. */
static int b_solve(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    (void)argc;
    tsr__arr *a, *b;
    char sa[64], sb[64];
    int rc;
    if ((rc = tsr__arg_arr(cx, argv, 0, &a)) != TSR_OK) return rc;
    if ((rc = tsr__arg_arr(cx, argv, 1, &b)) != TSR_OK) return rc;
    if ((rc = square(cx, a, "the matrix")) != TSR_OK) return rc;
    int64_t order = a->m >= 0 ? a->m : a->n;
    if (order >= 0 && b->m >= 0 && order != b->m)
        return tsr__err(cx, TSR_ERR_SHAPE, "shapes %s and %s do not match (%s of b must equal the "
                        "order of a)", tsr__shape_text(a, sa, sizeof sa),
                        tsr__shape_text(b, sb, sizeof sb), b->ndim == 1 ? "the length" : "the rows");
    if (cx->check) return tsr__val_array(b->ndim, order >= 0 ? order : b->m, b->n, NULL, false, out);
    tsr_array_t *ha, *hb, *x = NULL;
    if ((rc = tsr__arr_get(cx, a, &ha)) != TSR_OK) return rc;
    if ((rc = (b->ndim == 1 ? tsr__arr_col(cx, b, &hb) : tsr__arr_get(cx, b, &hb))) != TSR_OK)
        return rc;
    rc = tsr_solve(ha, hb, &x);
    const char *sing = rc == TSR_ERR_RUNTIME ? strstr(tsr_error_message(), "(k=") : NULL;
    int k;
    if (sing && sscanf(sing, "(k=%d)", &k) == 1) /* the pivot by number, as the language says it */
        return tsr__err(cx, rc, "matrix is singular: U(%d,%d) is exactly zero (k=%d)", k, k, k);
    return wrap(cx, rc, b->ndim, x, out);
}

/* (cholesky a): lower-triangular l with l lᵀ = a. */
static int b_cholesky(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    (void)argc;
    tsr__arr *a;
    int rc;
    if ((rc = tsr__arg_arr(cx, argv, 0, &a)) != TSR_OK) return rc;
    if ((rc = square(cx, a, "the matrix")) != TSR_OK) return rc;
    if (cx->check) return tsr__val_array(2, a->m, a->n, NULL, false, out);
    tsr_array_t *ha, *l = NULL;
    if ((rc = tsr__arr_get(cx, a, &ha)) != TSR_OK) return rc;
    rc = tsr_cholesky(ha, &l);
    return wrap(cx, rc, 2, l, out);
}

const tsr__builtin tsr__builtins_linalg[] = {
    {"dot", 2, 2, b_dot, "(dot a b)"},
    {"transpose", 1, 1, b_transpose, "(transpose a)"},
    {"solve", 2, 2, b_solve, "(solve a b)"},
    {"cholesky", 1, 1, b_cholesky, "(cholesky a)"},
    {NULL, 0, 0, NULL, NULL},
};
