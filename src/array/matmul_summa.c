/* SUMMA: C = A B with C in place, A panels sent along process rows and B
 * panels along process columns through the keyed mailbox, one dgemm per
 * (block of C, k step).
 *
 *   step s (A tile column la, B tile row lb):
 *
 *        B panel lb: process row lb % P sends its rows down each process column
 *                 v
 *   A panel la  [C_local] += A(my rows, step) * B(step, my cols)
 *   process column la % Q sends along each process row  >
 *
 * A rank's local C is cut into a few blocks (one per worker: tile columns of
 * the local matrix, which are contiguous, so each dgemm is as large as the
 * rank's share allows); each block is a chain of tasks over the steps, so the
 * product of step s runs while the panels of steps s+1.. arrive.
 *
 * Memory: a panel is freed when the last block has used it. Sends are paced
 * by the sender's own progress: the panels of step s leave once the sender
 * has finished its step s - LOOKAHEAD. As ranks progress at similar rates
 * (each needs the others' panels to advance), a rank holds about
 * LOOKAHEAD + 1 received A panels and as many B panels, not the whole of A's
 * row and B's column. This is pacing, not a hard bound: a rank that falls
 * far behind its peers (oversubscribed) can hold more.
 *
 * Sending on time: a panel leaves from inside the product task that ends
 * the sender's pacing step (the panels of the first LOOKAHEAD steps: before
 * the first product), not from a task of its own: with one worker, a send
 * task that becomes ready together with the next product runs after it (the
 * deque pops newest first), so the transfer would start a step late. And
 * the panels of step 0 went out only after this rank's own step 0 product,
 * so its row peers started a step behind. A send task still follows each
 * panel's tiles and pacing step, settled, as the fallback: when a tile was
 * not ready (or failed) at that point, it sends the data (or the failure).
 *
 * Message progress: in TSR_PROGRESS=poll mode MPI moves bytes only when some
 * thread polls, and busy workers do not; a long dgemm would then stall the
 * next panel's transfer until it ends. So with more than one rank the dgemm
 * is split into row pieces of POLL_ROWS and the task polls between them. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "array/matmul_internal.h"
#include "array/settle.h"
#include "perf/perf_internal.h"
#include "tessera/am.h"
#include "tessera/runtime.h"
#include "tessera/sched.h"

/* Steps of look-ahead: panels for step s are sent once the sender finished
 * step s - LOOKAHEAD. 2 lets one transfer overlap a whole step even when a
 * peer is a little behind. */
#define LOOKAHEAD 2
/* Rows per dgemm piece between progress polls. Splitting along rows costs
 * one more packing of the B panel per piece (K x cols doubles, against
 * 2 K cols POLL_ROWS flops: under 1% at 1024 rows). */
#define POLL_ROWS 1024
/* Polls per pause. Without a single-copy mechanism Open MPI's shared-memory
 * transport moves a large message in 32 KiB fragments, a few per poll on
 * each side: an 8 MiB panel took ~160 polls on each side, so with one poll per
 * pause it arrived only when the receiver ran dry. Bursts keep fragments
 * flowing; an idle poll costs ~1 us, so 256 of them every POLL_ROWS rows
 * cost well under 1%. Measured, N = 4096 at 2 ranks (1 x 2), summed time
 * both ranks' chains waited between steps (median of ~10-20 runs on the
 * shared 2-core box): burst 64: 1.3 s, 256: 0.75 s, 1024: 0.58 s; with a
 * single-copy transport (OMPI_MCA_btl_vader_single_copy_mechanism=cma) the
 * waits all but vanish. */
#define POLL_BURST 256

typedef struct panel {
    tsr_future_t *f; /* mailbox future (received panel), NULL if local */
    atomic_int users; /* step tasks that still need it */
} panel;

/* A rectangle of local C: local tile rows [li0, li1) x tile columns [lj0, lj1). */
typedef struct block {
    int64_t li0, li1, lj0, lj1;
    int64_t r0, rows, c0, cols; /* the same in local elements */
} block;

