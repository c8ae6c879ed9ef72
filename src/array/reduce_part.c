/* Reduction partials: what one tile contributes, how two partials combine,
 * and the final value. One struct per output element:
 *
 *   SUM, MEAN     (sum, compensation): blocks of 256 summed in 8 lanes,
 *                 then Neumaier-compensated across blocks, tiles and ranks
 *   MIN, MAX      (value, -); NaN wins, as in numpy
 *   ARGMIN/MAX    (value, index); NaN counts as the extreme, ties and NaNs
 *                 go to the lower index: the first occurrence, as in numpy
 *   NORM2         (exponent e, scaled sum of squares q): norm = 2^e sqrt(q).
 *                 Each tile is scaled by a power of two near its largest
 *                 magnitude (exact), so nothing overflows or underflows
 *                 until the final result does (LAPACK dnrm2's idea, with
 *                 one scaling pass per tile instead of a division per
 *                 element). e = -inf: all zero; +inf: an inf; NaN: a NaN. */
#include <math.h>
#include <stdlib.h>

#include "array/reduce_internal.h"

/* ---- partials ---- */

int tsr__red_is_arg(int op) { return op == TSR_ARGMIN || op == TSR_ARGMAX; }

tsr__red_part tsr__red_identity(int op) {
    switch (op) {
    case TSR_MIN: return (tsr__red_part){INFINITY, 0};
    case TSR_MAX: return (tsr__red_part){-INFINITY, 0};
    case TSR_ARGMIN:
    case TSR_ARGMAX: return (tsr__red_part){0, -1}; /* index -1: nothing seen */
    case TSR_NORM2: return (tsr__red_part){-INFINITY, 0};
    default: return (tsr__red_part){0, 0};
    }
}

/* s + x into (s, c) with the rounding error kept in c. Non-finite sums make
 * c meaningless; final() then ignores it. */
static inline void neumaier(double *s, double *c, double x) {
    double t = *s + x;
    *c += fabs(*s) >= fabs(x) ? (*s - t) + x : (x - t) + *s;
    *s = t;
}

/* Is candidate q (value, index) a better arg-extreme than p? */
static inline int arg_better(int op, tsr__red_part q, tsr__red_part p) {
    if (q.w < 0) return 0;
    if (p.w < 0) return 1;
    int qn = q.v != q.v, pn = p.v != p.v;
    if (qn || pn) return qn && (!pn || q.w < p.w);
    if (q.v == p.v) return q.w < p.w;
    return op == TSR_ARGMIN ? q.v < p.v : q.v > p.v;
}

static tsr__red_part norm_combine(tsr__red_part p, tsr__red_part q) {
    if (p.v != p.v || q.v != q.v) return (tsr__red_part){NAN, 0};
    if (p.v == INFINITY || q.v == INFINITY) return (tsr__red_part){INFINITY, 0};
    if (q.v == -INFINITY) return p;
    if (p.v == -INFINITY) return q;
    if (p.v < q.v) {
        tsr__red_part t = p;
        p = q;
        q = t;
    }
    p.w += ldexp(q.w, 2 * (int)(q.v - p.v)); /* exact scaling; tiny terms underflow */
    return p;
}

void tsr__red_combine(int op, tsr__red_part *p, tsr__red_part q) {
    switch (op) {
    case TSR_SUM:
    case TSR_MEAN:
        neumaier(&p->v, &p->w, q.v);
        p->w += q.w;
        break;
    case TSR_MIN:
        if (q.v < p->v || q.v != q.v) p->v = q.v;
        break;
    case TSR_MAX:
        if (q.v > p->v || q.v != q.v) p->v = q.v;
        break;
    case TSR_NORM2: *p = norm_combine(*p, q); break;
    default:
        if (arg_better(op, q, *p)) *p = q;
        break;
    }
}

double tsr__red_final(int op, tsr__red_part p, double count) {
    switch (op) {
    case TSR_SUM: return isfinite(p.v) ? p.v + p.w : p.v;
    case TSR_MEAN: return (isfinite(p.v) ? p.v + p.w : p.v) / count;
    case TSR_NORM2:
        if (p.v != p.v || p.v == INFINITY) return p.v;
        if (p.v == -INFINITY) return 0.0;
        return ldexp(sqrt(p.w), (int)p.v);
    case TSR_ARGMIN:
    case TSR_ARGMAX: return p.w;
    default: return p.v;
    }
}

