/* Element-wise expression trees: the tsr_ex_* constructors, and the compiler
 * that checks a tree and turns it into a register program for the fused
 * evaluator (elementwise.c).
 *
 * The program has one instruction per inner node; every register is one
 * block of elements. Leaves (distinct arrays, distinct constants) get fixed
 * registers; inner results get temporaries from a free list, evaluating the
 * child that needs more temporaries first (Sethi-Ullman), so a depth-d tree
 * needs about d temporaries whatever its size. */
#include <stdio.h>
#include <string.h>

#include "array/expr_internal.h"
#include "tessera/runtime.h"

/* Registers are int16_t and deps per tile are bounded (TSR_TILE_MAX_DEPS). */
#define MAX_NODES 30000
#define MAX_ARRAYS 56
/* Each register is a 2 KB block per running tile task. */
#define MAX_REGS 256

static tsr_expr_t *node(int kind, int op) {
    tsr_expr_t *e = calloc(1, sizeof *e);
    if (e) {
        e->kind = kind;
        e->op = op;
    }
    return e;
}

tsr_expr_t *tsr_ex_array(tsr_array_t *a) {
    tsr_expr_t *e = node(TSR__EX_ARRAY, 0);
    if (e) e->arr = a;
    return e;
}

tsr_expr_t *tsr_ex_scalar(double v) {
    tsr_expr_t *e = node(TSR__EX_SCALAR, 0);
    if (e) e->value = v;
    return e;
}

tsr_expr_t *tsr_ex_future(tsr_future_t *f) {
    if (!f) return NULL;
    tsr_expr_t *e = node(TSR__EX_FUTURE, 0);
    if (e) {
        e->fut = f;
        tsr_future_retain(f);
    }
    return e;
}

/* A NULL child (a constructor that ran out of memory) makes the parent NULL
 * too; the other children are freed, since the parent owns them. */
static tsr_expr_t *inner(int kind, int op, int nkid, tsr_expr_t *a, tsr_expr_t *b, tsr_expr_t *c) {
    tsr_expr_t *kids[3] = {a, b, c};
    int ok = 1;
    for (int i = 0; i < nkid; i++) ok = ok && kids[i] != NULL;
    tsr_expr_t *e = ok ? node(kind, op) : NULL;
    for (int i = 0; i < nkid; i++) {
        if (e)
            e->kid[i] = kids[i];
        else
            tsr_ex_free(&kids[i]);
    }
    return e;
}

tsr_expr_t *tsr_ex_binary(int op, tsr_expr_t *l, tsr_expr_t *r) {
    return inner(TSR__EX_BINARY, op, 2, l, r, NULL);
}

tsr_expr_t *tsr_ex_unary(int op, tsr_expr_t *x) {
    return inner(TSR__EX_UNARY, op, 1, x, NULL, NULL);
}

tsr_expr_t *tsr_ex_where(tsr_expr_t *cond, tsr_expr_t *a, tsr_expr_t *b) {
    return inner(TSR__EX_WHERE, 0, 3, cond, a, b);
}

void tsr_ex_free(tsr_expr_t **e) {
    if (!e || !*e) return;
    for (int i = 0; i < 3; i++) tsr_ex_free(&(*e)->kid[i]);
    if ((*e)->fut) tsr_future_release(&(*e)->fut);
    free(*e);
    *e = NULL;
}

static int nkids(const tsr_expr_t *e) {
    switch (e->kind) {
    case TSR__EX_BINARY: return 2;
    case TSR__EX_UNARY: return 1;
    case TSR__EX_WHERE: return 3;
    default: return 0;
    }
}

void tsr__ex_prog_free(tsr__ex_prog *p) {
    free(p->leaves);
    free(p->insn);
    memset(p, 0, sizeof *p);
}

/* ---- checking ---- */

typedef struct cctx {
    const char *who;
    int rank;
    int nodes;
    tsr__ex_prog *p;
    /* broadcasting: the operand that fixed each dimension so far */
    const tsr_array_t *mfix, *nfix, *first;
    /* temporaries: free list and the next unused one */
    int16_t *free_temps;
    int nfree;
} cctx;

