/* tsr_array_eval: one fused pass per output tile over a compiled expression.
 *
 * A tile is walked in blocks of BLK elements. Each block runs the whole
 * register program (expr.c): one small kernel call per inner node over BLK
 * elements, so intermediate results live in a few L1-resident blocks and
 * never in memory, and every kernel is a fixed-shape loop the compiler
 * vectorises. Full blocks of one contiguous run read the operands and write
 * the output in place; the leftovers of short columns are packed together
 * into one block (gathered, computed, scattered back), so 1 x n arrays and
 * thin tiles do not pay a whole block per column.
 *
 * Broadcast operands (1 x n, m x 1, 1 x 1) mostly live on other ranks: a
 * 1 x n row's tile (0, tj) is on process row 0 but every process row with
 * tiles in column tj needs it. Its owner sends it, once, straight to each
 * rank that needs it (down its process column for a row, along its process
 * row for a column, everywhere for 1 x 1) through the mailbox; a receiver
 * expects each source tile once and all its output tiles share that copy.
 * No replicated copy of the vector is built first: each rank holds only the
 * source tiles its own output tiles read, for as long as they run.
 *
 * A future leaf (tsr_ex_future) is a constant whose value is read from the
 * future when the tile task runs: the tile tasks depend on it (a failed
 * future fails them with its message) and it fills its register block like
 * a constant, so the result is bit-identical to tsr_ex_scalar's.
 *
 * Results are bit-identical for any grid, tile size and thread count: every
 * element goes through the same operations in the same order (no
 * reassociation; the build does not contract a*b+c into fma). exp is our
 * own (expr_internal.h) so that it vectorises like the rest.
 *
 * Speed (2e7 doubles, fresh result, Xeon VM): z = exp(-(x*x))*y + 0.5*x
 * takes 0.15 s on one thread and about 0.09 s on two, against 0.21 s for
 * numpy 2.5 and 0.28 s for a plain C loop with libm's exp; a*x+y takes
 * 0.063 s on one thread against 0.10 s for a plain loop writing fresh
 * memory (huge pages, array.c) and 0.035 s for one rewriting warm memory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "array/expr_internal.h"
#include "array/tiletask.h"
#include "perf/perf_internal.h"
#include "tessera/runtime.h"
#include "tessera/perf.h"

/* 256 doubles = 2 KB per register: a program with a dozen registers stays in
 * L1, and the per-instruction dispatch is amortised over 256 elements. */
#define BLK 256

/* ---- kernels: n8 chunks of 8 elements. The inner loop has a constant trip
 * count, so GCC vectorises it at -O2 (its cheap cost model refuses loops
 * that need a scalar epilogue). Loads go to locals first so that selects
 * become blends. ---- */
/* x86-64: each kernel also exists as an AVX2 clone, picked once at load
 * time (ifunc). Twice the lanes halve exp's cost (4.5 vs 8.9 ns per element
 * on a Xeon); the clones do the same IEEE operations in the same order (no
 * FMA: contraction is off), so results stay bit-identical across
 * machines. Not in -Dfuzz=true builds: clang instruments the ifunc
 * resolvers there, and they then crash ld.so while it loads libtessera.so
 * (their calls go through a PLT not yet relocated). Not under GCC's
 * ThreadSanitizer either: its instrumented resolvers crash before main the
 * same way. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && \
    !defined(FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) && !defined(__SANITIZE_THREAD__)
#define KERNEL __attribute__((target_clones("avx2", "default"))) static void
#else
#define KERNEL static void
#endif
#define KLOOP(body)                                                                      \
    for (size_t k_ = 0; k_ < n8 * 8; k_ += 8)                                            \
        for (int u_ = 0; u_ < 8; u_++) {                                                 \
            size_t i = k_ + (size_t)u_;                                                  \
            body;                                                                        \
        }
#define BINARY(name, expr)                                                               \
    KERNEL name(size_t n8, double *restrict r, const double *restrict a,            \
                     const double *restrict b) {                                         \
        KLOOP(double x = a[i]; double y = b[i]; r[i] = (expr))                           \
    }
#define UNARY(name, expr)                                                                \
    KERNEL name(size_t n8, double *restrict r, const double *restrict a) {         \
        KLOOP(double x = a[i]; r[i] = (expr))                                            \
    }

/* maximum/minimum propagate NaN like numpy: a NaN in either operand wins
 * (the left one if both). Ties give the right operand. */