/* 2^-e as two factors (each representable), where amax = f 2^e, f in
 * [0.5, 1): x * f1 * f2 is then exact and at most 1 in magnitude. */
static void norm_scale(double amax, int *e, double *f1, double *f2) {
    frexp(amax, e);
    if (*e < -1000) {
        *f1 = 0x1p600;
        *f2 = ldexp(1.0, -*e - 600);
    } else {
        *f1 = 1.0;
        *f2 = ldexp(1.0, -*e);
    }
}

/* The largest |x| of n values, NaN if there is one. */
static double amax_of(const double *x, int64_t n) {
    double m[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++) {
            double a = fabs(x[i + u]);
            m[u] = (a > m[u] || a != a) ? a : m[u];
        }
    for (; i < n; i++) {
        double a = fabs(x[i]);
        m[0] = (a > m[0] || a != a) ? a : m[0];
    }
    double r = m[0];
    for (int u = 1; u < 8; u++) r = (m[u] > r || m[u] != m[u]) ? m[u] : r;
    return r;
}

static tsr__red_part norm_special(double amax) {
    if (amax != amax) return (tsr__red_part){NAN, 0};
    if (amax == INFINITY) return (tsr__red_part){INFINITY, 0};
    return (tsr__red_part){-INFINITY, 0}; /* all zero */
}

/* Fold n contiguous values into p. Arg ops number them idx0, idx0 + step,
 * ... (n small enough that the doubles are exact). */
static void fold_seg(int op, tsr__red_part *p, const double *x, int64_t n, double idx0,
                     double step) {
    switch (op) {
    case TSR_SUM:
    case TSR_MEAN:
        for (int64_t b = 0; b < n; b += 256) {
            int64_t e = b + 256 < n ? b + 256 : n, i = b;
            double l[8] = {0};
            for (; i + 8 <= e; i += 8)
                for (int u = 0; u < 8; u++) l[u] += x[i + u];
            double s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
            for (; i < e; i++) s += x[i];
            neumaier(&p->v, &p->w, s);
        }
        break;
    case TSR_MIN:
    case TSR_MAX: {
        double l[8];
        for (int u = 0; u < 8; u++) l[u] = p->v;
        int64_t i = 0;
        if (op == TSR_MIN) {
            for (; i + 8 <= n; i += 8)
                for (int u = 0; u < 8; u++) {
                    double y = x[i + u];
                    l[u] = (y < l[u] || y != y) ? y : l[u];
                }
        } else {
            for (; i + 8 <= n; i += 8)
                for (int u = 0; u < 8; u++) {
                    double y = x[i + u];
                    l[u] = (y > l[u] || y != y) ? y : l[u];
                }
        }
        for (; i < n; i++) tsr__red_combine(op, p, (tsr__red_part){x[i], 0});
        for (int u = 0; u < 8; u++) tsr__red_combine(op, p, (tsr__red_part){l[u], 0});
        break;
    }
    case TSR_NORM2: {
        double amax = amax_of(x, n);
        if (!(amax > 0) || amax == INFINITY) {
            *p = norm_combine(*p, norm_special(amax));
            break;
        }
        int e;
        double f1, f2, l[8] = {0};
        norm_scale(amax, &e, &f1, &f2);
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (int u = 0; u < 8; u++) {
                double y = x[i + u] * f1 * f2;
                l[u] += y * y;
            }
        double q = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        for (; i < n; i++) {
            double y = x[i] * f1 * f2;
            q += y * y;
        }
        *p = norm_combine(*p, (tsr__red_part){(double)e, q});
        break;
    }
    default: {
        /* The extreme value first (vectorised, as MIN/MAX), then its first
         * occurrence: two cheap passes instead of a compare-and-branch per
         * element. NaN is the extreme; -0.0 == 0.0 counts as a tie, as in
         * numpy. */
        if (n == 0) break;
        tsr__red_part e = {op == TSR_ARGMIN ? INFINITY : -INFINITY, 0};
        fold_seg(op == TSR_ARGMIN ? TSR_MIN : TSR_MAX, &e, x, n, 0, 0);
        int64_t i = 0;
        if (e.v != e.v)
            while (x[i] == x[i]) i++;
        else
            while (x[i] != e.v) i++;
        tsr__red_part q = {x[i], idx0 + (double)i * step};
        if (arg_better(op, q, *p)) *p = q;
        break;
    }
    }
}

