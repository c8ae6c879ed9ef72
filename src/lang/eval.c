/* The evaluator's core: constants, names, calls of builtins and of user
 * functions, bodies. Special forms are in control.c, scopes in frames.c.
 *
 * The same walk serves both modes: in check mode builtins see shape-only
 * arrays and return shapes; in run mode they issue array operations that
 * return at once. Nothing here waits: only `if`/`while`/`and`/`or`
 * conditions (control.c) and the builtins print/save force values. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "lang/eval_internal.h"
#include "tessera/perf.h"

void tsr__eval_init(tsr__eval *ev, bool check) {
    *ev = (tsr__eval){.cx = {.check = check}};
    char here;
    ev->stack_base = &here;
    /* The main thread's stack limit, less room for the builtins and the
     * array layer below the deepest call (BLAS, MPI, a task run while
     * waiting). */
    struct rlimit rl;
    size_t limit = 8u << 20;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < ((rlim_t)1 << 30))
        limit = (size_t)rl.rlim_cur;
    ev->stack_budget = limit > (2u << 20) ? limit - (1u << 20) : limit / 2;
}

void tsr__eval_fini(tsr__eval *ev) {
    tsr__val_drop(&ev->last_array);
    free(ev->act);
    ev->act = NULL;
    ev->nact = ev->capact = 0;
}

/* Check mode: the entry of ev->act for def, or NULL (find_only: it has
 * none; else: the table cannot grow). Open addressing on the pointer;
 * entries are never removed (one per function called, so the table stays
 * small). */
static struct tsr__act *act_slot(tsr__eval *ev, const tsr__node *def, bool find_only) {
    size_t mask = (size_t)ev->capact - 1, h = ((uintptr_t)def >> 4) & mask;
    if (ev->capact) {
        while (ev->act[h].def && ev->act[h].def != def) h = (h + 1) & mask;
        if (ev->act[h].def == def) return &ev->act[h];
    }
    if (find_only) return NULL;
    if (2 * (ev->nact + 1) > ev->capact) {
        int cap = ev->capact ? 2 * ev->capact : 64;
        struct tsr__act *t = calloc((size_t)cap, sizeof *t);
        if (!t) return NULL;
        for (int i = 0; i < ev->capact; i++) {
            if (!ev->act[i].def) continue;
            size_t k = ((uintptr_t)ev->act[i].def >> 4) & (size_t)(cap - 1);
            while (t[k].def) k = (k + 1) & (size_t)(cap - 1);
            t[k] = ev->act[i];
        }
        free(ev->act);
        ev->act = t;
        ev->capact = cap;
        mask = (size_t)cap - 1;
        h = ((uintptr_t)def >> 4) & mask;
        while (ev->act[h].def) h = (h + 1) & mask;
    }
    ev->act[h] = (struct tsr__act){.def = def};
    ev->nact++;
    return &ev->act[h];
}

/* Check mode: should this call be cut (see tsr__eval.unknown_level)? Else
 * record it as active. */
static int check_enter(tsr__eval *ev, const tsr__node *at, const tsr__func *fn) {
    struct tsr__act *a = act_slot(ev, fn->def, false);
    if (!a) return tsr_error(TSR_ERR_NOMEM, "no memory for the call stack");
    if (a->calls > 0 && a->level < ev->unknown_level) {
        ev->cut_at = at;
        return TSR__CUT;
    }
    if (a->calls++ == 0) a->level = ev->unknown_level;
    return TSR_OK;
}

static void check_leave(tsr__eval *ev, const tsr__func *fn) {
    struct tsr__act *a = act_slot(ev, fn->def, true); /* check_enter made it */
    if (a) a->calls--;
}

static size_t stack_used(const tsr__eval *ev) {
    char here;
    const char *b = ev->stack_base;
    return b > &here ? (size_t)(b - &here) : (size_t)(&here - b);
}

static int err_at(const tsr__node *n, int status, const char *fmt, const char *a,
                  const char *b) {
    return tsr_error(status, "%s:%d:%d: %s%s%s", n->loc.file ? n->loc.file : "?", n->loc.line,
                     n->loc.col, fmt, a ? a : "", b ? b : "");
}

