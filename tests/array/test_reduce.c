/* Reductions: every op, whole array (blocking and async) and along each
 * axis, on awkward shapes (uneven tiles, 1 x n, n x 1, tiles larger than
 * the array, empty arrays), every grid of this rank count and two tile
 * sizes, against a serial reference here (long double accumulation) and,
 * for a few cases, numpy (tests/array/ew_ref.py). Ties and NaNs check
 * numpy's first-occurrence rule; huge and tiny values check that NORM2
 * neither overflows nor underflows. Then errors, and a failed input tile that
 * must fail the reduction on every rank. */
#include <errno.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include "array/array_internal.h"
#include "harness.h"

static const char *op_names[] = {"sum", "mean", "min", "max", "norm2", "argmin", "argmax"};
#define NOPS 7

typedef struct cfg {
    int64_t m, n, mb, nb;
} cfg;

static const cfg cfgs[] = {
    {7, 5, 2, 3},  {1, 9, 1, 4},  {9, 1, 4, 1},   {3, 3, 8, 8},     {13, 17, 5, 3},
    {2, 40, 1, 7}, {1, 1, 1, 1},  {530, 6, 260, 4}, {0, 3, 2, 2},   {3, 0, 2, 2},
};

/* ---- serial reference over x[i * stride_i + j * stride_j], count values,
 * element k at (k / inner, k % inner) of the reduced slice ---- */

static int better(int op, double q, double p) {
    if (isnan(p)) return 0;
    if (isnan(q)) return 1;
    return op == TSR_ARGMIN ? q < p : q > p;
}

static double ref_reduce(int op, const double *x, int64_t count, int64_t stride) {
    long double s = 0, a = 0;
    double best = 0;
    int64_t bi = -1;
    int nan = 0, dir = op == TSR_MIN || op == TSR_ARGMIN ? TSR_ARGMIN : TSR_ARGMAX;
    for (int64_t k = 0; k < count; k++) {
        double v = x[k * stride];
        s += v;
        a += (long double)v * v;
        nan |= isnan(v);
        if (bi < 0 || better(dir, v, best)) {
            best = v;
            bi = k;
        }
    }
    switch (op) {
    case TSR_SUM: return (double)s;
    case TSR_MEAN: return (double)(s / count);
    case TSR_NORM2: {
        /* inf^2 + NaN etc. follow long double rules, like the scaled form */
        return (double)sqrtl(a);
    }
    case TSR_MIN:
    case TSR_MAX: return nan ? NAN : best;
    default: return (double)bi;
    }
}

/* sum |x| of the slice: the scale of SUM's rounding error. */
static double abs_sum(const double *x, int64_t count, int64_t stride) {
    double s = 0;
    for (int64_t k = 0; k < count; k++) s += fabs(x[k * stride]);
    return s;
}

static void check_value(int op, double got, double want, double scale, int64_t count,
                        const char *what) {
    if (isnan(want) && isnan(got)) return;
    if (got == want) return;
    double tol = 0;
    if (op == TSR_SUM) tol = 1e-14 * scale;
    if (op == TSR_MEAN) tol = 1e-14 * scale / (double)count;
    if (op == TSR_NORM2) tol = 1e-14 * fabs(want);
    if (!(fabs(got - want) <= tol))
        TEST_FAIL("%s: %s is %.17g, the serial reference says %.17g (tolerance %g)", what,
                  op_names[op], got, want, tol);
}

/* ---- numpy side (rank 0) ---- */

static char np_dir[64];
static FILE *np_case;
static int np_files;

static void np_open(void) {
    snprintf(np_dir, sizeof np_dir, "/tmp/tsr-red-XXXXXX");
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

static void np_run(const char *script) {
    fclose(np_case);
    if (!script || access("/usr/bin/python3", X_OK) != 0) {
        printf("test_reduce: numpy comparison SKIPPED (no script or /usr/bin/python3)\n");
        return;
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s/case.txt'", script, np_dir);
    int st = system(cmd);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code == 77) {
        printf("test_reduce: numpy comparison SKIPPED (numpy missing)\n");
    } else if (code != 0) {
        TEST_FAIL("numpy comparison failed (exit %d); inputs kept in %s", code, np_dir);
    } else {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", np_dir);
        if (system(cmd) != 0) printf("could not remove %s\n", np_dir);
    }
}

/* ---- the checks ---- */

static uint64_t rng_state;
static double rnd_unit(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)((rng_state >> 33) & 0xffffff) / (double)0x1000000;
}

