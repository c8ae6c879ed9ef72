/* tsr_matmul_tn: c = a^T b (a m x k, b m x n, c k x n) without forming a^T.
 *
 * Row tile ti of a and of b live on process row ti mod P, so on a grid with
 * one process column (P x 1, the language's default), or when a and b have
 * one tile column each (k, n <= nb: everything on process column 0), every
 * rank holds whole rows of both operands and can form its share of the
 * product alone:
 *
 *   1. per chunk of its local rows (a run of local tile rows, cut from the
 *      distribution and shape alone), one dgemm 'T','N' (dgemv 'T' when
 *      n == 1) of the chunk's rows of a and b: a k x n partial, as a task on
 *      the chunk's tile futures;
 *   2. once all chunks are done, one task sums the partials in chunk order
 *      into the rank's own k x n sum S_p, and sends each block of S_p that
 *      belongs to a c tile owned by another rank to that owner (mailbox);
 *   3. the owner of c tile (ci, cj) adds the blocks of S_0, S_1, ..., S_{P-1}
 *      in that order (its own straight from memory).
 *
 * So a moves not at all and b not at all; the bytes that travel are P - 1
 * partial k x n blocks per c tile. Results depend on the grid and tile size
 * (the chunking and the order over process rows) but not on the thread
 * count or timing. Nothing blocks: the caller returns once tasks are
 * queued. A failed input tile fails the chunk, then S_p's task sends the
 * failure instead of data, so every c tile that would have read it fails
 * with the original message and no rank waits forever.
 *
 * Elsewhere (Q > 1 with k or n wider than one tile: a's tile column tj and
 * b's tile column tl meet on one rank only when tj = tl mod Q) this falls
 * back to tsr_array_transpose + tsr_matmul. */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "array/matmul_internal.h"
#include "array/settle.h"
#include "array/tiletask.h"
#include "perf/perf_internal.h"
#include "tessera/runtime.h"
#include "tessera/perf.h"

/* Rows per chunk at least this (as for matmul_gemv: long column segments
 * stream fastest), chunks per rank at most MAX_CHUNKS, and the partials of
 * one rank at most MAX_PARTIAL doubles in all (large k x n). */
#define CHUNK_ROWS 2048
#define MAX_CHUNKS 32
#define MAX_PARTIAL ((int64_t)1 << 22)

typedef struct tn tn;

typedef struct chunk_task {
    tn *op;
    int64_t r0, rows; /* local rows */
    double *part;     /* k x n, ld k; malloc'd by the task, freed by the sum */
} chunk_task;

struct tn {
    tsr_array_t *a, *b, *c;
    uint64_t op;
    int64_t k, n;
    int64_t nchunks;
    chunk_task *chunks;
    double *sum; /* S_p: k x n, ld k (NULL until the sum task ran) */
    tsr_future_t *sum_done; /* the sum task */
    tsr_future_t **ends;
    int64_t nends, cap_ends;
};

static void oom(const char *what) {
    tsr_abort("rank %d: tsr_matmul_tn: no memory for %s", tsr_rank(), what);
}

static void add_end(tn *op, tsr_future_t *f) {
    if (op->nends == op->cap_ends) {
        op->cap_ends = op->cap_ends ? 2 * op->cap_ends : 16;
        op->ends = realloc(op->ends, (size_t)op->cap_ends * sizeof *op->ends);
        if (!op->ends) oom("task bookkeeping");
    }
    op->ends[op->nends++] = f;
}

static int cleanup(void *arg, void **out) {
    tn *op = arg;
    for (int64_t i = 0; i < op->nends; i++) tsr_future_release(&op->ends[i]);
    for (int64_t i = 0; op->chunks && i < op->nchunks; i++) free(op->chunks[i].part);
    tsr_future_release(&op->sum_done);
    tsr__array_release(op->a);
    tsr__array_release(op->b);
    tsr__array_release(op->c);
    free(op->chunks);
    free(op->ends);
    free(op->sum);
    free(op);
    *out = NULL;
    return TSR_OK;
}

/* Local tile rows per chunk: from the shape and distribution alone. */
static int64_t tiles_per_chunk(const tsr_array_t *a, int64_t k, int64_t n) {
    const tsr_dist_t *d = a->dist;
    int64_t most = tsr__numroc(a->m, d->mb, 0, d->P); /* process row 0 has the most rows */
    int64_t lmt = tsr__ceil_div(most, d->mb);
    int64_t per = CHUNK_ROWS / d->mb > 1 ? CHUNK_ROWS / d->mb : 1;
    int64_t maxc = MAX_PARTIAL / (k * n > 0 ? k * n : 1);
    if (maxc > MAX_CHUNKS) maxc = MAX_CHUNKS;
    if (maxc < 1) maxc = 1;
    if (tsr__ceil_div(lmt, per) > maxc) per = tsr__ceil_div(lmt, maxc);
    return per > 0 ? per : 1;
}