static int eval_symbol(tsr__eval *ev, tsr__frame *env, const tsr__node *n, tsr__val *out) {
    tsr__val *v = tsr__frame_lookup(env, n->text);
    if (!v) {
        if (n->builtin >= 0)
            return tsr_error(TSR_ERR_INVALID,
                             "%s:%d:%d: builtin '%s' used as a value (call it: (%s ...))",
                             n->loc.file, n->loc.line, n->loc.col, n->text, n->text);
        /* The resolver knows every name; a top-level variable read by a
         * function called before the variable's define ran gets here. */
        return tsr_error(TSR_ERR_NOT_FOUND, "%s:%d:%d: '%s' is not defined yet when this runs",
                         n->loc.file, n->loc.line, n->loc.col, n->text);
    }
    if (v->kind == TSR__V_FUNC)
        return tsr_error(TSR_ERR_INVALID, "%s:%d:%d: function '%s' used as a value",
                         n->loc.file, n->loc.line, n->loc.col, n->text);
    TSR_UNUSED(ev);
    *out = tsr__val_ref(*v);
    return TSR_OK;
}

/* Evaluate kids[1..] of a call into argv, left to right. */
static int eval_args(tsr__eval *ev, tsr__frame *env, const tsr__node *n, tsr__val *argv) {
    int argc = n->nkids - 1;
    for (int i = 0; i < argc; i++) argv[i] = tsr__nil();
    for (int i = 0; i < argc; i++) {
        int rc = tsr__eval_node(ev, env, n->kids[i + 1], &argv[i]);
        if (rc != TSR_OK) {
            for (int k = 0; k < i; k++) tsr__val_drop(&argv[k]);
            return rc;
        }
    }
    return TSR_OK;
}

static void drop_args(int argc, tsr__val *argv) {
    for (int i = 0; i < argc; i++) tsr__val_drop(&argv[i]);
}

static int call_builtin(tsr__eval *ev, tsr__frame *env, const tsr__node *n, tsr__val *out) {
    const tsr__builtin *b = tsr__builtin_at(n->kids[0]->builtin);
    int argc = n->nkids - 1, rc;
    tsr__val small[8], *argv = small;
    if (argc > 8 && !(argv = malloc(sizeof *argv * (size_t)argc)))
        return tsr_error(TSR_ERR_NOMEM, "no memory for %d arguments", argc);
    rc = eval_args(ev, env, n, argv);
    if (rc != TSR_OK) goto done;
    ev->cx.loc = n->loc;
    ev->cx.who = b->name;
    /* Tasks spawned by this call carry "prog.tsl:12 dot" in the trace. The
     * interned copy is looked up under a lock: only while tracing. */
    const char *prev_site = NULL;
    bool traced = !ev->cx.check && tsr_trace_on();
    if (traced) {
        char site[256];
        snprintf(site, sizeof site, "%s:%d %s", n->loc.file, n->loc.line, b->name);
        prev_site = tsr_trace_site(tsr_trace_intern(site));
    }
    if (argc < b->min_args || (b->max_args >= 0 && argc > b->max_args)) {
        rc = tsr__err(&ev->cx, TSR_ERR_INVALID, "takes %d%s arguments, got %d: %s",
                      b->min_args, b->max_args < 0 ? " or more" : "", argc,
                      b->usage ? b->usage : b->name);
    } else {
        *out = tsr__nil();
        rc = b->fn(&ev->cx, argc, argv, out);
        /* Check pass: an array of known shape must fit in memory at all. */
        if (rc == TSR_OK && ev->cx.check) rc = tsr__lang_check_fits(&ev->cx, *out);
        if (rc != TSR_OK) {
            tsr__val_drop(out);
        } else if (out->kind == TSR__V_ARRAY && !ev->cx.check) {
            tsr__val_drop(&ev->last_array);
            ev->last_array = tsr__val_ref(*out);
        }
    }
    if (traced) tsr_trace_site(prev_site);
    ev->cx.who = NULL;
    drop_args(argc, argv);
done:
    if (argv != small) free(argv);
    return rc;
}

