/* The region-copy engine (see remap.h).
 *
 * Pieces: the intersection of one destination tile, one part and one source
 * tile. for_each_piece() lists the pieces of a destination tile in one
 * canonical order (part, source tile column, source tile row) computed from
 * the distributions alone. A source rank packs its pieces for a tile in that
 * order, filtered to the ones it owns; the destination walks the same order
 * and reads each remote piece at the running offset of its rank's message.
 * Nothing but the bytes travels: no piece lists, no handles.
 *
 * Message layout: two int64 (status, number of doubles), then the pieces in
 * the destination's orientation, each column-major with leading dimension
 * its own row count. A status < 0 replaces the doubles by the NUL-terminated
 * message of the failed source tile. */
#include <stdlib.h>
#include <string.h>

#include "array/remap.h"
#include "array/settle.h"
#include "perf/perf_internal.h"
#include "tessera/runtime.h"

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---- run a task once inputs are settled, failed or not ----
 * tsr_async skips its body when an input failed, but a source rank must send
 * its message anyway (the receiver is another rank and would wait forever)
 * and a destination task must free what it holds; so these tasks start when
 * every input is ready in either way and inspect the inputs themselves. */
typedef int (*settled_fn)(void *arg, int n, tsr_future_t *const *deps);

typedef struct settled_call {
    settled_fn fn;
    void *arg;
    int n;
    tsr_future_t *deps[]; /* our references */
} settled_call;

/* Runs as a task; its status and message become the output future's. */
static int settled_run(void *value, void *arg, void **value_out) {
    (void)value;
    settled_call *c = arg;
    int rc = c->fn(c->arg, c->n, c->deps);
    for (int i = 0; i < c->n; i++) tsr_future_release(&c->deps[i]);
    free(c);
    *value_out = NULL;
    return rc;
}

/* Run fn(arg, n, deps) as a task once all n deps are ready; *out (may be
 * NULL) gets fn's result. On failure (no memory) fn is never called. */
static int after_settled(int n, tsr_future_t *const *deps, settled_fn fn, void *arg,
                         tsr_future_t **out) {
    int rc = TSR_OK;
    tsr_future_t *all = NULL, *done = NULL;
    settled_call *c = malloc(sizeof *c + (size_t)n * sizeof(tsr_future_t *));
    TSR_CHECK_MSG(c != NULL, TSR_ERR_NOMEM, "rank %d: no memory for a task", tsr_rank());
    *c = (settled_call){fn, arg, n};
    TSR_CHECK(tsr__when_all_settled(n, deps, &all));
    for (int i = 0; i < n; i++) {
        tsr_future_retain(deps[i]);
        c->deps[i] = deps[i];
    }
    rc = tsr_then(all, settled_run, c, &done);
    if (rc != TSR_OK) {
        for (int i = 0; i < n; i++) tsr_future_release(&c->deps[i]);
        goto fail;
    }
    c = NULL;
    if (out)
        *out = done;
    else
        tsr_future_release(&done);
fail:
    free(c);
    tsr_future_release(&all);
    return rc;
}

/* ---- the plan shared by one operation's tasks ---- */
typedef struct plan {
    atomic_int refs;
    tsr_array_t *dst;
    int nparts;
    tsr__remap_part *parts; /* each source holds a reference */
    uint64_t op;
    int me, nranks;
    const char *what;
} plan;

static void plan_release(plan *pl) {
    if (atomic_fetch_sub(&pl->refs, 1) != 1) return;
    for (int p = 0; p < pl->nparts; p++) tsr__array_release(pl->parts[p].src);
    free(pl->parts);
    tsr__array_release(pl->dst);
    free(pl);
}

static tsr__mbox_key key_of(const plan *pl, int64_t ti, int64_t tj, int from) {
    uint64_t tile = (uint64_t)ti + (uint64_t)tj * (uint64_t)pl->dst->mt;
    return (tsr__mbox_key){pl->op, tile * (uint64_t)pl->nranks + (uint64_t)from};
}

