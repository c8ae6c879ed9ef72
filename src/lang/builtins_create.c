/* Builtins that make arrays: zeros ones full arange linspace identity random
 * randn. Sizes are integers >= 0 given as numbers or as one (list m n); in
 * check mode a size nobody knows yet makes an unknown dimension (-1). */
#include <math.h>

#include "lang/builtins_misc.h"

/* Largest size and seed accepted: doubles hold integers exactly up to 2^53. */
#define MAX_INT53 ((int64_t)1 << 53)

/* Argument k as an integer >= 0 ("size" or "seed" in the message), or
 * unknown (-1) in check mode. */
static int int_arg(tsr__ctx *cx, tsr__val *argv, int k, const char *what, int64_t *x) {
    bool known = true;
    int rc = tsr__arg_int(cx, argv, k, -MAX_INT53, MAX_INT53, x, &known);
    if (rc != TSR_OK) return rc;
    if (!known) {
        *x = -1;
        return TSR_OK;
    }
    if (*x < 0)
        return tsr__err(cx, TSR_ERR_INVALID, "argument %d must be a %s >= 0, got %lld", k + 1,
                        what, (long long)*x);
    return TSR_OK;
}

/* One list item as a size: a known integer >= 0, or unknown in check mode. */
static int list_size(tsr__ctx *cx, const tsr__list *l, int k, int64_t *x) {
    int rc = TSR_OK;
    char buf[64];
    tsr__val v = tsr__val_ref(l->items[k]);
    bool known = true;
    if (!tsr__is_scalar(v)) {
        rc = tsr__err(cx, TSR_ERR_INVALID, "shape item %d must be an integer >= 0, got a %s",
                      k + 1, tsr__describe(v, buf, sizeof buf));
        goto done;
    }
    rc = tsr__num_force(cx, &v, &known);
    if (rc != TSR_OK) goto done;
    if (!known) {
        *x = -1;
        goto done;
    }
    if (!(v.num >= 0 && v.num <= (double)MAX_INT53 && v.num == floor(v.num))) {
        rc = tsr__err(cx, TSR_ERR_INVALID, "shape item %d must be an integer >= 0, got %.17g",
                      k + 1, v.num);
        goto done;
    }
    *x = (int64_t)v.num;
done:
    tsr__val_drop(&v);
    return rc;
}

/* The shape in argv[0 .. nsize): (n), (m n) or one list of 1 or 2 sizes.
 * *ndim 1 or 2; unknown sizes are -1. */
static int get_shape(tsr__ctx *cx, int nsize, tsr__val *argv, int *ndim, int64_t *m, int64_t *n) {
    int rc;
    *n = 1;
    if (nsize == 1 && argv[0].kind == TSR__V_LIST) {
        const tsr__list *l = (const tsr__list *)argv[0].obj;
        if (l->n < 1 || l->n > 2)
            return tsr__err(cx, TSR_ERR_SHAPE,
                            "a shape list has 1 or 2 sizes (arrays are 1-D or 2-D), got %d", l->n);
        *ndim = l->n;
        if ((rc = list_size(cx, l, 0, m)) != TSR_OK) return rc;
        if (l->n == 2 && (rc = list_size(cx, l, 1, n)) != TSR_OK) return rc;
        return TSR_OK;
    }
    *ndim = nsize;
    for (int k = 0; k < nsize; k++) {
        int64_t x = -1;
        if ((rc = int_arg(cx, argv, k, "size", &x)) != TSR_OK) return rc;
        if (k == 0)
            *m = x;
        else
            *n = x;
    }
    return TSR_OK;
}

/* The result value: shape only in check mode, else owning a (m x n, or
 * m x 1 for 1-D). */
static int result(tsr__ctx *cx, int rc, int ndim, int64_t m, int64_t n, tsr_array_t *a,
                  tsr__val *out) {
    if (rc != TSR_OK) return tsr__misc_fail(cx, rc);
    rc = tsr__val_array(ndim, m, ndim == 1 ? 1 : n, a, false, out);
    if (rc != TSR_OK) return tsr__err(cx, rc, "out of memory");
    return TSR_OK;
}

static int fill_like(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out, double v) {
    int ndim, rc;
    int64_t m, n;
    if ((rc = get_shape(cx, argc, argv, &ndim, &m, &n)) != TSR_OK) return rc;
    if (cx->check) return tsr__val_array(ndim, m, n, NULL, false, out);
    tsr_array_t *a = NULL;
    rc = tsr_array_full(cx->dist, m, n, v, &a);
    return result(cx, rc, ndim, m, n, a, out);
}

static int b_zeros(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    return fill_like(cx, argc, argv, out, 0.0);
}

static int b_ones(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    return fill_like(cx, argc, argv, out, 1.0);
}

/* (full n v) (full m n v) (full (list m n) v). A value known only later
 * (a pending reduction) fills through one fused pass that reads it, so
 * nothing waits. */