typedef struct summa summa;

typedef struct step_task {
    summa *op;
    int64_t blk, s;
} step_task;

struct summa {
    tsr_array_t *a, *b, *c; /* references held until cleanup */
    uint64_t op;
    int poll;
    int64_t nsteps, nblocks;
    tsr__kstep *steps;
    block *blocks;
    panel *pa, *pb; /* per A tile column / B tile row */
    int64_t npa, npb;
    step_task *tasks;
    tsr_future_t **ends; /* futures everything must settle before cleanup */
    int64_t nends, capends;
    /* Diagnostics (TSR_LOG=debug): time in products, and time a block's
     * chain waited between steps (for panels, or for a free worker). */
    uint64_t *last_end; /* per block; each chain runs one step at a time */
    _Atomic uint64_t busy_ns, gap_ns;
    atomic_int late, awaited; /* next step's received panels not yet there / looked at */
    struct paced *paced; /* per step: sends waiting for this rank to finish it */
    struct send_task **sends; /* all of this rank's sends, freed at cleanup */
    int64_t nsends;
    int64_t nearly; /* sends[0 .. nearly): not paced, due at once */
    atomic_int early_left;
};

typedef struct send_task {
    summa *op;
    int kind; /* TSR__MM_APANEL or TSR__MM_BPANEL */
    int64_t idx;
    atomic_int claimed; /* the send is done once, by whichever path gets here first */
    int early;          /* not paced: due at once */
    int nin;
    tsr_future_t *in[]; /* the source tiles' futures (ours), for their status */
} send_task;

/* Sends paced on one step (at most an A and a B panel are new per step). */
typedef struct paced {
    atomic_int done; /* blocks that finished the step */
    send_task *sends[2];
    int nsends;
} paced;

static void oom(const char *what) {
    tsr_abort("rank %d: tsr_matmul: no memory for %s", tsr_rank(), what);
}

static void add_end(summa *op, tsr_future_t *f) {
    if (op->nends == op->capends) {
        int64_t cap = op->capends ? 2 * op->capends : 64;
        tsr_future_t **p = realloc(op->ends, (size_t)cap * sizeof *p);
        if (!p) oom("task bookkeeping");
        op->ends = p;
        op->capends = cap;
    }
    op->ends[op->nends++] = f; /* takes the caller's reference */
}

static int cleanup(void *arg, void **out) {
    summa *op = arg;
    if (op->nblocks > 0)
        tsr_log(TSR_LOG_DEBUG,
                "tsr_matmul op %llu: %lld blocks x %lld steps, %.3f s in dgemm, %.3f s between "
                "steps (waiting for panels or a worker); %d of %d received panels had not "
                "arrived when the step before them ended",
                (unsigned long long)op->op, (long long)op->nblocks, (long long)op->nsteps,
                (double)atomic_load(&op->busy_ns) * 1e-9, (double)atomic_load(&op->gap_ns) * 1e-9,
                atomic_load(&op->late), atomic_load(&op->awaited));
    free(op->last_end);
    free(op->paced);
    for (int64_t i = 0; i < op->nsends; i++) {
        struct send_task *t = op->sends[i];
        for (int k = 0; k < t->nin; k++) tsr_future_release(&t->in[k]);
        free(t);
    }
    free(op->sends);
    for (int64_t i = 0; i < op->npa; i++) tsr_future_release(&op->pa[i].f);
    for (int64_t i = 0; i < op->npb; i++) tsr_future_release(&op->pb[i].f);
    for (int64_t i = 0; i < op->nends; i++) tsr_future_release(&op->ends[i]);
    tsr__array_release(op->a);
    tsr__array_release(op->b);
    tsr__array_release(op->c);
    free(op->ends);
    free(op->tasks);
    free(op->pa);
    free(op->pb);
    free(op->blocks);
    free(op->steps);
    free(op);
    *out = NULL;
    return TSR_OK;
}