BINARY(k_add, x + y)
BINARY(k_sub, x - y)
BINARY(k_mul, x * y)
BINARY(k_div, x / y)
BINARY(k_pow, pow(x, y))
BINARY(k_max, (x > y || x != x) ? x : y)
BINARY(k_min, (x < y || x != x) ? x : y)
BINARY(k_lt, x < y ? 1.0 : 0.0)
BINARY(k_le, x <= y ? 1.0 : 0.0)
BINARY(k_gt, x > y ? 1.0 : 0.0)
BINARY(k_ge, x >= y ? 1.0 : 0.0)
BINARY(k_eq, x == y ? 1.0 : 0.0)
BINARY(k_ne, x != y ? 1.0 : 0.0)
UNARY(k_neg, -x)
UNARY(k_abs, fabs(x))
UNARY(k_sqrt, sqrt(x))
UNARY(k_log, log(x))
UNARY(k_tanh, tanh(x))
UNARY(k_copy, x)

/* exp and sigmoid run in stages over 8 values: GCC -O2 vectorises a select
 * whose result is stored, not one whose result feeds more arithmetic in the
 * same loop. The clamps keep NaN (a comparison with NaN is false). */
KERNEL k_exp(size_t n8, double *restrict r, const double *restrict a) {
    for (size_t k = 0; k < n8 * 8; k += 8) {
        double x[8];
        for (int u = 0; u < 8; u++) {
            double v = a[k + u];
            x[u] = v > 710.0 ? 710.0 : v;
        }
        for (int u = 0; u < 8; u++) {
            double v = x[u];
            x[u] = v < -746.0 ? -746.0 : v;
        }
        for (int u = 0; u < 8; u++) r[k + u] = tsr__exp_core(x[u]);
    }
}

/* 1 / (1 + e^-x), in the form that cannot overflow: e = e^-|x| <= 1, then
 * 1 / (1 + e) for x >= 0 and e / (1 + e) below. */
KERNEL k_sigmoid(size_t n8, double *restrict r, const double *restrict a) {
    for (size_t k = 0; k < n8 * 8; k += 8) {
        double e[8];
        for (int u = 0; u < 8; u++) {
            double v = -fabs(a[k + u]);
            e[u] = v < -746.0 ? -746.0 : v;
        }
        for (int u = 0; u < 8; u++) e[u] = tsr__exp_core(e[u]);
        double num[8];
        for (int u = 0; u < 8; u++) {
            double x = a[k + u], v = e[u];
            num[u] = x >= 0 ? 1.0 : v;
        }
        for (int u = 0; u < 8; u++) r[k + u] = num[u] / (1.0 + e[u]);
    }
}

KERNEL k_where(size_t n8, double *restrict r, const double *restrict c,
                    const double *restrict a, const double *restrict b) {
    KLOOP(double cc = c[i]; double x = a[i]; double y = b[i]; r[i] = cc != 0.0 ? x : y)
}

typedef void (*binary_fn)(size_t, double *restrict, const double *restrict,
                          const double *restrict);
typedef void (*unary_fn)(size_t, double *restrict, const double *restrict);
static const binary_fn binary_kernels[] = {
    [TSR_ADD] = k_add, [TSR_SUB] = k_sub, [TSR_MUL] = k_mul,     [TSR_DIV] = k_div,
    [TSR_POW] = k_pow, [TSR_MAXIMUM] = k_max, [TSR_MINIMUM] = k_min, [TSR_LT] = k_lt,
    [TSR_LE] = k_le,   [TSR_GT] = k_gt,   [TSR_GE] = k_ge,       [TSR_EQ] = k_eq,
    [TSR_NE] = k_ne,
};
static const unary_fn unary_kernels[] = {
    [TSR_NEG] = k_neg, [TSR_ABS] = k_abs,   [TSR_SQRT] = k_sqrt,       [TSR_EXP] = k_exp,
    [TSR_LOG] = k_log, [TSR_TANH] = k_tanh, [TSR_SIGMOID] = k_sigmoid,
};

