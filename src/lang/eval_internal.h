/* The evaluator's own structures, private to value.c, eval.c, control.c,
 * frames.c and program.c: scopes (frames), the evaluator state around the
 * builtins' context, and check mode's snapshots of variables. */
#ifndef TSR_LANG_EVAL_INTERNAL_H
#define TSR_LANG_EVAL_INTERNAL_H

#include "lang/lang_internal.h"

/* A scope: the variables of one function call, let, loop iteration or the
 * program (global). Reference counted: the scope itself holds one reference
 * while it runs, each function defined in it holds one (tsr__func.env), and
 * a child scope holds its parent. When the scope ends (tsr__frame_end) its
 * variables are released at once, whatever references remain: that breaks
 * the frame -> function -> frame cycle, frees arrays as soon as their scope
 * is gone, and marks the frame dead so that a nested function called after
 * its defining call returned is a clear error instead of a dangling read. */
struct tsr__frame {
    int refs;
    bool live;           /* false once the scope has ended */
    tsr__frame *parent;  /* holds a reference; NULL for the global scope */
    const char *owner;   /* the function whose call made this scope, or NULL */
    int n, cap;
    const char **names;  /* point into the syntax tree */
    tsr__val *vals;
};

tsr__frame *tsr__frame_new(tsr__frame *parent, const char *owner);
void tsr__frame_retain(tsr__frame *f);
/* Drop one reference (NULL-safe); the last one frees the frame. */
void tsr__frame_release(tsr__frame *f);
/* The scope is over: release its variables and drop the scope's own
 * reference. */
void tsr__frame_end(tsr__frame *f);
/* The variable `name` in f or an enclosing scope, or NULL. */
tsr__val *tsr__frame_lookup(tsr__frame *f, const char *name);
/* In f itself only. */
tsr__val *tsr__frame_lookup_here(tsr__frame *f, const char *name);
/* A new variable in f, taking v's reference (dropped on failure). */
int tsr__frame_define(tsr__frame *f, const char *name, tsr__val v);

/* Snapshots of every variable visible from a scope (its chain up to the
 * global scope), for check mode: an `if` whose condition is unknown runs
 * both branches from the same state and merges what they leave; loops run
 * at most twice and merge. */
typedef struct tsr__snap {
    int nframes;
    tsr__frame **frames;  /* each with a reference */
    int *counts;
    tsr__val **vals;      /* per frame: counts[i] values, each with a reference */
} tsr__snap;

int tsr__snap_take(tsr__frame *f, tsr__snap *s);
/* Put the variables back as they were (variables defined since are
 * dropped). */
void tsr__snap_restore(tsr__snap *s);
/* Each variable that exists in s and now becomes the merge of both: equal
 * values stay, numbers that differ become unknown, arrays whose dimensions
 * differ get unknown (-1) dimensions. */
int tsr__snap_merge(tsr__snap *s);
void tsr__snap_free(tsr__snap *s);
/* The merge of two values (a new reference). */
tsr__val tsr__val_merge(tsr__val a, tsr__val b);

/* The evaluator: the builtins' context first (builtins get &ev->cx), then
 * what only the evaluator needs. */
typedef struct tsr__eval {
    tsr__ctx cx;
    tsr__frame *global;
    int depth;            /* nested user-function calls */
    char *stack_base;     /* address of a local at the start, for the stack guard */
    size_t stack_budget;  /* bytes of stack recursion may use */
    /* Check mode: how many unknown conditions (an if, while or for range
     * not known before running) enclose the current point, and the user
     * functions being called, each with that count when its call began. A
     * function that calls itself again below an unknown condition entered
     * since its earlier call would recurse forever on shapes: that call is
     * cut (TSR__CUT), and the enclosing unknown if keeps its other branch.
     * Levels only grow down the call stack, so only a function's outermost
     * active call matters: `act` maps each function (its define form) to
     * its active calls and the level of the outermost one (eval.c), so a
     * call costs O(1), not a scan of the stack (10000 nested calls took
     * seconds to check). */
    int unknown_level;
    int nact, capact; /* entries used, slots (a power of two, or 0) */
    struct tsr__act {
        const tsr__node *def; /* NULL: free slot */
        int calls;            /* active calls of def */
        int level;            /* unknown_level of the outermost one */
    } *act;
    const tsr__node *cut_at; /* where the last cut happened */
    tsr__val last_array;  /* run mode: the newest array a builtin returned */
    double progress_next; /* tsr_time() of the next progress line */
    bool progress_shown;  /* a progress line is on the terminal */
    /* --timing: outermost loops, as they finish (run mode). */
    bool timing;
    int loop_depth;
    int nloops;
    struct tsr__loop_time {
        const tsr__node *form;
        int64_t iterations;
        double seconds;
    } loops[16];
    double phase[4];      /* seconds: top-level forms, --arg loads, main, --out saves */
    int64_t fuzz_steps;   /* -Dfuzz=true builds: calls and forms evaluated by a check */
} tsr__eval;

/* -Dfuzz=true builds (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) stop a check
 * after this many calls and forms: about 1 s under ASan and coverage (a
 * loaded 2-core machine stretches that several times; the limit is 10 s). */
#define TSR__FUZZ_MAX_STEPS 200000

/* Not an error: a check-mode call cut off (see unknown_level). Positive, so
 * that every `rc != TSR_OK` passes it up to the unknown if that takes it. */
#define TSR__CUT 1

/* Deepest user-function recursion. Each level takes about 1 KiB of C
 * stack (a few eval frames); the stack guard stops earlier on a small
 * stack. */
#define TSR__MAX_CALL_DEPTH 10000

void tsr__eval_init(tsr__eval *ev, bool check);
void tsr__eval_fini(tsr__eval *ev);
/* Check pass: an array value of known shape that cannot fit this node's
 * memory at all is TSR_ERR_NOMEM at the call (program.c). */
int tsr__lang_check_fits(tsr__ctx *cx, tsr__val v);
/* Evaluate one expression in scope env. */
int tsr__eval_node(tsr__eval *ev, tsr__frame *env, const tsr__node *n, tsr__val *out);
/* Evaluate forms kids[from..nkids) of a body in env, with the functions
 * they define hoisted first; *out gets the last one's value (NIL if none). */
int tsr__eval_body(tsr__eval *ev, tsr__frame *env, const tsr__node *list, int from,
                   tsr__val *out);
/* Call a user function with evaluated arguments (borrowed). When keep is
 * non-NULL, the call's scope is handed back (not ended) so that the caller
 * can read its locals; the caller ends it with tsr__frame_end. */
int tsr__call_user(tsr__eval *ev, const tsr__node *at, tsr__func *fn, int argc, tsr__val *argv,
                   tsr__val *out, tsr__frame **keep);

/* (define (f ...) ...) reached as a statement (it was hoisted already, or
 * is defined now). */
int tsr__define_function(tsr__eval *ev, tsr__frame *env, const tsr__node *n);

/* Special forms (control.c). */
int tsr__eval_special(tsr__eval *ev, tsr__frame *env, const tsr__node *n, tsr__val *out);

/* Live array values (a debug counter: TSR_LANG_STATS=1 prints it). */
int64_t tsr__arr_live(void);
int64_t tsr__arr_peak(void);

/* Where the next pending number is being made (its failure is reported
 * there). Set by the evaluator around builtin calls. */
void tsr__val_set_ctx(tsr__ctx *cx);

#endif