/* ---- pieces ---- */
typedef struct piece {
    const tsr__remap_part *part;
    int64_t sti, stj;   /* source tile */
    int64_t si, sj;     /* source element the piece starts at */
    int64_t di, dj;     /* destination element it lands on */
    int64_t rows, cols; /* in the destination's orientation */
    int owner;          /* rank holding the source tile */
} piece;

typedef int (*piece_fn)(const piece *pc, void *arg);

/* First k >= lo with k mod p == r. */
static int64_t first_congruent(int64_t lo, int64_t r, int64_t p) {
    return lo + ((r - lo % p) % p + p) % p;
}

/* Call fn on every piece of destination tile (ti, tj) in canonical order;
 * only >= 0 keeps the pieces that rank holds. Stops at fn's first non-zero. */
static int for_each_piece(const plan *pl, int64_t ti, int64_t tj, int only, piece_fn fn,
                          void *arg) {
    const tsr_array_t *dst = pl->dst;
    const tsr_dist_t *dd = dst->dist;
    int64_t ti0 = ti * dd->mb, ti1 = min64(dst->m, ti0 + dd->mb);
    int64_t tj0 = tj * dd->nb, tj1 = min64(dst->n, tj0 + dd->nb);
    for (int p = 0; p < pl->nparts; p++) {
        const tsr__remap_part *pt = &pl->parts[p];
        int t = pt->transpose;
        int64_t dh = t ? pt->cols : pt->rows, dw = t ? pt->rows : pt->cols;
        int64_t ia = max64(ti0, pt->dr0), ib = min64(ti1, pt->dr0 + dh);
        int64_t ja = max64(tj0, pt->dc0), jb = min64(tj1, pt->dc0 + dw);
        if (ia >= ib || ja >= jb) continue;
        /* The same rectangle in source coordinates: rows [sa, sb), cols [sc, sd). */
        int64_t sa, sb, sc, sd;
        if (!t) {
            sa = pt->sr0 + (ia - pt->dr0), sb = sa + (ib - ia);
            sc = pt->sc0 + (ja - pt->dc0), sd = sc + (jb - ja);
        } else {
            sa = pt->sr0 + (ja - pt->dc0), sb = sa + (jb - ja);
            sc = pt->sc0 + (ia - pt->dr0), sd = sc + (ib - ia);
        }
        const tsr_dist_t *sdist = pt->src->dist;
        int64_t mb = sdist->mb, nb = sdist->nb;
        int64_t r_lo = sa / mb, r_hi = (sb - 1) / mb, c_lo = sc / nb, c_hi = (sd - 1) / nb;
        int64_t rstep = 1, cstep = 1;
        if (only >= 0) {
            r_lo = first_congruent(r_lo, only / sdist->Q, sdist->P);
            c_lo = first_congruent(c_lo, only % sdist->Q, sdist->Q);
            rstep = sdist->P;
            cstep = sdist->Q;
        }
        for (int64_t stj = c_lo; stj <= c_hi; stj += cstep) {
            for (int64_t sti = r_lo; sti <= r_hi; sti += rstep) {
                piece pc;
                pc.part = pt;
                pc.sti = sti;
                pc.stj = stj;
                pc.si = max64(sa, sti * mb);
                pc.sj = max64(sc, stj * nb);
                int64_t h = min64(sb, (sti + 1) * mb) - pc.si;
                int64_t w = min64(sd, (stj + 1) * nb) - pc.sj;
                if (!t) {
                    pc.di = pt->dr0 + (pc.si - pt->sr0);
                    pc.dj = pt->dc0 + (pc.sj - pt->sc0);
                    pc.rows = h;
                    pc.cols = w;
                } else {
                    pc.di = pt->dr0 + (pc.sj - pt->sc0);
                    pc.dj = pt->dc0 + (pc.si - pt->sr0);
                    pc.rows = w;
                    pc.cols = h;
                }
                pc.owner = tsr__tile_owner(sdist, sti, stj);
                int rc = fn(&pc, arg);
                if (rc) return rc;
            }
        }
    }
    return 0;
}