static void exec(const tsr__ex_prog *p, double *const *R, size_t n8) {
    for (int k = 0; k < p->ninsn; k++) {
        const tsr__ex_insn *in = &p->insn[k];
        double *d = R[in->dst];
        const double *a = R[in->a];
        if (in->op < TSR__OP_UNARY)
            binary_kernels[in->op](n8, d, a, R[in->b]);
        else if (in->op < TSR__OP_WHERE)
            unary_kernels[in->op - TSR__OP_UNARY](n8, d, a);
        else if (in->op == TSR__OP_WHERE)
            k_where(n8, d, a, R[in->b], R[in->c]);
        else
            k_copy(n8, d, a);
    }
}

/* ---- the plan shared by one eval's tile tasks ---- */

typedef struct leafrt {
    tsr_array_t *arr;   /* a reference, NULL for scalars and futures */
    tsr_future_t *fut;  /* future leaves: a reference */
    int64_t nsrc;       /* broadcast: source tiles (the vector's tiles) */
    tsr_future_t **src; /* broadcast: mailbox future of each remote source tile we read */
} leafrt;

typedef struct plan {
    tsr__ex_prog prog;
    leafrt *lf;
    int nreg; /* including the output register */
} plan;

static void plan_free(void *arg) {
    plan *pl = arg;
    for (int l = 0; l < pl->prog.nleaf; l++) {
        leafrt *r = &pl->lf[l];
        for (int64_t s = 0; s < r->nsrc && r->src; s++) tsr_future_release(&r->src[s]);
        free(r->src);
        if (r->arr) tsr__array_release(r->arr);
        if (r->fut) tsr_future_release(&r->fut);
    }
    free(pl->lf);
    tsr__ex_prog_free(&pl->prog);
    free(pl);
}

/* The source tile of broadcast leaf kind for output tile (ti, tj). */
static void source_of(int kind, int64_t ti, int64_t tj, int64_t *si, int64_t *sj) {
    *si = (kind == TSR__LEAF_ROWB || kind == TSR__LEAF_ALLB) ? 0 : ti;
    *sj = (kind == TSR__LEAF_COLB || kind == TSR__LEAF_ALLB) ? 0 : tj;
}

static tsr_future_t *local_ready(const tsr_array_t *a, int64_t ti, int64_t tj) {
    return a->ready[tsr__ready_index(a, ti, tj)];
}

static int tile_deps(const tsr_array_t *out, int64_t li, int64_t lj, void *arg,
                     tsr_future_t **deps, int cap) {
    const plan *pl = arg;
    const tsr_dist_t *d = out->dist;
    int64_t ti = li * d->P + d->myrow, tj = lj * d->Q + d->mycol;
    int n = 0;
    for (int l = 0; l < pl->prog.nleaf; l++) {
        const tsr__ex_leaf *lv = &pl->prog.leaves[l];
        const leafrt *r = &pl->lf[l];
        tsr_future_t *f = NULL;
        if (lv->kind == TSR__LEAF_SCALAR) continue;
        if (lv->kind == TSR__LEAF_FUTURE) {
            f = r->fut;
        } else if (lv->kind == TSR__LEAF_FULL) {
            f = local_ready(r->arr, ti, tj);
        } else {
            int64_t si, sj;
            source_of(lv->kind, ti, tj, &si, &sj);
            f = tsr__tile_owner(d, si, sj) == d->rank ? local_ready(r->arr, si, sj)
                                                      : r->src[si + sj];
        }
        if (!f) continue;
        if (n == cap)
            return tsr_error(TSR_ERR_UNSUPPORTED, "rank %d: tsr_array_eval: more than %d inputs "
                             "per tile", d->rank, cap);
        deps[n++] = f;
    }
    return n;
}

/* ---- walking a tile in blocks ---- */

typedef struct seg {
    int64_t i, j;       /* first element, tile coordinates */
    int32_t len, pos;   /* length, offset within the block */
} seg;

