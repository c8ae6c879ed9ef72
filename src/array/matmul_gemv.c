/* Stationary-A product for a c with one tile column (n <= nb; matrix-vector
 * when n == 1). A is the big operand and stays put; B and partial results
 * travel:
 *
 *   1. the owner of B tile lb, on process column 0, sends it to the ranks
 *      whose A tile columns overlap its rows (every process row);
 *   2. rank (p, q) multiplies, per chunk of its local rows (CHUNK_ROWS), its
 *      own A tiles by those B slices: a partial y(chunk, q) of rows x n
 *      (dgemv when n == 1);
 *   3. ranks (p, q > 0) send their partials to (p, 0), which owns those rows
 *      of C and adds them in the order q = 1, 2, ... (deterministic for a
 *      given grid; a different Q sums in a different order, within rounding).
 *
 * A rank's B slices are freed when its last partial task has used them;
 * partials are freed once added. Tasks that send (steps 1 and 3) run even if
 * an input failed and then send the failure, so no rank waits forever. */
#include <cblas.h>
#include <stdlib.h>

#include "array/matmul_internal.h"
#include "array/settle.h"
#include "perf/perf_internal.h"
#include "tessera/runtime.h"

typedef struct gemv gemv;

typedef struct bslice {
    tsr_future_t *f; /* received B tile, NULL if not received here */
    atomic_int users;
    int needed; /* some local step reads it */
} bslice;

/* A run of local tile rows [li0, li1): local rows [r0, r0 + rows). */
typedef struct chunk {
    int64_t li0, li1, r0, rows;
} chunk;

typedef struct part_task {
    gemv *op;
    chunk ch;
    int nin;
    tsr_future_t **in; /* inputs whose failure a sending task must report */
} part_task;

typedef struct comb_task {
    gemv *op;
    chunk ch;
    tsr_future_t **parts; /* partials of q = 1 .. qeff - 1 */
} comb_task;

struct gemv {
    tsr_array_t *a, *b, *c;
    uint64_t op;
    int qeff; /* process columns holding A tile columns: min(Q, a->nt) */
    int64_t nsteps;
    tsr__kstep *steps;
    bslice *bs; /* per B tile row */
    int64_t nbs;
    int64_t nchunks;
    part_task *parts; /* per chunk */
    comb_task *combs;
    tsr_future_t **ends;
    int64_t nends;
};

static void oom(const char *what) {
    tsr_abort("rank %d: tsr_matmul: no memory for %s", tsr_rank(), what);
}

static int cleanup(void *arg, void **out) {
    gemv *op = arg;
    for (int64_t i = 0; i < op->nbs; i++) tsr_future_release(&op->bs[i].f);
    for (int64_t i = 0; i < op->nends; i++) tsr_future_release(&op->ends[i]);
    for (int64_t k = 0; op->parts && k < op->nchunks; k++) free(op->parts[k].in);
    for (int64_t k = 0; op->combs && k < op->nchunks; k++) {
        comb_task *t = &op->combs[k];
        for (int q = 1; t->parts && q < op->qeff; q++) tsr_future_release(&t->parts[q - 1]);
        free(t->parts);
    }
    tsr__array_release(op->a);
    tsr__array_release(op->b);
    tsr__array_release(op->c);
    free(op->parts);
    free(op->combs);
    free(op->ends);
    free(op->bs);
    free(op->steps);
    free(op);
    *out = NULL;
    return TSR_OK;
}

static int64_t b_rows(const tsr_array_t *b, int64_t lb) {
    int64_t mb = b->dist->mb;
    return mb < b->m - lb * mb ? mb : b->m - lb * mb;
}

/* Local tile rows per task. dgemv streams A fastest in long column segments
 * (8192 x 8192 here: 256-row pieces 9 GB/s, 2048-row pieces 16 GB/s, the
 * whole matrix 17 GB/s). Derived from the distribution alone, so the two
 * ends of a partial sum cut alike. */
#define CHUNK_ROWS 2048

static chunk chunk_of(const tsr_array_t *a, int64_t k) {
    int64_t per = CHUNK_ROWS / a->dist->mb > 1 ? CHUNK_ROWS / a->dist->mb : 1;
    chunk ch;
    ch.li0 = k * per;
    ch.li1 = ch.li0 + per < a->lmt ? ch.li0 + per : a->lmt;
    ch.r0 = ch.li0 * a->dist->mb;
    ch.rows = (ch.li1 == a->lmt ? a->lm : ch.li1 * a->dist->mb) - ch.r0;
    return ch;
}