static int validate(cctx *c, const tsr_expr_t *e) {
    int rc = TSR_OK;
    TSR_CHECK_MSG(++c->nodes <= MAX_NODES, TSR_ERR_UNSUPPORTED,
                  "rank %d: %s: the expression has more than %d nodes; split it", c->rank, c->who,
                  MAX_NODES);
    switch (e->kind) {
    case TSR__EX_ARRAY:
        TSR_CHECK_MSG(e->arr != NULL, TSR_ERR_INVALID, "rank %d: %s: an array operand is NULL",
                      c->rank, c->who);
        break;
    case TSR__EX_FUTURE:
        TSR_CHECK_MSG(e->fut != NULL, TSR_ERR_INVALID, "rank %d: %s: a future operand is NULL",
                      c->rank, c->who);
        break;
    case TSR__EX_BINARY:
        TSR_CHECK_MSG(e->op >= TSR_ADD && e->op <= TSR_NE, TSR_ERR_INVALID,
                      "rank %d: %s: %d is not a binary operator (enum tsr_binop)", c->rank, c->who,
                      e->op);
        break;
    case TSR__EX_UNARY:
        TSR_CHECK_MSG(e->op >= TSR_NEG && e->op <= TSR_SIGMOID, TSR_ERR_INVALID,
                      "rank %d: %s: %d is not a unary operator (enum tsr_unop)", c->rank, c->who,
                      e->op);
        break;
    default: break;
    }
    for (int i = 0; i < nkids(e); i++) TSR_CHECK(validate(c, e->kid[i]));
fail:
    return rc;
}

static int same_dist(const tsr_dist_t *a, const tsr_dist_t *b) {
    return a == b || (a->P == b->P && a->Q == b->Q && a->mb == b->mb && a->nb == b->nb);
}

/* Broadcast one operand's shape into the result's (numpy rules: equal, or
 * one of them is 1), and check its distribution against the first one's. */
static int shape_and_dist(cctx *c, const tsr_array_t *a) {
    int rc = TSR_OK;
    tsr__ex_prog *p = c->p;
    if (!c->first) {
        c->first = a;
    } else {
        const tsr_dist_t *d = c->first->dist, *e = a->dist;
        TSR_CHECK_MSG(same_dist(d, e), TSR_ERR_SHAPE,
                      "rank %d: %s: operands (%lld, %lld) on a %d x %d grid with %lld x %lld tiles "
                      "and (%lld, %lld) on a %d x %d grid with %lld x %lld tiles are on different "
                      "distributions; redistribute one first",
                      c->rank, c->who, (long long)c->first->m, (long long)c->first->n, d->P, d->Q,
                      (long long)d->mb, (long long)d->nb, (long long)a->m, (long long)a->n, e->P,
                      e->Q, (long long)e->mb, (long long)e->nb);
    }
    if (a->m != 1) {
        if (!c->mfix) {
            c->mfix = a;
            p->m = a->m;
        }
        TSR_CHECK_MSG(a->m == p->m, TSR_ERR_SHAPE,
                      "rank %d: %s: shapes (%lld, %lld) and (%lld, %lld) do not broadcast together",
                      c->rank, c->who, (long long)c->mfix->m, (long long)c->mfix->n,
                      (long long)a->m, (long long)a->n);
    }
    if (a->n != 1) {
        if (!c->nfix) {
            c->nfix = a;
            p->n = a->n;
        }
        TSR_CHECK_MSG(a->n == p->n, TSR_ERR_SHAPE,
                      "rank %d: %s: shapes (%lld, %lld) and (%lld, %lld) do not broadcast together",
                      c->rank, c->who, (long long)c->nfix->m, (long long)c->nfix->n,
                      (long long)a->m, (long long)a->n);
    }
fail:
    return rc;
}

