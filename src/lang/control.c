/* Special forms: define, set!, let, block, if, while, for, and, or.
 *
 * Run mode: conditions are forced (the evaluator's only waits besides
 * print, save and the outputs). Check mode: a condition may be unknown; an
 * `if` then runs both branches from the same variables and merges what they
 * leave, a `while` runs its body once and merges. Loops with known bounds
 * run at most twice: the first iteration, then the second from the state
 * the first left, merged with it when more iterations would follow (a
 * number that changes becomes unknown, an array whose shape changes gets
 * unknown dimensions), so that checking costs the same for 10 or 10^6
 * iterations. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lang/eval_internal.h"

static int at(const tsr__node *n, int status, const char *msg) {
    return tsr_error(status, "%s:%d:%d: %s", n->loc.file ? n->loc.file : "?", n->loc.line,
                     n->loc.col, msg);
}

/* ---- progress of long loops (rank 0, a terminal, not --quiet) ---- */

static void progress(tsr__eval *ev, const tsr__node *n, double start, int64_t k, int64_t total) {
    if (!ev->cx.progress) return;
    double now = tsr_time();
    if (now < start + 1.0 || now < ev->progress_next) return;
    ev->progress_next = now + 1.0;
    ev->progress_shown = true;
    const char *form = n->special == TSR__SF_FOR ? "for" : "while";
    if (total >= 0)
        fprintf(stderr, "\r[tessera] %s:%d %s: iteration %lld/%lld", n->loc.file, n->loc.line,
                form, (long long)k, (long long)total);
    else
        fprintf(stderr, "\r[tessera] %s:%d %s: iteration %lld", n->loc.file, n->loc.line, form,
                (long long)k);
    fflush(stderr);
}

static void progress_done(tsr__eval *ev) {
    if (!ev->progress_shown) return;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
    ev->progress_shown = false;
}

/* ---- how far a loop may run ahead of its work ----
 * Nothing in a loop body need wait, so without a bound the main thread would
 * issue every iteration's operations before the first has run, and memory
 * would grow with the iteration count (each queued operation holds its
 * arrays). So each iteration remembers the newest array it made, and an
 * iteration waits for the one made RUNAHEAD iterations earlier before going
 * on: at most that many iterations are queued, and they still overlap. The
 * wait runs tasks and messages meanwhile; every rank issues the same
 * operations in the same order, so what it waits for only needs work the
 * other ranks have already issued or will issue before they wait. Measured
 * on logistic regression (20000 x 5, 1 rank): without the bound 1000
 * iterations peaked at 517 MB (144 MB for 250); with it 23 MB for both, in the
 * same time. */
#define RUNAHEAD 4

typedef struct throttle {
    tsr__val ring[RUNAHEAD];
    int64_t k;
} throttle;

static void throttle_step(tsr__eval *ev, throttle *t) {
    if (ev->cx.check) return;
    tsr__val *slot = &t->ring[t->k++ % RUNAHEAD];
    if (slot->kind == TSR__V_ARRAY) {
        tsr__arr *a = tsr__as_arr(*slot);
        tsr_array_t *h = a->col ? a->col : a->row;
        /* A failure shows where a value is used; waiting only bounds memory. */
        if (h && tsr_array_wait(h) != TSR_OK) tsr_error_clear();
    }
    tsr__val_drop(slot);
    *slot = tsr__val_ref(ev->last_array);
}

static void throttle_done(throttle *t) {
    for (int i = 0; i < RUNAHEAD; i++) tsr__val_drop(&t->ring[i]);
}

/* ---- --timing: the outermost loops' time per iteration ----
 * The loop waits for the newest array it made, so the time covers the work
 * and not only its issuing (which runs up to RUNAHEAD iterations ahead). */
static void loop_begin(tsr__eval *ev) { ev->loop_depth++; }

static void loop_end(tsr__eval *ev, const tsr__node *n, double t0, int64_t iterations, int rc) {
    ev->loop_depth--;
    if (!ev->timing || ev->cx.check || ev->loop_depth > 0 || rc != TSR_OK) return;
    if (ev->last_array.kind == TSR__V_ARRAY) {
        tsr__arr *a = tsr__as_arr(ev->last_array);
        tsr_array_t *h = a->col ? a->col : a->row;
        if (h && tsr_array_wait(h) != TSR_OK) tsr_error_clear();
    }
    int slot = ev->nloops < 16 ? ev->nloops++ : 15; /* past 16 the last slot keeps the newest */
    ev->loops[slot].form = n;
    ev->loops[slot].iterations = iterations;
    ev->loops[slot].seconds = tsr_time() - t0;
}

