/* The static pass between parsing and evaluation: special-form structure,
 * scopes, names defined before use, argument counts. It reports the first
 * error in program order, at the offending token (or at the call's '(' for
 * an argument count).
 *
 * Scopes: the global scope (top-level forms), a function body (parameters
 * and its defines), a let (its bindings and body defines), a for or while
 * body (the loop variable and the body's defines; the evaluator makes a fresh
 * one per iteration). `block` makes no scope. `define` is a statement: it may
 * appear at the top level, directly in a function, let, for or while body,
 * or in a block that itself stands in such a place; anywhere else (an
 * argument, an if branch) it is an error, so that whether a name exists
 * never depends on a branch taken.
 *
 * Visibility: a name is visible from its define on, in its scope and the
 * scopes inside. Top-level functions are visible everywhere (mutual
 * recursion). Inside any function body, every top-level variable is visible
 * wherever it is defined, since the body runs later (the evaluator reports
 * one still undefined when it runs). Names of builtins and special forms
 * cannot be defined, so a call's head means one thing everywhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/front.h"

enum { E_VAR, E_FUNC };

typedef struct entry {
    const char *name;
    int kind;    /* E_VAR, E_FUNC */
    int nparams; /* E_FUNC */
    tsr__loc loc;
} entry;

typedef struct scope {
    struct scope *up;
    entry *v;
    int n, cap;
} scope;

typedef struct rs {
    scope global; /* names defined so far by the top-level walk */
    scope tops;   /* every top-level define, the first of each name */
} rs;

/* What a name lookup found. */
enum { L_NONE, L_FOUND, L_EARLY /* a top-level variable defined further down */ };

/* ---------------- messages ---------------- */

/* A name as shown in messages: long ones are cut. */
#define SHOW(s) (int)(strlen(s) > 60 ? 60 : strlen(s)), (s), (strlen(s) > 60 ? "..." : "")
#define NAMEFMT "'%.*s%s'"

static const char *kind_noun(const tsr__node *n) {
    switch (n->kind) {
    case TSR__N_NUM: return "a number";
    case TSR__N_STR: return "a string";
    case TSR__N_BOOL: return "a boolean";
    case TSR__N_SYM: return "a name";
    default: return "a list";
    }
}

/* "1 argument", "1 or 2 arguments", "2 to 4 arguments", "at least 1 argument". */
static void arity_text(int min, int max, char *buf, size_t size) {
    if (max < 0)
        snprintf(buf, size, "at least %d argument%s", min, min == 1 ? "" : "s");
    else if (min == max)
        snprintf(buf, size, "%d argument%s", min, min == 1 ? "" : "s");
    else if (max == min + 1)
        snprintf(buf, size, "%d or %d arguments", min, max);
    else
        snprintf(buf, size, "%d to %d arguments", min, max);
}

/* "NAME takes K arguments, got G[: USAGE]" at the call's '(' when argc is
 * outside [min, max]. */
static int check_arity(const tsr__node *call, const char *name, int min, int max,
                       const char *usage) {
    int argc = call->nkids - 1;
    if (argc >= min && (max < 0 || argc <= max)) return TSR_OK;
    char want[64];
    arity_text(min, max, want, sizeof want);
    return tsr__lang_error_at(call->loc, TSR_ERR_INVALID, "%.*s%s takes %s, got %d%s%s",
                              SHOW(name), want, argc, usage ? ": " : "", usage ? usage : "");
}

/* ---------------- scopes ---------------- */

static int scope_add(scope *s, const char *name, int kind, int nparams, tsr__loc loc) {
    if (s->n == s->cap) {
        int ncap = s->cap ? 2 * s->cap : 8;
        entry *v = realloc(s->v, (size_t)ncap * sizeof *v);
        if (!v) return tsr_error(TSR_ERR_NOMEM, "out of memory resolving names");
        s->v = v;
        s->cap = ncap;
    }
    s->v[s->n++] = (entry){.name = name, .kind = kind, .nparams = nparams, .loc = loc};
    return TSR_OK;
}

static const entry *scope_find(const scope *s, const char *name) {
    for (int i = s->n - 1; i >= 0; i--)
        if (!strcmp(s->v[i].name, name)) return &s->v[i];
    return NULL;
}

static int lookup(const rs *r, const scope *sc, bool in_func, const char *name,
                  const entry **out) {
    for (const scope *s = sc; s; s = s->up) {
        const entry *e = scope_find(s, name);
        if (e) {
            *out = e;
            return L_FOUND;
        }
        if (s == &r->global) {
            e = scope_find(&r->tops, name);
            if (!e) break;
            *out = e;
            return e->kind == E_FUNC || in_func ? L_FOUND : L_EARLY;
        }
    }
    *out = NULL;
    return L_NONE;
}

