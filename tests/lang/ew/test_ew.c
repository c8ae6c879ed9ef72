/* The element-wise and reduction builtins called directly (no parser, no
 * evaluator): values made by hand on a distribution with small tiles so
 * that they span the ranks, results gathered and compared with loops here.
 * Covers the operand forms (1-D column/row, 2-D, outer products), the form a
 * 1-D result takes, pending numbers as leaves, the shape rules in check mode
 * with unknown dimensions, and the error messages in both modes. The .tsl
 * programs beside this file check the same builtins against numpy. */
#include <math.h>

#include "harness.h"
#include "lang/lang_internal.h"

static tsr_dist_t *dist;
static tsr__ctx cx_run, cx_check;


static tsr__val mk(int ndim, int64_t m, int64_t n, bool is_row, double (*f)(int64_t, int64_t)) {
    /* 1-D: m elements, stored m x 1 or (is_row) 1 x m */
    int64_t r = ndim == 1 && is_row ? 1 : m, c = ndim == 1 ? (is_row ? m : 1) : n;
    double *buf = malloc(sizeof(double) * (size_t)(r * c + 1));
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) {
            int64_t k = i * c + j;
            buf[k] = ndim == 1 ? f(k, 0) : f(i, j);
        }
    tsr_array_t *a = NULL;
    ASSERT_OK(tsr_array_scatter(dist, r, c, buf, 0, &a));
    free(buf);
    tsr__val v;
    ASSERT_OK(tsr__val_array(ndim, m, n, a, is_row, &v));
    return v;
}

static tsr__val shape_only(int ndim, int64_t m, int64_t n) {
    tsr__val v;
    ASSERT_OK(tsr__val_array(ndim, m, n, NULL, false, &v));
    return v;
}

static double fa(int64_t i, int64_t j) { return (double)(i * 7 % 5) - 0.5 * (double)j + 0.25; }
static double fv(int64_t i, int64_t j) { return 1.5 - (double)i * 0.75 + (double)j; }
static double fw(int64_t i, int64_t j) { return (double)((i * 3) % 4) + (double)j; }
static double fc(int64_t i, int64_t j) { return (double)i + 1.0 + (double)j; }

static int call(tsr__ctx *cx, const char *name, int argc, tsr__val *argv, tsr__val *out) {
    int k = tsr__builtin_find(name);
    ASSERT_TRUE(k >= 0);
    const tsr__builtin *b = tsr__builtin_at(k);
    ASSERT_TRUE(argc >= b->min_args && (b->max_args < 0 || argc <= b->max_args));
    cx->who = b->name;
    *out = tsr__nil();
    return b->fn(cx, argc, argv, out);
}

/* The value's elements, row-major (all ranks get them). */
static double *elements(tsr__val v, int64_t *count) {
    tsr__arr *a = tsr__as_arr(v);
    tsr_array_t *h = a->col ? a->col : a->row;
    ASSERT_TRUE(h != NULL);
    int64_t m, n;
    tsr_array_shape(h, &m, &n);
    double *buf = malloc(sizeof(double) * (size_t)(m * n + 1));
    ASSERT_OK(tsr_array_gather(h, 0, tsr_rank() == 0 ? buf : NULL));
    *count = m * n;
    return buf;
}

static int my_rank(void) { return tsr_rank(); }

/* Compare v (ndim, m, n) with ref(i, j) on rank 0. */
static void expect_array(const char *what, tsr__val v, int ndim, int64_t m, int64_t n,
                         double (*ref)(int64_t, int64_t)) {
    ASSERT_EQ(v.kind, TSR__V_ARRAY);
    tsr__arr *a = tsr__as_arr(v);
    if (a->ndim != ndim || a->m != m || (ndim == 2 && a->n != n))
        TEST_FAIL("%s: value is %d-D %lldx%lld, expected %d-D %lldx%lld", what, a->ndim,
                  (long long)a->m, (long long)a->n, ndim, (long long)m, (long long)n);
    int64_t count;
    double *x = elements(v, &count);
    ASSERT_EQ(count, ndim == 1 ? m : m * n);
    if (my_rank() == 0) {
        for (int64_t k = 0; k < count; k++) {
            int64_t i = ndim == 1 ? k : k / n, j = ndim == 1 ? 0 : k % n;
            double want = ref(i, j);
            if (!(x[k] == want || (isnan(x[k]) && isnan(want)) ||
                  fabs(x[k] - want) <= 1e-13 * fabs(want)))
                TEST_FAIL("%s: element (%lld, %lld) is %.17g, expected %.17g", what,
                          (long long)i, (long long)j, x[k], want);
        }
    }
    free(x);
}