static int chunk_run(void *arg, void **out) {
    chunk_task *t = arg;
    tn *op = t->op;
    const tsr_array_t *a = op->a, *b = op->b;
    int64_t k = op->k, n = op->n;
    *out = NULL;
    t->part = malloc(sizeof(double) * (size_t)(k * n));
    if (!t->part)
        return tsr_error(TSR_ERR_NOMEM, "rank %d: tsr_matmul_tn: no memory for a %lld x %lld partial",
                         a->dist->rank, (long long)k, (long long)n);
    const double *A = a->data + t->r0, *B = b->data + t->r0;
    if (n == 1)
        cblas_dgemv(CblasColMajor, CblasTrans, (int)t->rows, (int)k, 1.0, A, (int)a->lld, B, 1, 0.0,
                    t->part, 1);
    else
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)k, (int)n, (int)t->rows, 1.0, A,
                    (int)a->lld, B, (int)b->lld, 0.0, t->part, (int)k);
    if (tsr__trace_enabled()) tsr_trace_count(2 * t->rows * k * n, 8 * (t->rows * k + t->rows * n + k * n));
    return TSR_OK;
}

/* c tile (ci, cj): rows [ci mb, ..) of k, columns [cj nb, ..) of n. */
static void ctile_box(const tsr_array_t *c, int64_t ci, int64_t cj, int64_t *r0, int64_t *rows,
                      int64_t *c0, int64_t *cols) {
    const tsr_dist_t *d = c->dist;
    *r0 = ci * d->mb;
    *c0 = cj * d->nb;
    *rows = c->m - *r0 < d->mb ? c->m - *r0 : d->mb;
    *cols = c->n - *c0 < d->nb ? c->n - *c0 : d->nb;
}

static uint64_t part_sub(const tsr_array_t *c, int64_t ci, int64_t cj, int prow) {
    return tsr__mm_sub(TSR__MM_PARTIAL, (ci + cj * c->mt) * c->dist->P + prow);
}

/* After every chunk, failed or not: S_p = sum of the partials in chunk order,
 * then the blocks of other ranks' c tiles go to them (or the failure does). */
static int sum_run(void *arg, int st, const char *msg, void **out) {
    tn *op = arg;
    const tsr_array_t *c = op->c;
    const tsr_dist_t *d = c->dist;
    int64_t k = op->k, n = op->n, kn = k * n;
    int rc = st;
    *out = NULL;
    if (rc != TSR_OK) {
        tsr_error(rc, "%s", msg);
    } else {
        op->sum = malloc(sizeof(double) * (size_t)kn);
        if (!op->sum) {
            rc = tsr_error(TSR_ERR_NOMEM, "rank %d: tsr_matmul_tn: no memory for a %lld x %lld sum",
                           d->rank, (long long)k, (long long)n);
        } else {
            memcpy(op->sum, op->chunks[0].part, sizeof(double) * (size_t)kn);
            for (int64_t i = 1; i < op->nchunks; i++) {
                const double *p = op->chunks[i].part;
                double *s = op->sum;
                for (int64_t e = 0; e < kn; e++) s[e] += p[e];
                if (tsr__trace_enabled()) tsr_trace_count(0, 8 * 3 * kn);
            }
        }
    }
    for (int64_t i = 0; i < op->nchunks; i++) {
        free(op->chunks[i].part);
        op->chunks[i].part = NULL;
    }
    for (int64_t cj = 0; cj < c->nt; cj++) {
        for (int64_t ci = 0; ci < c->mt; ci++) {
            int owner = tsr__tile_owner(d, ci, cj);
            if (owner == d->rank) continue;
            size_t len = 0;
            void *buf;
            if (rc == TSR_OK) {
                int64_t r0, rows, c0, cols;
                ctile_box(c, ci, cj, &r0, &rows, &c0, &cols);
                buf = tsr__mm_pack(op->sum + r0 + c0 * k, k, rows, cols, &len);
            } else {
                buf = tsr__mm_pack_error(rc, &len);
            }
            tsr__mm_send(owner, op->op, part_sub(c, ci, cj, d->myrow), buf, len, "a partial sum");
        }
    }
    return rc;
}

/* One c tile on its owner: the blocks of S_0 .. S_{P-1} added in order. */
typedef struct comb_task {
    tn *op;
    int64_t li, lj;
    tsr_future_t *in[]; /* per process row: mailbox future, or NULL (ours / no rows) */
} comb_task;

