/* Fused element-wise expressions: seeded random trees (depth <= 5) over full
 * arrays, scalars and broadcast vectors (1 x n, m x 1, 1 x 1), on every grid
 * of this rank count and several tile sizes, against a serial interpreter
 * here (bit for bit, NaN and inf included) and across grids (bit for bit);
 * a subset and every operator on special values also against numpy
 * (tests/array/ew_ref.py, path compiled in as TSR_EW_REF). Then the errors: shapes that do
 * not broadcast, mismatched distributions, bad trees, and a failed input
 * tile that must reach the ranks that read it. */
#include <errno.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include "array/expr_internal.h"
#include "harness.h"

/* ---- the serial reference ---- */

enum { R_ARRAY, R_SCALAR, R_BIN, R_UN, R_WHERE };
#define NOPND 6 /* 0..2: m x n, 3: 1 x n, 4: m x 1, 5: 1 x 1 */

typedef struct rnode {
    int kind, op, opnd;
    double value;
    struct rnode *kid[3];
} rnode;

static uint64_t rng_state;
static uint64_t rnd(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return rng_state >> 33;
}
static double rnd_unit(void) { return (double)(rnd() & 0xffffff) / (double)0x1000000; }

static const char *bin_names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                  "lt",  "le",  "gt",  "ge",  "eq",  "ne"};
static const char *un_names[] = {"neg", "abs", "sqrt", "exp", "log", "tanh", "sigmoid"};

/* exp is Tessera's own (vectorisable, checked against libm below). */
static double ref_sigmoid(double x) {
    double e = tsr__exp(-fabs(x));
    return (x >= 0 ? 1.0 : e) / (1.0 + e);
}

static double ref_bin(int op, double x, double y) {
    switch (op) {
    case TSR_ADD: return x + y;
    case TSR_SUB: return x - y;
    case TSR_MUL: return x * y;
    case TSR_DIV: return x / y;
    case TSR_POW: return pow(x, y);
    case TSR_MAXIMUM: return isnan(x) ? x : isnan(y) ? y : x > y ? x : y;
    case TSR_MINIMUM: return isnan(x) ? x : isnan(y) ? y : x < y ? x : y;
    case TSR_LT: return x < y;
    case TSR_LE: return x <= y;
    case TSR_GT: return x > y;
    case TSR_GE: return x >= y;
    case TSR_EQ: return x == y;
    default: return x != y;
    }
}

static double ref_un(int op, double x) {
    switch (op) {
    case TSR_NEG: return -x;
    case TSR_ABS: return fabs(x);
    case TSR_SQRT: return sqrt(x);
    case TSR_EXP: return tsr__exp(x);
    case TSR_LOG: return log(x);
    case TSR_TANH: return tanh(x);
    default: return ref_sigmoid(x);
    }
}

typedef struct operands {
    int64_t m, n;
    int64_t om[NOPND], on[NOPND];
    double *v[NOPND]; /* row-major */
} operands;

static double opnd_at(const operands *o, int k, int64_t i, int64_t j) {
    int64_t oi = o->om[k] == 1 ? 0 : i, oj = o->on[k] == 1 ? 0 : j;
    return o->v[k][oi * o->on[k] + oj];
}

static double ref_eval(const rnode *e, const operands *o, int64_t i, int64_t j) {
    switch (e->kind) {
    case R_ARRAY: return opnd_at(o, e->opnd, i, j);
    case R_SCALAR: return e->value;
    case R_BIN: return ref_bin(e->op, ref_eval(e->kid[0], o, i, j), ref_eval(e->kid[1], o, i, j));
    case R_UN: return ref_un(e->op, ref_eval(e->kid[0], o, i, j));
    default:
        return ref_eval(e->kid[0], o, i, j) != 0 ? ref_eval(e->kid[1], o, i, j)
                                                 : ref_eval(e->kid[2], o, i, j);
    }
}

/* Result shape of the tree (numpy broadcasting of its operands). */
static void ref_shape(const rnode *e, const operands *o, int64_t *m, int64_t *n) {
    if (e->kind == R_ARRAY) {
        if (o->om[e->opnd] != 1) *m = o->om[e->opnd];
        if (o->on[e->opnd] != 1) *n = o->on[e->opnd];
    }
    for (int k = 0; k < 3; k++)
        if (e->kid[k]) ref_shape(e->kid[k], o, m, n);
}