/* Force a number in place (a pending one becomes known). */
static double number(tsr__val *v) {
    ASSERT_TRUE(tsr__is_scalar(*v));
    bool known;
    ASSERT_OK(tsr__num_force(&cx_run, v, &known));
    ASSERT_TRUE(known && v->state == TSR__NUM_KNOWN);
    return v->num;
}

static void expect_error(tsr__ctx *cx, const char *name, int argc, tsr__val *argv, int status,
                         const char *msg) {
    tsr__val out;
    int rc = call(cx, name, argc, argv, &out);
    if (rc != status)
        TEST_FAIL("%s (%s mode): %s, expected %s (%s)", name, cx->check ? "check" : "run",
                  tsr_status_string(rc), tsr_status_string(status), tsr_error_message());
    ASSERT_CONTAINS(tsr_error_message(), msg);
    tsr__val_drop(&out);
}

/* references */
static double r_add_av(int64_t i, int64_t j) { return fa(i, j) + fv(j, 0); }
static double r_outer(int64_t i, int64_t j) { return fc(i, 0) * fv(j, 0); }
static double r_vw(int64_t i, int64_t j) { return fv(i, j) - fw(i, j) - 2; }
static double r_where(int64_t i, int64_t j) { return fa(i, j) > 1 ? fa(i, j) : -1.0; }
static double r_sig(int64_t i, int64_t j) { return 1 / (1 + exp(-(fa(i, j) * fa(i, j)))); }
static double sumv;
static double r_div(int64_t i, int64_t j) { return fv(i, j) / sumv; }
static double r_sum0(int64_t j, int64_t z) {
    double s = 0;
    (void)z;
    for (int64_t i = 0; i < 5; i++) s += fa(i, j);
    return s;
}
static double r_max1(int64_t i, int64_t z) {
    double s = -INFINITY;
    (void)z;
    for (int64_t j = 0; j < 4; j++) s = fmax(s, fa(i, j));
    return s;
}
static double r_cmp(int64_t i, int64_t j) { return fv(j, 0) <= fa(i, j) ? 1.0 : 0.0; }

