/* The language's front end, private to src/lang: tokens (lexer.c), the
 * parser's limits (parser.c) and the did-you-mean helper (errors.c) that the
 * resolver uses and the evaluator may use too (e.g. for --out names). */
#ifndef TSR_LANG_FRONT_H
#define TSR_LANG_FRONT_H

#include <stdbool.h>

#include "lang/lang_internal.h"

/* Deepest parenthesis nesting the parser accepts. The resolver and the
 * evaluator recurse over the tree, so this bounds their stack use (a few
 * hundred bytes a level); real programs nest a few dozen levels. */
#define TSR__MAX_DEPTH 1000

/* ---------------- tokens (lexer.c) ---------------- */

enum tsr__tok_kind {
    TSR__T_EOF, TSR__T_LPAREN, TSR__T_RPAREN, TSR__T_NUM, TSR__T_STR, TSR__T_BOOL, TSR__T_SYM
};

typedef struct tsr__token {
    int kind;
    int line, col; /* of the token's first byte */
    double num;    /* NUM; BOOL: 0 or 1 */
    char *text;    /* STR (unescaped) and SYM: malloc'd, the caller takes it; else NULL */
} tsr__token;

typedef struct tsr__lexer {
    const char *file;
    const char *p; /* next byte */
    int line, col; /* of *p */
} tsr__lexer;

void tsr__lex_init(tsr__lexer *lx, const char *file, const char *text);
/* The next token. Errors (TSR_ERR_INVALID, "FILE:L:C: ..."): unterminated
 * string, bad escape, bad or out-of-range number; TSR_ERR_NOMEM. */
int tsr__lex_next(tsr__lexer *lx, tsr__token *tok);

/* ---------------- did you mean (errors.c) ---------------- */

/* Collects the candidate closest to `name` by edit distance (insertions,
 * deletions, substitutions and swaps of neighbours each count 1), keeping
 * only those within max(1, strlen(name) / 3) edits and fewer edits than
 * name has bytes; the first candidate added wins a tie. A candidate equal to
 * name is ignored. */
typedef struct tsr__suggest {
    const char *name;
    const char *best; /* NULL: nothing close */
    int best_d, limit;
} tsr__suggest;

void tsr__suggest_init(tsr__suggest *s, const char *name);
void tsr__suggest_add(tsr__suggest *s, const char *cand);
/* Adds every builtin's name and the special forms' names. */
void tsr__suggest_add_builtins(tsr__suggest *s);
/* Edit distance as above (for tests); limited to names under 256 bytes
 * (longer ones give a large number). */
int tsr__edit_distance(const char *a, const char *b);

/* The special form a symbol names (enum tsr__special), or TSR__SF_NONE. */
int tsr__special_find(const char *name);
/* Its name, e.g. "set!"; NULL for TSR__SF_NONE. */
const char *tsr__special_name(int sf);

#endif