int tsr__call_user(tsr__eval *ev, const tsr__node *at, tsr__func *fn, int argc, tsr__val *argv,
                   tsr__val *out, tsr__frame **keep) {
    const tsr__node *head = fn->def->kids[1];
    if (!fn->env->live)
        return tsr_error(TSR_ERR_INVALID,
                         "%s:%d:%d: '%s' was defined inside a call of '%s' that has returned; "
                         "a nested function can only be called while that call runs",
                         at->loc.file, at->loc.line, at->loc.col, fn->name,
                         fn->env->owner ? fn->env->owner : "?");
    if (argc != fn->nparams)
        return tsr_error(TSR_ERR_INVALID, "%s:%d:%d: %s takes %d argument%s, got %d",
                         at->loc.file, at->loc.line, at->loc.col, fn->name, fn->nparams,
                         fn->nparams == 1 ? "" : "s", argc);
    if (ev->depth >= TSR__MAX_CALL_DEPTH || stack_used(ev) > ev->stack_budget)
        return tsr_error(TSR_ERR_RUNTIME,
                         "%s:%d:%d: %s: recursion too deep (%d nested calls%s)", at->loc.file,
                         at->loc.line, at->loc.col, fn->name, ev->depth,
                         ev->depth >= TSR__MAX_CALL_DEPTH ? ", the most allowed"
                                                          : " fill the stack");
    int rc = ev->cx.check ? check_enter(ev, at, fn) : TSR_OK;
    if (rc != TSR_OK) return rc;
    tsr__frame *f = tsr__frame_new(fn->env, fn->name);
    if (!f) {
        if (ev->cx.check) check_leave(ev, fn);
        return tsr_error(TSR_ERR_NOMEM, "no memory for a call of %s", fn->name);
    }
    for (int i = 0; i < argc && rc == TSR_OK; i++)
        rc = tsr__frame_define(f, head->kids[i + 1]->text, tsr__val_ref(argv[i]));
    ev->depth++;
    if (rc == TSR_OK) rc = tsr__eval_body(ev, f, fn->def, 2, out);
    ev->depth--;
    if (ev->cx.check) check_leave(ev, fn);
    if (rc == TSR_OK && keep)
        *keep = f;
    else
        tsr__frame_end(f);
    return rc;
}

static int call(tsr__eval *ev, tsr__frame *env, const tsr__node *n, tsr__val *out) {
    const tsr__node *head = n->kids[0];
    if (head->kind == TSR__N_SYM && head->builtin >= 0) return call_builtin(ev, env, n, out);
    if (head->kind != TSR__N_SYM)
        return err_at(n, TSR_ERR_INVALID, "the head of a call must be a name", NULL, NULL);
    tsr__val *fv = tsr__frame_lookup(env, head->text);
    if (!fv)
        return err_at(head, TSR_ERR_NOT_FOUND, "unknown function '", head->text, "'");
    if (fv->kind != TSR__V_FUNC)
        return err_at(head, TSR_ERR_INVALID, "'", head->text,
                      "' is not a function (only builtins and defined functions can be called)");
    /* Hold the function: evaluating the arguments cannot redefine it (no
     * first-class functions), but keep the count honest. */
    tsr__val fval = tsr__val_ref(*fv);
    int argc = n->nkids - 1, rc;
    tsr__val small[8], *argv = small;
    if (argc > 8 && !(argv = malloc(sizeof *argv * (size_t)argc))) {
        tsr__val_drop(&fval);
        return tsr_error(TSR_ERR_NOMEM, "no memory for %d arguments", argc);
    }
    rc = eval_args(ev, env, n, argv);
    if (rc == TSR_OK) {
        rc = tsr__call_user(ev, n, (tsr__func *)fval.obj, argc, argv, out, NULL);
        drop_args(argc, argv);
    }
    if (argv != small) free(argv);
    tsr__val_drop(&fval);
    return rc;
}