static void run_mode(void) {
    tsr__ctx *cx = &cx_run;
    tsr__val A = mk(2, 5, 4, false, fa), v = mk(1, 4, 1, false, fv), C = mk(2, 5, 1, false, fc);
    tsr__val vr = mk(1, 4, 1, true, fv), wr = mk(1, 4, 1, true, fw), u = mk(1, 5, 1, false, fv);
    tsr__val out, t;

    /* 2-D with 1-D: the 1-D value acts as a row */
    ASSERT_OK(call(cx, "+", 2, (tsr__val[]){A, v}, &out));
    expect_array("(+ A v)", out, 2, 5, 4, r_add_av);
    tsr__val_drop(&out);
    /* a 2-D column with a 1-D value: the outer product */
    ASSERT_OK(call(cx, "*", 2, (tsr__val[]){C, vr}, &out));
    expect_array("(* C v)", out, 2, 5, 4, r_outer);
    tsr__val_drop(&out);
    /* two values in row form: the result stays a row (no transposition) */
    ASSERT_OK(call(cx, "-", 3, (tsr__val[]){vr, wr, tsr__number(2)}, &out));
    ASSERT_TRUE(tsr__as_arr(out)->row && !tsr__as_arr(out)->col);
    ASSERT_TRUE(!tsr__as_arr(vr)->col); /* nothing transposed */
    expect_array("(- vr wr 2)", out, 1, 4, 1, r_vw);
    tsr__val_drop(&out);
    /* comparisons give 1.0/0.0; booleans are numbers */
    ASSERT_OK(call(cx, "<=", 2, (tsr__val[]){vr, A}, &out));
    expect_array("(<= v A)", out, 2, 5, 4, r_cmp);
    tsr__val_drop(&out);
    /* where with a fused condition made by another call */
    ASSERT_OK(call(cx, ">", 2, (tsr__val[]){A, tsr__number(1)}, &t));
    ASSERT_OK(call(cx, "where", 3, (tsr__val[]){t, A, tsr__number(-1)}, &out));
    expect_array("(where (> A 1) A -1)", out, 2, 5, 4, r_where);
    tsr__val_drop(&out);
    tsr__val_drop(&t);
    ASSERT_OK(call(cx, "*", 2, (tsr__val[]){A, A}, &t));
    ASSERT_OK(call(cx, "sigmoid", 1, &t, &out));
    expect_array("(sigmoid (* A A))", out, 2, 5, 4, r_sig);
    tsr__val_drop(&out);
    tsr__val_drop(&t);

    /* a pending number as a leaf: (/ v (sum v)) */
    ASSERT_OK(call(cx, "sum", 1, &u, &t));
    ASSERT_EQ(t.state, TSR__NUM_PENDING);
    sumv = 0;
    for (int i = 0; i < 5; i++) sumv += fv(i, 0);
    ASSERT_OK(call(cx, "/", 2, (tsr__val[]){u, t}, &out));
    expect_array("(/ u (sum u))", out, 1, 5, 1, r_div);
    tsr__val_drop(&out);
    /* pending with pending and known numbers: scalars, no array */
    ASSERT_OK(call(cx, "*", 3, (tsr__val[]){t, t, tsr__boolean(true)}, &out));
    ASSERT_TRUE(out.kind == TSR__V_NUM);
    ASSERT_NEAR(number(&out), sumv * sumv, 1e-12 * sumv * sumv);
    tsr__val_drop(&out);
    ASSERT_OK(call(cx, "<", 2, (tsr__val[]){t, tsr__number(1e9)}, &out));
    ASSERT_EQ(out.kind, TSR__V_BOOL);
    ASSERT_EQ(number(&out), 1);
    tsr__val_drop(&out);
    /* where on a pending condition with numbers: pending, nothing waits */
    tsr__val c;
    ASSERT_OK(call(cx, ">", 2, (tsr__val[]){t, tsr__number(0)}, &c));
    ASSERT_OK(call(cx, "where", 3, (tsr__val[]){c, tsr__number(-0.0), tsr__number(7)}, &out));
    ASSERT_EQ(out.state, TSR__NUM_PENDING);
    double w = number(&out);
    ASSERT_TRUE(w == (sumv > 0 ? 0.0 : 7.0) && (sumv <= 0 || signbit(w)));
    tsr__val_drop(&out);
    tsr__val_drop(&c);
    tsr__val_drop(&t);

    /* scalars only */
    ASSERT_OK(call(cx, "-", 1, (tsr__val[]){tsr__number(3)}, &out));
    ASSERT_TRUE(out.kind == TSR__V_NUM && out.num == -3);
    ASSERT_OK(call(cx, "/", 2, (tsr__val[]){tsr__number(1), tsr__number(0)}, &out));
    ASSERT_TRUE(isinf(out.num) && out.num > 0);
    ASSERT_OK(call(cx, "not", 1, (tsr__val[]){tsr__number(0)}, &out));
    ASSERT_TRUE(out.kind == TSR__V_BOOL && out.num == 1);
    ASSERT_OK(call(cx, "where", 3, (tsr__val[]){tsr__boolean(false), tsr__number(1),
                                                 tsr__number(2)}, &out));
    ASSERT_TRUE(out.num == 2);

    /* reductions along an axis: axis 0 gives the row form, axis 1 the column */
    ASSERT_OK(call(cx, "sum", 2, (tsr__val[]){A, tsr__number(0)}, &out));
    ASSERT_TRUE(tsr__as_arr(out)->row && !tsr__as_arr(out)->col);
    expect_array("(sum A 0)", out, 1, 4, 1, r_sum0);
    tsr__val_drop(&out);
    ASSERT_OK(call(cx, "max", 2, (tsr__val[]){A, tsr__number(-1)}, &out));
    ASSERT_TRUE(tsr__as_arr(out)->col && !tsr__as_arr(out)->row);
    expect_array("(max A 1)", out, 1, 5, 1, r_max1);
    tsr__val_drop(&out);
    ASSERT_OK(call(cx, "argmax", 1, &u, &out));
    ASSERT_EQ(number(&out), 0); /* fv decreases */
    tsr__val_drop(&out);
    ASSERT_OK(call(cx, "argmin", 2, (tsr__val[]){vr, tsr__number(0)}, &out));
    ASSERT_EQ(number(&out), 3);
    tsr__val_drop(&out);
    ASSERT_OK(call(cx, "norm", 1, &A, &out));
    double nn = 0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) nn += fa(i, j) * fa(i, j);
    ASSERT_NEAR(number(&out), sqrt(nn), 1e-13 * sqrt(nn));
    tsr__val_drop(&out);

    /* errors name both shapes / the axis, at the call */
    expect_error(cx, "+", 2, (tsr__val[]){A, u}, TSR_ERR_SHAPE,
                 "t.tsl:3:7: +: shapes 5x4 and 5 do not broadcast");
    expect_error(cx, "where", 3, (tsr__val[]){C, vr, u}, TSR_ERR_SHAPE,
                 "where: shapes 5x4 and 5 do not broadcast");
    expect_error(cx, "sum", 2, (tsr__val[]){A, tsr__number(2)}, TSR_ERR_INVALID,
                 "sum: axis 2 is out of range for a 2-D array 5x4");
    expect_error(cx, "max", 2, (tsr__val[]){u, tsr__number(1)}, TSR_ERR_INVALID,
                 "max: axis 1 is out of range for a 1-D array of 5");
    tsr__val s;
    ASSERT_OK(tsr__val_string("x", &s));
    expect_error(cx, "exp", 1, &s, TSR_ERR_INVALID,
                 "exp: argument 1 must be a number or an array, got a string");
    tsr__val_drop(&s);
    tsr_array_t *e = NULL;
    ASSERT_OK(tsr_array_zeros(dist, 0, 3, &e));
    tsr__val E;
    ASSERT_OK(tsr__val_array(2, 0, 3, e, false, &E));
    expect_error(cx, "min", 1, &E, TSR_ERR_SHAPE, "min: zero-size array");
    ASSERT_OK(call(cx, "sum", 1, &E, &out));
    ASSERT_EQ(number(&out), 0);
    tsr__val_drop(&out);
    tsr__val_drop(&E);

    tsr__val_drop(&A);
    tsr__val_drop(&v);
    tsr__val_drop(&C);
    tsr__val_drop(&vr);
    tsr__val_drop(&wr);
    tsr__val_drop(&u);
}

