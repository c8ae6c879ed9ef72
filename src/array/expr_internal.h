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

enum tsr__ex_kind {
    TSR__EX_ARRAY, TSR__EX_SCALAR, TSR__EX_BINARY, TSR__EX_UNARY, TSR__EX_WHERE,
    TSR__EX_FUTURE /* a scalar read from a future when the tile runs */
};

/* A tree node. Each node has one parent: the constructors take ownership of
 * their children (so a subtree cannot be shared; build it twice). */
struct tsr_expr_s {
    int kind;
    int op;             /* enum tsr_binop / tsr_unop */
    double value;       /* TSR__EX_SCALAR */
    tsr_array_t *arr;   /* TSR__EX_ARRAY: borrowed, never owned */
    tsr_future_t *fut;  /* TSR__EX_FUTURE: a reference, released by tsr_ex_free */
    tsr_expr_t *kid[3];
    int need; /* scratch for the compiler */
};

/* How an operand covers the m x n result (numpy broadcasting). */
enum tsr__leaf_kind {
    TSR__LEAF_SCALAR, /* a constant */
    TSR__LEAF_FULL,   /* an m x n array on the result's layout */
    TSR__LEAF_ROWB,   /* 1 x n, repeated down the rows (m > 1) */
    TSR__LEAF_COLB,   /* m x 1, repeated across the columns (n > 1) */
    TSR__LEAF_ALLB,   /* 1 x 1 array spread over m x n (m > 1 and n > 1) */
    TSR__LEAF_FUTURE  /* a constant *(const double *) of a future's value */
};

typedef struct tsr__ex_leaf {
    int kind;
    double value;     /* TSR__LEAF_SCALAR */
    tsr_array_t *arr; /* the array kinds; borrowed from the tree */
    tsr_future_t *fut; /* TSR__LEAF_FUTURE; borrowed from the tree */
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

/* ---- exp without a libm call, so that the kernels using it vectorise ----
 * Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, then a degree-13 Taylor
 * polynomial (truncation below 1e-17) and a scale by 2^k applied as two
 * factors 2^k1 2^k2, so that overflow to inf and gradual underflow into
 * subnormals happen in the last multiplication, rounded once. Within 1 ulp
 * of glibc's exp over the whole range (tested); NaN stays NaN, exp(inf) =
 * inf, exp(-inf) = 0. Branch-free: x must already be clamped to
 * [-746, 710] (NaN passes the clamps), which bounds k. */
static inline double tsr__exp_core(double x) {
    const double shift = 0x1.8p52; /* adding it rounds to an integer, kept in the low bits */
    double t = x * 0x1.71547652b82fep0 + shift;
    double kd = t - shift;
    double r = (x - kd * 0x1.62e42fee00000p-1) - kd * 0x1.a39ef35793c76p-33;
    double q = 1.0 / 6227020800.0;
    q = q * r + 1.0 / 479001600.0;
    q = q * r + 1.0 / 39916800.0;
    q = q * r + 1.0 / 3628800.0;
    q = q * r + 1.0 / 362880.0;
    q = q * r + 1.0 / 40320.0;
    q = q * r + 1.0 / 5040.0;
    q = q * r + 1.0 / 720.0;
    q = q * r + 1.0 / 120.0;
    q = q * r + 1.0 / 24.0;
    q = q * r + 1.0 / 6.0;
    q = q * r + 0.5;
    double p = 1.0 + (r + r * r * q);
    double k1 = (kd * 0.5 + shift) - shift, k2 = kd - k1;
    double t1 = k1 + shift, t2 = k2 + shift;
    uint64_t b1, b2;
    memcpy(&b1, &t1, sizeof b1);
    memcpy(&b2, &t2, sizeof b2);
    b1 = (b1 - 0x4338000000000000ull + 1023) << 52; /* 2^k1 */
    b2 = (b2 - 0x4338000000000000ull + 1023) << 52;
    double s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return p * s1 * s2;
}

/* The same, one value at a time (the kernels clamp a block first). */
static inline double tsr__exp(double x) {
    x = x > 710.0 ? 710.0 : x;
    x = x < -746.0 ? -746.0 : x;
    return tsr__exp_core(x);
}

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