static int has_array(const rnode *e) {
    if (e->kind == R_ARRAY) return 1;
    for (int k = 0; k < 3; k++)
        if (e->kid[k] && has_array(e->kid[k])) return 1;
    return 0;
}

/* A random tree. safe: only operations whose result numpy reproduces to a
 * tight tolerance (no division by values near 0, log/sqrt/pow of positive
 * values kept away from 0), for the numpy comparison. */
static rnode *gen(int depth, int safe) {
    rnode *e = calloc(1, sizeof *e);
    int leaf = depth == 0 || rnd() % 4 == 0;
    if (leaf) {
        if (rnd() % 3 == 0) {
            e->kind = R_SCALAR;
            static const double consts[] = {0.5, -1.25, 2.0, 0.0, 3.0, -0.0, 1e-3};
            e->value = consts[rnd() % 7];
        } else {
            e->kind = R_ARRAY;
            e->opnd = (int)(rnd() % NOPND);
        }
        return e;
    }
    unsigned pick = (unsigned)(rnd() % 10);
    if (pick < 5) {
        e->kind = R_BIN;
        e->op = (int)(rnd() % 13);
        e->kid[0] = gen(depth - 1, safe);
        e->kid[1] = gen(depth - 1, safe);
        if (safe && (e->op == TSR_DIV || e->op == TSR_POW)) {
            /* x / (|y| + 1), (|x| + 0.5) ^ tanh(y) */
            rnode *w = calloc(1, sizeof *w), *one = calloc(1, sizeof *one),
                  *a = calloc(1, sizeof *a);
            int base = e->op == TSR_POW;
            a->kind = R_UN;
            a->op = TSR_ABS;
            a->kid[0] = e->kid[base ? 0 : 1];
            one->kind = R_SCALAR;
            one->value = base ? 0.5 : 1.0;
            w->kind = R_BIN;
            w->op = TSR_ADD;
            w->kid[0] = a;
            w->kid[1] = one;
            e->kid[base ? 0 : 1] = w;
            if (base) {
                rnode *t = calloc(1, sizeof *t);
                t->kind = R_UN;
                t->op = TSR_TANH;
                t->kid[0] = e->kid[1];
                e->kid[1] = t;
            }
        }
    } else if (pick < 9) {
        e->kind = R_UN;
        e->op = (int)(rnd() % 7);
        e->kid[0] = gen(depth - 1, safe);
        if (safe && (e->op == TSR_LOG || e->op == TSR_SQRT || e->op == TSR_EXP)) {
            /* log/sqrt(|x| + 0.5), exp(tanh(x)) */
            rnode *in = calloc(1, sizeof *in);
            if (e->op == TSR_EXP) {
                in->kind = R_UN;
                in->op = TSR_TANH;
                in->kid[0] = e->kid[0];
            } else {
                rnode *a = calloc(1, sizeof *a), *h = calloc(1, sizeof *h);
                a->kind = R_UN;
                a->op = TSR_ABS;
                a->kid[0] = e->kid[0];
                h->kind = R_SCALAR;
                h->value = 0.5;
                in->kind = R_BIN;
                in->op = TSR_ADD;
                in->kid[0] = a;
                in->kid[1] = h;
            }
            e->kid[0] = in;
        }
    } else {
        e->kind = R_WHERE;
        for (int k = 0; k < 3; k++) e->kid[k] = gen(depth - 1, safe);
    }
    return e;
}

static void rfree(rnode *e) {
    if (!e) return;
    for (int k = 0; k < 3; k++) rfree(e->kid[k]);
    free(e);
}

static tsr_expr_t *build(const rnode *e, tsr_array_t *const *arrs) {
    switch (e->kind) {
    case R_ARRAY: return tsr_ex_array(arrs[e->opnd]);
    case R_SCALAR: return tsr_ex_scalar(e->value);
    case R_BIN: return tsr_ex_binary(e->op, build(e->kid[0], arrs), build(e->kid[1], arrs));
    case R_UN: return tsr_ex_unary(e->op, build(e->kid[0], arrs));
    default:
        return tsr_ex_where(build(e->kid[0], arrs), build(e->kid[1], arrs),
                            build(e->kid[2], arrs));
    }
}

