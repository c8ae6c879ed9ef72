/* Element-wise builtins: + - * / neg abs sqrt exp log tanh sigmoid pow
 * maximum minimum < <= > >= == != not where.
 *
 * Scalars with scalars go through tsr__scalar_op (never waits: a pending
 * operand makes a pending result). As soon as one argument is an array the
 * call becomes ONE tsr_array_eval over ONE expression tree, broadcasting as
 * numpy does. Values are 1-D (length L) or 2-D (m x n); in numpy's terms a
 * 1-D array is shape (L,) and rank promotion right-aligns it, so against a
 * 2-D operand it acts as a 1 x L row. The array layer broadcasts 1 x n rows,
 * m x 1 columns and 1 x 1 over an m x n result, so the operand forms are:
 *   - result 1-D: every 1-D operand as its m x 1 column (or, when every 1-D
 *     operand already has its 1 x L row form and one lacks the column, as
 *     rows: no transposition just to add two rows), result in that form;
 *   - result 2-D: 1-D operands as 1 x L rows, 2-D operands as they are.
 * Shape rules run in both modes (check mode may have unknown dims, -1:
 * compatible with anything, the result unknown where it could be either). */
#include <stdio.h>

#include "lang/lang_internal.h"

/* What a builtin computes. */
enum ew_kind {
    EW_UNARY,   /* op: enum tsr_unop */
    EW_FOLD,    /* op: enum tsr_binop, two or more arguments folded left */
    EW_MINUS,   /* - : one argument negates, more fold TSR_SUB */
    EW_BINARY,  /* op: enum tsr_binop, exactly two arguments */
    EW_NOT,     /* x == 0 */
    EW_WHERE    /* (where c a b) */
};

typedef struct ew_spec {
    int kind, op;
} ew_spec;

/* ---------------- shapes ---------------- */

/* A broadcast shape, right-aligned as numpy does: d[1] is the last axis,
 * d[0] the rows of a 2-D shape; axes a value lacks are 1. ndim 0: a scalar. */
typedef struct bshape {
    int ndim;
    int64_t d[2];
} bshape;

static bshape shape_of(tsr__val v) {
    bshape s = {0, {1, 1}};
    if (v.kind != TSR__V_ARRAY) return s;
    tsr__arr *a = tsr__as_arr(v);
    s.ndim = a->ndim;
    if (a->ndim == 1) {
        s.d[1] = a->m;
    } else {
        s.d[0] = a->m;
        s.d[1] = a->n;
    }
    return s;
}

static void dim_text(int64_t d, char *buf, size_t size) {
    if (d < 0) snprintf(buf, size, "?");
    else snprintf(buf, size, "%lld", (long long)d);
}

static const char *shape_text(bshape s, char *buf, size_t size) {
    char r[32], c[32];
    dim_text(s.d[0], r, sizeof r);
    dim_text(s.d[1], c, sizeof c);
    if (s.ndim == 2) snprintf(buf, size, "%sx%s", r, c);
    else if (s.ndim == 1) snprintf(buf, size, "%s", c);
    else snprintf(buf, size, "scalar");
    return buf;
}

/* numpy's rule for one axis; -1 is unknown. false: no broadcast. */
static bool dim_combine(int64_t x, int64_t y, int64_t *out) {
    if (x == y) *out = x;
    else if (x == 1) *out = y;           /* y may be -1: could be anything */
    else if (y == 1) *out = x;
    else if (x < 0) *out = y;            /* unknown x must be y (or 1) */
    else if (y < 0) *out = x;
    else return false;
    return true;
}

/* The result shape of all arguments, or the first pair that fails:
 * "shapes A and B do not broadcast" with the accumulated shape so far. */