/* The last user of a received panel frees it. */
static void panel_done(panel *p) {
    if (p->f && atomic_fetch_sub(&p->users, 1) == 1) tsr_future_release(&p->f);
}

static void gemm(int poll, int64_t rows, int64_t cols, int64_t k, const double *A, int64_t lda,
                 const double *B, int64_t ldb, double beta, double *C, int64_t ldc) {
    int64_t piece = poll ? POLL_ROWS : rows;
    for (int64_t r = 0; r < rows; r += piece) {
        int64_t h = rows - r < piece ? rows - r : piece;
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)h, (int)cols, (int)k, 1.0,
                    A + r, (int)lda, B, (int)ldb, beta, C + r, (int)ldc);
        if (tsr__trace_enabled()) tsr_trace_count(2 * h * cols * k, 8 * (h * k + k * cols + h * cols * (beta != 0 ? 2 : 1)));
        for (int i = 0; poll && i < POLL_BURST; i++) tsr_am_progress();
    }
}

/* The owner of a panel sends it to the ranks of its process row (A) or
 * column (B) that own C tiles; with st != TSR_OK, the failure instead. */
static void do_send(send_task *t, int st) {
    summa *op = t->op;
    const tsr_array_t *a = op->a, *b = op->b;
    const tsr_dist_t *d = a->dist;
    const double *src;
    int64_t rows, cols, ld;
    if (t->kind == TSR__MM_APANEL) {
        rows = a->lm;
        cols = d->nb < a->n - t->idx * d->nb ? d->nb : a->n - t->idx * d->nb;
        ld = a->lld;
        src = a->data + (t->idx / d->Q) * d->nb * ld;
    } else {
        const tsr_dist_t *db = b->dist;
        rows = db->mb < b->m - t->idx * db->mb ? db->mb : b->m - t->idx * db->mb;
        cols = b->ln;
        ld = b->lld;
        src = b->data + (t->idx / db->P) * db->mb;
    }
    uint64_t sub = tsr__mm_sub(t->kind, t->idx);
    int n = t->kind == TSR__MM_APANEL ? d->Q : d->P;
    for (int i = 0; i < n; i++) {
        int dest;
        if (t->kind == TSR__MM_APANEL) {
            if (i == d->mycol || tsr__numroc(op->c->n, d->nb, i, d->Q) == 0) continue;
            dest = d->myrow * d->Q + i;
        } else {
            if (i == d->myrow || tsr__numroc(op->c->m, d->mb, i, d->P) == 0) continue;
            dest = i * d->Q + d->mycol;
        }
        size_t len = 0;
        void *buf = st == TSR_OK ? tsr__mm_pack(src, ld, rows, cols, &len)
                                 : tsr__mm_pack_error(st, &len);
        tsr__mm_send(dest, op->op, sub, buf, len, t->kind == TSR__MM_APANEL ? "an A panel" : "a B panel");
    }
}

static int claim(send_task *t) {
    return atomic_load(&t->claimed) == 0 && atomic_exchange(&t->claimed, 1) == 0;
}

static int sources_ok(const send_task *t) {
    for (int i = 0; i < t->nin; i++)
        if (!tsr_future_ready(t->in[i]) || tsr_future_status(t->in[i]) != TSR_OK) return 0;
    return 1;
}

/* The unpaced sends (panels of the first LOOKAHEAD steps): tried when the
 * operation is queued and again at the start of every product until done,
 * so that they never wait behind a product. */
static void send_early(summa *op) {
    for (int64_t i = 0; i < op->nearly && atomic_load(&op->early_left) > 0; i++) {
        send_task *t = op->sends[i];
        if (atomic_load(&t->claimed) == 0 && sources_ok(t) && claim(t)) {
            do_send(t, TSR_OK);
            atomic_fetch_sub(&op->early_left, 1);
        }
    }
}