/* Prefix text for ew_ref.py; operand k is "xk". */
static void sexpr(const rnode *e, char *buf, size_t cap) {
    size_t len = strlen(buf);
    switch (e->kind) {
    case R_ARRAY: snprintf(buf + len, cap - len, " x%d", e->opnd); return;
    case R_SCALAR: snprintf(buf + len, cap - len, " %.17g", e->value); return;
    case R_BIN: snprintf(buf + len, cap - len, " (%s", bin_names[e->op]); break;
    case R_UN: snprintf(buf + len, cap - len, " (%s", un_names[e->op]); break;
    default: snprintf(buf + len, cap - len, " (where"); break;
    }
    for (int k = 0; k < 3; k++)
        if (e->kid[k]) sexpr(e->kid[k], buf, cap);
    len = strlen(buf);
    snprintf(buf + len, cap - len, ")");
}

/* ---- numpy side ---- */

static char np_dir[64];
static FILE *np_case;
static int np_files;

static void np_open(void) {
    snprintf(np_dir, sizeof np_dir, "/tmp/tsr-ew-XXXXXX");
    if (!mkdtemp(np_dir)) TEST_FAIL("mkdtemp: %s", strerror(errno));
    char path[128];
    snprintf(path, sizeof path, "%s/case.txt", np_dir);
    np_case = fopen(path, "w");
    ASSERT_TRUE(np_case != NULL);
    fprintf(np_case, "tessera-ew-ref 1\n");
}

static void np_array(const char *name, const double *v, int64_t m, int64_t n) {
    char path[160];
    snprintf(path, sizeof path, "%s/a%d.bin", np_dir, np_files++);
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f != NULL);
    ASSERT_EQ(fwrite(v, sizeof(double), (size_t)(m * n), f), (size_t)(m * n));
    fclose(f);
    fprintf(np_case, "array %s %lld %lld %s\n", name, (long long)m, (long long)n, path);
}

/* Runs the numpy script; 0 if it passed or could not run numpy at all. */
static void np_run(const char *script) {
    fclose(np_case);
    if (!script || access("/usr/bin/python3", X_OK) != 0) {
        printf("test_elementwise: numpy comparison SKIPPED (no script or /usr/bin/python3)\n");
        return;
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s/case.txt'", script, np_dir);
    int st = system(cmd);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code == 77) {
        printf("test_elementwise: numpy comparison SKIPPED (numpy missing)\n");
    } else if (code != 0) {
        TEST_FAIL("numpy comparison failed (exit %d); inputs kept in %s", code, np_dir);
    } else {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", np_dir);
        if (system(cmd) != 0) printf("could not remove %s\n", np_dir);
    }
}

/* ---- the random-tree check on one configuration ---- */

typedef struct cfg {
    int64_t m, n, mb, nb;
} cfg;

/* Uneven sizes, 1 x n and n x 1, tiles larger than the array (ranks
 * without tiles), columns longer than a block (in-place blocks plus packed
 * leftovers), contiguous multi-column tiles. */
static const cfg cfgs[] = {
    {7, 5, 2, 3},     {1, 9, 1, 4},    {9, 1, 4, 1},       {3, 3, 8, 8},  {13, 17, 5, 3},
    {2, 40, 1, 7},    {530, 6, 260, 4}, {1, 700, 1, 300}, {700, 1, 300, 1}, {300, 3, 300, 2},
};
#define NTREES 10
#define NSAFE 3