static int64_t chunks(const tsr_array_t *a) {
    int64_t per = CHUNK_ROWS / a->dist->mb > 1 ? CHUNK_ROWS / a->dist->mb : 1;
    return tsr__ceil_div(a->lmt, per);
}

/* y (rows x n, ld ldy) = sum over this rank's steps of A(rows, step) B(step). */
static int partial(gemv *op, const chunk *ch, double *y, int64_t ldy) {
    int rc = TSR_OK;
    const tsr_array_t *a = op->a, *b = op->b;
    const tsr_dist_t *d = a->dist, *db = b->dist;
    int64_t n = b->n;
    int first = 1;
    for (int64_t s = 0; s < op->nsteps; s++) {
        const tsr__kstep *st = &op->steps[s];
        if (st->la % d->Q != d->mycol) continue;
        const double *A =
            a->data + ch->r0 + ((st->la / d->Q) * d->nb + st->k0 - st->la * d->nb) * a->lld;
        const double *B;
        int64_t ldb;
        int64_t boff = st->k0 - st->lb * db->mb;
        if (op->bs[st->lb].f) {
            TSR_CHECK(tsr__mm_open(op->bs[st->lb].f, &B));
            ldb = b_rows(b, st->lb);
        } else {
            B = b->data + (st->lb / db->P) * db->mb;
            ldb = b->lld;
        }
        B += boff;
        int K = (int)(st->k1 - st->k0);
        double beta = first ? 0.0 : 1.0;
        if (n == 1)
            cblas_dgemv(CblasColMajor, CblasNoTrans, (int)ch->rows, K, 1.0, A, (int)a->lld, B, 1, beta,
                        y, 1);
        else
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)ch->rows, (int)n, K, 1.0, A,
                        (int)a->lld, B, (int)ldb, beta, y, (int)ldy);
        if (tsr__trace_enabled()) tsr_trace_count(2 * ch->rows * n * K, 8 * (ch->rows * K + K * n + ch->rows * n * (first ? 1 : 2)));
        first = 0;
    }
fail:
    return rc;
}

static void slices_done(gemv *op) {
    for (int64_t lb = 0; lb < op->nbs; lb++) {
        bslice *bs = &op->bs[lb];
        if (bs->f && bs->needed && atomic_fetch_sub(&bs->users, 1) == 1) tsr_future_release(&bs->f);
    }
}

/* On process column 0: the partial goes straight into C's rows. */
static int part_local(void *arg, void **out) {
    part_task *t = arg;
    tsr_array_t *c = t->op->c;
    int rc = partial(t->op, &t->ch, c->data + t->ch.r0, c->lld);
    if (rc == TSR_OK) slices_done(t->op);
    *out = NULL;
    return rc;
}

/* Elsewhere: into a message for (p, 0); a failed input is sent as such. */
static int part_send(void *arg, void **out) {
    part_task *t = arg;
    gemv *op = t->op;
    const tsr_array_t *a = op->a;
    const tsr_dist_t *d = a->dist;
    int64_t n = op->b->n, rows = t->ch.rows;
    size_t len = 0;
    void *buf = NULL;
    int rc = tsr__first_failure(t->nin, t->in);
    if (rc == TSR_OK) {
        double *y;
        buf = tsr__mm_alloc(rows * n, &y, &len);
        if (!buf) oom("a partial result");
        rc = partial(op, &t->ch, y, rows);
        if (rc == TSR_OK) slices_done(op);
    }
    if (rc != TSR_OK) {
        free(buf);
        buf = tsr__mm_pack_error(rc, &len);
    }
    int64_t ti0 = t->ch.li0 * d->P + d->myrow; /* global tile row: names the chunk */
    tsr__mm_send(d->myrow * d->Q, op->op, tsr__mm_sub(TSR__MM_PARTIAL, ti0 * d->Q + d->mycol), buf,
                 len, "a partial product");
    for (int i = 0; i < t->nin; i++) tsr_future_release(&t->in[i]);
    *out = NULL;
    return TSR_OK;
}