/* Where a piece starts in its (local) source tile's storage. */
static const double *piece_src(const piece *pc, int64_t *ld) {
    const tsr_array_t *s = pc->part->src;
    const tsr_dist_t *d = s->dist;
    int64_t lr = (pc->sti / d->P) * d->mb + (pc->si - pc->sti * d->mb);
    int64_t lc = (pc->stj / d->Q) * d->nb + (pc->sj - pc->stj * d->nb);
    *ld = s->lld;
    return s->data + lr + lc * s->lld;
}

/* Where a piece lands in the (local) destination tile's storage. */
static double *piece_dst(const plan *pl, const piece *pc, int64_t ti, int64_t tj) {
    const tsr_array_t *a = pl->dst;
    const tsr_dist_t *d = a->dist;
    int64_t lr = (ti / d->P) * d->mb + (pc->di - ti * d->mb);
    int64_t lc = (tj / d->Q) * d->nb + (pc->dj - tj * d->nb);
    return a->data + lr + lc * a->lld;
}

/* d(i, j) = t ? s(j, i) : s(i, j) for the rows x cols block d. */
static void copy_block(double *d, int64_t ldd, const double *s, int64_t lds, int64_t rows,
                       int64_t cols, int t) {
    if (tsr__trace_enabled()) tsr_trace_count(0, 16 * rows * cols);
    if (!t) {
        for (int64_t j = 0; j < cols; j++)
            memcpy(d + j * ldd, s + j * lds, (size_t)rows * sizeof(double));
        return;
    }
    /* 32 x 32 blocks: one side is read or written with stride, and a block
     * of both (16 KiB) stays in L1. */
    enum { B = 32 };
    for (int64_t jb = 0; jb < cols; jb += B) {
        int64_t je = min64(cols, jb + B);
        for (int64_t ib = 0; ib < rows; ib += B) {
            int64_t ie = min64(rows, ib + B);
            for (int64_t j = jb; j < je; j++)
                for (int64_t i = ib; i < ie; i++) d[i + j * ldd] = s[j + i * lds];
        }
    }
}

/* ---- sending side: one task per (destination tile, this rank) ---- */
#define HEAD 2 /* int64 words before the doubles */

typedef struct stask {
    plan *pl;
    int64_t ti, tj;
    int dest;
    int64_t count; /* doubles */
} stask;

typedef struct pack_state {
    double *out;
} pack_state;

static int pack_piece(const piece *pc, void *arg) {
    pack_state *ps = arg;
    int64_t lds;
    const double *s = piece_src(pc, &lds);
    copy_block(ps->out, pc->rows, s, lds, pc->rows, pc->cols, pc->part->transpose);
    ps->out += pc->rows * pc->cols;
    return 0;
}

/* Runs as a task once this rank's source tiles for the tile are settled. */
static int send_run(void *arg, int n, tsr_future_t *const *deps) {
    stask *st = arg;
    plan *pl = st->pl;
    int64_t *buf;
    size_t len;
    int bad = tsr__first_failure(n, deps);
    if (bad != TSR_OK) {
        const char *msg = tsr_error_message();
        size_t ml = strlen(msg) + 1;
        len = HEAD * sizeof(int64_t) + ml;
        buf = malloc(len);
        if (!buf) tsr_abort("rank %d: %s: no memory for a message", pl->me, pl->what);
        buf[0] = bad;
        buf[1] = 0;
        memcpy(buf + HEAD, msg, ml);
    } else {
        len = HEAD * sizeof(int64_t) + (size_t)st->count * sizeof(double);
        buf = malloc(len);
        if (!buf)
            tsr_abort("rank %d: %s: no memory for a %zu-byte message", pl->me, pl->what, len);
        buf[0] = TSR_OK;
        buf[1] = st->count;
        pack_state ps = {(double *)(buf + HEAD)};
        for_each_piece(pl, st->ti, st->tj, pl->me, pack_piece, &ps);
    }
    /* The receiver waits for this message whatever happens: a send that
     * cannot be made can only end the job. */
    int rc = tsr__mbox_send_owned(st->dest, key_of(pl, st->ti, st->tj, pl->me), buf, len);
    if (rc != TSR_OK)
        tsr_abort("rank %d: %s: cannot send tile (%lld, %lld) to rank %d: %s", pl->me, pl->what,
                  (long long)st->ti, (long long)st->tj, st->dest, tsr_error_message());
    plan_release(pl);
    free(st);
    return TSR_OK; /* a failed input travelled in the message */
}

