/* Reductions: sum mean min max norm argmin argmax, with an optional axis.
 *
 * Without an axis (or axis 0 of a 1-D array) the value is a number that is
 * still a future (tsr_array_reduce_async): nothing waits until control flow
 * or print needs it. With an axis on a 2-D array the value is 1-D, in the
 * form the array layer gives: axis 0 a 1 x n row, axis 1 an m x 1 column.
 * numpy's rules: an axis may be negative (-1 is the last); min, max, argmin
 * and argmax of nothing are errors; sum of nothing 0, mean NaN. A number
 * reduces to itself (argmin/argmax 0, norm its absolute value), as np.sum(3).
 *
 * A lazy transpose (tsr__arr.tof) is reduced without materialising it where
 * the answer does not depend on element order: whole-array sum/mean/min/max/
 * norm, and any axis reduction (axis k of aᵀ is axis 1-k of a). Only a
 * whole-array argmin/argmax needs the row-major order of the transpose. */
#include <stdio.h>

#include "lang/lang_internal.h"

static const char *const op_name[] = {"sum", "mean", "min", "max", "norm", "argmin", "argmax"};

static bool needs_elements(int op) {
    return op == TSR_MIN || op == TSR_MAX || op == TSR_ARGMIN || op == TSR_ARGMAX;
}

static int empty_error(tsr__ctx *cx, int op) {
    return tsr__err(cx, TSR_ERR_SHAPE,
                    "zero-size array to reduction operation %s which has no identity",
                    op_name[op]);
}

/* A number reduced: itself (as a number), 0 for arg ops, |x| for norm. */
static int reduce_scalar(tsr__ctx *cx, int op, tsr__val x, tsr__val *out) {
    if (op == TSR_ARGMIN || op == TSR_ARGMAX) {
        *out = tsr__number(0);
        return TSR_OK;
    }
    if (op == TSR_NORM2) return tsr__scalar_op(cx, 16 + TSR_ABS, x, tsr__nil(), out);
    /* booleans become numbers, as np.sum(True) == 1 */
    return tsr__scalar_op(cx, TSR_ADD, x, tsr__number(0), out);
}

/* Whole array to a pending number. */
static int reduce_all(tsr__ctx *cx, int op, tsr__arr *a, tsr__val *out) {
    int64_t count = a->ndim == 1 ? a->m : a->m * a->n;
    if (a->m >= 0 && (a->ndim == 1 || a->n >= 0) && count == 0 && needs_elements(op))
        return empty_error(cx, op);
    if (cx->check) {
        *out = tsr__unknown(TSR__V_NUM);
        return TSR_OK;
    }
    int rc;
    tsr_array_t *h = NULL;
    if (a->ndim == 1) {
        /* either form: a flat index of m x 1 or 1 x m is the same i */
        h = a->col ? a->col : a->row;
        if (!h && (rc = tsr__arr_col(cx, a, &h)) != TSR_OK) return rc;
    } else if (a->tof && !a->col && op != TSR_ARGMIN && op != TSR_ARGMAX) {
        if ((rc = tsr__arr_get(cx, a->tof, &h)) != TSR_OK) return rc;
    } else if ((rc = tsr__arr_get(cx, a, &h)) != TSR_OK) {
        return rc;
    }
    tsr_future_t *f = NULL;
    rc = tsr_array_reduce_async(h, op, &f);
    if (rc != TSR_OK) return tsr__err_from(cx, rc);
    rc = tsr__val_pending(TSR__V_NUM, f, out);
    if (rc != TSR_OK) return tsr__err(cx, TSR_ERR_NOMEM, "out of memory");
    return TSR_OK;
}