static int broadcast(tsr__ctx *cx, int argc, tsr__val *argv, bshape *out) {
    bshape acc = shape_of(argv[0]);
    for (int i = 1; i < argc; i++) {
        bshape s = shape_of(argv[i]), r = {acc.ndim > s.ndim ? acc.ndim : s.ndim, {1, 1}};
        if (!dim_combine(acc.d[0], s.d[0], &r.d[0]) || !dim_combine(acc.d[1], s.d[1], &r.d[1])) {
            char b1[64], b2[64];
            return tsr__err(cx, TSR_ERR_SHAPE, "shapes %s and %s do not broadcast",
                            shape_text(acc, b1, sizeof b1), shape_text(s, b2, sizeof b2));
        }
        acc = r;
    }
    *out = acc;
    return TSR_OK;
}

static int check_types(tsr__ctx *cx, int argc, tsr__val *argv) {
    for (int i = 0; i < argc; i++) {
        if (tsr__is_scalar(argv[i]) || argv[i].kind == TSR__V_ARRAY) continue;
        char buf[64];
        const char *d = tsr__describe(argv[i], buf, sizeof buf);
        return tsr__err(cx, TSR_ERR_INVALID, "argument %d must be a number or an array, got %s%s",
                        i + 1, argv[i].kind == TSR__V_NIL ? "" : "a ", d);
    }
    return TSR_OK;
}

/* ---------------- scalars only ---------------- */

/* where with a scalar condition: pick now when it is known; a pending one
 * (run mode) becomes a pending number without waiting, through a 1 x 1
 * evaluation and a MAX reduction of its one element (exact: -0 and NaN
 * survive). */
static int scalar_where(tsr__ctx *cx, tsr__val *argv, tsr__val *out) {
    tsr__val c = argv[0];
    if (c.state == TSR__NUM_KNOWN) {
        *out = tsr__val_ref(c.num != 0 ? argv[1] : argv[2]);
        return TSR_OK;
    }
    int kind = argv[1].kind == TSR__V_BOOL && argv[2].kind == TSR__V_BOOL ? TSR__V_BOOL
                                                                           : TSR__V_NUM;
    if (cx->check) {
        *out = tsr__unknown(kind);
        return TSR_OK;
    }
    int rc;
    tsr_array_t *zero = NULL, *one = NULL;
    tsr_future_t *f = NULL;
    rc = tsr_array_zeros(cx->dist, 1, 1, &zero);
    if (rc != TSR_OK) return tsr__err_from(cx, rc);
    tsr_expr_t *e = tsr_ex_where(
        tsr_ex_binary(TSR_ADD, tsr_ex_array(zero), tsr__scalar_leaf(c)),
        tsr__scalar_leaf(argv[1]), tsr__scalar_leaf(argv[2]));
    rc = tsr_array_eval(e, &one);
    tsr_ex_free(&e);
    tsr_array_free(&zero);
    if (rc == TSR_OK) rc = tsr_array_reduce_async(one, TSR_MAX, &f);
    tsr_array_free(&one);
    if (rc != TSR_OK) return tsr__err_from(cx, rc);
    return tsr__val_pending(kind, f, out);
}

static int scalar_call(tsr__ctx *cx, const ew_spec *sp, int argc, tsr__val *argv,
                       tsr__val *out) {
    switch (sp->kind) {
    case EW_UNARY: return tsr__scalar_op(cx, 16 + sp->op, argv[0], tsr__nil(), out);
    case EW_NOT: return tsr__scalar_op(cx, TSR_EQ, argv[0], tsr__number(0), out);
    case EW_WHERE: return scalar_where(cx, argv, out);
    case EW_MINUS:
        if (argc == 1) return tsr__scalar_op(cx, 16 + TSR_NEG, argv[0], tsr__nil(), out);
        break;
    default: break;
    }
    int op = sp->kind == EW_MINUS ? TSR_SUB : sp->op;
    tsr__val acc = argv[0]; /* borrowed until the first step, owned after */
    for (int i = 1; i < argc; i++) {
        tsr__val r = tsr__nil();
        int rc = tsr__scalar_op(cx, op, acc, argv[i], &r);
        if (i > 1) tsr__val_drop(&acc);
        if (rc != TSR_OK) return rc;
        acc = r;
    }
    *out = acc;
    return TSR_OK;
}

