/* Inside the array language: the syntax tree (parser.c), values and their
 * reference counts (value.c), the evaluator's context (eval.c) and the
 * interface every builtin implements (builtins_*.c).
 *
 * One evaluator, two modes. In CHECK mode (cx->check) arrays are shapes
 * only and numbers may be unknown: the same walk over the program runs every
 * builtin's shape rules before any array work starts (tsr_program_check, and
 * the first step of tsr_program_run). In RUN mode the same rules run again
 * (a shape known only now is still checked) and then the array operations
 * are issued. Everything runs on the main thread; array values are the
 * array layer's asynchronous arrays, and numbers from reductions are futures
 * (TSR__NUM_PENDING) until something needs them. */
#ifndef TSR_LANG_INTERNAL_H
#define TSR_LANG_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/internal.h"
#include "tessera/array.h"
#include "tessera/future.h"
#include "tessera/lang.h"

/* ---------------- syntax (parser.c) ---------------- */

typedef struct tsr__loc {
    const char *file; /* owned by the program; lives as long as the tree */
    int line, col;    /* from 1 */
} tsr__loc;

enum tsr__node_kind { TSR__N_NUM, TSR__N_STR, TSR__N_BOOL, TSR__N_SYM, TSR__N_LIST };

typedef struct tsr__node tsr__node;
struct tsr__node {
    int kind;
    tsr__loc loc;     /* of the token, or of the '(' for a list */
    double num;       /* N_NUM; N_BOOL: 0 or 1 */
    char *text;       /* N_STR (unescaped) and N_SYM */
    int nkids;        /* N_LIST */
    tsr__node **kids;
    /* Filled by the resolver (resolve.c), read by the evaluator: */
    int builtin;      /* N_SYM naming a builtin: tsr__builtin_find's index, else -1 */
    int special;      /* N_LIST whose head is a special form: enum tsr__special, else 0 */
};

enum tsr__special {
    TSR__SF_NONE = 0, TSR__SF_DEFINE, TSR__SF_SET, TSR__SF_LET, TSR__SF_BLOCK, TSR__SF_IF,
    TSR__SF_WHILE, TSR__SF_FOR, TSR__SF_AND, TSR__SF_OR
};

/* Parse a whole file into top-level forms (a N_LIST node with kids, whose
 * own loc is 1:1). Errors: TSR_ERR_INVALID "FILE:L:C: ..." (unbalanced
 * parentheses, bad number or string, stray ')'). */
int tsr__parse(const char *file, const char *text, tsr__node **out);
void tsr__node_free(tsr__node *n);

/* The static pass after parsing (resolve.c): special-form structure
 * (define/set!/let/for shapes), every name defined before use in its scope
 * (a global function may be called before its definition, as in Scheme),
 * builtin and user-function argument counts; fills node->builtin and
 * node->special. Errors name FILE:L:C; an unknown name suggests the nearest
 * builtin or variable: "unknown name 'tranpose' (did you mean
 * 'transpose'?)". */
int tsr__resolve(tsr__node *top);

/* "FILE:L:C: " + fmt, as tsr_error(status, ...). */
int tsr__lang_error_at(tsr__loc loc, int status, const char *fmt, ...) TSR_PRINTF(3, 4);

/* ---------------- values (value.c) ---------------- */

enum tsr__vkind {
    TSR__V_NIL,     /* the value of an empty block, a while loop, print, save */
    TSR__V_NUM,     /* a double; see tsr__num_state */
    TSR__V_BOOL,    /* like NUM, value 0 or 1 */
    TSR__V_STR,
    TSR__V_ARRAY,
    TSR__V_LIST,    /* immutable tuple, e.g. (shape x) */
    TSR__V_FUNC     /* a user function (builtins are not values) */
};

enum tsr__num_state {
    TSR__NUM_KNOWN,   /* num holds it */
    TSR__NUM_PENDING, /* run mode: obj is a tsr__pending whose future gives it */
    TSR__NUM_UNKNOWN  /* check mode: not known before running */
};

typedef struct tsr__obj tsr__obj; /* ref-counted heap part of a value */

typedef struct tsr__val {
    uint8_t kind;   /* enum tsr__vkind */
    uint8_t state;  /* NUM/BOOL: enum tsr__num_state */
    double num;     /* NUM/BOOL when KNOWN */
    tsr__obj *obj;  /* STR, ARRAY, LIST, FUNC, pending NUM/BOOL; NULL otherwise */
} tsr__val;

struct tsr__obj {
    int refs;
    int kind; /* the tsr__vkind it belongs to (NUM/BOOL: a pending number) */
};

typedef struct tsr__str {
    tsr__obj hdr;
    char text[]; /* NUL-terminated */
} tsr__str;