static int unknown_name(const rs *r, const scope *sc, bool in_func, const tsr__node *sym) {
    tsr__suggest sg;
    tsr__suggest_init(&sg, sym->text);
    for (const scope *s = sc; s; s = s->up) {
        for (int i = s->n - 1; i >= 0; i--) tsr__suggest_add(&sg, s->v[i].name);
        if (s == &r->global)
            for (int i = 0; i < r->tops.n; i++)
                if (in_func || r->tops.v[i].kind == E_FUNC) tsr__suggest_add(&sg, r->tops.v[i].name);
    }
    tsr__suggest_add_builtins(&sg);
    if (sg.best)
        return tsr__lang_error_at(sym->loc, TSR_ERR_NOT_FOUND,
                                  "unknown name " NAMEFMT " (did you mean '%s'?)", SHOW(sym->text),
                                  sg.best);
    return tsr__lang_error_at(sym->loc, TSR_ERR_NOT_FOUND, "unknown name " NAMEFMT,
                              SHOW(sym->text));
}

static int used_early(const tsr__node *sym, const entry *e) {
    return tsr__lang_error_at(sym->loc, TSR_ERR_NOT_FOUND,
                              NAMEFMT " is used before its definition (at %d:%d)", SHOW(sym->text),
                              e->loc.line, e->loc.col);
}

/* A name about to be defined in scope s: not a builtin or special form, not
 * already defined in s. */
static int check_new_name(const tsr__node *sym, const scope *s, bool is_var) {
    const char *name = sym->text;
    if (tsr__special_find(name))
        return tsr__lang_error_at(sym->loc, TSR_ERR_INVALID,
                                  "'%s' is a special form and cannot be redefined", name);
    if (tsr__builtin_find(name) >= 0)
        return tsr__lang_error_at(sym->loc, TSR_ERR_INVALID,
                                  "'%s' is a builtin and cannot be redefined; choose another name",
                                  name);
    const entry *e = scope_find(s, name);
    if (e)
        return tsr__lang_error_at(sym->loc, TSR_ERR_INVALID,
                                  NAMEFMT " is already defined in this scope (at %d:%d)%s",
                                  SHOW(name), e->loc.line, e->loc.col,
                                  is_var && e->kind == E_VAR ? "; use set! to change it" : "");
    return TSR_OK;
}

/* ---------------- the walk ---------------- */

static int res_expr(rs *r, tsr__node *n, scope *sc, bool in_func);
static int res_stmt(rs *r, tsr__node *n, scope *sc, bool in_func);

/* Forms list->kids[from..] as statements of scope sc. */
static int res_body(rs *r, tsr__node *list, int from, scope *sc, bool in_func) {
    for (int i = from; i < list->nkids; i++) {
        int rc = res_stmt(r, list->kids[i], sc, in_func);
        if (rc != TSR_OK) return rc;
    }
    return TSR_OK;
}

/* A body in a new scope below sc (loops, let without bindings). */
static int res_scoped_body(rs *r, tsr__node *list, int from, scope *sc, bool in_func) {
    scope inner = {.up = sc};
    int rc = res_body(r, list, from, &inner, in_func);
    free(inner.v);
    return rc;
}

static int res_ref(rs *r, tsr__node *sym, scope *sc, bool in_func) {
    const char *name = sym->text;
    if (tsr__special_find(name))
        return tsr__lang_error_at(sym->loc, TSR_ERR_INVALID,
                                  "'%s' is a special form, not a value", name);
    int b = tsr__builtin_find(name);
    if (b >= 0) {
        const char *usage = tsr__builtin_at(b)->usage;
        return tsr__lang_error_at(sym->loc, TSR_ERR_INVALID,
                                  "builtin '%s' used as a value (builtins can only be called%s%s)",
                                  name, usage ? ": " : "", usage ? usage : "");
    }
    const entry *e;
    switch (lookup(r, sc, in_func, name, &e)) {
    case L_FOUND:
        if (e->kind == E_FUNC)
            return tsr__lang_error_at(sym->loc, TSR_ERR_INVALID,
                                      "function " NAMEFMT " used as a value", SHOW(name));
        return TSR_OK;
    case L_EARLY: return used_early(sym, e);
    default: return unknown_name(r, sc, in_func, sym);
    }
}

