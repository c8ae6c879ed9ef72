/* Messages that name a place in the program, the did-you-mean suggestion
 * for unknown names, and the special forms' names. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lang/front.h"

int tsr__lang_error_at(tsr__loc loc, int status, const char *fmt, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return tsr_error(status, "%s:%d:%d: %s", loc.file ? loc.file : "<input>", loc.line, loc.col,
                     text);
}

/* ---------------- special forms ---------------- */

static const char *const special_names[] = {
    [TSR__SF_DEFINE] = "define", [TSR__SF_SET] = "set!",   [TSR__SF_LET] = "let",
    [TSR__SF_BLOCK] = "block",   [TSR__SF_IF] = "if",      [TSR__SF_WHILE] = "while",
    [TSR__SF_FOR] = "for",       [TSR__SF_AND] = "and",    [TSR__SF_OR] = "or",
};
#define NSPECIAL (int)(sizeof special_names / sizeof special_names[0])

int tsr__special_find(const char *name) {
    for (int i = 1; i < NSPECIAL; i++)
        if (!strcmp(special_names[i], name)) return i;
    return TSR__SF_NONE;
}

const char *tsr__special_name(int sf) {
    return sf > 0 && sf < NSPECIAL ? special_names[sf] : NULL;
}

/* ---------------- did you mean ---------------- */

/* Names longer than this get no suggestion: nobody mistypes a 256-byte
 * name by one letter, and the table below stays on the stack. */
#define DIST_MAX_LEN 255

/* Optimal string alignment distance: Levenshtein plus swaps of two
 * neighbouring bytes ("tranpsose" is one edit from "transpose"). Three
 * rows of the dynamic-programming table. */
int tsr__edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > DIST_MAX_LEN || lb > DIST_MAX_LEN) return 1 << 20;
    int rows[3][DIST_MAX_LEN + 2];
    int *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int d = prev[j] + 1;                           /* delete */
            if (cur[j - 1] + 1 < d) d = cur[j - 1] + 1;    /* insert */
            if (prev[j - 1] + cost < d) d = prev[j - 1] + cost; /* substitute */
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < d)
                d = prev2[j - 2] + 1; /* swap */
            cur[j] = d;
        }
        int *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

void tsr__suggest_init(tsr__suggest *s, const char *name) {
    int len = (int)strlen(name);
    s->name = name;
    s->best = NULL;
    /* At least one byte must stay: "g" is not a typo of "+". */
    s->limit = len / 3 > 1 ? len / 3 : 1;
    if (s->limit > len - 1) s->limit = len - 1;
    s->best_d = s->limit + 1;
}

void tsr__suggest_add(tsr__suggest *s, const char *cand) {
    if (!cand) return;
    /* The distance is at least the difference in length. */
    int dl = (int)strlen(cand) - (int)strlen(s->name);
    if (dl < 0) dl = -dl;
    if (dl >= s->best_d) return;
    int d = tsr__edit_distance(s->name, cand);
    if (d > 0 && d < s->best_d) {
        s->best_d = d;
        s->best = cand;
    }
}

void tsr__suggest_add_builtins(tsr__suggest *s) {
    int n = tsr__builtin_count();
    for (int i = 0; i < n; i++) tsr__suggest_add(s, tsr__builtin_at(i)->name);
    for (int i = 1; i < NSPECIAL; i++) tsr__suggest_add(s, special_names[i]);
}