/* On (p, 0): C's rows += the partials of q = 1 .. qeff - 1, in order. */
static int combine(void *arg, void **out) {
    int rc = TSR_OK;
    comb_task *t = arg;
    gemv *op = t->op;
    tsr_array_t *c = op->c;
    double *y = c->data + t->ch.r0;
    for (int q = 1; q < op->qeff; q++) {
        const double *p;
        TSR_CHECK(tsr__mm_open(t->parts[q - 1], &p));
        for (int64_t j = 0; j < c->n; j++)
            for (int64_t i = 0; i < t->ch.rows; i++) y[i + j * c->lld] += p[i + j * t->ch.rows];
        if (tsr__trace_enabled()) tsr_trace_count(0, 8 * 3 * t->ch.rows * c->n);
        tsr_future_release(&t->parts[q - 1]);
    }
fail:
    *out = NULL;
    return rc;
}

/* The owner of B tile lb sends it to every rank whose A columns overlap it. */
typedef struct bsend_task {
    gemv *op;
    int64_t lb;
    tsr_future_t *in; /* the tile's future (ours) or NULL */
} bsend_task;

static int bsend(void *arg, void **out) {
    bsend_task *t = arg;
    gemv *op = t->op;
    const tsr_array_t *b = op->b;
    const tsr_dist_t *d = b->dist;
    int rc = t->in ? tsr__first_failure(1, &t->in) : TSR_OK;
    const double *src = b->data + (t->lb / d->P) * d->mb;
    int64_t rows = b_rows(b, t->lb);
    /* Process columns that read rows of this tile: those of the steps in it. */
    for (int q = 0; q < d->Q; q++) {
        int reads = 0;
        for (int64_t s = 0; s < op->nsteps && !reads; s++)
            reads = op->steps[s].lb == t->lb && op->steps[s].la % d->Q == q;
        if (!reads) continue;
        for (int p = 0; p < d->P; p++) {
            int dest = p * d->Q + q;
            if (dest == d->rank || tsr__numroc(op->a->m, op->a->dist->mb, p, d->P) == 0) continue;
            size_t len = 0;
            void *buf = rc == TSR_OK ? tsr__mm_pack(src, b->lld, rows, b->n, &len)
                                     : tsr__mm_pack_error(rc, &len);
            tsr__mm_send(dest, op->op, tsr__mm_sub(TSR__MM_BTILE, t->lb), buf, len, "a B tile");
        }
    }
    tsr_future_release(&t->in);
    free(t);
    *out = NULL;
    return TSR_OK;
}