/* Fast path, in the task that completes this rank's step s: send the panels
 * paced on it now, before the next step's product starts. Left as a task,
 * a send would queue behind that product (the worker pops newest first) and
 * its transfer could not overlap it. Panels whose tiles are not all ready
 * and fine are left to the send task. */
static void send_paced(summa *op, int64_t s) {
    paced *pc = &op->paced[s];
    if (pc->nsends == 0 || atomic_fetch_add(&pc->done, 1) + 1 != op->nblocks) return;
    for (int k = 0; k < pc->nsends; k++) {
        send_task *t = pc->sends[k];
        if (sources_ok(t) && claim(t)) do_send(t, TSR_OK);
    }
}

/* Slow path, a task after the source tiles and the pacing step have
 * settled, successfully or not: sends unless the fast path did, with the
 * failure of a source tile if there is one. It always runs, and last. */
static int send_run(void *arg, void **out) {
    send_task *t = arg;
    if (claim(t)) {
        do_send(t, tsr__first_failure(t->nin, t->in));
        if (t->early) atomic_fetch_sub(&t->op->early_left, 1);
    }
    *out = NULL;
    return TSR_OK;
}

/* One step of one block: C_blk (+)= A(rows, step) B(step, cols). */
static int step_run(void *arg, void **out) {
    int rc = TSR_OK;
    step_task *t = arg;
    summa *op = t->op;
    const tsr__kstep *st = &op->steps[t->s];
    const block *bk = &op->blocks[t->blk];
    const tsr_array_t *a = op->a, *b = op->b;
    tsr_array_t *c = op->c;
    const tsr_dist_t *da = a->dist, *db = b->dist;
    panel *pa = &op->pa[st->la], *pb = &op->pb[st->lb];
    const double *A, *B;
    int64_t lda, ldb;
    int64_t aoff = st->k0 - st->la * da->nb, boff = st->k0 - st->lb * db->mb;
    if (pa->f) {
        TSR_CHECK(tsr__mm_open(pa->f, &A));
        lda = c->lm;
        A += bk->r0 + aoff * lda;
    } else {
        lda = a->lld;
        A = a->data + bk->r0 + ((st->la / da->Q) * da->nb + aoff) * lda;
    }
    if (pb->f) {
        int64_t kb = db->mb < b->m - st->lb * db->mb ? db->mb : b->m - st->lb * db->mb;
        TSR_CHECK(tsr__mm_open(pb->f, &B));
        ldb = kb;
        B += boff + bk->c0 * ldb;
    } else {
        ldb = b->lld;
        B = b->data + (st->lb / db->P) * db->mb + boff + bk->c0 * ldb;
    }
    if (atomic_load(&op->early_left) > 0) send_early(op);
    uint64_t t0 = tsr_time_ns();
    if (t->s > 0) atomic_fetch_add(&op->gap_ns, t0 - op->last_end[t->blk]);
    gemm(op->poll, bk->rows, bk->cols, st->k1 - st->k0, A, lda, B, ldb, t->s == 0 ? 0.0 : 1.0,
         c->data + bk->r0 + bk->c0 * c->lld, c->lld);
    op->last_end[t->blk] = tsr_time_ns();
    atomic_fetch_add(&op->busy_ns, op->last_end[t->blk] - t0);
    if (t->s + 1 < op->nsteps) { /* was the transfer hidden behind this step? */
        const tsr__kstep *nx = &op->steps[t->s + 1];
        tsr_future_t *next[2] = {op->pa[nx->la].f, op->pb[nx->lb].f};
        for (int i = 0; i < 2; i++) {
            if (!next[i]) continue;
            atomic_fetch_add(&op->awaited, 1);
            if (!tsr_future_ready(next[i])) atomic_fetch_add(&op->late, 1);
        }
    }
    send_paced(op, t->s);
    panel_done(pa);
    panel_done(pb);
fail:
    *out = NULL;
    return rc;
}