static int res_call(rs *r, tsr__node *n, scope *sc, bool in_func) {
    tsr__node *head = n->kids[0];
    int rc;
    if (head->kind != TSR__N_SYM)
        return tsr__lang_error_at(head->loc, TSR_ERR_INVALID,
                                  "cannot call %s: a call starts with the name of a builtin or "
                                  "function",
                                  head->kind == TSR__N_LIST ? "the value of a list" : kind_noun(head));
    const char *name = head->text;
    int b = tsr__builtin_find(name);
    if (b >= 0) {
        const tsr__builtin *bi = tsr__builtin_at(b);
        head->builtin = b;
        rc = check_arity(n, name, bi->min_args, bi->max_args, bi->usage);
        if (rc != TSR_OK) return rc;
    } else {
        const entry *e;
        switch (lookup(r, sc, in_func, name, &e)) {
        case L_FOUND:
            if (e->kind != E_FUNC)
                return tsr__lang_error_at(head->loc, TSR_ERR_INVALID,
                                          NAMEFMT " is not a function (it is a variable)",
                                          SHOW(name));
            rc = check_arity(n, name, e->nparams, e->nparams, NULL);
            if (rc != TSR_OK) return rc;
            break;
        case L_EARLY:
            return tsr__lang_error_at(head->loc, TSR_ERR_INVALID,
                                      NAMEFMT " is not a function (it is a variable)",
                                      SHOW(name));
        default: return unknown_name(r, sc, in_func, head);
        }
    }
    for (int i = 1; i < n->nkids; i++) {
        rc = res_expr(r, n->kids[i], sc, in_func);
        if (rc != TSR_OK) return rc;
    }
    return TSR_OK;
}

static const char *const define_usage = "(define name expr) or (define (f params ...) body ...)";

static int res_define(rs *r, tsr__node *n, scope *sc, bool in_func) {
    int rc;
    if (n->nkids < 3)
        return tsr__lang_error_at(n->loc, TSR_ERR_INVALID, "define needs a name and a value: %s",
                                  define_usage);
    tsr__node *target = n->kids[1];
    if (target->kind == TSR__N_SYM) {
        if (n->nkids != 3)
            return tsr__lang_error_at(n->loc, TSR_ERR_INVALID,
                                      "define of a variable takes one value, got %d: "
                                      "(define name expr)",
                                      n->nkids - 2);
        if ((rc = check_new_name(target, sc, true)) != TSR_OK) return rc;
        if (sc == &r->global && !strcmp(target->text, "main"))
            return tsr__lang_error_at(target->loc, TSR_ERR_INVALID,
                                      "'main' must be a function: (define (main params ...) "
                                      "body ...)");
        if ((rc = res_expr(r, n->kids[2], sc, in_func)) != TSR_OK) return rc;
        return scope_add(sc, target->text, E_VAR, 0, target->loc);
    }
    if (target->kind != TSR__N_LIST)
        return tsr__lang_error_at(target->loc, TSR_ERR_INVALID,
                                  "define: expected a name or (f params ...), got %s: %s",
                                  kind_noun(target), define_usage);
    if (target->nkids == 0)
        return tsr__lang_error_at(target->loc, TSR_ERR_INVALID,
                                  "define: missing function name: (define (f params ...) body "
                                  "...)");
    tsr__node *fname = target->kids[0];
    if (fname->kind != TSR__N_SYM)
        return tsr__lang_error_at(fname->loc, TSR_ERR_INVALID,
                                  "define: a function name must be a name, got %s",
                                  kind_noun(fname));
    if ((rc = check_new_name(fname, sc, false)) != TSR_OK) return rc;
    scope fs = {.up = sc};
    for (int i = 1; i < target->nkids; i++) {
        tsr__node *p = target->kids[i];
        if (p->kind != TSR__N_SYM) {
            rc = tsr__lang_error_at(p->loc, TSR_ERR_INVALID,
                                    "define: parameter %d of " NAMEFMT " must be a name, got %s", i,
                                    SHOW(fname->text), kind_noun(p));
            goto out;
        }
        if (scope_find(&fs, p->text)) {
            rc = tsr__lang_error_at(p->loc, TSR_ERR_INVALID,
                                    "duplicate parameter " NAMEFMT " in the definition of " NAMEFMT,
                                    SHOW(p->text), SHOW(fname->text));
            goto out;
        }
        if ((rc = check_new_name(p, &fs, true)) != TSR_OK) goto out;
        if ((rc = scope_add(&fs, p->text, E_VAR, 0, p->loc)) != TSR_OK) goto out;
    }
    /* Added before the body so that the body may call it (recursion). */
    rc = scope_add(sc, fname->text, E_FUNC, target->nkids - 1, fname->loc);
    if (rc == TSR_OK) rc = res_body(r, n, 2, &fs, true);
out:
    free(fs.v);
    return rc;
}