static int shapes(cctx *c, const tsr_expr_t *e) {
    int rc = TSR_OK;
    if (e->kind == TSR__EX_ARRAY) TSR_CHECK(shape_and_dist(c, e->arr));
    for (int i = 0; i < nkids(e); i++) TSR_CHECK(shapes(c, e->kid[i]));
fail:
    return rc;
}

/* ---- leaves ---- */

static int is_leaf(const tsr_expr_t *e) {
    return e->kind == TSR__EX_ARRAY || e->kind == TSR__EX_SCALAR || e->kind == TSR__EX_FUTURE;
}

static int leaf_kind(const tsr__ex_prog *p, const tsr_array_t *a) {
    int rowb = a->m == 1 && p->m != 1, colb = a->n == 1 && p->n != 1;
    if (rowb && colb) return TSR__LEAF_ALLB;
    if (rowb) return TSR__LEAF_ROWB;
    if (colb) return TSR__LEAF_COLB;
    return TSR__LEAF_FULL;
}

/* The register of a leaf node: one per distinct array or constant (by bit
 * pattern, so -0.0 and 0.0 stay apart). */
static int leaf_reg(cctx *c, const tsr_expr_t *e) {
    tsr__ex_prog *p = c->p;
    for (int i = 0; i < p->nleaf; i++) {
        const tsr__ex_leaf *l = &p->leaves[i];
        if (e->kind == TSR__EX_FUTURE && l->kind == TSR__LEAF_FUTURE && l->fut == e->fut) return i;
        if (e->kind == TSR__EX_ARRAY && l->kind != TSR__LEAF_SCALAR && l->kind != TSR__LEAF_FUTURE &&
            l->arr == e->arr)
            return i;
        if (e->kind == TSR__EX_SCALAR && l->kind == TSR__LEAF_SCALAR &&
            memcmp(&l->value, &e->value, sizeof(double)) == 0)
            return i;
    }
    tsr__ex_leaf *l = &p->leaves[p->nleaf];
    if (e->kind == TSR__EX_ARRAY) {
        l->arr = e->arr;
        l->kind = leaf_kind(p, e->arr);
    } else if (e->kind == TSR__EX_FUTURE) {
        l->kind = TSR__LEAF_FUTURE;
        l->fut = e->fut;
    } else {
        l->kind = TSR__LEAF_SCALAR;
        l->value = e->value;
    }
    return p->nleaf++;
}

static int collect_leaves(cctx *c, const tsr_expr_t *e) {
    int rc = TSR_OK;
    if (is_leaf(e)) leaf_reg(c, e);
    for (int i = 0; i < nkids(e); i++) TSR_CHECK(collect_leaves(c, e->kid[i]));
fail:
    return rc;
}

/* ---- register allocation and emission ---- */


/* Temporaries live at the peak while evaluating e, its result included;
 * stored in the node for emit() to order the children by. */
static void child_order(const tsr_expr_t *e, int order[3]) {
    int k = nkids(e);
    for (int i = 0; i < 3; i++) order[i] = i;
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++)
            if (e->kid[order[j]]->need > e->kid[order[i]]->need) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
}

static int need(tsr_expr_t *e) {
    if (is_leaf(e)) return e->need = 0;
    int k = nkids(e), held = 0, peak = 0, order[3];
    for (int i = 0; i < k; i++) need(e->kid[i]);
    child_order(e, order);
    for (int i = 0; i < k; i++) {
        const tsr_expr_t *ch = e->kid[order[i]];
        if (held + ch->need > peak) peak = held + ch->need;
        held += is_leaf(ch) ? 0 : 1;
    }
    if (held + 1 > peak) peak = held + 1;
    return e->need = peak;
}

static int16_t temp_alloc(cctx *c) {
    if (c->nfree > 0) return c->free_temps[--c->nfree];
    return (int16_t)(c->p->nleaf + c->p->ntemp++);
}

static void temp_free(cctx *c, int r) {
    if (r >= c->p->nleaf) c->free_temps[c->nfree++] = (int16_t)r;
}