/* A send of a panel this rank owns; with pace_step >= 0 it goes out when
 * this rank finishes that step (fast path, send_paced). */
static send_task *new_send(summa *op, int kind, int64_t idx, int64_t pace_step) {
    const tsr_array_t *src = kind == TSR__MM_APANEL ? op->a : op->b;
    int64_t nin = kind == TSR__MM_APANEL ? src->lmt : src->lnt;
    send_task *t = calloc(1, sizeof *t + (size_t)nin * sizeof(tsr_future_t *));
    if (!t) oom("a panel send");
    t->op = op;
    t->kind = kind;
    t->idx = idx;
    atomic_init(&t->claimed, 0);
    for (int64_t i = 0; i < nin; i++) {
        int64_t k = kind == TSR__MM_APANEL ? i + (idx / src->dist->Q) * src->lmt
                                           : (idx / src->dist->P) + i * src->lmt;
        tsr_future_t *f = src->ready[k];
        if (f) {
            tsr_future_retain(f);
            t->in[t->nin++] = f;
        }
    }
    if (pace_step >= 0) {
        paced *pc = &op->paced[pace_step];
        pc->sends[pc->nsends++] = t;
    } else {
        t->early = 1;
        op->nearly++;
        atomic_fetch_add(&op->early_left, 1);
    }
    op->sends[op->nsends++] = t;
    return t;
}

/* Queue the slow path of t: after its tiles and the pace futures settle. */
static void arm_send(summa *op, send_task *t, tsr_future_t **pace, int npace) {
    tsr_future_t **deps = malloc(sizeof *deps * (size_t)(t->nin + npace + 1));
    if (!deps) oom("a panel send");
    int nd = 0;
    for (int i = 0; i < t->nin; i++) deps[nd++] = t->in[i];
    for (int i = 0; i < npace; i++) deps[nd++] = pace[i];
    tsr_future_t *settled = NULL, *done = NULL;
    if (tsr__when_all_settled(nd, deps, &settled) != TSR_OK ||
        tsr_async(send_run, t, 1, &settled, &done) != TSR_OK)
        tsr_abort("rank %d: tsr_matmul: cannot queue a panel send: %s", tsr_rank(),
                  tsr_error_message());
    tsr_future_release(&settled);
    add_end(op, done);
    free(deps);
}

/* The panels this rank owns that step s is the first to use (0, 1 or 2). */
static int owned_new(const summa *op, int64_t s, int kinds[2], int64_t idx[2]) {
    const tsr__kstep *st = &op->steps[s];
    const tsr_dist_t *d = op->c->dist;
    int n = 0;
    if ((s == 0 || st->la != op->steps[s - 1].la) && st->la % d->Q == d->mycol && op->a->lm > 0) {
        kinds[n] = TSR__MM_APANEL;
        idx[n++] = st->la;
    }
    if ((s == 0 || st->lb != op->steps[s - 1].lb) && st->lb % op->b->dist->P == d->myrow &&
        op->b->ln > 0) {
        kinds[n] = TSR__MM_BPANEL;
        idx[n++] = st->lb;
    }
    return n;
}

/* Cut local C into blocks: one per worker along the tile columns (contiguous
 * in the local matrix), and along tile rows too when there are fewer tile
 * columns than workers. */