/* ---- receiving side: one task per local destination tile ---- */
typedef struct rtask {
    plan *pl;
    int64_t ti, tj;
    int nmsg;          /* deps[0, nmsg) are messages ... */
    int *msg_from;     /* ... from these ranks */
} rtask;

typedef struct unpack_state {
    const plan *pl;
    int64_t ti, tj;
    const double **buf; /* per source rank: its message's doubles, advanced per piece */
} unpack_state;

static int unpack_piece(const piece *pc, void *arg) {
    unpack_state *us = arg;
    double *d = piece_dst(us->pl, pc, us->ti, us->tj);
    int64_t ldd = us->pl->dst->lld;
    if (pc->owner == us->pl->me) {
        int64_t lds;
        const double *s = piece_src(pc, &lds);
        copy_block(d, ldd, s, lds, pc->rows, pc->cols, pc->part->transpose);
    } else {
        copy_block(d, ldd, us->buf[pc->owner], pc->rows, pc->rows, pc->cols, 0);
        us->buf[pc->owner] += pc->rows * pc->cols;
    }
    return 0;
}

/* Runs as a task; its result is the destination tile's ready future. */
static int recv_run(void *arg, int n, tsr_future_t *const *deps) {
    rtask *rt = arg;
    plan *pl = rt->pl;
    int rc = TSR_OK;
    const double **bufs = NULL, **ends = NULL;
    TSR_CHECK(tsr__first_failure(n, deps));
    bufs = calloc((size_t)pl->nranks, sizeof *bufs);
    ends = calloc((size_t)pl->nranks, sizeof *ends);
    TSR_CHECK_MSG(bufs && ends, TSR_ERR_NOMEM, "rank %d: %s: no memory to unpack a tile", pl->me,
                  pl->what);
    for (int i = 0; i < rt->nmsg; i++) {
        void *v = NULL;
        TSR_CHECK(tsr_wait(deps[i], &v)); /* ready: returns at once */
        const int64_t *h = v;
        /* A failed source tile: its own status and message, as a local
         * input would give them. */
        TSR_CHECK_MSG(h[0] == TSR_OK, (int)h[0], "%s", (const char *)(h + HEAD));
        bufs[rt->msg_from[i]] = (const double *)(h + HEAD);
        ends[rt->msg_from[i]] = (const double *)(h + HEAD) + h[1];
    }
    unpack_state us = {pl, rt->ti, rt->tj, bufs};
    for_each_piece(pl, rt->ti, rt->tj, -1, unpack_piece, &us);
    for (int i = 0; i < rt->nmsg; i++) {
        int r = rt->msg_from[i];
        /* Both sides walk the same pieces: a mismatch is a bug here. */
        TSR_CHECK_MSG(bufs[r] == ends[r], TSR_ERR_STATE,
                      "rank %d: %s: internal error: rank %d's message for tile (%lld, %lld) has "
                      "%lld doubles more than its pieces",
                      pl->me, pl->what, r, (long long)rt->ti, (long long)rt->tj,
                      (long long)(ends[r] - bufs[r]));
    }
fail:
    free(bufs);
    free(ends);
    free(rt->msg_from);
    free(rt);
    plan_release(pl);
    return rc;
}

/* ---- queueing (main thread) ---- */