typedef struct tctx {
    const plan *pl;
    const tsr__tile *t;
    double *scr;          /* one BLK block per register */
    double **R;           /* where each register's block is now */
    const double **sp;    /* each leaf's source tile */
    int64_t *sld;         /* and its leading dimension */
    int64_t *filled;      /* row-broadcast leaves: column now in the scratch block */
    seg pend[BLK];        /* the gather block being filled */
    int npend, ptotal;
} tctx;

static double *scratch(const tctx *cx, int reg) { return cx->scr + (size_t)reg * BLK; }

static void fill(double *p, double v, int64_t n) {
    for (int64_t i = 0; i < n; i++) p[i] = v;
}

/* Copy leaf l's values for the segments into its scratch block. */
static void materialize(tctx *cx, int l, const seg *segs, int nseg) {
    const tsr__ex_leaf *lv = &cx->pl->prog.leaves[l];
    double *dst = scratch(cx, l);
    const double *src = cx->sp[l];
    for (int s = 0; s < nseg; s++) {
        const seg *g = &segs[s];
        switch (lv->kind) {
        case TSR__LEAF_FULL:
            memcpy(dst + g->pos, src + g->i + g->j * cx->sld[l], sizeof(double) * (size_t)g->len);
            break;
        case TSR__LEAF_COLB:
            memcpy(dst + g->pos, src + g->i, sizeof(double) * (size_t)g->len);
            break;
        case TSR__LEAF_ROWB: fill(dst + g->pos, src[g->j * cx->sld[l]], g->len); break;
        default: break; /* constants were filled once */
        }
    }
    if (lv->kind == TSR__LEAF_ROWB) cx->filled[l] = -1;
    cx->R[l] = dst;
}

/* One full block that is a single contiguous range (offset off) of the
 * tile: array operands and the output are used in place. */
static void run_direct(tctx *cx, const seg *segs, int nseg, int64_t off) {
    const tsr__ex_prog *p = &cx->pl->prog;
    for (int l = 0; l < p->nleaf; l++) {
        switch (p->leaves[l].kind) {
        case TSR__LEAF_FULL: cx->R[l] = (double *)cx->sp[l] + off; break;
        case TSR__LEAF_COLB:
            if (nseg == 1)
                cx->R[l] = (double *)cx->sp[l] + segs[0].i;
            else
                materialize(cx, l, segs, nseg);
            break;
        case TSR__LEAF_ROWB:
            if (nseg == 1) {
                if (cx->filled[l] != segs[0].j) {
                    fill(scratch(cx, l), cx->sp[l][segs[0].j * cx->sld[l]], BLK);
                    cx->filled[l] = segs[0].j;
                }
                cx->R[l] = scratch(cx, l);
            } else {
                materialize(cx, l, segs, nseg);
            }
            break;
        default: break;
        }
    }
    cx->R[tsr__ex_out_reg(p)] = cx->t->ptr + off;
    exec(p, cx->R, BLK / 8);
}

static void flush_gather(tctx *cx) {
    if (cx->npend == 0) return;
    const tsr__ex_prog *p = &cx->pl->prog;
    for (int l = 0; l < p->nleaf; l++) materialize(cx, l, cx->pend, cx->npend);
    int o = tsr__ex_out_reg(p);
    double *res = scratch(cx, o);
    cx->R[o] = res;
    exec(p, cx->R, (size_t)(cx->ptotal + 7) / 8);
    for (int s = 0; s < cx->npend; s++) {
        const seg *g = &cx->pend[s];
        memcpy(cx->t->ptr + g->i + g->j * cx->t->ld, res + g->pos, sizeof(double) * (size_t)g->len);
    }
    cx->npend = cx->ptotal = 0;
}

/* Split positions [p, p + len) of the run that starts at column j0 (and
 * wraps columns of `rows` elements) into per-column segments. */
static int split(const tsr__tile *t, int64_t j0, int64_t p, int64_t len, int32_t pos, seg *out) {
    int n = 0;
    while (len > 0) {
        seg *g = &out[n++];
        g->i = p % t->rows;
        g->j = j0 + p / t->rows;
        int64_t take = t->rows - g->i < len ? t->rows - g->i : len;
        g->len = (int32_t)take;
        g->pos = pos;
        pos += (int32_t)take;
        p += take;
        len -= take;
    }
    return n;
}

