/* Arithmetic on numbers that never waits. Known numbers are computed now;
 * a pending operand (a reduction not finished yet) makes a pending result:
 * a task that runs once the operands' futures are ready. The formulas are
 * the array kernels' own (elementwise.c), so a number computed here equals
 * the same element computed in an array, bit for bit. */
#include <math.h>
#include <stdlib.h>

#include "array/expr_internal.h"
#include "array/settle.h"
#include "lang/eval_internal.h"

static bool is_compare(int op) { return op >= TSR_LT && op <= TSR_NE; }

static double binop(int op, double x, double y) {
    switch (op) {
    case TSR_ADD: return x + y;
    case TSR_SUB: return x - y;
    case TSR_MUL: return x * y;
    case TSR_DIV: return x / y;
    case TSR_POW: return pow(x, y);
    case TSR_MAXIMUM: return (x > y || x != x) ? x : y;
    case TSR_MINIMUM: return (x < y || x != x) ? x : y;
    case TSR_LT: return x < y ? 1.0 : 0.0;
    case TSR_LE: return x <= y ? 1.0 : 0.0;
    case TSR_GT: return x > y ? 1.0 : 0.0;
    case TSR_GE: return x >= y ? 1.0 : 0.0;
    case TSR_EQ: return x == y ? 1.0 : 0.0;
    case TSR_NE: return x != y ? 1.0 : 0.0;
    default: return NAN;
    }
}

static double unop(int op, double x) {
    switch (op) {
    case TSR_NEG: return -x;
    case TSR_ABS: return fabs(x);
    case TSR_SQRT: return sqrt(x);
    case TSR_EXP: return tsr__exp(x);
    case TSR_LOG: return log(x);
    case TSR_TANH: return tanh(x);
    case TSR_SIGMOID: {
        double e = -fabs(x);
        e = tsr__exp(e < -746.0 ? -746.0 : e);
        return (x >= 0 ? 1.0 : e) / (1.0 + e);
    }
    default: return NAN;
    }
}

static double apply(int op, double x, double y) {
    return op >= 16 ? unop(op - 16, x) : binop(op, x, y);
}

/* The deferred computation: its inputs' futures (NULL for a known one),
 * their known values, and the promise that gets the result. */
typedef struct deferred {
    int op;
    double x, y;
    tsr_future_t *in[2];
    tsr_future_t *result;
} deferred;

static double read_value(tsr_future_t *f, double known) {
    if (!f) return known;
    void *v = NULL;
    tsr_wait(f, &v); /* ready and succeeded: returns at once */
    return *(const double *)v;
}

/* Runs on a worker once both inputs are ready, failed or not: a failed
 * input fails the result with the input's error. */
static int deferred_run(void *arg, void **value_out) {
    deferred *d = arg;
    *value_out = NULL;
    int rc = tsr__first_failure(2, d->in);
    if (rc != TSR_OK) {
        tsr_future_fail(d->result, rc, tsr_error_message());
    } else {
        double *v = malloc(sizeof *v);
        if (!v) {
            tsr_future_fail(d->result, TSR_ERR_NOMEM, "no memory for a number");
        } else {
            *v = apply(d->op, read_value(d->in[0], d->x), read_value(d->in[1], d->y));
            tsr_future_set_owned(d->result, v, free);
        }
    }
    tsr_future_release(&d->in[0]);
    tsr_future_release(&d->in[1]);
    tsr_future_release(&d->result);
    free(d);
    return TSR_OK;
}

static int operand(tsr__ctx *cx, tsr__val v, int k, double *x, tsr_future_t **f) {
    *x = 0;
    *f = NULL;
    if (!tsr__is_scalar(v)) {
        char buf[64];
        return tsr__err(cx, TSR_ERR_INVALID, "argument %d must be a number, got %s", k + 1,
                        tsr__describe(v, buf, sizeof buf));
    }
    if (v.state == TSR__NUM_PENDING)
        *f = ((tsr__pending *)v.obj)->f;
    else
        *x = v.num;
    return TSR_OK;
}

int tsr__scalar_op(tsr__ctx *cx, int op, tsr__val a, tsr__val b, tsr__val *out) {
    int kind = op < 16 && is_compare(op) ? TSR__V_BOOL : TSR__V_NUM;
    double x, y;
    tsr_future_t *fa, *fb;
    int rc = operand(cx, a, 0, &x, &fa);
    y = 0;
    fb = NULL;
    if (rc == TSR_OK && op < 16) rc = operand(cx, b, 1, &y, &fb);
    if (rc != TSR_OK) return rc;
    if (a.state == TSR__NUM_UNKNOWN || (op < 16 && b.state == TSR__NUM_UNKNOWN)) {
        *out = tsr__unknown(kind);
        return TSR_OK;
    }
    if (!fa && !fb) {
        double r = apply(op, x, y);
        *out = kind == TSR__V_BOOL ? tsr__boolean(r != 0) : tsr__number(r);
        return TSR_OK;
    }
    /* A promise set by the task, rather than the task's own future, so the
     * value is owned (freed with the future) and a failed input still runs
     * the task (through a settled gate) to pass the failure on. */
    deferred *d = malloc(sizeof *d);
    tsr_future_t *gate = NULL, *done = NULL, *result = NULL;
    if (!d) return tsr__err(cx, TSR_ERR_NOMEM, "no memory");
    *d = (deferred){.op = op, .x = x, .y = y, .in = {fa, fb}};
    if (fa) tsr_future_retain(fa);
    if (fb) tsr_future_retain(fb);
    rc = tsr_future_create(&d->result);
    if (rc == TSR_OK) rc = tsr__when_all_settled(2, d->in, &gate);
    if (rc != TSR_OK) {
        tsr_future_release(&d->in[0]);
        tsr_future_release(&d->in[1]);
        tsr_future_release(&d->result);
        free(d);
        return tsr__err_from(cx, rc);
    }
    result = d->result;
    tsr_future_retain(result);
    rc = tsr_async(deferred_run, d, 1, &gate, &done);
    tsr_future_release(&gate);
    if (rc != TSR_OK) {
        /* The task will never run: free what it would have. */
        tsr_future_release(&d->in[0]);
        tsr_future_release(&d->in[1]);
        tsr_future_release(&d->result);
        free(d);
        tsr_future_release(&result);
        return tsr__err_from(cx, rc);
    }
    tsr_future_release(&done);
    return tsr__val_pending(kind, result, out);
}

tsr_expr_t *tsr__scalar_leaf(tsr__val v) {
    if (v.state == TSR__NUM_PENDING) return tsr_ex_future(((tsr__pending *)v.obj)->f);
    return tsr_ex_scalar(v.num);
}
