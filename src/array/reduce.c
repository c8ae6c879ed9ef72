/* Reductions: a partial per local tile (one task each, reduce_part.c),
 * folded on each rank in tile order, then combined over ranks by a binomial
 * tree through the mailbox and, for a whole-array reduction, sent back down
 * the same tree. No blocking collective: the tree is tasks waiting on
 * messages, so tsr_array_reduce_async returns at once and other work
 * overlaps it.
 *
 *   whole array   participants: every rank (rank = position), root rank 0
 *   axis 0        one tree per tile column tj, over the process rows of
 *                 process column tj mod Q that hold tiles of it; the root,
 *                 process row 0, writes result tile (0, tj) of the 1 x n
 *   axis 1        one tree per tile row ti, over the process columns of
 *                 process row ti mod P; the root writes tile (ti, 0)
 *
 * A failure (an input tile that failed) travels up and down the tree as an
 * error message in place of a partial, so every rank that waits for the
 * result gets the error, never a hang.
 *
 * Results do not depend on the thread count (fixed folding order: tiles by
 * index, then children by tree position). Across rank counts and tile sizes
 * they differ only by reassociation: SUM/MEAN within about 1e-15 * sum|x|
 * (compensated; the tests hold them to 1e-14 * sum|x|, and 1e5 values in
 * [0, 1) to 1e-12 relative with a wide margin), NORM2 within a few ulps;
 * MIN/MAX/ARGMIN/ARGMAX are exact. */
#include <stdlib.h>
#include <string.h>

#include "array/expr_internal.h"
#include "array/reduce_internal.h"
#include "array/tiletask.h"
#include "perf/perf_internal.h"
#include "tessera/runtime.h"
#include "tessera/perf.h"

/* ---- one reduction on this rank: its groups and their trees ---- */

typedef struct red red;

/* The tiles of a that reduce into one result tile (or the whole array),
 * with this rank's place in the tree over the ranks that hold them. */
typedef struct group {
    red *r;
    int64_t gid;             /* tile column (axis 0), tile row (axis 1), 0 */
    int64_t len;             /* partial entries: result elements of the group */
    int pos, nparts;         /* tree position (root 0) and participant count */
    int ntile, nkid;
    int kids[64];            /* children positions, ascending */
    int64_t *tli, *tlj;      /* this rank's tiles in the group (local coordinates) */
    tsr__red_part **tparts;  /* their partials, written by the tile tasks */
    tsr_future_t **deps;     /* tile task futures, then the children's messages */
    tsr_future_t *down;      /* whole array, not root: the result from the parent */
} group;

struct red {
    atomic_int refs; /* queued tasks + 1 while starting */
    int op, axis;    /* axis -1: the whole array */
    tsr_array_t *a, *out;
    uint64_t opid;
    double count;    /* elements per result, for MEAN */
    int ngroup;
    group *groups;
    tsr_future_t *result; /* whole array: the future handed out */
};

static void red_release(red *r) {
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    for (int k = 0; k < r->ngroup; k++) {
        group *g = &r->groups[k];
        for (int t = 0; t < g->ntile; t++) free(g->tparts ? g->tparts[t] : NULL);
        for (int t = 0; t < g->ntile + g->nkid && g->deps; t++) tsr_future_release(&g->deps[t]);
        tsr_future_release(&g->down);
        free(g->tparts);
        free(g->deps);
        free(g->tli);
    }
    free(r->groups);
    tsr__array_release(r->a);
    if (r->out) tsr__array_release(r->out);
    tsr_future_release(&r->result);
    free(r);
}

static int rank_of(const red *r, const group *g, int pos) {
    const tsr_dist_t *d = r->a->dist;
    if (r->axis == 0) return pos * d->Q + (int)(g->gid % d->Q);
    if (r->axis == 1) return (int)(g->gid % d->P) * d->Q + pos;
    return pos;
}

static tsr__mbox_key tree_key(const red *r, const group *g, int pos, int down) {
    uint64_t sub = ((uint64_t)g->gid * (uint64_t)r->a->dist->nranks + (uint64_t)pos) << 1;
    return (tsr__mbox_key){r->opid, sub | (uint64_t)down};
}

