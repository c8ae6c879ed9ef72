/* Load, distributed arrays: four m x n arrays live at the peak, together
 * o->gib GiB over all ranks, on the most square grid:
 *   A = tanh(i*1e-5 - j*1e-3)     B = sigmoid(j*2e-3 - i*3e-6)   (outer broadcasts)
 *   C = 2A + B                    D = exp(-(C*C)) + sqrt(B)
 * reductions of them (sum, norm2, max, min), then the first half of C's
 * rows redistributed to a row-block distribution and back (bit-identical:
 * max |H'' - H| == 0), and the transpose of C's first m/8 rows. Only half
 * of C moves: a redistribution holds message copies of what it moves
 * (about 3 times its size, transiently, on 2 ranks), and the whole of C
 * would raise the peak above the four arrays. Sums, norms and extremes are
 * checked against a plain serial loop over the same formulas (each rank
 * computes its slice of rows; the partial sums are added). */
#include <math.h>
#include <stdlib.h>

#include "bench_load.h"

/* Neumaier-compensated sum: the serial reference must be better than the
 * distributed one it judges. */
typedef struct ksum {
    double s, c;
} ksum;

static void kadd(ksum *k, double x) {
    double t = k->s + x;
    k->c += fabs(k->s) >= fabs(x) ? (k->s - t) + x : (x - t) + k->s;
    k->s = t;
}

static double ktotal(const ksum *k) { return k->s + k->c; }

typedef struct serial_ref {
    double sum_c, sum_d, sq_c, sum_c_top; /* sum_c_top: rows [0, m/8) */
    double sum_c_half, max_d, min_a, max_c_half, min_c_half; /* half: rows [0, m/2) */
} serial_ref;

static void serial(int64_t m, int64_t n, serial_ref *r) {
    int rank = tsr_rank(), nranks = tsr_nranks();
    int64_t r0 = m * rank / nranks, r1 = m * (rank + 1) / nranks, top = m / 8, half = m / 2;
    ksum sc = {0, 0}, sd = {0, 0}, sq = {0, 0}, st = {0, 0}, sh = {0, 0};
    double maxd = -INFINITY, mina = INFINITY, maxc = -INFINITY, minc = INFINITY;
    for (int64_t i = r0; i < r1; i++)
        for (int64_t j = 0; j < n; j++) {
            double di = (double)i, dj = (double)j;
            double a = tanh(di * 1e-5 - dj * 1e-3);
            double b = 1.0 / (1.0 + exp(-(dj * 2e-3 - di * 3e-6)));
            double c = a * 2 + b;
            double d = exp(-(c * c)) + sqrt(b);
            kadd(&sc, c);
            kadd(&sd, d);
            kadd(&sq, c * c);
            if (i < top) kadd(&st, c);
            if (i < half) {
                kadd(&sh, c);
                maxc = fmax(maxc, c), minc = fmin(minc, c);
            }
            maxd = fmax(maxd, d), mina = fmin(mina, a);
        }
    double sums[5] = {ktotal(&sc), ktotal(&sd), ktotal(&sq), ktotal(&st), ktotal(&sh)},
           mx[2] = {maxd, maxc}, mn[2] = {mina, minc};
    MPI_Allreduce(MPI_IN_PLACE, sums, 5, MPI_DOUBLE, MPI_SUM, load_comm);
    MPI_Allreduce(MPI_IN_PLACE, mx, 2, MPI_DOUBLE, MPI_MAX, load_comm);
    MPI_Allreduce(MPI_IN_PLACE, mn, 2, MPI_DOUBLE, MPI_MIN, load_comm);
    *r = (serial_ref){sums[0], sums[1], sums[2], sums[3], sums[4], mx[0], mn[0], mx[1], mn[1]};
}

static double reduce(tsr_array_t *a, int op, const char *what) {
    double v;
    load_check(tsr_array_reduce(a, op, &v), what);
    return v;
}

/* |got - want| within rel times scale (the sum of magnitudes for sums). */
static void expect(const char *what, double got, double want, double rel, double scale) {
    if (!(fabs(got - want) <= rel * scale))
        tsr_abort("bench_load arrays: %s = %.17g, serial %.17g (|diff| %.3g > %.3g)", what, got,
                  want, fabs(got - want), rel * scale);
}

static tsr_expr_t *X(tsr_array_t *a) { return tsr_ex_array(a); }
static tsr_expr_t *S(double v) { return tsr_ex_scalar(v); }
static tsr_expr_t *bin(int op, tsr_expr_t *l, tsr_expr_t *r) { return tsr_ex_binary(op, l, r); }

static tsr_array_t *eval(tsr_expr_t *e, const char *what) {
    tsr_array_t *out;
    load_check(tsr_array_eval(e, &out), what);
    tsr_ex_free(&e);
    return out;
}