static int res_set(rs *r, tsr__node *n, scope *sc, bool in_func) {
    int rc = check_arity(n, "set!", 2, 2, "(set! name expr)");
    if (rc != TSR_OK) return rc;
    tsr__node *target = n->kids[1];
    if (target->kind != TSR__N_SYM)
        return tsr__lang_error_at(target->loc, TSR_ERR_INVALID,
                                  "set!: expected a variable name, got %s", kind_noun(target));
    const char *name = target->text;
    if (tsr__special_find(name))
        return tsr__lang_error_at(target->loc, TSR_ERR_INVALID,
                                  "set!: '%s' is a special form, not a variable", name);
    if (tsr__builtin_find(name) >= 0)
        return tsr__lang_error_at(target->loc, TSR_ERR_INVALID,
                                  "set!: '%s' is a builtin, not a variable", name);
    const entry *e;
    switch (lookup(r, sc, in_func, name, &e)) {
    case L_FOUND:
        if (e->kind == E_FUNC)
            return tsr__lang_error_at(target->loc, TSR_ERR_INVALID,
                                      "set!: " NAMEFMT " is a function, not a variable",
                                      SHOW(name));
        break;
    case L_EARLY: return used_early(target, e);
    default: return unknown_name(r, sc, in_func, target);
    }
    return res_expr(r, n->kids[2], sc, in_func);
}

static const char *const let_usage = "(let ((name expr) ...) body ...)";

static int res_let(rs *r, tsr__node *n, scope *sc, bool in_func) {
    int rc = check_arity(n, "let", 2, -1, let_usage);
    if (rc != TSR_OK) return rc;
    tsr__node *binds = n->kids[1];
    if (binds->kind != TSR__N_LIST)
        return tsr__lang_error_at(binds->loc, TSR_ERR_INVALID,
                                  "let: expected a list of bindings, got %s: %s", kind_noun(binds),
                                  let_usage);
    scope ls = {.up = sc};
    for (int i = 0; i < binds->nkids; i++) {
        tsr__node *b = binds->kids[i];
        if (b->kind != TSR__N_LIST || b->nkids != 2 || b->kids[0]->kind != TSR__N_SYM) {
            rc = tsr__lang_error_at(b->loc, TSR_ERR_INVALID,
                                    "let: a binding must be (name expr): %s", let_usage);
            goto out;
        }
        if ((rc = check_new_name(b->kids[0], &ls, true)) != TSR_OK) goto out;
        /* Sequential (let*): each binding sees the ones before it. */
        if ((rc = res_expr(r, b->kids[1], &ls, in_func)) != TSR_OK) goto out;
        if ((rc = scope_add(&ls, b->kids[0]->text, E_VAR, 0, b->kids[0]->loc)) != TSR_OK)
            goto out;
    }
    rc = res_body(r, n, 2, &ls, in_func);
out:
    free(ls.v);
    return rc;
}

static const char *const for_usage =
    "(for (i n) body ...), (for (i start stop) body ...) or (for (i start stop step) body ...)";

static int res_for(rs *r, tsr__node *n, scope *sc, bool in_func) {
    int rc = check_arity(n, "for", 1, -1, for_usage);
    if (rc != TSR_OK) return rc;
    tsr__node *spec = n->kids[1];
    if (spec->kind != TSR__N_LIST || spec->nkids < 2 || spec->nkids > 4 ||
        spec->kids[0]->kind != TSR__N_SYM)
        return tsr__lang_error_at(spec->loc, TSR_ERR_INVALID,
                                  "for: expected (i n), (i start stop) or (i start stop step): %s",
                                  for_usage);
    /* The range is evaluated outside the loop's scope. */
    for (int i = 1; i < spec->nkids; i++)
        if ((rc = res_expr(r, spec->kids[i], sc, in_func)) != TSR_OK) return rc;
    scope fs = {.up = sc};
    rc = check_new_name(spec->kids[0], &fs, true);
    if (rc == TSR_OK) rc = scope_add(&fs, spec->kids[0]->text, E_VAR, 0, spec->kids[0]->loc);
    if (rc == TSR_OK) rc = res_body(r, n, 2, &fs, in_func);
    free(fs.v);
    return rc;
}

static int res_args(rs *r, tsr__node *n, scope *sc, bool in_func) {
    for (int i = 1; i < n->nkids; i++) {
        int rc = res_expr(r, n->kids[i], sc, in_func);
        if (rc != TSR_OK) return rc;
    }
    return TSR_OK;
}

