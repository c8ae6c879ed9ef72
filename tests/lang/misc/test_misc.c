/* The create, linalg, shape and io builtins called directly (no parser, no
 * evaluator) on a distribution with 4 x 4 tiles, so that the small arrays
 * here span every rank. Results are saved through the `save` builtin into
 * the directory given as argv[1], with a manifest of numpy expressions that
 * misc_check.py (path compiled in) evaluates with /usr/bin/python3: every dot
 * case (lazy transposes included), solve, cholesky, slices with negative
 * indices, concat, reshape, shift. Numbers (at, 1-D dot), the print format,
 * load/save round trips and the error messages of both modes are checked
 * here. */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "lang/lang_internal.h"

static tsr_dist_t *dist;
static tsr__ctx run_cx, chk_cx;
static const char *dir;
static int nchecks;

static double fA(int64_t i, int64_t j) { return (double)((i * 7 + j * 3) % 11) - 4.5 + 0.25 * (double)j; }
static double fB(int64_t i, int64_t j) { return 0.5 * (double)i - (double)((j * 5) % 3) + 1.0; }
static double fC(int64_t i, int64_t j) { return (double)(i + 2 * j) / 3.0 - 1.0; }
static double fv(int64_t i, int64_t j) { (void)j; return 1.5 - 0.75 * (double)i; }
static double fw(int64_t i, int64_t j) { (void)j; return (double)((i * 3) % 5) - 1.25; }
static double fS(int64_t i, int64_t j) { return i == j ? 10.0 + (double)i : 1.0 / (double)(1 + i + j); }
static double fidx(int64_t i, int64_t j) { (void)j; return (double)i; }

/* A value with elements f(i, j) (1-D: f(i, 0)); 1-D as m x 1, or 1 x m
 * when is_row. */
static tsr__val mk(int ndim, int64_t m, int64_t n, bool is_row, double (*f)(int64_t, int64_t)) {
    int64_t r = ndim == 1 && is_row ? 1 : m, c = ndim == 1 ? (is_row ? m : 1) : n;
    double *buf = malloc(sizeof(double) * (size_t)(r * c + 1));
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) buf[i * c + j] = ndim == 1 ? f(i * c + j, 0) : f(i, j);
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

static tsr__val str(const char *s) {
    tsr__val v;
    ASSERT_OK(tsr__val_string(s, &v));
    return v;
}

static int call(tsr__ctx *cx, const char *name, int argc, tsr__val *argv, tsr__val *out) {
    int k = tsr__builtin_find(name);
    if (k < 0) TEST_FAIL("no builtin %s", name);
    const tsr__builtin *b = tsr__builtin_at(k);
    if (argc < b->min_args || (b->max_args >= 0 && argc > b->max_args))
        TEST_FAIL("%s: %d arguments outside its arity", name, argc);
    cx->who = b->name;
    *out = tsr__nil();
    return b->fn(cx, argc, argv, out);
}

/* Call that must succeed. */
#define CALL(cx, name, out, ...)                                                         \
    do {                                                                                 \
        tsr__val args_[] = {__VA_ARGS__};                                                \
        ASSERT_OK(call(cx, name, (int)(sizeof args_ / sizeof args_[0]), args_, out));    \
    } while (0)

/* Call that must fail with status and exactly "t.tsl:3:5: NAME: " + msg. */
static void expect_err(tsr__ctx *cx, const char *name, int argc, tsr__val *argv, int status,
                       const char *msg) {
    tsr__val out;
    int rc = call(cx, name, argc, argv, &out);
    char want[1024];
    snprintf(want, sizeof want, "t.tsl:3:5: %s: %s", name, msg);
    if (rc != status)
        TEST_FAIL("%s (%s mode): status %s, expected %s (%s)", name, cx->check ? "check" : "run",
                  tsr_status_string(rc), tsr_status_string(status), tsr_error_message());
    if (strcmp(tsr_error_message(), want))
        TEST_FAIL("%s: message\n  '%.400s'\nexpected\n  '%.400s'", name, tsr_error_message(), want);
    tsr__val_drop(&out);
}
#define ERR(cx, name, status, msg, ...)                                                  \
    do {                                                                                 \
        tsr__val args_[] = {__VA_ARGS__};                                                \
        expect_err(cx, name, (int)(sizeof args_ / sizeof args_[0]), args_, status, msg); \
    } while (0)

/* Save v as DIR/NAME.npy through the save builtin, and (expr non-NULL)
 * have misc_check.py compare it with the numpy expression. */
static void save_check(tsr__val v, const char *name, const char *expr) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    tsr__val out, p = str(path);
    CALL(&run_cx, "save", &out, v, p);
    tsr__val_drop(&p);
    ASSERT_EQ(out.kind, TSR__V_NIL);
    if (expr && tsr_rank() == 0) {
        char mpath[512];
        snprintf(mpath, sizeof mpath, "%s/checks.txt", dir);
        FILE *f = fopen(mpath, "a");
        ASSERT_TRUE(f != NULL);
        fprintf(f, "%s = %s\n", name, expr);
        fclose(f);
    }
    if (expr) nchecks++;
}

static void expect_shape(tsr__val v, int ndim, int64_t m, int64_t n) {
    if (v.kind != TSR__V_ARRAY) TEST_FAIL("not an array (kind %d)", v.kind);
    tsr__arr *a = tsr__as_arr(v);
    if (a->ndim != ndim || a->m != m || (ndim == 2 && a->n != n))
        TEST_FAIL("value is %d-D %lldx%lld, expected %d-D %lldx%lld", a->ndim, (long long)a->m,
                  (long long)a->n, ndim, (long long)m, (long long)n);
}