typedef struct tsr__list {
    tsr__obj hdr;
    int n;
    tsr__val items[]; /* each holds a reference */
} tsr__list;

typedef struct tsr__pending {
    tsr__obj hdr;
    tsr_future_t *f; /* value: const double * owned by the future */
} tsr__pending;

/* An array value. 1-D arrays (ndim 1, length m, n == 1) are stored as an
 * m x 1 array (`col`) and/or as its 1 x m transpose (`row`), whichever an
 * operation produced; the other form is made on demand by tsr__arr_col /
 * tsr__arr_row and kept. A 2-D value is `col` (its only form), unless it
 * is a lazy transpose: `tof` set, `col` NULL until tsr__arr_get makes it, so
 * that (dot (transpose a) b) never moves a's tiles. In check mode all
 * handles are NULL and a dimension may be -1 (unknown). */
typedef struct tsr__arr {
    tsr__obj hdr;
    int ndim;             /* 1 or 2 */
    int64_t m, n;         /* ndim 1: m is the length, n = 1 */
    tsr_array_t *col;     /* owned reference or NULL */
    tsr_array_t *row;     /* 1-D only: owned reference or NULL */
    struct tsr__arr *tof; /* lazy transpose of this (2-D) value: holds a reference */
} tsr__arr;

typedef struct tsr__frame tsr__frame;

typedef struct tsr__func {
    tsr__obj hdr;
    const tsr__node *def;  /* the (define (name params...) body...) form */
    const char *name;      /* points into def */
    int nparams;
    tsr__frame *env;       /* defining frame (holds a frame reference) */
} tsr__func;

static inline tsr__val tsr__nil(void) { return (tsr__val){.kind = TSR__V_NIL}; }
static inline tsr__val tsr__number(double x) { return (tsr__val){.kind = TSR__V_NUM, .num = x}; }
static inline tsr__val tsr__boolean(bool b) {
    return (tsr__val){.kind = TSR__V_BOOL, .num = b ? 1.0 : 0.0};
}
static inline tsr__arr *tsr__as_arr(tsr__val v) { return (tsr__arr *)v.obj; }
static inline bool tsr__is_scalar(tsr__val v) {
    return v.kind == TSR__V_NUM || v.kind == TSR__V_BOOL;
}

/* Reference counting; both NULL-safe on obj. tsr__val_drop releases the
 * value's reference and sets it to NIL. Freeing an array value frees its
 * handles with tsr_array_free (which waits for nothing: pending tasks keep
 * what they read). */
tsr__val tsr__val_ref(tsr__val v);
void tsr__val_drop(tsr__val *v);

/* Constructors; NULL objects on allocation failure are reported by the
 * caller as TSR_ERR_NOMEM. Strings and lists copy/ref their inputs. */
int tsr__val_string(const char *s, tsr__val *out);
int tsr__val_list(int n, const tsr__val *items, tsr__val *out);
/* A 1-D (ndim 1: a is m x 1, or 1 x m when is_row) or 2-D array value
 * taking ownership of a (a may be NULL in check mode: shape m x n only). */
int tsr__val_array(int ndim, int64_t m, int64_t n, tsr_array_t *a, bool is_row, tsr__val *out);
/* A number known later: takes the caller's reference on f, whose value is a
 * const double * (as tsr_array_reduce_async gives). kind: NUM or BOOL. */
int tsr__val_pending(int kind, tsr_future_t *f, tsr__val *out);
/* (transpose a) as a value: a lazy transpose of a 2-D array (tof set, no
 * handle until tsr__arr_get needs one; the transpose of a lazy transpose
 * is the original), a 1-D array itself. Check mode: the swapped shape. */
int tsr__val_transpose(tsr__val a, tsr__val *out);
/* In check mode: a number (or boolean) nobody knows yet. */
static inline tsr__val tsr__unknown(int kind) {
    return (tsr__val){.kind = (uint8_t)kind, .state = TSR__NUM_UNKNOWN};
}

/* ---------------- the evaluator's context (eval.c) ---------------- */

typedef struct tsr__ctx {
    bool check;          /* check mode: shapes only */
    tsr_dist_t *dist;    /* run mode: the one distribution every array uses */
    tsr__loc loc;        /* the call being evaluated (for messages) */
    const char *who;     /* the builtin being evaluated */
    int progress;        /* report long loops on stderr (rank 0, a terminal) */
} tsr__ctx;

/* "FILE:L:C: WHO: " + fmt, at cx->loc, as tsr_error(status, ...). Every
 * builtin reports its errors through this, so messages name the line. */