/* ---------------- arrays ---------------- */

/* Which form a 1-D result takes: rows when every 1-D operand has its row
 * form and at least one lacks the column (see the top comment). */
static bool prefer_rows(int argc, tsr__val *argv) {
    bool any_missing_col = false;
    for (int i = 0; i < argc; i++) {
        if (argv[i].kind != TSR__V_ARRAY) continue;
        tsr__arr *a = tsr__as_arr(argv[i]);
        if (!a->row) return false;
        if (!a->col) any_missing_col = true;
    }
    return any_missing_col;
}

static tsr_expr_t *build(const ew_spec *sp, int argc, tsr_expr_t **leaf) {
    switch (sp->kind) {
    case EW_UNARY: return tsr_ex_unary(sp->op, leaf[0]);
    case EW_NOT: return tsr_ex_binary(TSR_EQ, leaf[0], tsr_ex_scalar(0.0));
    case EW_WHERE: return tsr_ex_where(leaf[0], leaf[1], leaf[2]);
    case EW_MINUS:
        if (argc == 1) return tsr_ex_unary(TSR_NEG, leaf[0]);
        break;
    default: break;
    }
    int op = sp->kind == EW_MINUS ? TSR_SUB : sp->op;
    tsr_expr_t *e = leaf[0];
    for (int i = 1; i < argc; i++) e = tsr_ex_binary(op, e, leaf[i]);
    return e;
}

static int array_call(tsr__ctx *cx, const ew_spec *sp, int argc, tsr__val *argv, bshape rs,
                      tsr__val *out) {
    if (cx->check) {
        /* ndim 1: length in d[1]; tsr__val_array wants it as m */
        if (rs.ndim == 1) return tsr__val_array(1, rs.d[1], 1, NULL, false, out);
        return tsr__val_array(2, rs.d[0], rs.d[1], NULL, false, out);
    }
    int rc = TSR_OK;
    bool rows = rs.ndim == 1 && prefer_rows(argc, argv);
    tsr_expr_t *leaf[8] = {NULL}, **leaves = leaf, *e = NULL;
    tsr_array_t *res = NULL;
    if (argc > 8) {
        leaves = calloc((size_t)argc, sizeof *leaves);
        if (!leaves) return tsr__err(cx, TSR_ERR_NOMEM, "out of memory");
    }
    int made = 0;
    for (; made < argc; made++) {
        tsr__val v = argv[made];
        if (v.kind != TSR__V_ARRAY) {
            leaves[made] = tsr__scalar_leaf(v);
            continue;
        }
        tsr__arr *a = tsr__as_arr(v);
        tsr_array_t *h = NULL;
        if (a->ndim == 2) rc = tsr__arr_get(cx, a, &h);
        else if (rs.ndim == 2 || rows) rc = tsr__arr_row(cx, a, &h);
        else rc = tsr__arr_col(cx, a, &h);
        if (rc != TSR_OK) goto fail; /* reported through cx */
        leaves[made] = tsr_ex_array(h);
    }
    e = build(sp, argc, leaves);
    made = 0; /* the tree owns them now (or freed them) */
    rc = tsr_array_eval(e, &res);
    tsr_ex_free(&e);
    if (rc != TSR_OK) {
        rc = tsr__err_from(cx, rc);
        goto fail;
    }
    int64_t m, n;
    tsr_array_shape(res, &m, &n);
    if (rs.ndim == 1) rc = tsr__val_array(1, rows ? n : m, 1, res, rows, out);
    else rc = tsr__val_array(2, m, n, res, false, out);
    if (rc != TSR_OK) rc = tsr__err(cx, TSR_ERR_NOMEM, "out of memory");
fail:
    for (int i = 0; i < made; i++) tsr_ex_free(&leaves[i]);
    if (leaves != leaf) free(leaves);
    return rc;
}