static void make_operands(const cfg *c, operands *o) {
    o->m = c->m;
    o->n = c->n;
    for (int k = 0; k < NOPND; k++) {
        o->om[k] = k == 3 || k == 5 ? 1 : c->m;
        o->on[k] = k == 4 || k == 5 ? 1 : c->n;
        int64_t cnt = o->om[k] * o->on[k];
        o->v[k] = malloc(sizeof(double) * (size_t)cnt);
        for (int64_t e = 0; e < cnt; e++) {
            double u = rnd_unit();
            switch (k) {
            case 2: o->v[k][e] = 0.1 + 3 * u; break;
            case 5: o->v[k][e] = 0.75; break;
            default: o->v[k][e] = 4 * u - 2; break;
            }
        }
    }
    /* Special values in operand 0 (only trees checked bit for bit read it
     * unguarded), a zero in the column vector. */
    static const double specials[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -1.0};
    int64_t cnt = c->m * c->n;
    for (int s = 0; s < 7 && s < cnt; s++) o->v[0][(s * 7919) % cnt] = specials[s];
    o->v[4][c->m / 2] = 0.0;
}

static int same_bits(double a, double b) {
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static void run_config(const cfg *c, int np_write) {
    int rank = tsr_rank(), nr = tsr_nranks();
    operands o;
    rng_state = 1234 + (uint64_t)(c->m * 131 + c->n);
    make_operands(c, &o);
    rnode *trees[NTREES + NSAFE];
    for (int t = 0; t < NTREES + NSAFE; t++) {
        do {
            trees[t] = gen(1 + (int)(rnd() % 5), t >= NTREES);
            if (has_array(trees[t])) break;
            rfree(trees[t]);
        } while (1);
    }
    /* numpy reads the case file in order: the operands come first, under
     * the names the expressions use (each configuration replaces them). */
    if (rank == 0 && np_write) {
        for (int k = 0; k < NOPND; k++) {
            char name[8];
            snprintf(name, sizeof name, "x%d", k);
            np_array(name, o.v[k], o.om[k], o.on[k]);
        }
    }
    double *first[NTREES + NSAFE] = {0};
    double *want = malloc(sizeof(double) * (size_t)(c->m * c->n));
    double *got = malloc(sizeof(double) * (size_t)(c->m * c->n));
    /* Every grid, each with the configuration's tiles and another size. */
    for (int P = 1; P <= nr; P++) {
        if (nr % P) continue;
        for (int ts = 0; ts < 2; ts++) {
            int64_t mb = ts ? c->mb + 1 : c->mb, nb = ts ? 2 * c->nb + 1 : c->nb;
            tsr_dist_t *d;
            ASSERT_OK(tsr_dist_create(P, nr / P, mb, nb, &d));
            tsr_array_t *arrs[NOPND];
            for (int k = 0; k < NOPND; k++)
                ASSERT_OK(tsr_array_scatter(d, o.om[k], o.on[k], rank == 0 ? o.v[k] : NULL, 0,
                                            &arrs[k]));
            for (int t = 0; t < NTREES + NSAFE; t++) {
                tsr_expr_t *e = build(trees[t], arrs);
                tsr_array_t *r;
                ASSERT_OK(tsr_array_eval(e, &r));
                tsr_ex_free(&e);
                int64_t m = 1, n = 1, rm, rn;
                ref_shape(trees[t], &o, &m, &n);
                tsr_array_shape(r, &rm, &rn);
                ASSERT_EQ(rm, m);
                ASSERT_EQ(rn, n);
                ASSERT_OK(tsr_array_gather(r, 0, rank == 0 ? got : NULL));
                tsr_array_free(&r);
                if (rank != 0) continue;
                char text[8192] = "";
                sexpr(trees[t], text, sizeof text);
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) want[i * n + j] = ref_eval(trees[t], &o, i, j);
                for (int64_t k = 0; k < m * n; k++)
                    if (!same_bits(got[k], want[k]))
                        TEST_FAIL("(%lld, %lld) on %d x %d, tiles %lld x %lld: element (%lld, %lld)"
                                  " of%.600s is %.17g, the serial reference says %.17g",
                                  (long long)c->m, (long long)c->n, P, nr / P, (long long)mb,
                                  (long long)nb, (long long)(k / n), (long long)(k % n), text,
                                  got[k], want[k]);
                if (!first[t]) {
                    first[t] = malloc(sizeof(double) * (size_t)(m * n));
                    memcpy(first[t], got, sizeof(double) * (size_t)(m * n));
                    if (np_write && t >= NTREES) {
                        char name[32];
                        snprintf(name, sizeof name, "r%d_%d", np_files, t);
                        np_array(name, got, m, n);
                        fprintf(np_case, "ew %s 1e-12%s\n", name, text);
                    }
                } else {
                    ASSERT_TRUE(memcmp(first[t], got, sizeof(double) * (size_t)(m * n)) == 0);
                }
            }
            for (int k = 0; k < NOPND; k++) tsr_array_free(&arrs[k]);
            tsr_dist_free(&d);
        }
    }
    for (int t = 0; t < NTREES + NSAFE; t++) {
        rfree(trees[t]);
        free(first[t]);
    }
    for (int k = 0; k < NOPND; k++) free(o.v[k]);
    free(want);
    free(got);
}