/* A run: len elements contiguous in memory from column j0, row 0. */
static void run(tctx *cx, int64_t j0, int64_t len) {
    const tsr__tile *t = cx->t;
    seg segs[BLK];
    int64_t p = 0;
    for (; p + BLK <= len; p += BLK) {
        int nseg = split(t, j0, p, BLK, 0, segs);
        run_direct(cx, segs, nseg, j0 * t->ld + p);
    }
    while (p < len) {
        int64_t take = BLK - cx->ptotal;
        if (take > len - p) take = len - p;
        cx->npend += split(t, j0, p, take, (int32_t)cx->ptotal, cx->pend + cx->npend);
        cx->ptotal += (int)take;
        p += take;
        if (cx->ptotal == BLK) flush_gather(cx);
    }
}

/* Where leaf l's data for this tile is; constants go into their block. */
static int bind_leaf(tctx *cx, int l) {
    const tsr__ex_leaf *lv = &cx->pl->prog.leaves[l];
    const leafrt *r = &cx->pl->lf[l];
    const tsr__tile *t = cx->t;
    if (lv->kind == TSR__LEAF_SCALAR) {
        fill(scratch(cx, l), lv->value, BLK);
        cx->R[l] = scratch(cx, l);
        return TSR_OK;
    }
    if (lv->kind == TSR__LEAF_FUTURE) {
        void *v = NULL;
        int rc = tsr_wait(r->fut, &v); /* a dep: ready (a failure never gets here) */
        if (rc != TSR_OK) return rc;
        if (!v)
            return tsr_error(TSR_ERR_INVALID, "rank %d: tsr_array_eval: a future operand's value "
                             "is NULL (expected a const double *)", tsr_rank());
        fill(scratch(cx, l), *(const double *)v, BLK);
        cx->R[l] = scratch(cx, l);
        return TSR_OK;
    }
    const tsr_array_t *a = r->arr;
    const tsr_dist_t *d = a->dist;
    int64_t si = t->ti, sj = t->tj;
    if (lv->kind != TSR__LEAF_FULL) source_of(lv->kind, t->ti, t->tj, &si, &sj);
    if (tsr__tile_owner(d, si, sj) == d->rank) {
        tsr__tile st = tsr__local_tile(a, si / d->P, sj / d->Q);
        cx->sp[l] = st.ptr;
        cx->sld[l] = st.ld;
    } else {
        void *buf = NULL;
        int rc = tsr_wait(r->src[si + sj], &buf); /* a dep: ready */
        if (rc == TSR_OK) rc = tsr__wire_open(buf, &cx->sp[l]);
        if (rc != TSR_OK) return rc;
        int64_t rows = a->m - si * d->mb;
        cx->sld[l] = rows < d->mb ? rows : d->mb;
    }
    if (lv->kind == TSR__LEAF_ALLB) {
        fill(scratch(cx, l), cx->sp[l][0], BLK);
        cx->R[l] = scratch(cx, l);
    }
    cx->filled[l] = -1;
    return TSR_OK;
}

static int eval_tile(const tsr__tile *t, const tsr_array_t *out, void *arg) {
    int rc = TSR_OK;
    const plan *pl = arg;
    int nl = pl->prog.nleaf;
    tctx *cx = calloc(1, sizeof *cx);
    void *mem = NULL;
    TSR_CHECK_MSG(cx != NULL, TSR_ERR_NOMEM, "rank %d: tsr_array_eval: no memory", out->dist->rank);
    cx->pl = pl;
    cx->t = t;
    cx->scr = tsr_aligned_alloc(64, sizeof(double) * BLK * (size_t)pl->nreg);
    mem = calloc((size_t)(pl->nreg + 3 * nl), sizeof(void *) > sizeof(int64_t) ? sizeof(void *)
                                                                               : sizeof(int64_t));
    TSR_CHECK_MSG(cx->scr && mem, TSR_ERR_NOMEM,
                  "rank %d: tsr_array_eval: no memory for %d register blocks", out->dist->rank,
                  pl->nreg);
    /* Padding lanes of a partial block are computed too: start them clean. */
    memset(cx->scr, 0, sizeof(double) * BLK * (size_t)pl->nreg);
    cx->R = mem;
    cx->sp = (const double **)(cx->R + pl->nreg);
    cx->sld = (int64_t *)(cx->sp + nl);
    cx->filled = cx->sld + nl;
    for (int r = 0; r < pl->nreg; r++) cx->R[r] = scratch(cx, r);
    for (int l = 0; l < nl; l++) TSR_CHECK(bind_leaf(cx, l));
    if (t->rows == t->ld || t->cols == 1) {
        run(cx, 0, t->rows * t->cols);
    } else {
        for (int64_t j = 0; j < t->cols; j++) run(cx, j, t->rows);
    }
    flush_gather(cx);
    if (tsr__trace_enabled()) tsr_trace_count((uint64_t)pl->prog.ninsn * t->rows * t->cols, 8 * (uint64_t)(nl + 1) * t->rows * t->cols);
fail:
    if (cx) tsr_aligned_free(cx->scr);
    free(mem);
    free(cx);
    return rc;
}