static double force(tsr__val v) {
    tsr__val c = tsr__val_ref(v);
    bool known;
    ASSERT_TRUE(tsr__is_scalar(c));
    ASSERT_OK(tsr__num_force(&run_cx, &c, &known));
    ASSERT_TRUE(known);
    double x = c.num;
    tsr__val_drop(&c);
    return x;
}

static void expect_text(tsr__val v, const char *want) {
    char *s = NULL;
    ASSERT_OK(tsr__format_value(&run_cx, v, &s));
    if (strcmp(s, want)) TEST_FAIL("printed\n%s\nexpected\n%s", s, want);
    free(s);
}

static void expect_num_text(double x, const char *want) { expect_text(tsr__number(x), want); }

/* ---------------- create ---------------- */

static void test_create(void) {
    tsr__val v, n2 = tsr__number(2), n3 = tsr__number(3), lst;
    CALL(&run_cx, "zeros", &v, n3);
    expect_shape(v, 1, 3, 1);
    save_check(v, "zeros3", "np.zeros(3)");
    tsr__val_drop(&v);
    CALL(&run_cx, "ones", &v, n2, n3);
    expect_shape(v, 2, 2, 3);
    save_check(v, "ones23", "np.ones((2, 3))");
    tsr__val_drop(&v);
    ASSERT_OK(tsr__val_list(2, (tsr__val[]){tsr__number(5), tsr__number(6)}, &lst));
    CALL(&run_cx, "zeros", &v, lst);
    expect_shape(v, 2, 5, 6);
    tsr__val_drop(&v);
    CALL(&run_cx, "full", &v, tsr__number(3), tsr__number(7), tsr__number(-2.5));
    save_check(v, "full37", "np.full((3, 7), -2.5)");
    tsr__val_drop(&v);
    CALL(&run_cx, "full", &v, lst, tsr__number(4));
    save_check(v, "fulll", "np.full((5, 6), 4.0)");
    tsr__val_drop(&v);
    /* A fill value known only later: (full 9 (dot x x)) with x = 0..5. */
    tsr__val x, d;
    CALL(&run_cx, "arange", &x, tsr__number(6));
    CALL(&run_cx, "dot", &d, x, x);
    ASSERT_EQ(d.state, TSR__NUM_PENDING);
    CALL(&run_cx, "full", &v, tsr__number(9), d);
    save_check(v, "fullpending", "np.full(9, 55.0)");
    tsr__val_drop(&v);
    tsr__val_drop(&d);
    tsr__val_drop(&x);
    CALL(&run_cx, "arange", &v, tsr__number(10));
    save_check(v, "ar10", "np.arange(10)");
    tsr__val_drop(&v);
    CALL(&run_cx, "arange", &v, tsr__number(1), tsr__number(2), tsr__number(0.25));
    expect_shape(v, 1, 4, 1);
    save_check(v, "ar1", "np.arange(1, 2, 0.25)");
    tsr__val_drop(&v);
    CALL(&run_cx, "arange", &v, tsr__number(5), tsr__number(-1), tsr__number(-1.5));
    save_check(v, "ar2", "np.arange(5, -1, -1.5)");
    tsr__val_drop(&v);
    CALL(&run_cx, "arange", &v, tsr__number(0.5), tsr__number(9.1));
    save_check(v, "ar3", "np.arange(0.5, 9.1)");
    tsr__val_drop(&v);
    CALL(&run_cx, "linspace", &v, tsr__number(-1), tsr__number(2), tsr__number(7));
    save_check(v, "lin", "np.linspace(-1, 2, 7)");
    tsr__val_drop(&v);
    CALL(&run_cx, "identity", &v, tsr__number(6));
    save_check(v, "eye", "np.identity(6)");
    tsr__val_drop(&v);

    /* random: the array layer's Philox stream, whatever the rank count. */
    tsr__val r1, r2, g;
    CALL(&run_cx, "random", &r1, tsr__number(9), tsr__number(5), tsr__number(42));
    CALL(&run_cx, "random", &r2, tsr__number(9), tsr__number(5), tsr__number(42));
    expect_shape(r1, 2, 9, 5);
    tsr_array_t *ref = NULL;
    ASSERT_OK(tsr_array_random_uniform(dist, 9, 5, 42, 0.0, 1.0, &ref));
    tsr__val rv;
    ASSERT_OK(tsr__val_array(2, 9, 5, ref, false, &rv));
    save_check(r1, "rand1", NULL);
    save_check(rv, "randref", NULL);
    save_check(r2, "rand2", "randref");
    tsr__val_drop(&rv);
    CALL(&run_cx, "randn", &g, tsr__number(2000), tsr__number(7));
    expect_shape(g, 1, 2000, 1);
    save_check(g, "randn", NULL);
    save_check(g, "randn_b", "randn * (abs(randn.mean()) < 0.1) * (abs(randn.std() - 1) < 0.1)");
    save_check(r1, "rand1b", "rand1 * (rand1 < 1) * (rand1 >= 0)"); /* in [0, 1) */
    tsr__val_drop(&g);
    tsr__val_drop(&r1);
    tsr__val_drop(&r2);

    /* errors, both modes */
    for (int c = 0; c < 2; c++) {
        tsr__ctx *cx = c ? &chk_cx : &run_cx;
        ERR(cx, "zeros", TSR_ERR_INVALID, "argument 1 must be a size >= 0, got -1",
            tsr__number(-1));
        ERR(cx, "ones", TSR_ERR_INVALID, "argument 2 must be an integer, got 2.5", tsr__number(2),
            tsr__number(2.5));
        ERR(cx, "arange", TSR_ERR_INVALID, "step must not be 0", tsr__number(0), tsr__number(1),
            tsr__number(0));
        ERR(cx, "random", TSR_ERR_INVALID, "argument 2 must be a seed >= 0, got -3",
            tsr__number(4), tsr__number(-3));
        tsr__val s = str("x");
        ERR(cx, "full", TSR_ERR_INVALID, "the fill value must be a number, got a string",
            tsr__number(4), s);
        tsr__val_drop(&s);
        tsr__val l3;
        ASSERT_OK(tsr__val_list(3, (tsr__val[]){n2, n2, n2}, &l3));
        ERR(cx, "zeros", TSR_ERR_SHAPE,
            "a shape list has 1 or 2 sizes (arrays are 1-D or 2-D), got 3", l3);
        tsr__val_drop(&l3);
    }
    /* check mode: unknown sizes give unknown dimensions */
    CALL(&chk_cx, "zeros", &v, tsr__unknown(TSR__V_NUM), n3);
    expect_shape(v, 2, -1, 3);
    tsr__val_drop(&v);
    CALL(&chk_cx, "arange", &v, tsr__number(0), tsr__unknown(TSR__V_NUM));
    expect_shape(v, 1, -1, 1);
    tsr__val_drop(&v);
    CALL(&chk_cx, "arange", &v, tsr__number(0), tsr__number(10), tsr__number(3));
    expect_shape(v, 1, 4, 1);
    tsr__val_drop(&v);
    tsr__val_drop(&lst);
}