int tsr__eval_node(tsr__eval *ev, tsr__frame *env, const tsr__node *n, tsr__val *out) {
    *out = tsr__nil();
    switch (n->kind) {
    case TSR__N_NUM: *out = tsr__number(n->num); return TSR_OK;
    case TSR__N_BOOL: *out = tsr__boolean(n->num != 0); return TSR_OK;
    case TSR__N_STR: return tsr__val_string(n->text, out);
    case TSR__N_SYM: return eval_symbol(ev, env, n, out);
    case TSR__N_LIST:
        if (n->nkids == 0) return err_at(n, TSR_ERR_INVALID, "empty call ()", NULL, NULL);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
        /* -Dfuzz=true only: a check that computes for long (fib 30 on known
         * numbers takes as long to check as to run) is the program's doing,
         * not a bug; stop it so the fuzzer's 10 s per input means a hang. */
        if (ev->cx.check && ++ev->fuzz_steps > TSR__FUZZ_MAX_STEPS)
            return err_at(n, TSR_ERR_RUNTIME, "fuzzing build: the check took too many steps",
                          NULL, NULL);
#endif
        if (n->special) return tsr__eval_special(ev, env, n, out);
        return call(ev, env, n, out);
    default: return err_at(n, TSR_ERR_INVALID, "unknown syntax node", NULL, NULL);
    }
}

static bool is_function_define(const tsr__node *n) {
    return n->kind == TSR__N_LIST && n->special == TSR__SF_DEFINE && n->nkids >= 3 &&
           n->kids[1]->kind == TSR__N_LIST && n->kids[1]->nkids >= 1;
}

/* A function value for (define (name params...) body...), defined in env. */
static int make_function(tsr__frame *env, const tsr__node *def, tsr__val *out) {
    tsr__func *f = malloc(sizeof *f);
    if (!f) return tsr_error(TSR_ERR_NOMEM, "no memory for a function");
    f->hdr = (tsr__obj){.refs = 1, .kind = TSR__V_FUNC};
    f->def = def;
    f->name = def->kids[1]->kids[0]->text;
    f->nparams = def->kids[1]->nkids - 1;
    f->env = env;
    tsr__frame_retain(env);
    *out = (tsr__val){.kind = TSR__V_FUNC, .obj = &f->hdr};
    return TSR_OK;
}

/* (define (f ...) ...) as a statement: a function hoisted at the start of
 * its body is already there. */
int tsr__define_function(tsr__eval *ev, tsr__frame *env, const tsr__node *n) {
    TSR_UNUSED(ev);
    const char *name = n->kids[1]->kids[0]->text;
    tsr__val *have = tsr__frame_lookup_here(env, name);
    if (have && have->kind == TSR__V_FUNC && ((tsr__func *)have->obj)->def == n) return TSR_OK;
    if (have) return err_at(n->kids[1]->kids[0], TSR_ERR_INVALID, "'", name,
                            "' is already defined in this scope");
    tsr__val f;
    int rc = make_function(env, n, &f);
    return rc == TSR_OK ? tsr__frame_define(env, name, f) : rc;
}

int tsr__eval_body(tsr__eval *ev, tsr__frame *env, const tsr__node *list, int from,
                   tsr__val *out) {
    *out = tsr__nil();
    /* Functions of this body exist from its start, so that they may call
     * each other whatever the order of their definitions. */
    for (int i = from; i < list->nkids; i++) {
        const tsr__node *k = list->kids[i];
        if (!is_function_define(k)) continue;
        const char *name = k->kids[1]->kids[0]->text;
        if (tsr__frame_lookup_here(env, name)) continue; /* reported when reached */
        tsr__val f;
        int rc = make_function(env, k, &f);
        if (rc == TSR_OK) rc = tsr__frame_define(env, name, f);
        if (rc != TSR_OK) return rc;
    }
    for (int i = from; i < list->nkids; i++) {
        tsr__val_drop(out);
        int rc = tsr__eval_node(ev, env, list->kids[i], out);
        if (rc != TSR_OK) return rc;
    }
    return TSR_OK;
}