/* Runs after its inputs whether they failed or not, so that the mailbox
 * futures and the record are always released. */
static int comb_run(void *arg, int st, const char *msg, void **out) {
    comb_task *t = arg;
    tn *op = t->op;
    tsr_array_t *c = op->c;
    const tsr_dist_t *d = c->dist;
    tsr__tile ct = tsr__local_tile(c, t->li, t->lj);
    int64_t k = op->k;
    int rc = TSR_OK, first = 1;
    *out = NULL;
    if (st != TSR_OK) {
        rc = tsr_error(st, "%s", msg);
        goto fail;
    }
    for (int p = 0; p < d->P; p++) {
        const double *src;
        int64_t ld;
        if (p == d->myrow) {
            if (!op->sum) continue; /* no rows here */
            src = op->sum + ct.i0 + ct.j0 * k;
            ld = k;
        } else {
            if (!t->in[p]) continue;
            TSR_CHECK(tsr__mm_open(t->in[p], &src));
            ld = ct.rows;
        }
        for (int64_t j = 0; j < ct.cols; j++) {
            double *y = ct.ptr + j * ct.ld;
            const double *x = src + j * ld;
            if (first)
                memcpy(y, x, sizeof(double) * (size_t)ct.rows);
            else
                for (int64_t i = 0; i < ct.rows; i++) y[i] += x[i];
        }
        if (tsr__trace_enabled()) tsr_trace_count(0, 8 * (first ? 2 : 3) * ct.rows * ct.cols);
        first = 0;
    }
    if (first) /* cannot happen with m > 0, but never leave the tile unset */
        for (int64_t j = 0; j < ct.cols; j++) memset(ct.ptr + j * ct.ld, 0, sizeof(double) * (size_t)ct.rows);
fail:
    for (int p = 0; p < d->P; p++) tsr_future_release(&t->in[p]);
    free(t);
    return rc;
}

static int tn_fast(tsr_array_t *a, tsr_array_t *b, tsr_array_t *c) {
    const tsr_dist_t *d = a->dist;
    tn *op = calloc(1, sizeof *op);
    if (!op) oom("its state");
    op->a = a;
    op->b = b;
    op->c = c;
    tsr__array_retain(a);
    tsr__array_retain(b);
    tsr__array_retain(c);
    op->op = tsr__array_next_op();
    op->k = a->n;
    op->n = b->n;
    /* Ranks holding rows of a and b: all (Q == 1) or process column 0. */
    int computes = a->lm > 0 && a->lnt > 0;

    if (computes) {
        int64_t per = tiles_per_chunk(a, op->k, op->n);
        op->nchunks = tsr__ceil_div(a->lmt, per);
        op->chunks = calloc((size_t)op->nchunks, sizeof *op->chunks);
        tsr_future_t **cf = calloc((size_t)op->nchunks, sizeof *cf);
        tsr_future_t **deps = calloc((size_t)(per * (a->lnt + b->lnt)), sizeof *deps);
        if (!op->chunks || !cf || !deps) oom("chunk tasks");
        for (int64_t q = 0; q < op->nchunks; q++) {
            chunk_task *t = &op->chunks[q];
            int64_t li0 = q * per, li1 = li0 + per < a->lmt ? li0 + per : a->lmt;
            t->op = op;
            t->r0 = li0 * d->mb;
            t->rows = (li1 == a->lmt ? a->lm : li1 * d->mb) - t->r0;
            int nd = 0;
            for (int64_t li = li0; li < li1; li++) {
                for (int64_t lj = 0; lj < a->lnt; lj++)
                    if (a->ready[li + lj * a->lmt]) deps[nd++] = a->ready[li + lj * a->lmt];
                for (int64_t lj = 0; lj < b->lnt; lj++)
                    if (b->ready[li + lj * b->lmt]) deps[nd++] = b->ready[li + lj * b->lmt];
            }
            if (tsr_async(chunk_run, t, nd, deps, &cf[q]) != TSR_OK)
                tsr_abort("rank %d: tsr_matmul_tn: cannot queue a product task: %s", tsr_rank(),
                          tsr_error_message());
        }
        if (tsr__async_settled(sum_run, op, (int)op->nchunks, cf, &op->sum_done) != TSR_OK)
            tsr_abort("rank %d: tsr_matmul_tn: cannot queue the sum task: %s", tsr_rank(),
                      tsr_error_message());
        for (int64_t q = 0; q < op->nchunks; q++) add_end(op, cf[q]);
        tsr_future_retain(op->sum_done);
        add_end(op, op->sum_done);
        free(cf);
        free(deps);
    }

    /* c's tiles here: each after the S_p blocks of every process row with
     * rows (a row without rows sends nothing). */
    for (int64_t lj = 0; lj < c->lnt; lj++) {
        for (int64_t li = 0; li < c->lmt; li++) {
            tsr__tile ct = tsr__local_tile(c, li, lj);
            comb_task *t = calloc(1, sizeof *t + (size_t)d->P * sizeof(tsr_future_t *));
            tsr_future_t **deps = calloc((size_t)d->P + 1, sizeof *deps);
            if (!t || !deps) oom("sum tasks");
            t->op = op;
            t->li = li;
            t->lj = lj;
            int nd = 0;
            for (int p = 0; p < d->P; p++) {
                if (tsr__numroc(a->m, d->mb, p, d->P) == 0) continue;
                if (p == d->myrow) {
                    if (op->sum_done) deps[nd++] = op->sum_done;
                    continue;
                }
                if (tsr__mbox_expect((tsr__mbox_key){op->op, part_sub(c, ct.ti, ct.tj, p)},
                                     &t->in[p]) != TSR_OK)
                    oom("a partial's mailbox entry");
                deps[nd++] = t->in[p];
            }
            tsr_future_t *f = NULL;
            if (tsr__async_settled(comb_run, t, nd, deps, &f) != TSR_OK)
                tsr_abort("rank %d: tsr_matmul_tn: cannot queue a sum task: %s", tsr_rank(),
                          tsr_error_message());
            free(deps);
            c->ready[li + lj * c->lmt] = f;
            tsr_future_retain(f);
            add_end(op, f);
        }
    }
    tsr_future_t *all = NULL, *done = NULL;
    if (tsr__when_all_settled((int)op->nends, op->ends, &all) != TSR_OK ||
        tsr_async(cleanup, op, 1, &all, &done) != TSR_OK)
        tsr_abort("rank %d: tsr_matmul_tn: cannot queue cleanup: %s", tsr_rank(),
                  tsr_error_message());
    tsr_future_release(&all);
    tsr_future_release(&done);
    return TSR_OK;
}