/* ---- conditions ---- */

/* c's truth: *known false only in check mode with an unknown number. */
static int truth(tsr__eval *ev, const tsr__node *where, tsr__val *c, bool *t, bool *known) {
    char buf[80], msg[200];
    if (c->kind == TSR__V_ARRAY) {
        snprintf(msg, sizeof msg, "condition is a %s; reduce it first, e.g. (max ...)",
                 tsr__describe(*c, buf, sizeof buf));
        return at(where, TSR_ERR_INVALID, msg);
    }
    if (!tsr__is_scalar(*c)) {
        snprintf(msg, sizeof msg, "condition is %s%s; it must be a number or a boolean",
                 c->kind == TSR__V_NIL ? "" : "a ", tsr__describe(*c, buf, sizeof buf));
        return at(where, TSR_ERR_INVALID, msg);
    }
    ev->cx.loc = where->loc;
    ev->cx.who = NULL;
    int rc = tsr__num_force(&ev->cx, c, known);
    if (rc != TSR_OK) return rc;
    *t = *known && c->num != 0;
    return TSR_OK;
}

static int eval_truth(tsr__eval *ev, tsr__frame *env, const tsr__node *cn, bool *t, bool *known) {
    tsr__val c;
    int rc = tsr__eval_node(ev, env, cn, &c);
    if (rc == TSR_OK) rc = truth(ev, cn, &c, t, known);
    tsr__val_drop(&c);
    return rc;
}

/* ---- forms ---- */

static int sf_define(tsr__eval *ev, tsr__frame *env, const tsr__node *n) {
    if (n->kids[1]->kind == TSR__N_LIST) return tsr__define_function(ev, env, n);
    const tsr__node *name = n->kids[1];
    tsr__val v;
    int rc = tsr__eval_node(ev, env, n->kids[2], &v);
    if (rc != TSR_OK) return rc;
    if (tsr__frame_lookup_here(env, name->text)) {
        tsr__val_drop(&v);
        char msg[300];
        snprintf(msg, sizeof msg, "'%s' is already defined in this scope (set! changes it)",
                 name->text);
        return at(name, TSR_ERR_INVALID, msg);
    }
    return tsr__frame_define(env, name->text, v);
}

static int sf_set(tsr__eval *ev, tsr__frame *env, const tsr__node *n) {
    const tsr__node *name = n->kids[1];
    char msg[300];
    tsr__val v;
    int rc = tsr__eval_node(ev, env, n->kids[2], &v);
    if (rc != TSR_OK) return rc;
    /* Looked up after evaluating: the expression cannot remove variables,
     * but its calls may grow the scope's table (and move it). */
    tsr__val *slot = tsr__frame_lookup(env, name->text);
    if (!slot || slot->kind == TSR__V_FUNC) {
        tsr__val_drop(&v);
        snprintf(msg, sizeof msg,
                 slot ? "set!: '%s' is a function, not a variable"
                      : "set!: '%s' is not defined (define it first)",
                 name->text);
        return at(name, slot ? TSR_ERR_INVALID : TSR_ERR_NOT_FOUND, msg);
    }
    tsr__val old = *slot;
    *slot = v;
    tsr__val_drop(&old);
    return TSR_OK;
}

static int sf_let(tsr__eval *ev, tsr__frame *env, const tsr__node *n, tsr__val *out) {
    tsr__frame *f = tsr__frame_new(env, env->owner);
    if (!f) return tsr_error(TSR_ERR_NOMEM, "no memory for a let scope");
    const tsr__node *binds = n->kids[1];
    int rc = TSR_OK;
    for (int i = 0; i < binds->nkids && rc == TSR_OK; i++) {
        const tsr__node *b = binds->kids[i];
        tsr__val v;
        rc = tsr__eval_node(ev, f, b->kids[1], &v);
        if (rc == TSR_OK) rc = tsr__frame_define(f, b->kids[0]->text, v);
    }
    if (rc == TSR_OK) rc = tsr__eval_body(ev, f, n, 2, out);
    tsr__frame_end(f);
    return rc;
}

/* One iteration's scope: the loop variable (if any), then the body. */
static int iteration(tsr__eval *ev, tsr__frame *env, const tsr__node *n, const char *var,
                     tsr__val i) {
    tsr__frame *f = tsr__frame_new(env, env->owner);
    if (!f) return tsr_error(TSR_ERR_NOMEM, "no memory for a loop scope");
    int rc = var ? tsr__frame_define(f, var, i) : TSR_OK;
    tsr__val v = tsr__nil();
    if (rc == TSR_OK) rc = tsr__eval_body(ev, f, n, 2, &v);
    tsr__val_drop(&v);
    tsr__frame_end(f);
    return rc;
}

