/* Element-wise expressions inside the array layer: the tree the tsr_ex_*
 * constructors build (expr.c), the register program it compiles to (expr.c)
 * and the fused tile evaluator that runs it (elementwise.c); also the small
 * wire format that tiles and partial results use between ranks, shared with
 * reduce.c. */
#ifndef TSR_ARRAY_EXPR_INTERNAL_H
#define TSR_ARRAY_EXPR_INTERNAL_H

#include <stdlib.h>
#include <string.h>

#include "array/array_internal.h"

enum tsr__ex_kind { TSR__EX_ARRAY, TSR__EX_SCALAR, TSR__EX_BINARY, TSR__EX_UNARY, TSR__EX_WHERE };

/* A tree node. Each node has one parent: the constructors take ownership of
 * their children (so a subtree cannot be shared; build it twice). */
struct tsr_expr_s {
    int kind;
    int op;             /* enum tsr_binop / tsr_unop */
    double value;       /* TSR__EX_SCALAR */
    tsr_array_t *arr;   /* TSR__EX_ARRAY: borrowed, never owned */
    tsr_expr_t *kid[3];
    int need; /* scratch for the compiler */
};

/* How an operand covers the m x n result (numpy broadcasting). */
enum tsr__leaf_kind {
    TSR__LEAF_SCALAR, /* a constant */
    TSR__LEAF_FULL,   /* an m x n array on the result's layout */
    TSR__LEAF_ROWB,   /* 1 x n, repeated down the rows (m > 1) */
    TSR__LEAF_COLB,   /* m x 1, repeated across the columns (n > 1) */
    TSR__LEAF_ALLB    /* 1 x 1 array spread over m x n (m > 1 and n > 1) */
};

typedef struct tsr__ex_leaf {
    int kind;
    double value;     /* TSR__LEAF_SCALAR */
    tsr_array_t *arr; /* the others; borrowed from the tree */
} tsr__ex_leaf;

/* Instruction opcodes: binary ops keep their enum tsr_binop values, then: */
enum {
    TSR__OP_UNARY = 16, /* + enum tsr_unop */
    TSR__OP_WHERE = 32,
    TSR__OP_COPY = 33
};

/* dst = op(a, b, c) on one block of every register. Registers 0..nleaf-1
 * hold the leaves, then ntemp temporaries, then the output (out_reg). A
 * destination is never one of its own sources, so kernels use restrict. */
typedef struct tsr__ex_insn {
    int16_t op, dst, a, b, c;
} tsr__ex_insn;

typedef struct tsr__ex_prog {
    int nleaf, ntemp, ninsn;
    tsr__ex_leaf *leaves;
    tsr__ex_insn *insn;
    int64_t m, n;       /* result shape */
    tsr_dist_t *dist;   /* the result's: first full-shape operand's */
} tsr__ex_prog;

static inline int tsr__ex_out_reg(const tsr__ex_prog *p) { return p->nleaf + p->ntemp; }

/* Check the tree (NULL nodes, op codes, shapes, distributions) and compile
 * it. Deterministic on every rank: same tree, same verdict, no messages.
 * who names the calling function in messages. */
int tsr__ex_compile(tsr_expr_t *e, const char *who, tsr__ex_prog *out);
void tsr__ex_prog_free(tsr__ex_prog *p);

/* ---- wire format of tiles and partials sent through the mailbox ----
 * An 8-byte header, then either the payload (status TSR_OK) or the error
 * message of the work that should have produced it, so a failure on one
 * rank reaches the ranks waiting for its data instead of leaving them
 * waiting. */
typedef struct tsr__wire_hdr {
    int32_t status;
    uint32_t msglen; /* bytes of message after the header, with its NUL */
} tsr__wire_hdr;

/* A buffer for count doubles after the header; *data points at them. */
static inline void *tsr__wire_data(size_t count, double **data, size_t *len) {
    *len = sizeof(tsr__wire_hdr) + count * sizeof(double);
    tsr__wire_hdr *h = malloc(*len);
    if (h) {
        h->status = TSR_OK;
        h->msglen = 0;
        *data = (double *)(h + 1);
    }
    return h;
}

/* A buffer that carries an error. */
static inline void *tsr__wire_error(int status, const char *msg, size_t *len) {
    size_t ml = strlen(msg) + 1;
    if (ml > 4096) ml = 4096;
    *len = sizeof(tsr__wire_hdr) + ml;
    tsr__wire_hdr *h = malloc(*len);
    if (h) {
        h->status = status;
        h->msglen = (uint32_t)ml;
        memcpy(h + 1, msg, ml);
        ((char *)(h + 1))[ml - 1] = '\0';
    }
    return h;
}

/* TSR_OK and the payload, or the carried error (set as this thread's
 * message). */
static inline int tsr__wire_open(const void *buf, const double **data) {
    const tsr__wire_hdr *h = buf;
    if (h->status == TSR_OK) {
        *data = (const double *)(h + 1);
        return TSR_OK;
    }
    return tsr_error(h->status, "%s", (const char *)(h + 1));
}

#endif