/* ---------------- linalg ---------------- */

static void test_linalg(void) {
    tsr__val A = mk(2, 7, 5, false, fA), B = mk(2, 5, 6, false, fB), C = mk(2, 7, 6, false, fC);
    tsr__val v5 = mk(1, 5, 1, false, fv), w7 = mk(1, 7, 1, false, fw);
    tsr__val w7r = mk(1, 7, 1, true, fw), v5r = mk(1, 5, 1, true, fv);
    tsr__val S = mk(2, 6, 6, false, fS), b6 = mk(1, 6, 1, false, fw), B6 = mk(2, 6, 2, false, fB);
    save_check(A, "A", NULL);
    save_check(B, "B", NULL);
    save_check(C, "C", NULL);
    save_check(v5, "v5", NULL);
    save_check(w7, "w7", NULL);
    save_check(w7r, "w7r", "w7");
    save_check(S, "S", NULL);
    save_check(b6, "b6", NULL);
    save_check(B6, "B6", NULL);
    tsr__val r, AT, BT, TT;
    CALL(&run_cx, "dot", &r, A, B);
    expect_shape(r, 2, 7, 6);
    save_check(r, "dAB", "np.dot(A, B)");
    tsr__val_drop(&r);
    CALL(&run_cx, "dot", &r, A, v5);
    expect_shape(r, 1, 7, 1);
    save_check(r, "dAv", "np.dot(A, v5)");
    tsr__val_drop(&r);
    CALL(&run_cx, "dot", &r, A, v5r);
    save_check(r, "dAvr", "np.dot(A, v5)");
    tsr__val_drop(&r);
    CALL(&run_cx, "dot", &r, w7, A);
    expect_shape(r, 1, 5, 1);
    save_check(r, "dwA", "np.dot(w7, A)");
    tsr__val_drop(&r);
    CALL(&run_cx, "dot", &r, w7r, A);
    save_check(r, "dwrA", "np.dot(w7, A)");
    tsr__val_drop(&r);
    double ref = 0;
    for (int i = 0; i < 7; i++) ref += fw(i, 0) * fw(i, 0);
    CALL(&run_cx, "dot", &r, w7, w7r);
    ASSERT_EQ(r.kind, TSR__V_NUM);
    ASSERT_NEAR(force(r), ref, 1e-12);
    tsr__val_drop(&r);
    CALL(&run_cx, "dot", &r, w7r, w7r);
    ASSERT_NEAR(force(r), ref, 1e-12);
    tsr__val_drop(&r);

    /* lazy transposes: dot reads the source through matmul_tn, never forming Aᵀ */
    CALL(&run_cx, "transpose", &AT, A);
    expect_shape(AT, 2, 5, 7);
    ASSERT_TRUE(tsr__as_arr(AT)->tof == tsr__as_arr(A) && tsr__as_arr(AT)->col == NULL);
    CALL(&run_cx, "transpose", &TT, AT);
    ASSERT_TRUE(TT.obj == A.obj);
    tsr__val_drop(&TT);
    CALL(&run_cx, "dot", &r, AT, C);
    expect_shape(r, 2, 5, 6);
    save_check(r, "dATC", "np.dot(A.T, C)");
    tsr__val_drop(&r);
    CALL(&run_cx, "dot", &r, AT, w7);
    expect_shape(r, 1, 5, 1);
    save_check(r, "dATw", "np.dot(A.T, w7)");
    tsr__val_drop(&r);
    CALL(&run_cx, "dot", &r, AT, w7r);
    save_check(r, "dATwr", "np.dot(A.T, w7)");
    tsr__val_drop(&r);
    CALL(&run_cx, "dot", &r, v5, AT);
    expect_shape(r, 1, 7, 1);
    save_check(r, "dvAT", "np.dot(v5, A.T)");
    tsr__val_drop(&r);
    ASSERT_TRUE(tsr__as_arr(AT)->col == NULL); /* still never formed */
    tsr__val D = mk(2, 3, 5, false, fB); /* D Aᵀ forms Aᵀ: there is no matmul_nt */
    save_check(D, "D", NULL);
    CALL(&run_cx, "dot", &r, D, AT);
    expect_shape(r, 2, 3, 7);
    save_check(r, "dDAT", "np.dot(D, A.T)");
    tsr__val_drop(&D);
    tsr__val_drop(&r);
    CALL(&run_cx, "transpose", &BT, B);
    CALL(&run_cx, "dot", &r, BT, AT);
    expect_shape(r, 2, 6, 7);
    save_check(r, "dBTAT", "np.dot(B.T, A.T)");
    tsr__val_drop(&r);
    save_check(AT, "AT", "A.T");
    CALL(&run_cx, "transpose", &r, w7);
    ASSERT_TRUE(r.obj == w7.obj);
    tsr__val_drop(&r);

    /* solve, cholesky */
    CALL(&run_cx, "solve", &r, S, b6);
    expect_shape(r, 1, 6, 1);
    save_check(r, "sol1", "np.linalg.solve(S, b6)");
    tsr__val_drop(&r);
    CALL(&run_cx, "solve", &r, S, B6);
    expect_shape(r, 2, 6, 2);
    save_check(r, "sol2", "np.linalg.solve(S, B6)");
    tsr__val_drop(&r);
    CALL(&run_cx, "cholesky", &r, S);
    save_check(r, "chol", "np.linalg.cholesky(S)");
    tsr__val_drop(&r);

    /* shapes: both modes, then unknown dimensions pass in check mode */
    for (int c = 0; c < 2; c++) {
        tsr__ctx *cx = c ? &chk_cx : &run_cx;
        tsr__val a = c ? shape_only(2, 100, 3) : mk(2, 100, 3, false, fA);
        tsr__val b = c ? shape_only(1, 4, 1) : mk(1, 4, 1, false, fv);
        ERR(cx, "dot", TSR_ERR_SHAPE,
            "shapes 100x3 and 4 do not match (columns of the first must equal the length of the "
            "second)", a, b);
        ERR(cx, "dot", TSR_ERR_SHAPE,
            "shapes 4 and 100x3 do not match (the length of the first must equal the rows of the "
            "second)", b, a);
        ERR(cx, "dot", TSR_ERR_SHAPE,
            "shapes 7x5 and 7x6 do not match (columns of the first must equal the rows of the "
            "second)", A, C);
        ERR(cx, "dot", TSR_ERR_SHAPE, "shapes 4 and 5 do not match (lengths must be equal)", b,
            v5);
        ERR(cx, "dot", TSR_ERR_INVALID, "argument 2 must be an array, got a number", a,
            tsr__number(1));
        ERR(cx, "solve", TSR_ERR_SHAPE, "the matrix must be square, got 7x5", A, w7);
        ERR(cx, "solve", TSR_ERR_SHAPE,
            "shapes 6x6 and 7 do not match (the length of b must equal the order of a)", S, w7);
        ERR(cx, "cholesky", TSR_ERR_SHAPE, "the matrix must be a square 2-D array, got a 1-D array of 7",
            w7);
        tsr__val_drop(&a);
        tsr__val_drop(&b);
    }
    tsr__val u = shape_only(2, -1, 3), u1 = shape_only(1, -1, 1);
    CALL(&chk_cx, "dot", &r, u, u1);
    expect_shape(r, 1, -1, 1);
    tsr__val_drop(&r);
    CALL(&chk_cx, "dot", &r, u1, u1);
    ASSERT_TRUE(r.kind == TSR__V_NUM && r.state == TSR__NUM_UNKNOWN);
    CALL(&chk_cx, "transpose", &r, u);
    expect_shape(r, 2, 3, -1);
    tsr__val_drop(&r);
    tsr__val_drop(&u);
    tsr__val_drop(&u1);
    /* singular */
    tsr__val Z = mk(2, 5, 5, false, fA), z5;
    CALL(&run_cx, "zeros", &z5, tsr__number(5), tsr__number(5));
    ERR(&run_cx, "solve", TSR_ERR_RUNTIME, "matrix is singular: U(1,1) is exactly zero (k=1)", z5,
        v5);
    tsr__val_drop(&z5);
    tsr__val_drop(&Z);

    tsr__val *all[] = {&A, &B, &C, &v5, &w7, &w7r, &v5r, &S, &b6, &B6, &AT, &BT};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tsr__val_drop(all[i]);
}