void load_arrays(const load_opts *o, load_round *out) {
    int nranks = tsr_nranks();
    int64_t elems = (int64_t)(o->gib * 1073741824.0 / 8 / 4); /* per array */
    int64_t n = elems >= (1 << 24) ? 2048 : 512;
    int64_t m = elems / n;
    if (m < 8) tsr_abort("bench_load arrays: --gib %g is too small", o->gib);
    int64_t tile = o->tile > 0 ? o->tile : (elems >= (1 << 24) ? 512 : 256);
    tsr_dist_t *d, *rows;
    load_check(tsr_dist_create(0, 0, tile, tile, &d), "tsr_dist_create");
    load_check(tsr_dist_create(nranks, 1, 2 * tile, n, &rows), "tsr_dist_create (row blocks)");
    MPI_Barrier(load_comm);
    double t0 = load_now();

    tsr_array_t *ar, *ac0, *ac;
    load_check(tsr_array_arange(d, m, 0, 1, &ar), "arange (rows)");
    load_check(tsr_array_arange(d, n, 0, 1, &ac0), "arange (cols)");
    load_check(tsr_array_transpose(ac0, &ac), "transpose (cols)");
    tsr_array_free(&ac0);
    tsr_array_t *A = eval(tsr_ex_unary(TSR_TANH, bin(TSR_SUB, bin(TSR_MUL, X(ar), S(1e-5)),
                                                     bin(TSR_MUL, X(ac), S(1e-3)))),
                          "A = tanh(...)");
    tsr_array_t *B = eval(tsr_ex_unary(TSR_SIGMOID, bin(TSR_SUB, bin(TSR_MUL, X(ac), S(2e-3)),
                                                        bin(TSR_MUL, X(ar), S(3e-6)))),
                          "B = sigmoid(...)");
    tsr_array_free(&ar);
    tsr_array_free(&ac);
    /* --plant arrays: C off by 1e-6 everywhere. */
    tsr_array_t *C = eval(bin(TSR_ADD, bin(TSR_MUL, X(A), S(2)),
                              bin(TSR_ADD, X(B), S(load_planted(o, "arrays") ? 1e-6 : 0))),
                          "C = 2A + B");
    tsr_array_t *D = eval(bin(TSR_ADD,
                              tsr_ex_unary(TSR_EXP, tsr_ex_unary(TSR_NEG, bin(TSR_MUL, X(C), X(C)))),
                              tsr_ex_unary(TSR_SQRT, X(B))),
                          "D = exp(-(C*C)) + sqrt(B)");
    double sum_c = reduce(C, TSR_SUM, "sum(C)"), sum_d = reduce(D, TSR_SUM, "sum(D)");
    double nrm_c = reduce(C, TSR_NORM2, "norm2(C)"), max_d = reduce(D, TSR_MAX, "max(D)");
    double min_a = reduce(A, TSR_MIN, "min(A)");
    tsr_array_free(&A);
    tsr_array_free(&B);
    tsr_array_free(&D);

    /* Redistribution of C's first half there and back: the same bits. */
    tsr_array_t *H, *H1, *H2;
    load_check(tsr_array_slice(C, 0, m / 2, 0, n, &H), "slice (half)");
    load_check(tsr_array_redistribute(H, rows, &H1), "redistribute to row blocks");
    double max_h1 = reduce(H1, TSR_MAX, "max(H row blocks)");
    double min_h1 = reduce(H1, TSR_MIN, "min(H row blocks)");
    double sum_h1 = reduce(H1, TSR_SUM, "sum(H row blocks)");
    load_check(tsr_array_redistribute(H1, d, &H2), "redistribute back");
    tsr_array_free(&H1);
    tsr_array_t *E = eval(tsr_ex_unary(TSR_ABS, bin(TSR_SUB, X(H2), X(H))), "|H'' - H|");
    tsr_array_free(&H2);
    tsr_array_free(&H);
    double back = reduce(E, TSR_MAX, "max |H'' - H|");
    tsr_array_free(&E);

    /* Transpose of a part. */
    tsr_array_t *P, *T;
    load_check(tsr_array_slice(C, 0, m / 8, 0, n, &P), "slice");
    load_check(tsr_array_transpose(P, &T), "transpose (part)");
    tsr_array_free(&P);
    double sum_t = reduce(T, TSR_SUM, "sum(transpose of part)");
    tsr_array_free(&T);
    tsr_array_free(&C);
    load_check(tsr_fence(), "tsr_fence");
    double t1 = load_now();
    tsr_dist_free(&rows);
    tsr_dist_free(&d);

    serial_ref r;
    serial(m, n, &r);
    double cells = (double)m * (double)n;
    /* Sums: reassociation only, ~1e-15 of the magnitudes (|C| <= 3, D <= 2);
     * exp is within 1 ulp of libm's. */
    expect("sum(C)", sum_c, r.sum_c, 1e-12, 3 * cells);
    expect("sum(D)", sum_d, r.sum_d, 1e-12, 2 * cells);
    expect("norm2(C)", nrm_c, sqrt(r.sq_c), 1e-12, sqrt(r.sq_c));
    expect("max(D)", max_d, r.max_d, 1e-15, 2);
    expect("min(A)", min_a, r.min_a, 1e-15, 1);
    expect("max(H row blocks)", max_h1, r.max_c_half, 1e-15, 3);
    expect("min(H row blocks)", min_h1, r.min_c_half, 1e-15, 3);
    expect("sum(H row blocks)", sum_h1, r.sum_c_half, 1e-12, 3 * cells / 2);
    expect("sum(transpose of part)", sum_t, r.sum_c_top, 1e-12, 3 * cells / 8);
    if (back != 0)
        tsr_abort("bench_load arrays: redistribution there and back changed H (max |diff| %g)", back);
    out->seconds = t1 - t0;
    out->count = (int64_t)(4 * cells * 8);
    out->checksum = sum_d;
}