/* A list whose head names a special form, in expression position. */
static int res_special(rs *r, tsr__node *n, scope *sc, bool in_func) {
    int rc;
    switch (n->special) {
    case TSR__SF_DEFINE:
        return tsr__lang_error_at(n->loc, TSR_ERR_INVALID,
                                  "define is not allowed here: only at the top level or directly "
                                  "in a function, let, for, while or block body (use let for a "
                                  "local value)");
    case TSR__SF_SET: return res_set(r, n, sc, in_func);
    case TSR__SF_LET: return res_let(r, n, sc, in_func);
    case TSR__SF_BLOCK: return res_args(r, n, sc, in_func);
    case TSR__SF_IF:
        if ((rc = check_arity(n, "if", 2, 3, "(if c then [else])")) != TSR_OK) return rc;
        return res_args(r, n, sc, in_func);
    case TSR__SF_WHILE:
        if ((rc = check_arity(n, "while", 1, -1, "(while c body ...)")) != TSR_OK) return rc;
        if ((rc = res_expr(r, n->kids[1], sc, in_func)) != TSR_OK) return rc;
        return res_scoped_body(r, n, 2, sc, in_func);
    case TSR__SF_FOR: return res_for(r, n, sc, in_func);
    case TSR__SF_AND:
        if ((rc = check_arity(n, "and", 1, -1, "(and a b ...)")) != TSR_OK) return rc;
        return res_args(r, n, sc, in_func);
    case TSR__SF_OR:
        if ((rc = check_arity(n, "or", 1, -1, "(or a b ...)")) != TSR_OK) return rc;
        return res_args(r, n, sc, in_func);
    default: return tsr_error(TSR_ERR_STATE, "resolver: unknown special form %d", n->special);
    }
}

/* Marks a list whose head is a special form's name. */
static void mark_special(tsr__node *n) {
    if (n->kind == TSR__N_LIST && n->nkids > 0 && n->kids[0]->kind == TSR__N_SYM)
        n->special = tsr__special_find(n->kids[0]->text);
}

static int res_expr(rs *r, tsr__node *n, scope *sc, bool in_func) {
    switch (n->kind) {
    case TSR__N_SYM: return res_ref(r, n, sc, in_func);
    case TSR__N_LIST:
        if (n->nkids == 0)
            return tsr__lang_error_at(n->loc, TSR_ERR_INVALID,
                                      "empty call '()': a call starts with the name of a builtin "
                                      "or function");
        mark_special(n);
        if (n->special) return res_special(r, n, sc, in_func);
        return res_call(r, n, sc, in_func);
    default: return TSR_OK;
    }
}

static int res_stmt(rs *r, tsr__node *n, scope *sc, bool in_func) {
    mark_special(n);
    if (n->special == TSR__SF_DEFINE) return res_define(r, n, sc, in_func);
    if (n->special == TSR__SF_BLOCK) return res_body(r, n, 1, sc, in_func);
    return res_expr(r, n, sc, in_func);
}

/* Every top-level (define ...) of a plausible shape, first of each name:
 * functions are visible everywhere, variables inside function bodies.
 * Malformed ones are left to the walk, which reports them in order. */
static int collect_tops(rs *r, const tsr__node *top) {
    for (int i = 0; i < top->nkids; i++) {
        const tsr__node *f = top->kids[i];
        if (f->kind != TSR__N_LIST || f->nkids < 3 || f->kids[0]->kind != TSR__N_SYM ||
            strcmp(f->kids[0]->text, "define"))
            continue;
        const tsr__node *t = f->kids[1];
        int rc = TSR_OK;
        if (t->kind == TSR__N_SYM && !scope_find(&r->tops, t->text))
            rc = scope_add(&r->tops, t->text, E_VAR, 0, t->loc);
        else if (t->kind == TSR__N_LIST && t->nkids > 0 && t->kids[0]->kind == TSR__N_SYM &&
                 !scope_find(&r->tops, t->kids[0]->text))
            rc = scope_add(&r->tops, t->kids[0]->text, E_FUNC, t->nkids - 1, t->kids[0]->loc);
        if (rc != TSR_OK) return rc;
    }
    return TSR_OK;
}

int tsr__resolve(tsr__node *top) {
    rs r = {0};
    int rc = collect_tops(&r, top);
    if (rc == TSR_OK) rc = res_body(&r, top, 0, &r.global, false);
    free(r.global.v);
    free(r.tops.v);
    return rc;
}