/* Whole and per-axis reductions of the row-major x (m x n) on dist d. */
static void check_array(tsr_dist_t *d, const double *x, int64_t m, int64_t n, const char *label,
                        int np_name) {
    int rank = tsr_rank();
    char what[256];
    tsr_array_t *a;
    ASSERT_OK(tsr_array_scatter(d, m, n, rank == 0 ? x : NULL, 0, &a));
    int P, Q;
    int64_t mb, nb;
    tsr_dist_grid(d, &P, &Q, NULL, NULL);
    tsr_dist_tile(d, &mb, &nb);
    if (np_name >= 0 && rank == 0) {
        char name[16];
        snprintf(name, sizeof name, "in%d", np_name);
        np_array(name, x, m, n);
    }
    /* Whole array: all ops in flight at once, then checked on every rank. */
    tsr_future_t *fs[NOPS];
    int no_identity[NOPS] = {0, 0, 1, 1, 0, 1, 1};
    for (int op = 0; op < NOPS; op++) {
        if (m * n == 0 && no_identity[op]) {
            ASSERT_STATUS(tsr_array_reduce_async(a, op, &fs[op]), TSR_ERR_SHAPE);
            ASSERT_CONTAINS(tsr_error_message(), "zero-size array");
            fs[op] = NULL;
            continue;
        }
        ASSERT_OK(tsr_array_reduce_async(a, op, &fs[op]));
    }
    for (int op = 0; op < NOPS; op++) {
        if (!fs[op]) continue;
        void *v;
        ASSERT_OK(tsr_wait(fs[op], &v));
        snprintf(what, sizeof what, "%s (%lld, %lld) on %d x %d, tiles %lld x %lld, whole", label,
                 (long long)m, (long long)n, P, Q, (long long)mb, (long long)nb);
        check_value(op, *(const double *)v, ref_reduce(op, x, m * n, 1), abs_sum(x, m * n, 1),
                    m * n, what);
        if (np_name >= 0 && rank == 0) {
            char name[32];
            snprintf(name, sizeof name, "w%d_%d", np_name, op);
            np_array(name, v, 1, 1);
            fprintf(np_case, "reduce %s %s -1 in%d %g\n", name, op_names[op], np_name,
                    op == TSR_SUM || op == TSR_MEAN || op == TSR_NORM2 ? 1e-12 : 0.0);
        }
        tsr_future_release(&fs[op]);
    }
    /* The blocking form agrees with the asynchronous one. */
    if (m * n > 0) {
        double mx, s;
        ASSERT_OK(tsr_array_reduce(a, TSR_MAX, &mx));
        ASSERT_TRUE(mx == ref_reduce(TSR_MAX, x, m * n, 1) || isnan(mx));
        ASSERT_OK(tsr_array_reduce(a, TSR_SUM, &s));
    }
    /* Along each axis. */
    for (int axis = 0; axis < 2; axis++) {
        int64_t rm = axis == 0 ? 1 : m, rn = axis == 0 ? n : 1, len = axis == 0 ? m : n;
        double *got = malloc(sizeof(double) * (size_t)(rm * rn + 1));
        for (int op = 0; op < NOPS; op++) {
            tsr_array_t *r;
            if (len == 0 && no_identity[op] && rm * rn > 0) {
                ASSERT_STATUS(tsr_array_reduce_axis(a, op, axis, &r), TSR_ERR_SHAPE);
                ASSERT_CONTAINS(tsr_error_message(), "the axis is empty");
                continue;
            }
            ASSERT_OK(tsr_array_reduce_axis(a, op, axis, &r));
            int64_t gm, gn;
            tsr_array_shape(r, &gm, &gn);
            ASSERT_EQ(gm, rm);
            ASSERT_EQ(gn, rn);
            ASSERT_TRUE(tsr_array_dist(r) == d);
            ASSERT_OK(tsr_array_gather(r, 0, rank == 0 ? got : NULL));
            tsr_array_free(&r);
            if (rank != 0) continue;
            for (int64_t k = 0; k < rm * rn; k++) {
                const double *slice = axis == 0 ? x + k : x + k * n;
                int64_t stride = axis == 0 ? n : 1;
                snprintf(what, sizeof what,
                         "%s (%lld, %lld) on %d x %d, tiles %lld x %lld, axis %d element %lld", label,
                         (long long)m, (long long)n, P, Q, (long long)mb, (long long)nb, axis,
                         (long long)k);
                check_value(op, got[k], ref_reduce(op, slice, len, stride),
                            abs_sum(slice, len, stride), len, what);
            }
            if (np_name >= 0 && rm * rn > 0) {
                char name[32];
                snprintf(name, sizeof name, "a%d_%d_%d", np_name, axis, op);
                np_array(name, got, rm, rn);
                fprintf(np_case, "reduce %s %s %d in%d %g\n", name, op_names[op], axis, np_name,
                        op == TSR_SUM || op == TSR_MEAN || op == TSR_NORM2 ? 1e-12 : 0.0);
            }
        }
        free(got);
    }
    tsr_array_free(&a);
}