static int sf_if(tsr__eval *ev, tsr__frame *env, const tsr__node *n, tsr__val *out) {
    bool t, known;
    int rc = eval_truth(ev, env, n->kids[1], &t, &known);
    if (rc != TSR_OK) return rc;
    if (known) {
        if (t) return tsr__eval_node(ev, env, n->kids[2], out);
        return n->nkids > 3 ? tsr__eval_node(ev, env, n->kids[3], out) : TSR_OK;
    }
    /* Check mode, unknown condition: both branches from the same state. A
     * branch cut off (a recursion below this condition, TSR__CUT) leaves
     * the other branch's result and variables alone. */
    tsr__snap s0, s1 = {0};
    tsr__val r1 = tsr__nil(), r2 = tsr__nil();
    rc = tsr__snap_take(env, &s0);
    if (rc != TSR_OK) return rc;
    ev->unknown_level++;
    int rc1 = tsr__eval_node(ev, env, n->kids[2], &r1), rc2 = TSR_OK;
    if (rc1 == TSR_OK) rc1 = tsr__snap_take(env, &s1);
    if (rc1 == TSR_OK || rc1 == TSR__CUT) {
        tsr__snap_restore(&s0);
        if (n->nkids > 3) rc2 = tsr__eval_node(ev, env, n->kids[3], &r2);
    }
    ev->unknown_level--;
    if (rc1 != TSR_OK && rc1 != TSR__CUT) {
        rc = rc1;
    } else if (rc2 != TSR_OK && rc2 != TSR__CUT) {
        rc = rc2;
    } else if (rc1 == TSR__CUT && rc2 == TSR__CUT) {
        rc = TSR__CUT;
    } else if (rc1 == TSR__CUT) { /* the else branch's state is current */
        *out = r2;
        r2 = tsr__nil();
    } else if (rc2 == TSR__CUT) {
        tsr__snap_restore(&s1);
        *out = r1;
        r1 = tsr__nil();
    } else {
        tsr__snap_merge(&s1);
        *out = tsr__val_merge(r1, r2);
    }
    tsr__val_drop(&r1);
    tsr__val_drop(&r2);
    tsr__snap_free(&s0);
    tsr__snap_free(&s1);
    return rc;
}

/* Check mode: a loop body that may run or not (an unknown condition or
 * range), once from the state before, merged with it; cut off, as not run. */
static int maybe_iteration(tsr__eval *ev, tsr__frame *env, const tsr__node *n, const char *var,
                           tsr__val i) {
    tsr__snap s;
    int rc = tsr__snap_take(env, &s);
    if (rc != TSR_OK) return rc;
    ev->unknown_level++;
    rc = iteration(ev, env, n, var, i);
    ev->unknown_level--;
    if (rc == TSR_OK) tsr__snap_merge(&s);
    if (rc == TSR__CUT) {
        tsr__snap_restore(&s);
        rc = TSR_OK;
    }
    tsr__snap_free(&s);
    return rc;
}

static int sf_while(tsr__eval *ev, tsr__frame *env, const tsr__node *n) {
    double start = tsr_time();
    tsr__snap s = {0};
    throttle th = {0};
    int rc = TSR_OK;
    int64_t k = 0;
    loop_begin(ev);
    for (;; k++) {
        bool t, known;
        rc = eval_truth(ev, env, n->kids[1], &t, &known);
        if (rc != TSR_OK || (known && !t)) break;
        if (!known) { /* check mode: maybe once, merged with the state before */
            rc = maybe_iteration(ev, env, n, NULL, tsr__nil());
            break;
        }
        if (ev->cx.check && k == 1) {
            rc = tsr__snap_take(env, &s);
            if (rc != TSR_OK) break;
        }
        rc = iteration(ev, env, n, NULL, tsr__nil());
        if (rc != TSR_OK) break;
        if (ev->cx.check && k == 1) {
            tsr__snap_merge(&s);
            break;
        }
        throttle_step(ev, &th);
        progress(ev, n, start, k + 1, -1);
    }
    loop_end(ev, n, start, k, rc);
    throttle_done(&th);
    tsr__snap_free(&s);
    progress_done(ev);
    return rc;
}