/* A peer is waiting for this message: failing to send it ends the job. */
static void send_or_die(int dest, tsr__mbox_key key, void *buf, size_t len) {
    if (!buf) tsr_abort("rank %d: reduction: no memory for a message", tsr_rank());
    if (tsr__mbox_send_owned(dest, key, buf, len) != TSR_OK)
        tsr_abort("rank %d: reduction: cannot send to rank %d: %s", tsr_rank(), dest,
                  tsr_error_message());
}

/* A message of partials (2 doubles each), or the error in msg. */
static void *pack(int rc, const char *msg, const tsr__red_part *p, int64_t len, size_t *bytes) {
    if (rc != TSR_OK) return tsr__wire_error(rc, msg, bytes);
    double *data = NULL;
    void *buf = tsr__wire_data(2 * (size_t)len, &data, bytes);
    if (buf) memcpy(data, p, sizeof(tsr__red_part) * (size_t)len);
    return buf;
}

typedef struct tile_job {
    group *g;
    int t;
} tile_job;

static int tile_task(void *arg, int st, const char *msg, void **value_out) {
    tile_job *j = arg;
    group *g = j->g;
    red *r = g->r;
    int rc = TSR_OK;
    *value_out = NULL;
    if (st != TSR_OK) {
        rc = tsr_error(st, "%s", msg);
    } else {
        tsr__red_part *p = malloc(sizeof *p * (size_t)(g->len > 0 ? g->len : 1));
        if (!p) {
            rc = tsr_error(TSR_ERR_NOMEM, "rank %d: reduction: no memory", tsr_rank());
        } else {
            for (int64_t e = 0; e < g->len; e++) p[e] = tsr__red_identity(r->op);
            tsr__tile t = tsr__local_tile(r->a, g->tli[j->t], g->tlj[j->t]);
            rc = tsr__red_tile_partial(r->op, r->axis, r->a, &t, p);
            if (tsr__trace_enabled()) tsr_trace_count(t.rows * t.cols, 8 * t.rows * t.cols);
            g->tparts[j->t] = p;
        }
    }
    free(j);
    red_release(r);
    return rc;
}

/* Whole array: hand the result (or error) to the children, then to the
 * caller's future. */
static void finish_whole(group *g, int rc, double value) {
    red *r = g->r;
    char msg[1024] = "";
    if (rc != TSR_OK) strncpy(msg, tsr_error_message(), sizeof msg - 1);
    for (int c = 0; c < g->nkid; c++) {
        size_t bytes;
        tsr__red_part p = {value, 0};
        void *buf = pack(rc, msg, &p, 1, &bytes);
        send_or_die(rank_of(r, g, g->kids[c]), tree_key(r, g, g->kids[c], 1), buf, bytes);
    }
    if (rc == TSR_OK) {
        double *v = malloc(sizeof *v);
        if (!v) tsr_abort("rank %d: reduction: no memory", tsr_rank());
        *v = value;
        tsr_future_set_owned(r->result, v, free);
    } else {
        tsr_future_fail(r->result, rc, msg);
    }
}

/* Result tile of an axis reduction, on the root. */
static void write_result(const group *g, const tsr__red_part *acc) {
    const red *r = g->r;
    const tsr_dist_t *d = r->out->dist;
    int64_t ti = r->axis == 0 ? 0 : g->gid, tj = r->axis == 0 ? g->gid : 0;
    tsr__tile t = tsr__local_tile(r->out, ti / d->P, tj / d->Q);
    for (int64_t e = 0; e < g->len; e++) {
        double v = tsr__red_final(r->op, acc[e], r->count);
        if (r->axis == 0)
            t.ptr[e * t.ld] = v;
        else
            t.ptr[e] = v;
    }
}

/* After this rank's tiles and the children's partials: fold them in a fixed
 * order (tiles by index, then children by position), pass the result up, or
 * at the root finish. Runs even after a failure, which then travels instead. */