static int ew_call(tsr__ctx *cx, const ew_spec *sp, int argc, tsr__val *argv, tsr__val *out) {
    int rc = check_types(cx, argc, argv);
    if (rc != TSR_OK) return rc;
    bool any_array = false;
    for (int i = 0; i < argc; i++) any_array |= argv[i].kind == TSR__V_ARRAY;
    if (!any_array) return scalar_call(cx, sp, argc, argv, out);
    bshape rs = {0, {1, 1}};
    rc = broadcast(cx, argc, argv, &rs);
    if (rc != TSR_OK) return rc;
    return array_call(cx, sp, argc, argv, rs, out);
}

/* ---------------- the table ---------------- */

#define EW_FN(name, k, o)                                                                \
    static int bi_##name(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out) {        \
        static const ew_spec sp = {k, o};                                                \
        return ew_call(cx, &sp, argc, argv, out);                                        \
    }

EW_FN(add, EW_FOLD, TSR_ADD)
EW_FN(sub, EW_MINUS, TSR_SUB)
EW_FN(mul, EW_FOLD, TSR_MUL)
EW_FN(div, EW_FOLD, TSR_DIV)
EW_FN(neg, EW_UNARY, TSR_NEG)
EW_FN(abs, EW_UNARY, TSR_ABS)
EW_FN(sqrt, EW_UNARY, TSR_SQRT)
EW_FN(exp, EW_UNARY, TSR_EXP)
EW_FN(log, EW_UNARY, TSR_LOG)
EW_FN(tanh, EW_UNARY, TSR_TANH)
EW_FN(sigmoid, EW_UNARY, TSR_SIGMOID)
EW_FN(pow, EW_BINARY, TSR_POW)
EW_FN(maximum, EW_BINARY, TSR_MAXIMUM)
EW_FN(minimum, EW_BINARY, TSR_MINIMUM)
EW_FN(lt, EW_BINARY, TSR_LT)
EW_FN(le, EW_BINARY, TSR_LE)
EW_FN(gt, EW_BINARY, TSR_GT)
EW_FN(ge, EW_BINARY, TSR_GE)
EW_FN(eq, EW_BINARY, TSR_EQ)
EW_FN(ne, EW_BINARY, TSR_NE)
EW_FN(not, EW_NOT, 0)
EW_FN(where, EW_WHERE, 0)

const tsr__builtin tsr__builtins_scalar[] = {
    {"+", 2, -1, bi_add, "(+ a b ...)"},
    {"-", 1, -1, bi_sub, "(- a b ...) or (- x)"},
    {"*", 2, -1, bi_mul, "(* a b ...)"},
    {"/", 2, -1, bi_div, "(/ a b ...)"},
    {"neg", 1, 1, bi_neg, "(neg x)"},
    {"abs", 1, 1, bi_abs, "(abs x)"},
    {"sqrt", 1, 1, bi_sqrt, "(sqrt x)"},
    {"exp", 1, 1, bi_exp, "(exp x)"},
    {"log", 1, 1, bi_log, "(log x)"},
    {"tanh", 1, 1, bi_tanh, "(tanh x)"},
    {"sigmoid", 1, 1, bi_sigmoid, "(sigmoid x)"},
    {"pow", 2, 2, bi_pow, "(pow x y)"},
    {"maximum", 2, 2, bi_maximum, "(maximum a b)"},
    {"minimum", 2, 2, bi_minimum, "(minimum a b)"},
    {"<", 2, 2, bi_lt, "(< a b)"},
    {"<=", 2, 2, bi_le, "(<= a b)"},
    {">", 2, 2, bi_gt, "(> a b)"},
    {">=", 2, 2, bi_ge, "(>= a b)"},
    {"==", 2, 2, bi_eq, "(== a b)"},
    {"!=", 2, 2, bi_ne, "(!= a b)"},
    {"not", 1, 1, bi_not, "(not x)"},
    {"where", 3, 3, bi_where, "(where c a b)"},
    {NULL, 0, 0, NULL, NULL},
};