/* Every operator on special values, against numpy. */
static void specials(void) {
    int rank = tsr_rank();
    static const double sx[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e300,
                                -1e-300, 3.7, -2.5, 40.0, -800.0, 1e-8};
    enum { K = sizeof sx / sizeof sx[0] };
    double sy[K], col[5] = {1.0, -0.0, NAN, 2.0, -3.0};
    for (int k = 0; k < K; k++) sy[k] = sx[(k * 5 + 3) % K];
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(0, 0, 2, 3, &d));
    tsr_array_t *x, *y, *c;
    ASSERT_OK(tsr_array_scatter(d, 1, K, sx, 0, &x));
    ASSERT_OK(tsr_array_scatter(d, 1, K, sy, 0, &y));
    ASSERT_OK(tsr_array_scatter(d, 5, 1, col, 0, &c));
    if (rank == 0) {
        np_array("sx", sx, 1, K);
        np_array("sy", sy, 1, K);
        np_array("sc", col, 5, 1);
    }
    double got[5 * K];
    for (int op = 0; op < 13 + 7 + 2; op++) {
        tsr_expr_t *e;
        char text[128];
        if (op < 13) {
            e = tsr_ex_binary(op, tsr_ex_array(x), tsr_ex_array(y));
            snprintf(text, sizeof text, "(%s sx sy)", bin_names[op]);
        } else if (op < 20) {
            e = tsr_ex_unary(op - 13, tsr_ex_array(x));
            snprintf(text, sizeof text, "(%s sx)", un_names[op - 13]);
        } else if (op == 20) {
            e = tsr_ex_where(tsr_ex_array(x), tsr_ex_array(y), tsr_ex_scalar(2.0));
            snprintf(text, sizeof text, "(where sx sy 2)");
        } else {
            /* outer broadcast: 1 x K with 5 x 1 */
            e = tsr_ex_binary(TSR_MUL, tsr_ex_array(x), tsr_ex_array(c));
            snprintf(text, sizeof text, "(mul sx sc)");
        }
        tsr_array_t *r;
        ASSERT_OK(tsr_array_eval(e, &r));
        tsr_ex_free(&e);
        int64_t m, n;
        tsr_array_shape(r, &m, &n);
        ASSERT_EQ(m, op == 21 ? 5 : 1);
        ASSERT_EQ(n, K);
        ASSERT_OK(tsr_array_gather(r, 0, rank == 0 ? got : NULL));
        tsr_array_free(&r);
        if (rank == 0) {
            char name[16];
            snprintf(name, sizeof name, "sp%d", op);
            np_array(name, got, m, n);
            fprintf(np_case, "ew %s 1e-15 %s\n", name, text);
        }
    }
    tsr_array_free(&x);
    tsr_array_free(&y);
    tsr_array_free(&c);
    tsr_dist_free(&d);
}

/* A tile of v fails as if the task that wrote it had failed. */
static void inject_failure(tsr_array_t *v, int64_t ti, int64_t tj) {
    if (tsr__tile_owner(v->dist, ti, tj) != tsr_rank()) return;
    tsr_future_t *f;
    ASSERT_OK(tsr_future_create(&f));
    ASSERT_OK(tsr_future_fail(f, TSR_ERR_RUNTIME, "injected failure"));
    int64_t k = tsr__ready_index(v, ti, tj);
    tsr_future_release(&v->ready[k]);
    v->ready[k] = f;
}