static int combine_task(void *arg, int st, const char *msg, void **value_out) {
    group *g = arg;
    red *r = g->r;
    int rc = TSR_OK;
    *value_out = NULL;
    tsr__red_part *acc = malloc(sizeof *acc * (size_t)(g->len > 0 ? g->len : 1));
    if (!acc) tsr_abort("rank %d: reduction: no memory", tsr_rank());
    for (int64_t e = 0; e < g->len; e++) acc[e] = tsr__red_identity(r->op);
    if (st != TSR_OK) rc = tsr_error(st, "%s", msg);
    for (int t = 0; t < g->ntile && rc == TSR_OK; t++)
        for (int64_t e = 0; e < g->len; e++) tsr__red_combine(r->op, &acc[e], g->tparts[t][e]);
    for (int c = 0; c < g->nkid && rc == TSR_OK; c++) {
        void *buf = NULL;
        const double *data = NULL;
        rc = tsr_wait(g->deps[g->ntile + c], &buf);
        if (rc == TSR_OK) rc = tsr__wire_open(buf, &data);
        if (rc != TSR_OK) break;
        const tsr__red_part *q = (const tsr__red_part *)data;
        for (int64_t e = 0; e < g->len; e++) tsr__red_combine(r->op, &acc[e], q[e]);
    }
    if (g->pos != 0) {
        size_t bytes;
        int parent = g->pos & (g->pos - 1);
        void *buf = pack(rc, tsr_error_message(), acc, g->len, &bytes);
        send_or_die(rank_of(r, g, parent), tree_key(r, g, g->pos, 0), buf, bytes);
    } else if (r->axis < 0) {
        finish_whole(g, rc, rc == TSR_OK ? tsr__red_final(r->op, acc[0], r->count) : 0.0);
    } else if (rc == TSR_OK) {
        write_result(g, acc);
    }
    free(acc);
    red_release(r);
    return rc; /* at an axis root: the result tile's status */
}

static int down_task(void *arg, int st, const char *msg, void **value_out) {
    group *g = arg;
    void *buf = NULL;
    const double *data = NULL;
    int rc = st != TSR_OK ? tsr_error(st, "%s", msg) : tsr_wait(g->down, &buf);
    if (rc == TSR_OK) rc = tsr__wire_open(buf, &data);
    finish_whole(g, rc, rc == TSR_OK ? data[0] : 0.0);
    red_release(g->r);
    *value_out = NULL;
    return TSR_OK;
}

static void die_if(int rc, const char *what) {
    if (rc != TSR_OK)
        tsr_abort("rank %d: reduction: %s: %s", tsr_rank(), what, tsr_error_message());
}

/* Set up group g (gid, len, pos, nparts and tiles filled in) and queue its
 * tasks. Local failures end the job: the other ranks already count on us. */
static void start_group(red *r, group *g) {
    tsr_array_t *a = r->a;
    g->r = r;
    for (int mask = 1; mask < g->nparts; mask <<= 1) {
        if (g->pos & mask) break;
        if (g->pos + mask < g->nparts) g->kids[g->nkid++] = g->pos + mask;
    }
    g->tparts = calloc((size_t)g->ntile + 1, sizeof *g->tparts);
    g->deps = calloc((size_t)(g->ntile + g->nkid) + 1, sizeof *g->deps);
    if (!g->tparts || !g->deps) tsr_abort("rank %d: reduction: no memory", tsr_rank());
    for (int t = 0; t < g->ntile; t++) {
        tile_job *j = malloc(sizeof *j);
        if (!j) tsr_abort("rank %d: reduction: no memory", tsr_rank());
        j->g = g;
        j->t = t;
        tsr_future_t *dep = a->ready[g->tli[t] + g->tlj[t] * a->lmt];
        atomic_fetch_add(&r->refs, 1);
        die_if(tsr__async_settled(tile_task, j, dep ? 1 : 0, &dep, &g->deps[t]), "tile task");
    }
    for (int c = 0; c < g->nkid; c++)
        die_if(tsr__mbox_expect(tree_key(r, g, g->kids[c], 0), &g->deps[g->ntile + c]), "expect");
    tsr_future_t *f = NULL;
    atomic_fetch_add(&r->refs, 1);
    die_if(tsr__async_settled(combine_task, g, g->ntile + g->nkid, g->deps, &f), "combine task");
    if (g->pos == 0 && r->axis >= 0) {
        int64_t ti = r->axis == 0 ? 0 : g->gid, tj = r->axis == 0 ? g->gid : 0;
        r->out->ready[tsr__ready_index(r->out, ti, tj)] = f; /* fresh array: was NULL */
    } else {
        tsr_future_release(&f);
    }
    if (r->axis < 0 && g->pos != 0) {
        die_if(tsr__mbox_expect(tree_key(r, g, g->pos, 1), &g->down), "expect");
        atomic_fetch_add(&r->refs, 1);
        die_if(tsr__async_settled(down_task, g, 1, &g->down, &f), "down task");
        tsr_future_release(&f);
    }
}