/* A growable list of futures and, for messages, where they come from. */
typedef struct collect {
    const plan *pl;
    tsr_future_t **local; /* borrowed: source tiles' ready futures */
    int nlocal, caplocal;
    tsr_future_t **msgs; /* ours: from tsr__mbox_expect */
    int *from;
    int nmsg, capmsg;
    int64_t *seen; /* per rank: stamp of the last tile that expects its message */
    int64_t stamp;
    int64_t ti, tj;
    int64_t count; /* doubles, for the sending side */
    int rc;
} collect;

static int push_local(collect *c, const piece *pc) {
    const tsr_array_t *s = pc->part->src;
    tsr_future_t *f = s->ready[tsr__ready_index(s, pc->sti, pc->stj)];
    if (!f) return 0;
    if (c->nlocal == c->caplocal) {
        int cap = c->caplocal ? 2 * c->caplocal : 16;
        tsr_future_t **p = realloc(c->local, (size_t)cap * sizeof *p);
        if (!p) return c->rc = tsr_error(TSR_ERR_NOMEM, "no memory for task inputs");
        c->local = p;
        c->caplocal = cap;
    }
    c->local[c->nlocal++] = f;
    return 0;
}

static int collect_send(const piece *pc, void *arg) {
    collect *c = arg;
    c->count += pc->rows * pc->cols;
    return push_local(c, pc);
}

static int collect_recv(const piece *pc, void *arg) {
    collect *c = arg;
    if (pc->owner == c->pl->me) return push_local(c, pc);
    if (c->seen[pc->owner] == c->stamp) return 0;
    c->seen[pc->owner] = c->stamp;
    if (c->nmsg == c->capmsg) {
        int cap = c->capmsg ? 2 * c->capmsg : 8;
        tsr_future_t **p = realloc(c->msgs, (size_t)cap * sizeof *p);
        if (p) c->msgs = p;
        int *q = p ? realloc(c->from, (size_t)cap * sizeof *q) : NULL;
        if (!p || !q) return c->rc = tsr_error(TSR_ERR_NOMEM, "no memory for task inputs");
        c->from = q;
        c->capmsg = cap;
    }
    int rc = tsr__mbox_expect(key_of(c->pl, c->ti, c->tj, pc->owner), &c->msgs[c->nmsg]);
    if (rc != TSR_OK) return c->rc = rc;
    c->from[c->nmsg++] = pc->owner;
    return 0;
}

static void collect_reset(collect *c, int64_t ti, int64_t tj) {
    for (int i = 0; i < c->nmsg; i++) tsr_future_release(&c->msgs[i]);
    c->nlocal = c->nmsg = 0;
    c->count = 0;
    c->ti = ti;
    c->tj = tj;
    c->stamp++;
}

static int queue_sends(plan *pl, collect *c) {
    int rc = TSR_OK;
    const tsr_array_t *dst = pl->dst;
    for (int64_t tj = 0; tj < dst->nt; tj++) {
        for (int64_t ti = 0; ti < dst->mt; ti++) {
            int dest = tsr__tile_owner(dst->dist, ti, tj);
            if (dest == pl->me) continue;
            collect_reset(c, ti, tj);
            for_each_piece(pl, ti, tj, pl->me, collect_send, c);
            TSR_CHECK(c->rc);
            if (c->count == 0) continue;
            stask *st = malloc(sizeof *st);
            TSR_CHECK_MSG(st != NULL, TSR_ERR_NOMEM, "no memory for a send task");
            *st = (stask){pl, ti, tj, dest, c->count};
            atomic_fetch_add(&pl->refs, 1);
            rc = after_settled(c->nlocal, c->local, send_run, st, NULL);
            if (rc != TSR_OK) {
                atomic_fetch_sub(&pl->refs, 1);
                free(st);
                goto fail;
            }
        }
    }
fail:
    return rc;
}