static void errors(void) {
    int rank = tsr_rank();
    tsr_dist_t *d, *d2, *d3;
    ASSERT_OK(tsr_dist_create(0, 0, 2, 2, &d));
    ASSERT_OK(tsr_dist_create(0, 0, 3, 3, &d2));
    ASSERT_OK(tsr_dist_create(0, 0, 2, 2, &d3)); /* equal to d, another object */
    tsr_array_t *a, *b, *e2, *row, *col, *r = NULL;
    ASSERT_OK(tsr_array_ones(d, 3, 4, &a));
    ASSERT_OK(tsr_array_ones(d, 5, 4, &b));
    ASSERT_OK(tsr_array_ones(d2, 3, 4, &e2));
    ASSERT_OK(tsr_array_ones(d, 1, 4, &row));
    ASSERT_OK(tsr_array_ones(d, 3, 1, &col));
    tsr_expr_t *e = tsr_ex_binary(TSR_ADD, tsr_ex_array(a), tsr_ex_array(b));
    ASSERT_STATUS(tsr_array_eval(e, &r), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "(3, 4) and (5, 4)");
    ASSERT_TRUE(r == NULL);
    tsr_ex_free(&e);
    e = tsr_ex_binary(TSR_ADD, tsr_ex_array(row), tsr_ex_array(b)); /* 1 x 4 with 5 x 4: fine */
    ASSERT_OK(tsr_array_eval(e, &r));
    tsr_array_free(&r);
    tsr_ex_free(&e);
    e = tsr_ex_binary(TSR_ADD, tsr_ex_array(col), tsr_ex_array(b)); /* 3 x 1 with 5 x 4 */
    ASSERT_STATUS(tsr_array_eval(e, &r), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "(3, 1) and (5, 4)");
    tsr_ex_free(&e);
    e = tsr_ex_binary(TSR_MUL, tsr_ex_array(a), tsr_ex_array(e2));
    ASSERT_STATUS(tsr_array_eval(e, &r), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "different distributions");
    ASSERT_CONTAINS(tsr_error_message(), "3 x 3 tiles");
    tsr_ex_free(&e);
    /* NULL children make NULL parents (and free the other children). */
    e = tsr_ex_binary(TSR_ADD, NULL, tsr_ex_scalar(1.0));
    ASSERT_TRUE(e == NULL);
    e = tsr_ex_where(tsr_ex_array(a), NULL, tsr_ex_unary(TSR_EXP, tsr_ex_array(a)));
    ASSERT_TRUE(e == NULL);
    ASSERT_STATUS(tsr_array_eval(e, &r), TSR_ERR_NOMEM);
    ASSERT_CONTAINS(tsr_error_message(), "NULL");
    e = tsr_ex_binary(TSR_ADD, tsr_ex_scalar(1.0), tsr_ex_scalar(2.0));
    ASSERT_STATUS(tsr_array_eval(e, &r), TSR_ERR_INVALID);
    ASSERT_CONTAINS(tsr_error_message(), "no array operand");
    tsr_ex_free(&e);
    e = tsr_ex_binary(99, tsr_ex_array(a), tsr_ex_scalar(2.0));
    ASSERT_STATUS(tsr_array_eval(e, &r), TSR_ERR_INVALID);
    ASSERT_CONTAINS(tsr_error_message(), "99 is not a binary operator");
    tsr_ex_free(&e);
    e = tsr_ex_unary(TSR_SIGMOID + 1, tsr_ex_array(a));
    ASSERT_STATUS(tsr_array_eval(e, &r), TSR_ERR_INVALID);
    tsr_ex_free(&e);
    e = tsr_ex_unary(TSR_NEG, tsr_ex_array(NULL));
    ASSERT_STATUS(tsr_array_eval(e, &r), TSR_ERR_INVALID);
    ASSERT_CONTAINS(tsr_error_message(), "NULL");
    ASSERT_STATUS(tsr_array_eval(e, NULL), TSR_ERR_INVALID);
    tsr_ex_free(&e);

    /* The result takes the first full-shape operand's distribution. */
    tsr_array_t *full3;
    ASSERT_OK(tsr_array_ones(d3, 3, 4, &full3));
    e = tsr_ex_binary(TSR_SUB, tsr_ex_array(row), tsr_ex_array(full3));
    ASSERT_OK(tsr_array_eval(e, &r));
    ASSERT_TRUE(tsr_array_dist(r) == d3);
    double buf[12];
    ASSERT_OK(tsr_array_gather(r, 0, rank == 0 ? buf : NULL));
    if (rank == 0)
        for (int k = 0; k < 12; k++) ASSERT_EQ(buf[k], 0.0);
    tsr_array_free(&r);
    tsr_ex_free(&e);
    tsr_array_free(&full3);

    /* A failed tile of a broadcast row reaches, as an error, every rank
     * whose tiles read it (tile column 0), and only those tiles; a
     * reduction of the result then fails on every rank. */
    tsr_array_t *wide, *wrow;
    ASSERT_OK(tsr_array_ones(d, 9, 6, &wide));
    ASSERT_OK(tsr_array_ones(d, 1, 6, &wrow));
    ASSERT_OK(tsr_array_wait(wrow));
    inject_failure(wrow, 0, 0);
    e = tsr_ex_binary(TSR_ADD, tsr_ex_array(wide), tsr_ex_array(wrow));
    ASSERT_OK(tsr_array_eval(e, &r));
    tsr_ex_free(&e);
    tsr_array_free(&wrow); /* the tasks keep what they need */
    int rc = tsr_array_wait(r);
    int owns_col0 = 0;
    for (int64_t k = 0; k < r->lmt * r->lnt; k++) {
        int64_t tj = (k / r->lmt) * d->Q + d->mycol;
        int st = tsr_future_status(r->ready[k]);
        ASSERT_EQ(st, tj == 0 ? TSR_ERR_RUNTIME : TSR_OK);
        owns_col0 |= tj == 0;
    }
    ASSERT_EQ(rc, owns_col0 ? TSR_ERR_RUNTIME : TSR_OK);
    if (owns_col0) ASSERT_CONTAINS(tsr_error_message(), "injected failure");
    double s;
    ASSERT_STATUS(tsr_array_reduce(r, TSR_SUM, &s), TSR_ERR_RUNTIME);
    ASSERT_CONTAINS(tsr_error_message(), "injected failure");
    tsr_array_free(&r);
    tsr_array_free(&wide);

    tsr_array_free(&a);
    tsr_array_free(&b);
    tsr_array_free(&e2);
    tsr_array_free(&row);
    tsr_array_free(&col);
    tsr_dist_free(&d);
    tsr_dist_free(&d2);
    tsr_dist_free(&d3);
}