/* ---------------- shape ---------------- */

static void test_shape(void) {
    tsr__val A = mk(2, 7, 5, false, fA), C = mk(2, 7, 6, false, fC), w7 = mk(1, 7, 1, false, fw);
    tsr__val v5 = mk(1, 5, 1, false, fv), w7r = mk(1, 7, 1, true, fw), r, AT, s;
    save_check(A, "A", NULL);
    save_check(w7, "w7", NULL);
    save_check(v5, "v5", NULL);
    save_check(C, "C", NULL);
    CALL(&run_cx, "transpose", &AT, A);

    CALL(&run_cx, "shape", &r, A);
    expect_text(r, "(7 5)");
    tsr__val_drop(&r);
    CALL(&run_cx, "shape", &r, w7);
    expect_text(r, "(7)");
    tsr__val_drop(&r);
    CALL(&run_cx, "shape", &r, A, tsr__number(-1));
    ASSERT_EQ(r.num, 5);
    CALL(&run_cx, "size", &r, A);
    ASSERT_EQ(r.num, 35);
    CALL(&run_cx, "list", &s, tsr__number(1), tsr__boolean(true), A);
    CALL(&run_cx, "len", &r, s);
    ASSERT_EQ(r.num, 3);
    CALL(&run_cx, "nth", &r, s, tsr__number(-3));
    ASSERT_EQ(r.num, 1);
    CALL(&run_cx, "nth", &r, s, tsr__number(2));
    ASSERT_TRUE(r.obj == A.obj);
    tsr__val_drop(&r);
    CALL(&run_cx, "len", &r, A);
    ASSERT_EQ(r.num, 7);
    ERR(&run_cx, "nth", TSR_ERR_INVALID, "index 3 is out of range for a list of 3", s,
        tsr__number(3));
    ERR(&run_cx, "nth", TSR_ERR_INVALID, "index -4 is out of range for a list of 3", s,
        tsr__number(-4));
    ERR(&run_cx, "nth", TSR_ERR_INVALID, "argument 1 must be a list, got a 1-D array of 7", w7,
        tsr__number(0));
    tsr__val_drop(&s);

    /* slices, negative indices as Python */
    CALL(&run_cx, "slice", &r, A, tsr__number(1), tsr__number(-2));
    expect_shape(r, 2, 4, 5);
    save_check(r, "sl1", "A[1:-2]");
    tsr__val_drop(&r);
    CALL(&run_cx, "slice", &r, A, tsr__number(-3), tsr__number(7), tsr__number(1), tsr__number(4));
    save_check(r, "sl2", "A[-3:7, 1:4]");
    tsr__val_drop(&r);
    CALL(&run_cx, "slice", &r, w7, tsr__number(-4), tsr__number(-1));
    expect_shape(r, 1, 3, 1);
    save_check(r, "sl3", "w7[-4:-1]");
    tsr__val_drop(&r);
    CALL(&run_cx, "slice", &r, w7r, tsr__number(2), tsr__number(7));
    save_check(r, "sl4", "w7[2:7]");
    tsr__val_drop(&r);
    CALL(&run_cx, "slice", &r, AT, tsr__number(0), tsr__number(2), tsr__number(1), tsr__number(-1));
    expect_shape(r, 2, 2, 5);
    ASSERT_TRUE(tsr__as_arr(r)->tof != NULL); /* still lazy */
    save_check(r, "sl5", "A.T[0:2, 1:-1]");
    tsr__val_drop(&r);
    for (int c = 0; c < 2; c++) {
        tsr__ctx *cx = c ? &chk_cx : &run_cx;
        ERR(cx, "slice", TSR_ERR_SHAPE, "rows 3:3 of a 2-D array 7x5 are empty", A,
            tsr__number(3), tsr__number(3));
        ERR(cx, "slice", TSR_ERR_SHAPE, "rows 0:8 are out of range for a 2-D array 7x5", A,
            tsr__number(0), tsr__number(8));
        ERR(cx, "slice", TSR_ERR_SHAPE, "columns -6:2 are out of range for a 2-D array 7x5", A,
            tsr__number(0), tsr__number(2), tsr__number(-6), tsr__number(2));
        ERR(cx, "slice", TSR_ERR_SHAPE, "indices -2:2 of a 1-D array of 7 are empty", w7,
            tsr__number(-2), tsr__number(2));
        ERR(cx, "slice", TSR_ERR_SHAPE, "a 1-D array of 7 has no columns to slice", w7,
            tsr__number(0), tsr__number(2), tsr__number(0), tsr__number(1));
    }

    /* concat */
    CALL(&run_cx, "concat", &r, A, C, tsr__number(1));
    expect_shape(r, 2, 7, 11);
    save_check(r, "cc1", "np.concatenate([A, C], 1)");
    tsr__val_drop(&r);
    CALL(&run_cx, "concat", &r, A, A, A);
    save_check(r, "cc2", "np.concatenate([A, A, A])");
    tsr__val_drop(&r);
    CALL(&run_cx, "concat", &r, w7, v5, w7r, tsr__number(-1));
    expect_shape(r, 1, 19, 1);
    save_check(r, "cc3", "np.concatenate([w7, v5, w7])");
    tsr__val_drop(&r);
    CALL(&run_cx, "concat", &r, AT, AT);
    save_check(r, "cc4", "np.concatenate([A.T, A.T])");
    tsr__val_drop(&r);
    for (int c = 0; c < 2; c++) {
        tsr__ctx *cx = c ? &chk_cx : &run_cx;
        ERR(cx, "concat", TSR_ERR_SHAPE,
            "shapes 7x5 and 7x6 do not match along axis 0 (the columns must be equal)", A, C);
        ERR(cx, "concat", TSR_ERR_SHAPE,
            "all arrays must have the same number of dimensions: argument 1 is a 2-D array 7x5, "
            "argument 2 a 1-D array of 7", A, w7);
        ERR(cx, "concat", TSR_ERR_INVALID, "axis 1 is out of range for 1-D arrays", w7, w7,
            tsr__number(1));
    }

    /* reshape: 1-D <-> m x 1 / 1 x n, sharing storage */
    tsr__val col, row, back;
    CALL(&run_cx, "reshape", &col, w7, tsr__number(7), tsr__number(1));
    expect_shape(col, 2, 7, 1);
    ASSERT_TRUE(tsr__as_arr(col)->col == tsr__as_arr(w7)->col);
    save_check(col, "rs1", "w7.reshape(7, 1)");
    CALL(&run_cx, "reshape", &row, w7, tsr__number(1), tsr__number(7));
    expect_shape(row, 2, 1, 7);
    save_check(row, "rs2", "w7.reshape(1, 7)");
    CALL(&run_cx, "reshape", &back, row, tsr__number(7));
    expect_shape(back, 1, 7, 1);
    save_check(back, "rs3", "w7");
    tsr__val_drop(&back);
    CALL(&run_cx, "reshape", &back, col, tsr__number(7));
    save_check(back, "rs4", "w7");
    tsr__val_drop(&back);
    CALL(&run_cx, "transpose", &back, row); /* lazy 7 x 1 */
    CALL(&run_cx, "reshape", &r, back, tsr__number(7));
    save_check(r, "rs5", "w7");
    tsr__val_drop(&r);
    tsr__val_drop(&back);
    for (int c = 0; c < 2; c++) {
        tsr__ctx *cx = c ? &chk_cx : &run_cx;
        ERR(cx, "reshape", TSR_ERR_SHAPE,
            "only reshapes between a 1-D array and an m x 1 or 1 x n 2-D array (no data "
            "movement), got a 2-D array 7x5", A, tsr__number(35));
        ERR(cx, "reshape", TSR_ERR_SHAPE, "cannot reshape a 1-D array of 7 into 8x1", w7,
            tsr__number(8), tsr__number(1));
        ERR(cx, "reshape", TSR_ERR_SHAPE,
            "only reshapes between a 1-D array and an m x 1 or 1 x n 2-D array (no data "
            "movement), not into 2x3", v5, tsr__number(2), tsr__number(3));
    }
    tsr__val_drop(&col);
    tsr__val_drop(&row);

    /* shift */
    CALL(&run_cx, "shift", &r, A, tsr__number(1), tsr__number(0));
    save_check(r, "sh1", "shift(A, 1, 0)");
    tsr__val_drop(&r);
    CALL(&run_cx, "shift", &r, A, tsr__number(-2), tsr__number(1), tsr__number(9.5));
    save_check(r, "sh2", "shift(A, -2, 1, 9.5)");
    tsr__val_drop(&r);
    CALL(&run_cx, "shift", &r, A, tsr__number(5), tsr__number(-4), tsr__number(-1));
    save_check(r, "sh3", "shift(A, 5, -4, -1)");
    tsr__val_drop(&r);
    CALL(&run_cx, "shift", &r, w7, tsr__number(2), tsr__number(0));
    save_check(r, "sh4", "shift(w7, 2)");
    tsr__val_drop(&r);
    CALL(&run_cx, "shift", &r, AT, tsr__number(0), tsr__number(-1));
    save_check(r, "sh5", "shift(A.T, 0, -1)");
    tsr__val_drop(&r);
    ERR(&run_cx, "shift", TSR_ERR_SHAPE, "a 1-D array of 7 has no columns to shift by 1", w7,
        tsr__number(0), tsr__number(1));

    /* at */
    CALL(&run_cx, "at", &r, A, tsr__number(2), tsr__number(3));
    ASSERT_EQ(r.state, TSR__NUM_PENDING);
    ASSERT_NEAR(force(r), fA(2, 3), 0);
    tsr__val_drop(&r);
    CALL(&run_cx, "at", &r, A, tsr__number(-1), tsr__number(-5));
    ASSERT_NEAR(force(r), fA(6, 0), 0);
    tsr__val_drop(&r);
    CALL(&run_cx, "at", &r, AT, tsr__number(4), tsr__number(6));
    ASSERT_NEAR(force(r), fA(6, 4), 0);
    tsr__val_drop(&r);
    CALL(&run_cx, "at", &r, w7, tsr__number(-2));
    ASSERT_NEAR(force(r), fw(5, 0), 0);
    tsr__val_drop(&r);
    CALL(&run_cx, "at", &r, w7r, tsr__number(3));
    ASSERT_NEAR(force(r), fw(3, 0), 0);
    tsr__val_drop(&r);
    for (int c = 0; c < 2; c++) {
        tsr__ctx *cx = c ? &chk_cx : &run_cx;
        ERR(cx, "at", TSR_ERR_SHAPE, "index (7, 0) is out of range for a 2-D array 7x5", A,
            tsr__number(7), tsr__number(0));
        ERR(cx, "at", TSR_ERR_SHAPE, "index -8 is out of range for a 1-D array of 7", w7,
            tsr__number(-8));
        ERR(cx, "at", TSR_ERR_INVALID, "a 2-D array 7x5 takes 2 indices, got 1", A,
            tsr__number(0));
    }
    /* check mode: unknown dimensions */
    tsr__val u = shape_only(2, -1, 4);
    CALL(&chk_cx, "slice", &r, u, tsr__number(2), tsr__number(5));
    expect_shape(r, 2, 3, 4);
    tsr__val_drop(&r);
    CALL(&chk_cx, "slice", &r, u, tsr__number(-2), tsr__number(5));
    expect_shape(r, 2, -1, 4);
    tsr__val_drop(&r);
    CALL(&chk_cx, "shape", &r, u);
    expect_text(r, "(? 4)");
    tsr__val_drop(&r);
    tsr__val_drop(&u);

    tsr__val *all[] = {&A, &C, &w7, &v5, &w7r, &AT};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tsr__val_drop(all[i]);
}