static void configs(void) {
    int nr = tsr_nranks();
    int np_name = 0;
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        const cfg *s = &cfgs[c];
        int64_t cnt = s->m * s->n;
        double *ints = malloc(sizeof(double) * (size_t)(cnt + 1));
        double *reals = malloc(sizeof(double) * (size_t)(cnt + 1));
        rng_state = 99 + (uint64_t)c;
        /* Small integers: many ties, sums exact. Reals: rounding. */
        for (int64_t k = 0; k < cnt; k++) {
            ints[k] = floor(rnd_unit() * 7) - 3;
            reals[k] = rnd_unit() * 2 - 1;
        }
        for (int P = 1; P <= nr; P++) {
            if (nr % P) continue;
            for (int ts = 0; ts < 2; ts++) {
                tsr_dist_t *d;
                ASSERT_OK(tsr_dist_create(P, nr / P, ts ? s->mb + 2 : s->mb,
                                          ts ? s->nb + 1 : s->nb, &d));
                int first = P == 1 && ts == 0;
                check_array(d, ints, s->m, s->n, "integers", first ? np_name++ : -1);
                check_array(d, reals, s->m, s->n, "reals", first ? np_name++ : -1);
                tsr_dist_free(&d);
            }
        }
        free(ints);
        free(reals);
    }
}