/* ---- sending broadcast source tiles ---- */

typedef struct sendjob {
    tsr_array_t *arr; /* a reference */
    int64_t si, sj;
    tsr__mbox_key key;
    int ndest;
    int dest[];
} sendjob;

/* Runs once the source tile is ready, or failed: the receivers are waiting
 * either way, so a failure travels as an error message. */
static int send_tile(void *arg, int st, const char *msg, void **value_out) {
    sendjob *j = arg;
    const tsr_array_t *a = j->arr;
    const tsr_dist_t *d = a->dist;
    tsr__tile t = tsr__local_tile(a, j->si / d->P, j->sj / d->Q);
    for (int k = 0; k < j->ndest; k++) {
        size_t len;
        double *data = NULL;
        void *buf = st != TSR_OK ? tsr__wire_error(st, msg, &len)
                                 : tsr__wire_data((size_t)(t.rows * t.cols), &data, &len);
        if (!buf) tsr_abort("rank %d: tsr_array_eval: no memory to send a tile", d->rank);
        if (data)
            for (int64_t c = 0; c < t.cols; c++)
                memcpy(data + c * t.rows, t.ptr + c * t.ld, sizeof(double) * (size_t)t.rows);
        if (tsr__mbox_send_owned(j->dest[k], j->key, buf, len) != TSR_OK)
            tsr_abort("rank %d: tsr_array_eval: cannot send a tile to rank %d: %s", d->rank,
                      j->dest[k], tsr_error_message());
    }
    tsr__array_release(j->arr);
    free(j);
    *value_out = NULL;
    return TSR_OK;
}

static uint64_t sub_key(int leaf, int64_t si, int64_t sj) {
    return ((uint64_t)leaf << 40) | (uint64_t)(si + sj);
}

/* Queue the sends of leaf l's source tiles that this rank owns, and expect
 * the remote ones this rank's output tiles read. Failures here are local to
 * this rank while its peers go on: they end the job. */