/* The destination is taken while the sources are still held, so it is
 * never one of them. */
static int emit(cctx *c, const tsr_expr_t *e) {
    if (is_leaf(e)) return leaf_reg(c, e);
    int k = nkids(e), order[3], reg[3] = {0, 0, 0};
    child_order(e, order);
    for (int i = 0; i < k; i++) reg[order[i]] = emit(c, e->kid[order[i]]);
    int16_t d = temp_alloc(c);
    tsr__ex_insn *in = &c->p->insn[c->p->ninsn++];
    in->dst = d;
    in->a = (int16_t)reg[0];
    in->b = (int16_t)reg[1];
    in->c = (int16_t)reg[2];
    in->op = (int16_t)(e->kind == TSR__EX_BINARY  ? e->op
                       : e->kind == TSR__EX_UNARY ? TSR__OP_UNARY + e->op
                                                  : TSR__OP_WHERE);
    for (int i = 0; i < k; i++) temp_free(c, reg[i]);
    return d;
}

int tsr__ex_compile(tsr_expr_t *e, const char *who, tsr__ex_prog *p) {
    int rc = TSR_OK;
    cctx c = {.who = who, .rank = tsr_rank(), .p = p};
    memset(p, 0, sizeof *p);
    TSR_CHECK_MSG(e != NULL, TSR_ERR_NOMEM,
                  "rank %d: %s: the expression is NULL (a tsr_ex_* constructor ran out of memory)",
                  c.rank, who);
    TSR_CHECK(validate(&c, e));
    p->m = p->n = 1;
    TSR_CHECK(shapes(&c, e));
    TSR_CHECK_MSG(c.first != NULL, TSR_ERR_INVALID,
                  "rank %d: %s: the expression has no array operand (its shape is unknown)",
                  c.rank, who);
    p->leaves = calloc((size_t)c.nodes, sizeof *p->leaves);
    p->insn = calloc((size_t)c.nodes + 1, sizeof *p->insn);
    c.free_temps = calloc((size_t)c.nodes + 1, sizeof *c.free_temps);
    TSR_CHECK_MSG(p->leaves && p->insn && c.free_temps, TSR_ERR_NOMEM,
                  "rank %d: %s: no memory to compile an expression of %d nodes", c.rank, who,
                  c.nodes);
    TSR_CHECK(collect_leaves(&c, e));
    int narrays = 0;
    p->dist = NULL;
    for (int i = 0; i < p->nleaf; i++) {
        const tsr__ex_leaf *l = &p->leaves[i];
        if (l->kind == TSR__LEAF_SCALAR || l->kind == TSR__LEAF_FUTURE) continue;
        narrays++;
        if (!p->dist && l->kind == TSR__LEAF_FULL) p->dist = l->arr->dist;
    }
    if (!p->dist) p->dist = c.first->dist;
    TSR_CHECK_MSG(narrays <= MAX_ARRAYS, TSR_ERR_UNSUPPORTED,
                  "rank %d: %s: the expression reads %d distinct arrays, at most %d are supported",
                  c.rank, who, narrays, MAX_ARRAYS);
    need(e);
    int root = emit(&c, e);
    if (root < p->nleaf) {
        tsr__ex_insn *in = &p->insn[p->ninsn++];
        in->op = TSR__OP_COPY;
        in->a = (int16_t)root;
    }
    TSR_CHECK_MSG(tsr__ex_out_reg(p) < MAX_REGS, TSR_ERR_UNSUPPORTED,
                  "rank %d: %s: the expression needs %d registers (%d distinct operands and %d "
                  "temporaries), at most %d are supported; split it",
                  c.rank, who, tsr__ex_out_reg(p) + 1, p->nleaf, p->ntemp, MAX_REGS);
    /* The last instruction computes the root: it writes the output. */
    p->insn[p->ninsn - 1].dst = (int16_t)tsr__ex_out_reg(p);
fail:
    free(c.free_temps);
    if (rc != TSR_OK) tsr__ex_prog_free(p);
    return rc;
}