/* A bound of a for range: an integral number, or unknown in check mode. */
static int bound(tsr__eval *ev, tsr__frame *env, const tsr__node *bn, int64_t *x, bool *known) {
    tsr__val v;
    char buf[80], msg[200];
    int rc = tsr__eval_node(ev, env, bn, &v);
    if (rc != TSR_OK) return rc;
    if (!tsr__is_scalar(v)) {
        snprintf(msg, sizeof msg, "for: the range needs numbers, got %s%s",
                 v.kind == TSR__V_NIL ? "" : "a ", tsr__describe(v, buf, sizeof buf));
        rc = at(bn, TSR_ERR_INVALID, msg);
    } else {
        ev->cx.loc = bn->loc;
        ev->cx.who = "for";
        rc = tsr__num_force(&ev->cx, &v, known);
        ev->cx.who = NULL;
        if (rc == TSR_OK && *known) {
            if (v.num != floor(v.num) || fabs(v.num) > 9007199254740992.0) {
                snprintf(msg, sizeof msg, "for: the range needs integers, got %.17g", v.num);
                rc = at(bn, TSR_ERR_INVALID, msg);
            } else {
                *x = (int64_t)v.num;
            }
        }
    }
    tsr__val_drop(&v);
    return rc;
}

static int sf_for(tsr__eval *ev, tsr__frame *env, const tsr__node *n) {
    const tsr__node *spec = n->kids[1];
    const char *var = spec->kids[0]->text;
    int64_t b[3] = {0, 0, 1};
    bool known = true;
    int nb = spec->nkids - 1, rc;
    for (int i = 0; i < nb; i++) {
        bool k = true;
        rc = bound(ev, env, spec->kids[i + 1], &b[nb == 1 ? 1 : i], &k);
        if (rc != TSR_OK) return rc;
        known = known && k;
    }
    int64_t start = b[0], stop = b[1], step = b[2];
    if (known && step == 0) return at(spec->kids[3], TSR_ERR_INVALID, "for: the step is 0");
    int64_t count = 0;
    if (known) {
        if (step > 0 && stop > start) count = (stop - start - 1) / step + 1;
        if (step < 0 && stop < start) count = (start - stop - 1) / (-step) + 1;
    }
    tsr__snap s = {0};
    if (!known) /* check mode: maybe once with an unknown i */
        return maybe_iteration(ev, env, n, var, tsr__unknown(TSR__V_NUM));
    double t0 = tsr_time();
    int64_t runs = ev->cx.check && count > 2 ? 2 : count;
    throttle th = {0};
    rc = TSR_OK;
    loop_begin(ev);
    for (int64_t k = 0; k < runs && rc == TSR_OK; k++) {
        if (ev->cx.check && k == 1 && count > 2) rc = tsr__snap_take(env, &s);
        if (rc == TSR_OK) rc = iteration(ev, env, n, var, tsr__number((double)(start + k * step)));
        throttle_step(ev, &th);
        progress(ev, n, t0, k + 1, count);
    }
    loop_end(ev, n, t0, runs, rc);
    throttle_done(&th);
    if (rc == TSR_OK && s.nframes) tsr__snap_merge(&s);
    tsr__snap_free(&s);
    progress_done(ev);
    return rc;
}

static int sf_andor(tsr__eval *ev, tsr__frame *env, const tsr__node *n, tsr__val *out) {
    bool is_and = n->special == TSR__SF_AND, unknown = false;
    for (int i = 1; i < n->nkids; i++) {
        tsr__val v;
        bool t, known;
        int rc = tsr__eval_node(ev, env, n->kids[i], &v);
        if (rc == TSR_OK) rc = truth(ev, n->kids[i], &v, &t, &known);
        tsr__val_drop(&v);
        if (rc != TSR_OK) return rc;
        if (!known) {
            unknown = true;
        } else if (t != is_and && !unknown) {
            *out = tsr__boolean(t);
            return TSR_OK;
        }
    }
    *out = unknown ? tsr__unknown(TSR__V_BOOL) : tsr__boolean(is_and);
    return TSR_OK;
}

int tsr__eval_special(tsr__eval *ev, tsr__frame *env, const tsr__node *n, tsr__val *out) {
    *out = tsr__nil();
    switch (n->special) {
    case TSR__SF_DEFINE: return sf_define(ev, env, n);
    case TSR__SF_SET: return sf_set(ev, env, n);
    case TSR__SF_LET: return sf_let(ev, env, n, out);
    case TSR__SF_BLOCK: return tsr__eval_body(ev, env, n, 1, out);
    case TSR__SF_IF: return sf_if(ev, env, n, out);
    case TSR__SF_WHILE: return sf_while(ev, env, n);
    case TSR__SF_FOR: return sf_for(ev, env, n);
    case TSR__SF_AND:
    case TSR__SF_OR: return sf_andor(ev, env, n, out);
    default: return at(n, TSR_ERR_INVALID, "unknown special form");
    }
}