/* 2-D along axis 0 (length n) or 1 (length m): a 1-D value. */
static int reduce_axis(tsr__ctx *cx, int op, tsr__arr *a, int axis, tsr__val *out) {
    int64_t along = axis == 0 ? a->m : a->n, len = axis == 0 ? a->n : a->m;
    if (along == 0 && needs_elements(op)) return empty_error(cx, op);
    if (cx->check) return tsr__val_array(1, len, 1, NULL, false, out);
    int rc;
    tsr_array_t *h = NULL, *r = NULL;
    int lay_axis = axis;
    if (a->tof && !a->col) {
        if ((rc = tsr__arr_get(cx, a->tof, &h)) != TSR_OK) return rc;
        lay_axis = 1 - axis;
    } else if ((rc = tsr__arr_get(cx, a, &h)) != TSR_OK) {
        return rc;
    }
    rc = tsr_array_reduce_axis(h, op, lay_axis, &r);
    if (rc != TSR_OK) return tsr__err_from(cx, rc);
    /* layer axis 0 gives 1 x len (a row), axis 1 gives len x 1 (a column) */
    rc = tsr__val_array(1, len, 1, r, lay_axis == 0, out);
    if (rc != TSR_OK) return tsr__err(cx, TSR_ERR_NOMEM, "out of memory");
    return TSR_OK;
}

static int reduce_call(tsr__ctx *cx, int op, int argc, tsr__val *argv, tsr__val *out) {
    tsr__val x = argv[0];
    char buf[64];
    if (!tsr__is_scalar(x) && x.kind != TSR__V_ARRAY)
        return tsr__err(cx, TSR_ERR_INVALID, "argument 1 must be an array or a number, got %s%s",
                        x.kind == TSR__V_NIL ? "" : "a ", tsr__describe(x, buf, sizeof buf));
    int ndim = x.kind == TSR__V_ARRAY ? tsr__as_arr(x)->ndim : 0;
    if (argc < 2) {
        if (ndim == 0) return reduce_scalar(cx, op, x, out);
        return reduce_all(cx, op, tsr__as_arr(x), out);
    }
    int64_t axis = 0;
    bool known = true;
    int rc = tsr__arg_int(cx, argv, 1, -1000000, 1000000, &axis, &known);
    if (rc != TSR_OK) return rc;
    if (known && (axis >= ndim || axis < -ndim)) {
        if (ndim == 0)
            return tsr__err(cx, TSR_ERR_INVALID, "axis %lld is out of range for a number",
                            (long long)axis);
        return tsr__err(cx, TSR_ERR_INVALID, "axis %lld is out of range for a %s%s",
                        (long long)axis, tsr__describe(x, buf, sizeof buf),
                        ndim == 1 ? " (a 1-D array only has axis 0)" : " (axis is 0 or 1)");
    }
    if (axis < 0) axis += ndim;
    if (ndim == 0) return reduce_scalar(cx, op, x, out); /* unknown axis in check mode */
    tsr__arr *a = tsr__as_arr(x);
    if (ndim == 1) return reduce_all(cx, op, a, out);
    if (!known) {
        /* check mode, axis not known yet: a 1-D array of unknown length */
        return tsr__val_array(1, a->m == a->n ? a->m : -1, 1, NULL, false, out);
    }
    return reduce_axis(cx, op, a, (int)axis, out);
}

#define RED_FN(name, o)                                                                  \
    static int bi_##name(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {        \
        return reduce_call(cx, o, argc, argv, out);                                      \
    }

RED_FN(sum, TSR_SUM)
RED_FN(mean, TSR_MEAN)
RED_FN(min, TSR_MIN)
RED_FN(max, TSR_MAX)
RED_FN(norm, TSR_NORM2)
RED_FN(argmin, TSR_ARGMIN)
RED_FN(argmax, TSR_ARGMAX)

const tsr__builtin tsr__builtins_reduce[] = {
    {"sum", 1, 2, bi_sum, "(sum x [axis])"},
    {"mean", 1, 2, bi_mean, "(mean x [axis])"},
    {"min", 1, 2, bi_min, "(min x [axis])"},
    {"max", 1, 2, bi_max, "(max x [axis])"},
    {"norm", 1, 1, bi_norm, "(norm x)"},
    {"argmin", 1, 2, bi_argmin, "(argmin x [axis])"},
    {"argmax", 1, 2, bi_argmax, "(argmax x [axis])"},
    {NULL, 0, 0, NULL, NULL},
};