int tsr__err(tsr__ctx *cx, int status, const char *fmt, ...) TSR_PRINTF(3, 4);
/* Turn the array layer's failure (status, tsr_error_message()) into
 * "FILE:L:C: WHO: <its message>" with the same status. */
int tsr__err_from(tsr__ctx *cx, int status);

/* Force a number: waits for a pending one (run mode). Check mode with an
 * unknown number: TSR__NUM_UNKNOWN stays (returns TSR_OK, *known = false). */
int tsr__num_force(tsr__ctx *cx, tsr__val *v, bool *known);

/* Array value access in run mode (each returns a borrowed handle, made and
 * cached on first use; the error is reported through cx). */
int tsr__arr_get(tsr__ctx *cx, tsr__arr *a, tsr_array_t **out); /* 2-D: materialise a lazy transpose; 1-D: the m x 1 form */
int tsr__arr_col(tsr__ctx *cx, tsr__arr *a, tsr_array_t **out); /* 1-D as m x 1 */
int tsr__arr_row(tsr__ctx *cx, tsr__arr *a, tsr_array_t **out); /* 1-D as 1 x m */

/* Scalar arithmetic that never waits: op on KNOWN numbers computes now; a
 * PENDING operand makes a pending result (a task after the inputs' futures).
 * op is an enum tsr_binop (comparisons give BOOL) or, with b NIL, 16 + an
 * enum tsr_unop. Check mode: UNKNOWN in, UNKNOWN out. */
int tsr__scalar_op(tsr__ctx *cx, int op, tsr__val a, tsr__val b, tsr__val *out);

/* An expression leaf for a scalar value: tsr_ex_scalar for KNOWN, a leaf
 * that reads the future when the tile runs for PENDING. */
tsr_expr_t *tsr__scalar_leaf(tsr__val v);

/* ---------------- builtins (builtins_*.c, table in builtins.c) ---------------- */

/* A builtin gets its evaluated arguments (borrowed) and returns a new value
 * in *out (the caller drops it). It validates types and shapes first, in
 * both modes, reporting through tsr__err; in check mode it then returns a
 * shape-only value (tsr__val_array with a NULL handle, unknown numbers as
 * tsr__unknown) without touching any array. */
typedef int (*tsr__builtin_fn)(tsr__ctx *cx, int argc, tsr__val *argv, tsr__val *out);

typedef struct tsr__builtin {
    const char *name;
    int min_args, max_args; /* max -1: any number */
    tsr__builtin_fn fn;
    const char *usage;      /* "(zeros n [m])", for arity messages and --help */
} tsr__builtin;

/* The table is the concatenation of one fragment per builtins_*.c file
 * (builtins.c lists them): an index is stable for the program's life. */
int tsr__builtin_count(void);
const tsr__builtin *tsr__builtin_at(int index);
/* Index of a builtin by name, or -1. */
int tsr__builtin_find(const char *name);

/* The fragments: each file ends its table with a {NULL} row. */
extern const tsr__builtin tsr__builtins_scalar[];   /* builtins_ew.c: + - * / ... where */
extern const tsr__builtin tsr__builtins_reduce[];   /* builtins_reduce.c */
extern const tsr__builtin tsr__builtins_create[];   /* builtins_create.c */
extern const tsr__builtin tsr__builtins_linalg[];   /* builtins_linalg.c */
extern const tsr__builtin tsr__builtins_shape[];    /* builtins_shape.c: slice concat shape ... */
extern const tsr__builtin tsr__builtins_io[];       /* builtins_io.c: load save print */

/* Argument helpers for builtins: report "WHO: argument K ..." through cx.
 * tsr__arg_int accepts a KNOWN integral number in [lo, hi] (forcing a
 * pending one); in check mode an unknown number sets *known = false. */
int tsr__arg_num(tsr__ctx *cx, tsr__val *argv, int k, double *x, bool *known);
int tsr__arg_int(tsr__ctx *cx, tsr__val *argv, int k, int64_t lo, int64_t hi, int64_t *x,
                 bool *known);
int tsr__arg_str(tsr__ctx *cx, tsr__val *argv, int k, const char **s);
int tsr__arg_arr(tsr__ctx *cx, tsr__val *argv, int k, tsr__arr **a);
/* Text of a value as print shows it (builtins_io.c; run mode; waits for
 * what it shows; arrays beyond 1000 elements are summarised with "...").
 * *out is malloc'd. Collective for arrays (it gathers a small part). */
int tsr__format_value(tsr__ctx *cx, tsr__val v, char **out);
/* "number", "boolean", "string", "1-D array of 5", "2-D array 3x4", ... */
const char *tsr__describe(tsr__val v, char *buf, size_t size);

#endif