static int b_full(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    int ndim, rc;
    int64_t m, n;
    char buf[64];
    tsr__val *v = &argv[argc - 1];
    if (!tsr__is_scalar(*v))
        return tsr__err(cx, TSR_ERR_INVALID, "the fill value must be a number, got a %s",
                        tsr__describe(*v, buf, sizeof buf));
    if ((rc = get_shape(cx, argc - 1, argv, &ndim, &m, &n)) != TSR_OK) return rc;
    if (cx->check) return tsr__val_array(ndim, m, n, NULL, false, out);
    tsr_array_t *a = NULL;
    if (v->state == TSR__NUM_KNOWN) {
        rc = tsr_array_full(cx->dist, m, n, v->num, &a);
    } else {
        tsr_array_t *z = NULL;
        rc = tsr_array_zeros(cx->dist, m, n, &z);
        if (rc == TSR_OK) {
            tsr_expr_t *e = tsr_ex_where(tsr_ex_array(z), tsr_ex_scalar(0.0), tsr__scalar_leaf(*v));
            rc = tsr_array_eval(e, &a);
            tsr_ex_free(&e);
            tsr_array_free(&z);
        }
    }
    return result(cx, rc, ndim, m, n, a, out);
}

/* A number argument, or unknown (check mode). */
static int num_arg(tsr__ctx *cx, tsr__val *argv, int k, double *x, bool *known) {
    int rc = tsr__arg_num(cx, argv, k, x, known);
    if (rc == TSR_OK && *known && !isfinite(*x))
        return tsr__err(cx, TSR_ERR_INVALID, "argument %d must be finite, got %g", k + 1, *x);
    return rc;
}

/* (arange stop) (arange start stop) (arange start stop step): numpy's
 * length, ceil((stop - start) / step), and values start + i * step. */
static int b_arange(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    double start = 0, stop, step = 1;
    bool k0 = true, k1 = true, k2 = true;
    int rc;
    if (argc == 1) {
        rc = num_arg(cx, argv, 0, &stop, &k1);
    } else {
        rc = num_arg(cx, argv, 0, &start, &k0);
        if (rc == TSR_OK) rc = num_arg(cx, argv, 1, &stop, &k1);
        if (rc == TSR_OK && argc == 3) rc = num_arg(cx, argv, 2, &step, &k2);
    }
    if (rc != TSR_OK) return rc;
    if (k2 && step == 0) return tsr__err(cx, TSR_ERR_INVALID, "step must not be 0");
    int64_t len = -1;
    if (k0 && k1 && k2) {
        double l = ceil((stop - start) / step);
        if (!(l <= (double)MAX_INT53))
            return tsr__err(cx, TSR_ERR_INVALID, "too many elements: (%g - %g) / %g", stop, start,
                            step);
        len = l > 0 ? (int64_t)l : 0;
    }
    if (cx->check) return tsr__val_array(1, len, 1, NULL, false, out);
    tsr_array_t *a = NULL;
    rc = tsr_array_arange(cx->dist, len, start, step, &a);
    return result(cx, rc, 1, len, 1, a, out);
}

/* (linspace start stop n): n points, both ends included. */
static int b_linspace(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    (void)argc;
    double start, stop;
    bool k0, k1;
    int64_t n = -1;
    int rc = num_arg(cx, argv, 0, &start, &k0);
    if (rc == TSR_OK) rc = num_arg(cx, argv, 1, &stop, &k1);
    if (rc == TSR_OK) rc = int_arg(cx, argv, 2, "size", &n);
    if (rc != TSR_OK) return rc;
    if (cx->check) return tsr__val_array(1, n, 1, NULL, false, out);
    tsr_array_t *a = NULL;
    rc = tsr_array_linspace(cx->dist, start, stop, n, &a);
    return result(cx, rc, 1, n, 1, a, out);
}

/* (identity n): n x n. */
static int b_identity(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    (void)argc;
    int64_t n = -1;
    int rc = int_arg(cx, argv, 0, "size", &n);
    if (rc != TSR_OK) return rc;
    if (cx->check) return tsr__val_array(2, n, n, NULL, false, out);
    tsr_array_t *a = NULL;
    rc = tsr_array_identity(cx->dist, n, &a);
    return result(cx, rc, 2, n, n, a, out);
}

/* (random n seed) (random m n seed) (random (list m n) seed), and randn:
 * Philox keyed on (seed, index), so any rank count gives the same array. */
static int random_like(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out, bool normal) {
    int ndim, rc;
    int64_t m, n, seed = 0;
    if ((rc = get_shape(cx, argc - 1, argv, &ndim, &m, &n)) != TSR_OK) return rc;
    if ((rc = int_arg(cx, argv, argc - 1, "seed", &seed)) != TSR_OK) return rc;
    if (cx->check) return tsr__val_array(ndim, m, n, NULL, false, out);
    tsr_array_t *a = NULL;
    if (normal)
        rc = tsr_array_random_normal(cx->dist, m, n, (uint64_t)seed, 0.0, 1.0, &a);
    else
        rc = tsr_array_random_uniform(cx->dist, m, n, (uint64_t)seed, 0.0, 1.0, &a);
    return result(cx, rc, ndim, m, n, a, out);
}

static int b_random(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    return random_like(cx, argc, argv, out, false);
}

static int b_randn(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {
    return random_like(cx, argc, argv, out, true);
}

const tsr__builtin tsr__builtins_create[] = {
    {"zeros", 1, 2, b_zeros, "(zeros n [m])"},
    {"ones", 1, 2, b_ones, "(ones n [m])"},
    {"full", 2, 3, b_full, "(full n [m] value)"},
    {"arange", 1, 3, b_arange, "(arange [start] stop [step])"},
    {"linspace", 3, 3, b_linspace, "(linspace start stop n)"},
    {"identity", 1, 1, b_identity, "(identity n)"},
    {"random", 2, 3, b_random, "(random n [m] seed)"},
    {"randn", 2, 3, b_randn, "(randn n [m] seed)"},
    {NULL, 0, 0, NULL, NULL},
};