/* NaN, inf, huge and tiny values, and the 1e5-value accuracy claim. */
static void specials(void) {
    int nr = tsr_nranks();
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(0, 0, 3, 2, &d));
    double x[6 * 5];
    /* A NaN late, another earlier in row-major order but later in column
     * order: argmin/argmax must name the row-major first. */
    for (int k = 0; k < 30; k++) x[k] = (double)((k * 7) % 11) - 5.0;
    x[4] = NAN;  /* (0, 4) */
    x[26] = NAN; /* (5, 1) */
    check_array(d, x, 6, 5, "NaN", 100);
    for (int k = 0; k < 30; k++) x[k] = (double)((k * 7) % 11) - 5.0;
    x[13] = INFINITY;
    check_array(d, x, 6, 5, "inf", 101);
    x[17] = -INFINITY;
    check_array(d, x, 6, 5, "inf-inf", 102);
    for (int k = 0; k < 30; k++) x[k] = (k % 3 ? 1e300 : -3e299) * (1 + k * 1e-3);
    check_array(d, x, 6, 5, "huge", 103);
    for (int k = 0; k < 30; k++) x[k] = (k % 4 ? 1e-300 : -2e-310) * (1 + k);
    check_array(d, x, 6, 5, "tiny", 104);
    for (int k = 0; k < 30; k++) x[k] = 0.0;
    check_array(d, x, 6, 5, "zeros", 105);
    tsr_dist_free(&d);

    /* 1e5 values in [0, 1): SUM within 1e-12 relative of the exact sum. */
    int64_t m = 400, n = 250;
    double *big = malloc(sizeof(double) * (size_t)(m * n));
    rng_state = 7;
    for (int64_t k = 0; k < m * n; k++) big[k] = rnd_unit();
    ASSERT_OK(tsr_dist_create(0, 0, 37, 23, &d));
    tsr_array_t *a;
    ASSERT_OK(tsr_array_scatter(d, m, n, tsr_rank() == 0 ? big : NULL, 0, &a));
    double s;
    ASSERT_OK(tsr_array_reduce(a, TSR_SUM, &s));
    double want = ref_reduce(TSR_SUM, big, m * n, 1);
    if (!(fabs(s - want) <= 1e-12 * want))
        TEST_FAIL("sum of 1e5 values on %d ranks: %.17g vs %.17g", nr, s, want);
    tsr_array_free(&a);
    tsr_dist_free(&d);
    free(big);
}

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
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(0, 0, 2, 2, &d));
    tsr_array_t *a, *r = NULL;
    tsr_future_t *f = NULL;
    double v;
    ASSERT_OK(tsr_array_ones(d, 5, 7, &a));
    ASSERT_STATUS(tsr_array_reduce(a, 99, &v), TSR_ERR_INVALID);
    ASSERT_CONTAINS(tsr_error_message(), "99 is not a reduction");
    ASSERT_STATUS(tsr_array_reduce_async(a, -1, &f), TSR_ERR_INVALID);
    ASSERT_TRUE(f == NULL);
    ASSERT_STATUS(tsr_array_reduce_axis(a, TSR_SUM, 2, &r), TSR_ERR_INVALID);
    ASSERT_CONTAINS(tsr_error_message(), "axis 2");
    ASSERT_TRUE(r == NULL);
    ASSERT_STATUS(tsr_array_reduce_axis(a, TSR_SUM, -1, &r), TSR_ERR_INVALID);
    ASSERT_STATUS(tsr_array_reduce(NULL, TSR_SUM, &v), TSR_ERR_INVALID);
    ASSERT_STATUS(tsr_array_reduce(a, TSR_SUM, NULL), TSR_ERR_INVALID);

    /* The input may be freed at once: the tasks hold it. */
    ASSERT_OK(tsr_array_reduce_async(a, TSR_SUM, &f));
    tsr_array_t *b = a;
    ASSERT_OK(tsr_array_reduce_axis(b, TSR_NORM2, 1, &r));
    tsr_array_free(&a);
    void *val;
    ASSERT_OK(tsr_wait(f, &val));
    ASSERT_EQ(*(const double *)val, 35.0);
    tsr_future_release(&f);
    double col[5];
    ASSERT_OK(tsr_array_gather(r, 0, tsr_rank() == 0 ? col : NULL));
    if (tsr_rank() == 0)
        for (int k = 0; k < 5; k++) ASSERT_NEAR(col[k], sqrt(7.0), 1e-15);
    tsr_array_free(&r);

    /* A failed tile fails the whole-array result on every rank, and the
     * axis results of its column (axis 0) or row (axis 1) only. */
    ASSERT_OK(tsr_array_ones(d, 5, 7, &a));
    ASSERT_OK(tsr_array_wait(a));
    inject_failure(a, 1, 2);
    for (int op = 0; op < NOPS; op++) {
        ASSERT_STATUS(tsr_array_reduce(a, op, &v), TSR_ERR_RUNTIME);
        ASSERT_CONTAINS(tsr_error_message(), "injected failure");
    }
    for (int axis = 0; axis < 2; axis++) {
        ASSERT_OK(tsr_array_reduce_axis(a, TSR_MAX, axis, &r));
        for (int64_t k = 0; k < r->lmt * r->lnt; k++) {
            int64_t ti = (k % r->lmt) * d->P + d->myrow, tj = (k / r->lmt) * d->Q + d->mycol;
            int bad = axis == 0 ? tj == 2 : ti == 1;
            ASSERT_STATUS(tsr_wait(r->ready[k], NULL), bad ? TSR_ERR_RUNTIME : TSR_OK);
            if (bad) ASSERT_CONTAINS(tsr_error_message(), "injected failure");
        }
        tsr_array_free(&r);
    }
    tsr_array_free(&a);
    tsr_dist_free(&d);
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
    configs();
    specials();
    errors();
    if (rank == 0) np_run(script);
    ASSERT_OK(tsr_finalize());
    if (rank == 0) printf("array reduce: ok on %d ranks\n", tsr_nranks());
    return 0;
}