static void expect_shape(const char *what, tsr__val v, int ndim, int64_t m, int64_t n) {
    ASSERT_EQ(v.kind, TSR__V_ARRAY);
    tsr__arr *a = tsr__as_arr(v);
    if (a->ndim != ndim || a->m != m || (ndim == 2 && a->n != n))
        TEST_FAIL("%s: shape %d-D %lldx%lld, expected %d-D %lldx%lld", what, a->ndim,
                  (long long)a->m, (long long)a->n, ndim, (long long)m, (long long)n);
}

static void check_mode(void) {
    tsr__ctx *cx = &cx_check;
    tsr__val uk4 = shape_only(2, -1, 4), ukuk = shape_only(2, -1, -1), v4 = shape_only(1, 4, 1);
    tsr__val v5 = shape_only(1, 5, 1), c5 = shape_only(2, 5, 1), vu = shape_only(1, -1, 1);
    tsr__val v1 = shape_only(1, 1, 1), out;
    ASSERT_OK(call(cx, "+", 2, (tsr__val[]){ukuk, v4}, &out));
    expect_shape("(+ ?x? 4)", out, 2, -1, 4);
    tsr__val_drop(&out);
    ASSERT_OK(call(cx, "+", 2, (tsr__val[]){c5, vu}, &out));
    expect_shape("(+ 5x1 ?)", out, 2, 5, -1);
    tsr__val_drop(&out);
    ASSERT_OK(call(cx, "+", 2, (tsr__val[]){vu, v5}, &out));
    expect_shape("(+ ? 5)", out, 1, 5, 1);
    tsr__val_drop(&out);
    ASSERT_OK(call(cx, "+", 2, (tsr__val[]){v1, vu}, &out));
    expect_shape("(+ 1 ?)", out, 1, -1, 1);
    tsr__val_drop(&out);
    ASSERT_OK(call(cx, "*", 2, (tsr__val[]){c5, v4}, &out));
    expect_shape("(* 5x1 4)", out, 2, 5, 4);
    tsr__val_drop(&out);
    expect_error(cx, "+", 2, (tsr__val[]){uk4, v5}, TSR_ERR_SHAPE,
                 "+: shapes ?x4 and 5 do not broadcast");
    expect_error(cx, "-", 2, (tsr__val[]){v4, v5}, TSR_ERR_SHAPE,
                 "-: shapes 4 and 5 do not broadcast");
    /* unknown numbers stay unknown */
    ASSERT_OK(call(cx, "+", 2, (tsr__val[]){tsr__unknown(TSR__V_NUM), tsr__number(1)}, &out));
    ASSERT_EQ(out.state, TSR__NUM_UNKNOWN);
    ASSERT_OK(call(cx, "where", 3, (tsr__val[]){tsr__unknown(TSR__V_BOOL), v4, tsr__number(1)},
                   &out));
    expect_shape("(where ? v4 1)", out, 1, 4, 1);
    tsr__val_drop(&out);
    /* reductions */
    ASSERT_OK(call(cx, "sum", 1, &uk4, &out));
    ASSERT_TRUE(out.kind == TSR__V_NUM && out.state == TSR__NUM_UNKNOWN);
    ASSERT_OK(call(cx, "mean", 2, (tsr__val[]){uk4, tsr__number(0)}, &out));
    expect_shape("(mean ?x4 0)", out, 1, 4, 1);
    tsr__val_drop(&out);
    ASSERT_OK(call(cx, "argmin", 2, (tsr__val[]){uk4, tsr__number(1)}, &out));
    expect_shape("(argmin ?x4 1)", out, 1, -1, 1);
    tsr__val_drop(&out);
    ASSERT_OK(call(cx, "sum", 2, (tsr__val[]){uk4, tsr__unknown(TSR__V_NUM)}, &out));
    expect_shape("(sum ?x4 ?)", out, 1, -1, 1);
    tsr__val_drop(&out);
    expect_error(cx, "sum", 2, (tsr__val[]){v4, tsr__number(-2)}, TSR_ERR_INVALID,
                 "sum: axis -2 is out of range");
    tsr__val E = shape_only(2, 0, 3);
    expect_error(cx, "argmax", 2, (tsr__val[]){E, tsr__number(0)}, TSR_ERR_SHAPE,
                 "argmax: zero-size array to reduction operation argmax");
    ASSERT_OK(call(cx, "argmax", 2, (tsr__val[]){E, tsr__number(1)}, &out));
    expect_shape("(argmax 0x3 1)", out, 1, 0, 1);
    tsr__val_drop(&out);
    tsr__val_drop(&E);
    tsr__val_drop(&uk4);
    tsr__val_drop(&ukuk);
    tsr__val_drop(&v4);
    tsr__val_drop(&v5);
    tsr__val_drop(&c5);
    tsr__val_drop(&vu);
    tsr__val_drop(&v1);
}

int main(int argc, char **argv) {
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    int nranks = tsr_nranks();
    /* rows over the ranks, tiles of 2 x 3: every array spans several */
    ASSERT_OK(tsr_dist_create(nranks, 1, 2, 3, &dist));
    tsr__loc loc = {"t.tsl", 3, 7};
    cx_run = (tsr__ctx){.check = false, .dist = dist, .loc = loc};
    cx_check = (tsr__ctx){.check = true, .loc = loc};
    check_mode();
    run_mode();
    tsr_dist_free(&dist);
    if (my_rank() == 0) printf("PASS\n");
    ASSERT_OK(tsr_finalize());
    return 0;
}