/* ---------------- io ---------------- */

/* A 0-D .npy file holding x, written by rank 0. */
static void write_npy0(const char *path, double x) {
    if (tsr_rank() != 0) return;
    char hdr[128];
    const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (), }";
    size_t len = strlen(dict), total = 10 + len + 1;
    size_t pad = (64 - total % 64) % 64;
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    uint16_t hl = (uint16_t)(len + pad + 1);
    hdr[8] = (char)(hl & 0xff);
    hdr[9] = (char)(hl >> 8);
    memcpy(hdr + 10, dict, len);
    memset(hdr + 10 + len, ' ', pad);
    hdr[10 + len + pad] = '\n';
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f != NULL);
    fwrite(hdr, 1, 10 + len + pad + 1, f);
    fwrite(&x, sizeof x, 1, f);
    fclose(f);
}

static void test_io(void) {
    expect_num_text(3, "3");
    expect_num_text(0.1, "0.1");
    expect_num_text(2.5, "2.5");
    expect_num_text(1e-10, "1e-10");
    expect_num_text(-0.0, "-0");
    expect_num_text(0.0, "0");
    expect_num_text(NAN, "nan");
    expect_num_text(INFINITY, "inf");
    expect_num_text(-INFINITY, "-inf");
    expect_num_text(1e16, "1e+16");
    expect_num_text(9999999999999998.0, "9999999999999998");
    expect_num_text(123456789, "123456789");
    expect_num_text(-1e15, "-1000000000000000");
    expect_num_text(0.0001, "0.0001");
    expect_num_text(1e-5, "1e-05");
    expect_num_text(1.0 / 3, "0.3333333333333333");
    expect_num_text(-1.5e300, "-1.5e+300");
    expect_num_text(123.456, "123.456");
    expect_num_text(2.5e-7, "2.5e-07");
    expect_num_text(1.7976931348623157e308, "1.7976931348623157e+308");
    expect_num_text(5e-324, "5e-324");
    expect_text(tsr__boolean(true), "true");
    expect_text(tsr__boolean(false), "false");
    expect_text(tsr__nil(), "nil");
    tsr__val s = str("hi there"), l, inner;
    expect_text(s, "hi there");
    ASSERT_OK(tsr__val_list(2, (tsr__val[]){tsr__number(2), tsr__number(3)}, &inner));
    ASSERT_OK(tsr__val_list(3, (tsr__val[]){inner, s, tsr__number(-0.5)}, &l));
    expect_text(l, "((2 3) hi there -0.5)");
    tsr__val_drop(&l);
    tsr__val_drop(&inner);
    tsr__val_drop(&s);

    tsr__val x, t;
    CALL(&run_cx, "arange", &x, tsr__number(1), tsr__number(4), tsr__number(1.25));
    expect_text(x, "[1 2.25 3.5]");
    tsr__val_drop(&x);
    x = mk(2, 2, 3, false, fC);
    expect_text(x, "[[-1 -0.33333333333333337 0.33333333333333326]\n [-0.6666666666666667 0 "
                   "0.6666666666666667]]");
    CALL(&run_cx, "transpose", &t, x);
    expect_text(t, "[[-1 -0.6666666666666667]\n [-0.33333333333333337 0]\n [0.33333333333333326 "
                   "0.6666666666666667]]");
    ASSERT_TRUE(tsr__as_arr(t)->col == NULL);
    tsr__val_drop(&t);
    tsr__val_drop(&x);
    x = mk(1, 1000, 1, true, fidx);
    {
        char *txt = NULL;
        ASSERT_OK(tsr__format_value(&run_cx, x, &txt));
        ASSERT_TRUE(strncmp(txt, "[0 1 2 3 4 5 ", 13) == 0);
        ASSERT_TRUE(strlen(txt) > 3000 && !strstr(txt, "..."));
        free(txt);
    }
    tsr__val_drop(&x);
    CALL(&run_cx, "arange", &x, tsr__number(2001));
    expect_text(x, "[0 1 2 ... 1998 1999 2000]");
    tsr__val_drop(&x);
    /* 40 x 30 = 1200 elements: both axes summarised, corners only */
    {
        tsr__val m2;
        tsr_array_t *a = NULL;
        double *buf = malloc(sizeof(double) * 1200);
        for (int i = 0; i < 1200; i++) buf[i] = i;
        ASSERT_OK(tsr_array_scatter(dist, 40, 30, buf, 0, &a));
        free(buf);
        ASSERT_OK(tsr__val_array(2, 40, 30, a, false, &m2));
        expect_text(m2, "[[0 1 2 ... 27 28 29]\n [30 31 32 ... 57 58 59]\n [60 61 62 ... 87 88 89]"
                        "\n ...\n [1110 1111 1112 ... 1137 1138 1139]\n [1140 1141 1142 ... 1167 "
                        "1168 1169]\n [1170 1171 1172 ... 1197 1198 1199]]");
        CALL(&run_cx, "transpose", &t, m2);
        expect_text(t, "[[0 30 60 ... 1110 1140 1170]\n [1 31 61 ... 1111 1141 1171]\n [2 32 62 "
                       "... 1112 1142 1172]\n ...\n [27 57 87 ... 1137 1167 1197]\n [28 58 88 ... "
                       "1138 1168 1198]\n [29 59 89 ... 1139 1169 1199]]");
        tsr__val_drop(&t);
        tsr__val_drop(&m2);
        /* 600 x 2: only the rows summarised */
        ASSERT_OK(tsr__val_list(2, (tsr__val[]){tsr__number(600), tsr__number(2)}, &l));
        CALL(&run_cx, "ones", &m2, l);
        expect_text(m2, "[[1 1]\n [1 1]\n [1 1]\n ...\n [1 1]\n [1 1]\n [1 1]]");
        tsr__val_drop(&m2);
        tsr__val_drop(&l);
    }
    /* print: rank 0 writes one line */
    CALL(&run_cx, "arange", &x, tsr__number(3));
    tsr__val out, hello = str("print test:");
    CALL(&run_cx, "print", &out, hello, x, tsr__number(0.5), tsr__boolean(false));
    ASSERT_EQ(out.kind, TSR__V_NIL);
    tsr__val_drop(&hello);
    tsr__val_drop(&x);

    /* load what save wrote: 1-D stays 1-D, 2-D 2-D, 0-D a number */
    char path[512];
    tsr__val A = mk(2, 7, 5, false, fA), w7 = mk(1, 7, 1, true, fw), p;
    save_check(A, "ioA", NULL);
    save_check(w7, "iow", NULL);
    snprintf(path, sizeof path, "%s/ioA.npy", dir);
    p = str(path);
    CALL(&run_cx, "load", &x, p);
    expect_shape(x, 2, 7, 5);
    save_check(x, "ioA2", "ioA");
    tsr__val_drop(&x);
    CALL(&chk_cx, "load", &x, p);
    expect_shape(x, 2, 7, 5);
    tsr__val_drop(&x);
    tsr__val_drop(&p);
    snprintf(path, sizeof path, "%s/iow.npy", dir);
    p = str(path);
    CALL(&run_cx, "load", &x, p);
    expect_shape(x, 1, 7, 1);
    save_check(x, "iow2", "w7r");
    tsr__val_drop(&x);
    CALL(&chk_cx, "load", &x, p);
    expect_shape(x, 1, 7, 1);
    tsr__val_drop(&x);
    tsr__val_drop(&p);
    snprintf(path, sizeof path, "%s/zero_d.npy", dir);
    write_npy0(path, -2.75);
    tsr_array_t *sync = NULL; /* every rank past rank 0's write before loading */
    ASSERT_OK(tsr_array_zeros(dist, 4, 4, &sync));
    double dummy;
    ASSERT_OK(tsr_array_reduce(sync, TSR_SUM, &dummy));
    tsr_array_free(&sync);
    p = str(path);
    CALL(&run_cx, "load", &x, p);
    ASSERT_EQ(x.kind, TSR__V_NUM);
    ASSERT_NEAR(force(x), -2.75, 0);
    tsr__val_drop(&x);
    CALL(&chk_cx, "load", &x, p);
    ASSERT_TRUE(x.kind == TSR__V_NUM && x.state == TSR__NUM_UNKNOWN);
    tsr__val_drop(&p);
    snprintf(path, sizeof path, "%s/missing.npy", dir);
    p = str(path);
    char want[600];
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    ERR(&run_cx, "load", TSR_ERR_IO, want, p);
    CALL(&chk_cx, "load", &x, p); /* check mode: maybe the program saves it first */
    expect_shape(x, 2, -1, -1);
    tsr__val_drop(&x);
    tsr__val_drop(&p);
    ERR(&run_cx, "save", TSR_ERR_INVALID, "argument 1 must be an array, got a number",
        tsr__number(1), tsr__number(2));
    tsr__val_drop(&A);
    tsr__val_drop(&w7);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_lang_misc DIR\n");
        return 2;
    }
    dir = argv[1];
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) TEST_FAIL("mkdir %s: %s", dir, strerror(errno));
    if (tsr_rank() == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "rm -f '%s'/*.npy '%s'/checks.txt", dir, dir);
        ASSERT_EQ(system(cmd), 0);
    }
    ASSERT_OK(tsr_dist_create(tsr_nranks(), 1, 4, 4, &dist));
    run_cx = (tsr__ctx){.check = false, .dist = dist, .loc = {"t.tsl", 3, 5}};
    chk_cx = (tsr__ctx){.check = true, .dist = NULL, .loc = {"t.tsl", 3, 5}};

    test_create();
    test_linalg();
    test_shape();
    test_io();

    /* every save has finished (save waits) on every rank before rank 0 checks */
    tsr_array_t *sync = NULL;
    double dummy;
    ASSERT_OK(tsr_array_zeros(dist, 4, 4, &sync));
    ASSERT_OK(tsr_array_reduce(sync, TSR_SUM, &dummy));
    tsr_array_free(&sync);
    int bad = 0;
    if (tsr_rank() == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", TSR_MISC_CHECK, dir);
        bad = system(cmd) != 0;
        if (bad) TEST_FAIL("numpy comparison failed (%d checks)", nchecks);
    }
    if (tsr_rank() == 0) printf("misc: ok (%d numpy checks)\n", nchecks);
    tsr_dist_free(&dist);
    ASSERT_OK(tsr_finalize());
    return 0;
}