/* The groups this rank takes part in, with its tiles in each. */
static void make_groups(red *r) {
    const tsr_array_t *a = r->a;
    const tsr_dist_t *d = a->dist;
    int64_t ng = 0;
    int pos = d->rank, nparts = d->nranks;
    if (r->axis == 0) {
        /* The root (process row 0) takes part even without tiles (m == 0),
         * to write the identity. */
        nparts = (int)(a->mt < d->P ? a->mt : d->P);
        nparts = nparts > 0 ? nparts : 1;
        pos = d->myrow;
        ng = pos < nparts ? a->lnt : 0;
    } else if (r->axis == 1) {
        nparts = (int)(a->nt < d->Q ? a->nt : d->Q);
        nparts = nparts > 0 ? nparts : 1;
        pos = d->mycol;
        ng = pos < nparts ? a->lmt : 0;
    } else {
        ng = 1;
    }
    r->ngroup = (int)ng;
    r->groups = calloc((size_t)ng + 1, sizeof *r->groups);
    if (!r->groups) tsr_abort("rank %d: reduction: no memory", d->rank);
    for (int64_t k = 0; k < ng; k++) {
        group *g = &r->groups[k];
        g->pos = pos;
        g->nparts = nparts;
        int64_t nt = r->axis == 0 ? a->lmt : r->axis == 1 ? a->lnt : a->lmt * a->lnt;
        g->tli = malloc(sizeof(int64_t) * 2 * (size_t)(nt > 0 ? nt : 1));
        if (!g->tli) tsr_abort("rank %d: reduction: no memory", d->rank);
        g->tlj = g->tli + (nt > 0 ? nt : 1);
        g->ntile = (int)nt;
        for (int64_t t = 0; t < nt; t++) {
            g->tli[t] = r->axis == 0 ? t : r->axis == 1 ? k : t % a->lmt;
            g->tlj[t] = r->axis == 0 ? k : r->axis == 1 ? t : t / a->lmt;
        }
        if (r->axis == 0) {
            g->gid = k * d->Q + d->mycol;
            g->len = a->n - g->gid * d->nb < d->nb ? a->n - g->gid * d->nb : d->nb;
        } else if (r->axis == 1) {
            g->gid = k * d->P + d->myrow;
            g->len = a->m - g->gid * d->mb < d->mb ? a->m - g->gid * d->mb : d->mb;
        } else {
            g->gid = 0;
            g->len = 1;
        }
    }
}

static const char *op_name(int op) {
    static const char *names[] = {"sum", "mean", "minimum", "maximum", "2-norm", "argmin",
                                  "argmax"};
    return op >= 0 && op <= TSR_ARGMAX ? names[op] : "?";
}