int tsr__matmul_gemv(tsr_array_t *a, tsr_array_t *b, tsr_array_t *c) {
    const tsr_dist_t *d = a->dist, *db = b->dist;
    gemv *op = calloc(1, sizeof *op);
    if (!op) oom("matrix-vector state");
    op->a = a;
    op->b = b;
    op->c = c;
    tsr__array_retain(a);
    tsr__array_retain(b);
    tsr__array_retain(c);
    op->op = tsr__array_next_op();
    op->qeff = (int)(a->nt < d->Q ? a->nt : d->Q);
    if (tsr__matmul_ksteps(a->n, d->nb, db->mb, &op->steps, &op->nsteps) != TSR_OK) oom("k steps");
    op->nbs = b->mt;
    op->bs = calloc((size_t)op->nbs, sizeof *op->bs);
    /* ends: B sends + partial or combine per tile row */
    op->nchunks = chunks(a);
    op->ends = calloc((size_t)(op->nbs + op->nchunks + 1), sizeof *op->ends);
    if (!op->bs || !op->ends) oom("matrix-vector state");
    int computes = a->lm > 0 && a->lnt > 0; /* this rank holds A tiles */
    int owns_c = d->mycol == 0;

    /* B tiles: send ours, expect those our steps read. */
    for (int64_t s = 0; s < op->nsteps && computes; s++)
        if (op->steps[s].la % d->Q == d->mycol) op->bs[op->steps[s].lb].needed = 1;
    for (int64_t lb = 0; lb < op->nbs; lb++) {
        int mine = lb % db->P == db->myrow && db->mycol == 0;
        if (mine) {
            bsend_task *t = calloc(1, sizeof *t);
            if (!t) oom("a B tile send");
            t->op = op;
            t->lb = lb;
            t->in = b->ready[lb / db->P];
            if (t->in) tsr_future_retain(t->in);
            tsr_future_t *settled = NULL, *done = NULL;
            if (tsr__when_all_settled(1, &t->in, &settled) != TSR_OK ||
                tsr_async(bsend, t, 1, &settled, &done) != TSR_OK)
                tsr_abort("rank %d: tsr_matmul: cannot queue a B tile send: %s", tsr_rank(),
                          tsr_error_message());
            tsr_future_release(&settled);
            op->ends[op->nends++] = done;
        } else if (op->bs[lb].needed) {
            if (tsr__mbox_expect((tsr__mbox_key){op->op, tsr__mm_sub(TSR__MM_BTILE, lb)},
                                 &op->bs[lb].f) != TSR_OK)
                oom("a B tile's mailbox entry");
            atomic_init(&op->bs[lb].users, (int)op->nchunks);
        }
    }

    if (computes) {
        op->parts = calloc((size_t)op->nchunks, sizeof *op->parts);
        if (owns_c && op->qeff > 1) op->combs = calloc((size_t)op->nchunks, sizeof *op->combs);
        if (!op->parts || (owns_c && op->qeff > 1 && !op->combs)) oom("partial tasks");
    }
    for (int64_t k = 0; computes && k < op->nchunks; k++) {
        part_task *t = &op->parts[k];
        t->op = op;
        t->ch = chunk_of(a, k);
        t->in = calloc((size_t)((t->ch.li1 - t->ch.li0) * a->lnt + op->nbs + 1), sizeof *t->in);
        if (!t->in) oom("partial tasks");
        for (int64_t lj = 0; lj < a->lnt; lj++)
            for (int64_t li = t->ch.li0; li < t->ch.li1; li++)
                if (a->ready[li + lj * a->lmt]) t->in[t->nin++] = a->ready[li + lj * a->lmt];
        for (int64_t lb = 0; lb < op->nbs; lb++) {
            if (!op->bs[lb].needed) continue;
            tsr_future_t *f = op->bs[lb].f ? op->bs[lb].f : b->ready[lb / db->P];
            if (f) t->in[t->nin++] = f;
        }
        for (int i = 0; i < t->nin; i++) tsr_future_retain(t->in[i]);
        tsr_future_t *f = NULL;
        if (owns_c) {
            if (tsr_async(part_local, t, t->nin, t->in, &f) != TSR_OK)
                tsr_abort("rank %d: tsr_matmul: cannot queue a product task: %s", tsr_rank(),
                          tsr_error_message());
            if (op->qeff > 1) {
                comb_task *ct = &op->combs[k];
                ct->op = op;
                ct->ch = t->ch;
                ct->parts = calloc((size_t)op->qeff, sizeof *ct->parts);
                tsr_future_t **deps = calloc((size_t)op->qeff, sizeof *deps);
                if (!ct->parts || !deps) oom("partial sums");
                int64_t ti = t->ch.li0 * d->P + d->myrow;
                for (int q = 1; q < op->qeff; q++) {
                    if (tsr__mbox_expect((tsr__mbox_key){op->op, tsr__mm_sub(TSR__MM_PARTIAL, ti * d->Q + q)},
                                         &ct->parts[q - 1]) != TSR_OK)
                        oom("a partial's mailbox entry");
                    deps[q - 1] = ct->parts[q - 1];
                }
                deps[op->qeff - 1] = f;
                tsr_future_t *g = NULL;
                if (tsr_async(combine, ct, op->qeff, deps, &g) != TSR_OK)
                    tsr_abort("rank %d: tsr_matmul: cannot queue a sum task: %s", tsr_rank(),
                              tsr_error_message());
                free(deps);
                tsr_future_release(&f);
                f = g;
            }
            for (int64_t li = t->ch.li0; li < t->ch.li1; li++) { /* c has one tile column */
                c->ready[li] = f;
                tsr_future_retain(f);
            }
            /* The task holds its own references; only part_send reads in[]. */
            for (int i = 0; i < t->nin; i++) tsr_future_release(&t->in[i]);
        } else {
            tsr_future_t *settled = NULL;
            if (tsr__when_all_settled(t->nin, t->in, &settled) != TSR_OK ||
                tsr_async(part_send, t, 1, &settled, &f) != TSR_OK)
                tsr_abort("rank %d: tsr_matmul: cannot queue a product task: %s", tsr_rank(),
                          tsr_error_message());
            tsr_future_release(&settled);
        }
        op->ends[op->nends++] = f;
    }
    tsr_future_t *all = NULL, *done = NULL;
    if (tsr__when_all_settled((int)op->nends, op->ends, &all) != TSR_OK ||
        tsr_async(cleanup, op, 1, &all, &done) != TSR_OK)
        tsr_abort("rank %d: tsr_matmul: cannot queue cleanup: %s", tsr_rank(), tsr_error_message());
    tsr_future_release(&all);
    tsr_future_release(&done);
    return TSR_OK;
}