static void wire_broadcast(plan *pl, int l, const tsr_array_t *out, uint64_t op) {
    const tsr__ex_leaf *lv = &pl->prog.leaves[l];
    leafrt *r = &pl->lf[l];
    tsr_array_t *a = r->arr;
    const tsr_dist_t *d = out->dist;
    int kind = lv->kind;
    r->nsrc = kind == TSR__LEAF_ROWB ? a->nt : kind == TSR__LEAF_COLB ? a->mt : 1;
    r->src = calloc((size_t)(r->nsrc > 0 ? r->nsrc : 1), sizeof *r->src);
    if (!r->src) tsr_abort("rank %d: tsr_array_eval: no memory", d->rank);
    /* Which process rows / columns hold output tiles reading each source. */
    int prows = (int)(out->mt < d->P ? out->mt : d->P);
    int pcols = (int)(out->nt < d->Q ? out->nt : d->Q);
    for (int64_t s = 0; s < r->nsrc; s++) {
        int64_t si = kind == TSR__LEAF_COLB ? s : 0, sj = kind == TSR__LEAF_ROWB ? s : 0;
        if (tsr__tile_owner(d, si, sj) != d->rank) continue;
        int r0 = (int)(si % d->P), r1 = r0 + 1, c0 = (int)(sj % d->Q), c1 = c0 + 1;
        if (kind != TSR__LEAF_COLB) r0 = 0, r1 = prows;
        if (kind != TSR__LEAF_ROWB) c0 = 0, c1 = pcols;
        sendjob *j = calloc(1, sizeof *j + sizeof(int) * (size_t)d->nranks);
        if (!j) tsr_abort("rank %d: tsr_array_eval: no memory", d->rank);
        for (int pr = r0; pr < r1; pr++)
            for (int pc = c0; pc < c1; pc++)
                if (pr * d->Q + pc != d->rank) j->dest[j->ndest++] = pr * d->Q + pc;
        if (j->ndest == 0) {
            free(j);
            continue;
        }
        j->arr = a;
        tsr__array_retain(a);
        j->si = si;
        j->sj = sj;
        j->key = (tsr__mbox_key){op, sub_key(l, si, sj)};
        tsr_future_t *dep = local_ready(a, si, sj), *done = NULL;
        if (tsr__async_settled(send_tile, j, dep ? 1 : 0, &dep, &done) != TSR_OK)
            tsr_abort("rank %d: tsr_array_eval: cannot queue a send: %s", d->rank,
                      tsr_error_message());
        tsr_future_release(&done);
    }
    for (int64_t li = 0; li < out->lmt; li++) {
        for (int64_t lj = 0; lj < out->lnt; lj++) {
            int64_t si, sj;
            source_of(kind, li * d->P + d->myrow, lj * d->Q + d->mycol, &si, &sj);
            if (tsr__tile_owner(d, si, sj) == d->rank || r->src[si + sj]) continue;
            if (tsr__mbox_expect((tsr__mbox_key){op, sub_key(l, si, sj)}, &r->src[si + sj]) !=
                TSR_OK)
                tsr_abort("rank %d: tsr_array_eval: %s", d->rank, tsr_error_message());
        }
    }
}

int tsr_array_eval(tsr_expr_t *e, tsr_array_t **out) {
    TSR_TRACE_SCOPE("eval");
    int rc = TSR_OK;
    tsr__ex_prog prog = {0};
    tsr_array_t *res = NULL;
    plan *pl = NULL;
    TSR_CHECK_MSG(out != NULL, TSR_ERR_INVALID, "rank %d: tsr_array_eval: out is NULL", tsr_rank());
    *out = NULL;
    TSR_CHECK(tsr__ex_compile(e, "tsr_array_eval", &prog));
    TSR_CHECK(tsr__array_alloc(prog.dist, prog.m, prog.n, &res));
    /* Every rank has come this far (the checks above depend only on the
     * arguments); from here on peers exchange tiles with us under this op. */
    uint64_t op = tsr__array_next_op();
    pl = calloc(1, sizeof *pl);
    if (pl) pl->lf = calloc((size_t)prog.nleaf, sizeof *pl->lf);
    if (!pl || !pl->lf) tsr_abort("rank %d: tsr_array_eval: no memory for a plan", tsr_rank());
    pl->prog = prog;
    memset(&prog, 0, sizeof prog);
    pl->nreg = tsr__ex_out_reg(&pl->prog) + 1;
    for (int l = 0; l < pl->prog.nleaf; l++) {
        const tsr__ex_leaf *lv = &pl->prog.leaves[l];
        if (lv->kind == TSR__LEAF_SCALAR) continue;
        if (lv->kind == TSR__LEAF_FUTURE) {
            pl->lf[l].fut = lv->fut;
            tsr_future_retain(lv->fut);
            continue;
        }
        pl->lf[l].arr = lv->arr;
        tsr__array_retain(lv->arr);
        if (lv->kind != TSR__LEAF_FULL) wire_broadcast(pl, l, res, op);
    }
    rc = tsr__for_each_tile_deps(res, eval_tile, tile_deps, pl, plan_free);
    if (rc != TSR_OK)
        tsr_abort("rank %d: tsr_array_eval: cannot queue tile tasks: %s", tsr_rank(),
                  tsr_error_message());
    *out = res;
    return TSR_OK;
fail:
    tsr__ex_prog_free(&prog);
    tsr_array_free(&res);
    return rc;
}