/* Deterministic checks, the same verdict on every rank. */
static int check(const tsr_array_t *a, int op, int axis, const char *who) {
    int rank = tsr_rank();
    if (!a) return tsr_error(TSR_ERR_INVALID, "rank %d: %s: the array is NULL", rank, who);
    if (op < TSR_SUM || op > TSR_ARGMAX)
        return tsr_error(TSR_ERR_INVALID, "rank %d: %s: %d is not a reduction (enum tsr_redop)",
                         rank, who, op);
    if (axis != -1 && axis != 0 && axis != 1)
        return tsr_error(TSR_ERR_INVALID, "rank %d: %s: axis %d is not 0 or 1", rank, who, axis);
    int64_t len = axis == 0 ? a->m : axis == 1 ? a->n : a->m * a->n;
    int no_identity = op == TSR_MIN || op == TSR_MAX || tsr__red_is_arg(op);
    if (len == 0 && no_identity && (axis < 0 || (axis == 0 ? a->n : a->m) > 0)) {
        if (axis < 0)
            return tsr_error(TSR_ERR_SHAPE, "rank %d: %s: zero-size array (%lld, %lld) has no %s",
                             rank, who, (long long)a->m, (long long)a->n, op_name(op));
        return tsr_error(TSR_ERR_SHAPE,
                         "rank %d: %s: no %s along axis %d of a (%lld, %lld) array: the axis is "
                         "empty",
                         rank, who, op_name(op), axis, (long long)a->m, (long long)a->n);
    }
    return TSR_OK;
}

static red *red_new(tsr_array_t *a, int op, int axis) {
    red *r = calloc(1, sizeof *r);
    if (!r) tsr_abort("rank %d: reduction: no memory", tsr_rank());
    atomic_init(&r->refs, 1);
    r->op = op;
    r->axis = axis;
    r->a = a;
    tsr__array_retain(a);
    r->opid = tsr__array_next_op();
    r->count = axis == 0 ? (double)a->m : axis == 1 ? (double)a->n : (double)a->m * (double)a->n;
    return r;
}

static void red_start(red *r) {
    make_groups(r);
    for (int k = 0; k < r->ngroup; k++) start_group(r, &r->groups[k]);
    red_release(r);
}

int tsr_array_reduce_async(tsr_array_t *a, int op, tsr_future_t **out) {
    TSR_TRACE_SCOPE("reduce");
    int rc = TSR_OK;
    TSR_CHECK_MSG(out != NULL, TSR_ERR_INVALID, "rank %d: tsr_array_reduce_async: out is NULL",
                  tsr_rank());
    *out = NULL;
    TSR_CHECK(check(a, op, -1, "tsr_array_reduce"));
    red *r = red_new(a, op, -1);
    if (tsr_future_create(&r->result) != TSR_OK)
        tsr_abort("rank %d: tsr_array_reduce: %s", tsr_rank(), tsr_error_message());
    tsr_future_retain(r->result);
    *out = r->result;
    red_start(r);
fail:
    return rc;
}

int tsr_array_reduce(tsr_array_t *a, int op, double *out) {
    int rc = TSR_OK;
    tsr_future_t *f = NULL;
    void *v = NULL;
    TSR_CHECK_MSG(out != NULL, TSR_ERR_INVALID, "rank %d: tsr_array_reduce: out is NULL",
                  tsr_rank());
    TSR_CHECK(tsr_array_reduce_async(a, op, &f));
    TSR_CHECK(tsr_wait(f, &v));
    *out = *(const double *)v;
fail:
    tsr_future_release(&f);
    return rc;
}

int tsr_array_reduce_axis(tsr_array_t *a, int op, int axis, tsr_array_t **out) {
    TSR_TRACE_SCOPE("reduce_axis");
    int rc = TSR_OK;
    tsr_array_t *res = NULL;
    TSR_CHECK_MSG(out != NULL, TSR_ERR_INVALID, "rank %d: tsr_array_reduce_axis: out is NULL",
                  tsr_rank());
    *out = NULL;
    TSR_CHECK(check(a, op, axis < 0 ? 2 : axis, "tsr_array_reduce_axis"));
    TSR_CHECK(tsr__array_alloc(a->dist, axis == 0 ? 1 : a->m, axis == 0 ? a->n : 1, &res));
    red *r = red_new(a, op, axis);
    r->out = res;
    tsr__array_retain(res);
    red_start(r);
    *out = res;
    return TSR_OK;
fail:
    return rc;
}