/* Axis 1: fold column x (rows values) into acc[i], one partial per row;
 * arg ops record the column index gj. */
static void fold_rows(int op, tsr__red_part *acc, const double *x, int64_t rows, double gj) {
    switch (op) {
    case TSR_SUM:
    case TSR_MEAN:
        for (int64_t i = 0; i < rows; i++) neumaier(&acc[i].v, &acc[i].w, x[i]);
        break;
    default:
        for (int64_t i = 0; i < rows; i++) tsr__red_combine(op, &acc[i], (tsr__red_part){x[i], gj});
        break;
    }
}

/* Axis 1 NORM2 of one tile: per row, the largest magnitude over the tile's
 * columns, then the scaled squares; both passes run down the columns. */
static int norm_rows(tsr__red_part *acc, const tsr__tile *t) {
    size_t r = (size_t)t->rows;
    double *amax = calloc(4 * r, sizeof *amax);
    if (!amax) return tsr_error(TSR_ERR_NOMEM, "no memory for a reduction");
    double *f1 = amax + r, *f2 = f1 + r, *q = f2 + r;
    for (int64_t j = 0; j < t->cols; j++) {
        const double *x = t->ptr + j * t->ld;
        for (size_t i = 0; i < r; i++) {
            double a = fabs(x[i]);
            amax[i] = (a > amax[i] || a != a) ? a : amax[i];
        }
    }
    int *e = (int *)malloc(r * sizeof(int));
    if (!e) {
        free(amax);
        return tsr_error(TSR_ERR_NOMEM, "no memory for a reduction");
    }
    for (size_t i = 0; i < r; i++) {
        e[i] = 0;
        f1[i] = f2[i] = 0; /* special rows: their squares are not used */
        if (amax[i] > 0 && amax[i] != INFINITY) norm_scale(amax[i], &e[i], &f1[i], &f2[i]);
    }
    for (int64_t j = 0; j < t->cols; j++) {
        const double *x = t->ptr + j * t->ld;
        for (size_t i = 0; i < r; i++) {
            double y = x[i] * f1[i] * f2[i];
            q[i] += y * y;
        }
    }
    for (size_t i = 0; i < r; i++) {
        tsr__red_part p = amax[i] > 0 && amax[i] != INFINITY ? (tsr__red_part){(double)e[i], q[i]}
                                                   : norm_special(amax[i]);
        acc[i] = norm_combine(acc[i], p);
    }
    free(e);
    free(amax);
    return TSR_OK;
}

/* The partial(s) of one tile: len = 1 (whole), cols (axis 0) or rows
 * (axis 1) entries of out, already holding the identity. */
int tsr__red_tile_partial(int op, int axis, const tsr_array_t *a, const tsr__tile *t,
                          tsr__red_part *out) {
    if (axis == 0) {
        for (int64_t j = 0; j < t->cols; j++)
            fold_seg(op, &out[j], t->ptr + j * t->ld, t->rows, (double)t->i0, 1.0);
        return TSR_OK;
    }
    if (axis == 1) {
        if (op == TSR_NORM2) return norm_rows(out, t);
        for (int64_t j = 0; j < t->cols; j++)
            fold_rows(op, out, t->ptr + j * t->ld, t->rows, (double)(t->j0 + j));
        return TSR_OK;
    }
    /* Whole array: a contiguous tile is one segment unless indices matter. */
    if (!tsr__red_is_arg(op) && (t->rows == t->ld || t->cols == 1)) {
        fold_seg(op, out, t->ptr, t->rows * t->cols, 0, 0);
        return TSR_OK;
    }
    for (int64_t j = 0; j < t->cols; j++)
        fold_seg(op, out, t->ptr + j * t->ld, t->rows,
                 (double)t->i0 * (double)a->n + (double)(t->j0 + j), (double)a->n);
    return TSR_OK;
}