static void make_blocks(summa *op) {
    const tsr_array_t *c = op->c;
    int64_t W = tsr_num_workers() > 0 ? tsr_num_workers() : 1;
    if (c->lmt == 0 || c->lnt == 0) return;
    int64_t ncb = c->lnt < W ? c->lnt : W;
    int64_t nrb = c->lnt >= W ? 1 : tsr__ceil_div(W, c->lnt);
    if (nrb > c->lmt) nrb = c->lmt;
    op->blocks = calloc((size_t)(ncb * nrb), sizeof *op->blocks);
    if (!op->blocks) oom("blocks");
    const tsr_dist_t *d = c->dist;
    for (int64_t cb = 0; cb < ncb; cb++) {
        for (int64_t rb = 0; rb < nrb; rb++) {
            block *bk = &op->blocks[op->nblocks++];
            bk->lj0 = c->lnt * cb / ncb;
            bk->lj1 = c->lnt * (cb + 1) / ncb;
            bk->li0 = c->lmt * rb / nrb;
            bk->li1 = c->lmt * (rb + 1) / nrb;
            bk->r0 = bk->li0 * d->mb;
            bk->rows = (bk->li1 == c->lmt ? c->lm : bk->li1 * d->mb) - bk->r0;
            bk->c0 = bk->lj0 * d->nb;
            bk->cols = (bk->lj1 == c->lnt ? c->ln : bk->lj1 * d->nb) - bk->c0;
        }
    }
}

/* Deps of step s of block bk on the A and B data it reads. */
static int data_deps(const summa *op, const block *bk, const tsr__kstep *st, tsr_future_t **deps) {
    int n = 0;
    const tsr_array_t *a = op->a, *b = op->b;
    if (op->pa[st->la].f) {
        deps[n++] = op->pa[st->la].f;
    } else {
        int64_t lja = st->la / a->dist->Q;
        for (int64_t li = bk->li0; li < bk->li1; li++)
            if (a->ready[li + lja * a->lmt]) deps[n++] = a->ready[li + lja * a->lmt];
    }
    if (op->pb[st->lb].f) {
        deps[n++] = op->pb[st->lb].f;
    } else {
        int64_t lib = st->lb / b->dist->P;
        for (int64_t lj = bk->lj0; lj < bk->lj1; lj++)
            if (b->ready[lib + lj * b->lmt]) deps[n++] = b->ready[lib + lj * b->lmt];
    }
    return n;
}

