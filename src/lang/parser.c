/* Tokens to a syntax tree. The parser keeps its open lists on an explicit
 * stack (no recursion), and refuses nesting deeper than TSR__MAX_DEPTH so
 * that the passes which do recurse over the tree (resolver, evaluator) have
 * a bounded stack.
 *
 * The top node (an N_LIST at 1:1 holding the top-level forms) owns a copy of
 * the file name in its `text`; every loc in the tree points at that copy. */
#include <stdlib.h>
#include <string.h>

#include "lang/front.h"

static tsr__node *new_node(int kind, tsr__loc loc) {
    tsr__node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->loc = loc;
    n->builtin = -1;
    n->special = TSR__SF_NONE;
    return n;
}

/* Appends kid to list (taking it). Lists grow by doubling. */
static int append(tsr__node *list, tsr__node *kid, int *cap) {
    if (list->nkids == *cap) {
        int ncap = *cap ? 2 * *cap : 4;
        tsr__node **k = realloc(list->kids, (size_t)ncap * sizeof *k);
        if (!k) return tsr_error(TSR_ERR_NOMEM, "out of memory while parsing");
        list->kids = k;
        *cap = ncap;
    }
    list->kids[list->nkids++] = kid;
    return TSR_OK;
}

void tsr__node_free(tsr__node *n) {
    if (!n) return;
    /* Depth is bounded by TSR__MAX_DEPTH for trees from tsr__parse. */
    for (int i = 0; i < n->nkids; i++) tsr__node_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

typedef struct open_list {
    tsr__node *node;
    int cap; /* of node->kids */
} open_list;

int tsr__parse(const char *file, const char *text, tsr__node **out) {
    int rc = TSR_OK;
    *out = NULL;
    tsr__node *top = NULL;
    tsr__node *atom = NULL;
    /* stack[0] is the top node; stack[d] the list opened at depth d. */
    open_list *stack = NULL;
    int depth = 0;

    if (!file) file = "<input>";
    if (!text) return tsr_error(TSR_ERR_INVALID, "%s: no program text", file);
    size_t flen = strlen(file);
    char *fname = malloc(flen + 1);
    TSR_CHECK_MSG(fname, TSR_ERR_NOMEM, "out of memory while parsing %s", file);
    memcpy(fname, file, flen + 1);
    top = new_node(TSR__N_LIST, (tsr__loc){.file = fname, .line = 1, .col = 1});
    if (!top) free(fname);
    TSR_CHECK_MSG(top, TSR_ERR_NOMEM, "out of memory while parsing %s", file);
    top->text = fname;
    stack = malloc((TSR__MAX_DEPTH + 1) * sizeof *stack);
    TSR_CHECK_MSG(stack, TSR_ERR_NOMEM, "out of memory while parsing %s", file);
    stack[0] = (open_list){top, 0};

    tsr__lexer lx;
    tsr__lex_init(&lx, fname, text);
    for (;;) {
        tsr__token tok;
        TSR_CHECK(tsr__lex_next(&lx, &tok));
        tsr__loc loc = {.file = fname, .line = tok.line, .col = tok.col};
        if (tok.kind == TSR__T_EOF) {
            if (depth > 0) {
                /* Report the innermost list left open: the one the missing
                 * ')' most likely belongs to. */
                rc = tsr__lang_error_at(stack[depth].node->loc, TSR_ERR_INVALID,
                                        "'(' is never closed");
                goto fail;
            }
            break;
        }
        if (tok.kind == TSR__T_LPAREN) {
            if (depth == TSR__MAX_DEPTH) {
                rc = tsr__lang_error_at(loc, TSR_ERR_INVALID,
                                        "parentheses nested deeper than %d levels",
                                        TSR__MAX_DEPTH);
                goto fail;
            }
            tsr__node *list = new_node(TSR__N_LIST, loc);
            TSR_CHECK_MSG(list, TSR_ERR_NOMEM, "out of memory while parsing");
            rc = append(stack[depth].node, list, &stack[depth].cap);
            if (rc != TSR_OK) {
                free(list);
                goto fail;
            }
            stack[++depth] = (open_list){list, 0};
            continue;
        }
        if (tok.kind == TSR__T_RPAREN) {
            if (depth == 0) {
                rc = tsr__lang_error_at(loc, TSR_ERR_INVALID,
                                        "unexpected ')' (no '(' is open here)");
                goto fail;
            }
            depth--;
            continue;
        }
        atom = new_node(tok.kind == TSR__T_NUM    ? TSR__N_NUM
                        : tok.kind == TSR__T_STR  ? TSR__N_STR
                        : tok.kind == TSR__T_BOOL ? TSR__N_BOOL
                                                  : TSR__N_SYM,
                        loc);
        if (!atom) free(tok.text);
        TSR_CHECK_MSG(atom, TSR_ERR_NOMEM, "out of memory while parsing");
        atom->num = tok.num;
        atom->text = tok.text;
        TSR_CHECK(append(stack[depth].node, atom, &stack[depth].cap));
        atom = NULL;
    }
    free(stack);
    *out = top;
    return TSR_OK;

fail:
    tsr__node_free(atom);
    tsr__node_free(top); /* frees fname, which the message no longer needs */
    free(stack);
    return rc;
}