static int queue_recvs(plan *pl, collect *c) {
    int rc = TSR_OK;
    tsr_array_t *dst = pl->dst;
    tsr_future_t **deps = NULL;
    int capdeps = 0;
    for (int64_t lj = 0; lj < dst->lnt; lj++) {
        for (int64_t li = 0; li < dst->lmt; li++) {
            int64_t ti = li * dst->dist->P + dst->dist->myrow;
            int64_t tj = lj * dst->dist->Q + dst->dist->mycol;
            int64_t k = li + lj * dst->lmt;
            collect_reset(c, ti, tj);
            for_each_piece(pl, ti, tj, -1, collect_recv, c);
            TSR_CHECK(c->rc);
            int nd = c->nmsg + c->nlocal;
            if (nd > capdeps) {
                tsr_future_t **p = realloc(deps, (size_t)nd * sizeof *p);
                TSR_CHECK_MSG(p != NULL, TSR_ERR_NOMEM, "no memory for task inputs");
                deps = p;
                capdeps = nd;
            }
            if (c->nmsg) memcpy(deps, c->msgs, (size_t)c->nmsg * sizeof *deps);
            if (c->nlocal) memcpy(deps + c->nmsg, c->local, (size_t)c->nlocal * sizeof *deps);
            rtask *rt = calloc(1, sizeof *rt);
            TSR_CHECK_MSG(rt != NULL, TSR_ERR_NOMEM, "no memory for a tile task");
            rt->pl = pl;
            rt->ti = ti;
            rt->tj = tj;
            rt->nmsg = c->nmsg;
            rt->msg_from = malloc(sizeof(int) * (size_t)(c->nmsg + 1));
            if (!rt->msg_from) {
                free(rt);
                TSR_CHECK_MSG(0, TSR_ERR_NOMEM, "no memory for a tile task");
            }
            if (c->nmsg) memcpy(rt->msg_from, c->from, sizeof(int) * (size_t)c->nmsg);
            tsr_assert(dst->ready[k] == NULL); /* dst is fresh: no earlier write to order after */
            atomic_fetch_add(&pl->refs, 1);
            rc = after_settled(nd, deps, recv_run, rt, &dst->ready[k]);
            if (rc != TSR_OK) {
                atomic_fetch_sub(&pl->refs, 1);
                free(rt->msg_from);
                free(rt);
                goto fail;
            }
        }
    }
fail:
    free(deps);
    return rc;
}

int tsr__remap(tsr_array_t *dst, int nparts, const tsr__remap_part *parts, const char *what) {
    int rc = TSR_OK;
    plan *pl = NULL;
    collect c = {0};
    /* Taken first, so that every rank keeps the same sequence of op ids. */
    uint64_t op = tsr__array_next_op();
    pl = calloc(1, sizeof *pl);
    TSR_CHECK_MSG(pl != NULL, TSR_ERR_NOMEM, "no memory");
    atomic_init(&pl->refs, 1);
    pl->dst = dst;
    tsr__array_retain(dst);
    pl->op = op;
    pl->me = dst->dist->rank;
    pl->nranks = dst->dist->nranks;
    pl->what = what;
    pl->parts = malloc(sizeof *pl->parts * (size_t)(nparts > 0 ? nparts : 1));
    TSR_CHECK_MSG(pl->parts != NULL, TSR_ERR_NOMEM, "no memory");
    for (int p = 0; p < nparts; p++) {
        pl->parts[p] = parts[p];
        tsr__array_retain(parts[p].src);
        pl->nparts++;
    }
    c.pl = pl;
    c.seen = malloc(sizeof *c.seen * (size_t)pl->nranks);
    TSR_CHECK_MSG(c.seen != NULL, TSR_ERR_NOMEM, "no memory");
    for (int r = 0; r < pl->nranks; r++) c.seen[r] = -1;
    TSR_CHECK(queue_sends(pl, &c));
    TSR_CHECK(queue_recvs(pl, &c));
fail:
    collect_reset(&c, 0, 0);
    free(c.local);
    free(c.msgs);
    free(c.from);
    free(c.seen);
    if (pl) plan_release(pl);
    /* Other ranks have queued their part and count on ours. */
    if (rc != TSR_OK)
        tsr_abort("rank %d: %s: %s", dst->dist->rank, what, tsr_error_message());
    return rc;
}