/* Tessera's exp within 1 ulp of libm's over the whole range, and exact on
 * the special values. */
static void exp_accuracy(void) {
    static const double sp[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 709.782712893384,
                                709.7827128933841, -745.1332191019411, -745.1332191019412, 1e-300};
    for (size_t k = 0; k < sizeof sp / sizeof sp[0]; k++)
        if (!same_bits(tsr__exp(sp[k]), exp(sp[k])))
            TEST_FAIL("exp(%.17g) is %.17g, libm says %.17g", sp[k], tsr__exp(sp[k]), exp(sp[k]));
    rng_state = 5;
    for (int k = 0; k < 2000000; k++) {
        double u = rnd_unit() + rnd_unit() * 0x1p-24;
        double x = k % 4 == 0 ? u * 1456 - 746 : k % 4 == 1 ? 2 * u - 1
                 : k % 4 == 2 ? (u - 0.5) * 1e-6 : -708 - 38 * u;
        double got = tsr__exp(x), want = exp(x);
        if (got == want) continue;
        double ulp = nextafter(want, INFINITY) - want;
        if (!(fabs(got - want) <= ulp))
            TEST_FAIL("exp(%.17g) is %.17g, libm says %.17g: more than 1 ulp apart", x, got, want);
    }
}

int main(int argc, char **argv) {
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    int rank = tsr_rank();
#ifdef TSR_EW_REF
    const char *script = TSR_EW_REF;
#else
    const char *script = NULL;
#endif
    if (rank == 0) np_open();
    exp_accuracy();
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) run_config(&cfgs[c], 1);
    specials();
    errors();
    if (rank == 0) np_run(script);
    ASSERT_OK(tsr_finalize());
    if (rank == 0) printf("array elementwise: ok on %d ranks\n", tsr_nranks());
    return 0;
}