int tsr__matmul_summa(tsr_array_t *a, tsr_array_t *b, tsr_array_t *c) {
    const tsr_dist_t *d = c->dist;
    summa *op = calloc(1, sizeof *op);
    if (!op) oom("SUMMA state");
    op->a = a;
    op->b = b;
    op->c = c;
    tsr__array_retain(a);
    tsr__array_retain(b);
    tsr__array_retain(c);
    op->op = tsr__array_next_op();
    op->poll = d->nranks > 1;
    if (tsr__matmul_ksteps(a->n, d->nb, b->dist->mb, &op->steps, &op->nsteps) != TSR_OK)
        oom("k steps");
    op->npa = a->nt;
    op->npb = b->mt;
    op->pa = calloc((size_t)op->npa, sizeof *op->pa);
    op->pb = calloc((size_t)op->npb, sizeof *op->pb);
    if (!op->pa || !op->pb) oom("panels");
    make_blocks(op);
    int64_t nb = op->nblocks, S = op->nsteps;
    op->tasks = calloc((size_t)(nb * S + 1), sizeof *op->tasks);
    op->last_end = calloc((size_t)(nb + 1), sizeof *op->last_end);
    op->paced = calloc((size_t)S, sizeof *op->paced);
    op->sends = calloc((size_t)(op->npa + op->npb), sizeof *op->sends);
    /* Futures of this rank's last two steps, per block. */
    tsr_future_t **ring = calloc((size_t)(2 * nb + 1), sizeof *ring);
    int64_t ndeps_cap = c->lmt + c->lnt + 3;
    tsr_future_t **deps = malloc(sizeof *deps * (size_t)ndeps_cap);
    if (!op->tasks || !op->last_end || !op->paced || !op->sends || !ring || !deps)
        oom("step tasks");
    int mine = nb > 0;

    /* Which panels this rank receives, and how many step tasks use each. */
    for (int64_t s = 0; s < S && mine; s++) {
        const tsr__kstep *st = &op->steps[s];
        if (st->la % d->Q != d->mycol) atomic_fetch_add(&op->pa[st->la].users, (int)nb);
        if (st->lb % b->dist->P != d->myrow) atomic_fetch_add(&op->pb[st->lb].users, (int)nb);
    }
    /* Panels first used at steps 0 .. LOOKAHEAD - 1 leave at once; those of
     * step s + LOOKAHEAD when this rank has finished step s (all at once
     * on a rank without C blocks). */
    int kinds[2];
    int64_t idx[2];
    for (int64_t s = 0; s < S && (s < LOOKAHEAD || !mine); s++)
        for (int i = 0, n = owned_new(op, s, kinds, idx); i < n; i++)
            new_send(op, kinds[i], idx[i], -1);
    send_early(op);
    for (int64_t i = 0; i < op->nearly; i++) arm_send(op, op->sends[i], NULL, 0);
    for (int64_t s = 0; s < S && mine; s++) {
        const tsr__kstep *st = &op->steps[s];
        /* Received panels first needed at step s. */
        if ((s == 0 || st->la != op->steps[s - 1].la) && st->la % d->Q != d->mycol &&
            tsr__mbox_expect((tsr__mbox_key){op->op, tsr__mm_sub(TSR__MM_APANEL, st->la)},
                             &op->pa[st->la].f) != TSR_OK)
            oom("an A panel's mailbox entry");
        if ((s == 0 || st->lb != op->steps[s - 1].lb) && st->lb % b->dist->P != d->myrow &&
            tsr__mbox_expect((tsr__mbox_key){op->op, tsr__mm_sub(TSR__MM_BPANEL, st->lb)},
                             &op->pb[st->lb].f) != TSR_OK)
            oom("a B panel's mailbox entry");
        /* Sends paced on step s: registered before its tasks can finish. */
        send_task *later[2];
        int nlater = 0;
        if (s + LOOKAHEAD < S)
            for (int i = 0, n = owned_new(op, s + LOOKAHEAD, kinds, idx); i < n; i++)
                later[nlater++] = new_send(op, kinds[i], idx[i], s);
        tsr_future_t **cur = ring + (s % 2) * nb, **prev = ring + ((s + 1) % 2) * nb;
        for (int64_t k = 0; k < nb; k++) {
            int n = data_deps(op, &op->blocks[k], st, deps);
            if (s > 0) deps[n++] = prev[k];
            step_task *t = &op->tasks[k * S + s];
            t->op = op;
            t->blk = k;
            t->s = s;
            tsr_future_release(&cur[k]); /* step s - 2 */
            if (tsr_async(step_run, t, n, deps, &cur[k]) != TSR_OK)
                tsr_abort("rank %d: tsr_matmul: cannot queue a product task: %s", tsr_rank(),
                          tsr_error_message());
        }
        for (int i = 0; i < nlater; i++) arm_send(op, later[i], cur, (int)nb);
    }
    /* The last step of each block writes its tiles. */
    for (int64_t k = 0; k < nb; k++) {
        const block *bk = &op->blocks[k];
        tsr_future_t *last = ring[((S - 1) % 2) * nb + k];
        for (int64_t lj = bk->lj0; lj < bk->lj1; lj++)
            for (int64_t li = bk->li0; li < bk->li1; li++) {
                tsr_future_retain(last);
                c->ready[li + lj * c->lmt] = last;
            }
        tsr_future_retain(last);
        add_end(op, last);
    }
    for (int64_t i = 0; i < 2 * nb; i++) tsr_future_release(&ring[i]);
    free(ring);
    free(deps);
    /* Free the state once every task here has run or been skipped. */
    tsr_future_t *all = NULL, *done = NULL;
    if (tsr__when_all_settled((int)op->nends, op->ends, &all) != TSR_OK ||
        tsr_async(cleanup, op, 1, &all, &done) != TSR_OK)
        tsr_abort("rank %d: tsr_matmul: cannot queue cleanup: %s", tsr_rank(), tsr_error_message());
    tsr_future_release(&all);
    tsr_future_release(&done);
    return TSR_OK;
}