static int same_dist(const tsr_dist_t *a, const tsr_dist_t *b) {
    return a == b || (a->P == b->P && a->Q == b->Q && a->mb == b->mb && a->nb == b->nb);
}

int tsr_matmul_tn(tsr_array_t *a, tsr_array_t *b, tsr_array_t **out) {
    TSR_TRACE_SCOPE("matmul_tn");
    int rc = TSR_OK;
    tsr_array_t *c = NULL, *moved = NULL, *at = NULL;
    TSR_CHECK_MSG(out != NULL, TSR_ERR_INVALID, "rank %d: tsr_matmul_tn: out is NULL", tsr_rank());
    *out = NULL;
    TSR_CHECK_MSG(a != NULL && b != NULL, TSR_ERR_INVALID, "rank %d: tsr_matmul_tn: %s is NULL",
                  tsr_rank(), a == NULL ? "a" : "b");
    TSR_CHECK_MSG(a->m == b->m, TSR_ERR_SHAPE,
                  "rank %d: tsr_matmul_tn: shapes (%lld, %lld) and (%lld, %lld) do not match for "
                  "a^T b (rows %lld != %lld)",
                  tsr_rank(), (long long)a->m, (long long)a->n, (long long)b->m, (long long)b->n,
                  (long long)a->m, (long long)b->m);
    TSR_CHECK_MSG(a->m <= INT_MAX && a->n <= INT_MAX && b->n <= INT_MAX, TSR_ERR_UNSUPPORTED,
                  "rank %d: tsr_matmul_tn: shapes (%lld, %lld) and (%lld, %lld) exceed BLAS's int "
                  "range",
                  tsr_rank(), (long long)a->m, (long long)a->n, (long long)b->m, (long long)b->n);
    if (a->m == 0 || a->n == 0 || b->n == 0) return tsr_array_zeros(a->dist, a->n, b->n, out);
    const tsr_dist_t *d = a->dist;
    if (!same_dist(d, b->dist)) {
        TSR_CHECK(tsr_array_redistribute(b, a->dist, &moved));
        b = moved;
    }
    if (d->Q == 1 || (a->nt == 1 && b->nt == 1)) {
        TSR_CHECK(tsr__array_alloc(a->dist, a->n, b->n, &c));
        TSR_CHECK(tn_fast(a, b, c));
    } else {
        TSR_CHECK(tsr_array_transpose(a, &at));
        TSR_CHECK(tsr_matmul(at, b, &c));
    }
    *out = c;
    c = NULL;
fail:
    tsr_array_free(&at);
    tsr_array_free(&moved); /* queued tasks hold their own references */
    tsr_array_free(&c);
    return rc;
}
