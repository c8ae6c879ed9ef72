/* Helpers shared by the create, linalg, shape and io builtins
 * (builtins_{create,linalg,shape,io}.c): shape text for messages, the array
 * layer's errors without their per-rank prefix, lazy transposes and handle
 * sharing between values. */
#ifndef TSR_LANG_BUILTINS_MISC_H
#define TSR_LANG_BUILTINS_MISC_H

#include <stdio.h>
#include <string.h>

#include "lang/lang_internal.h"

/* "3x4", "5" (1-D), "?x4" (unknown dimension). */
static inline const char *tsr__shape_text(const tsr__arr *a, char *buf, size_t size) {
    char m[24], n[24];
    if (a->m < 0)
        snprintf(m, sizeof m, "?");
    else
        snprintf(m, sizeof m, "%lld", (long long)a->m);
    if (a->ndim == 1) {
        snprintf(buf, size, "%s", m);
        return buf;
    }
    if (a->n < 0)
        snprintf(n, sizeof n, "?");
    else
        snprintf(n, sizeof n, "%lld", (long long)a->n);
    snprintf(buf, size, "%sx%s", m, n);
    return buf;
}

/* The array layer's failure as "FILE:L:C: WHO: <its text>", without the
 * "rank R: " and "tsr_xxx: " prefixes its messages start with, so that every
 * rank reports the same line. */
static inline int tsr__misc_fail(tsr__ctx *cx, int rc) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tsr_error_message());
    const char *p = msg;
    if (!strncmp(p, "rank ", 5)) {
        const char *q = p + 5;
        while (*q >= '0' && *q <= '9') q++;
        if (q > p + 5 && q[0] == ':' && q[1] == ' ') p = q + 2;
    }
    while (!strncmp(p, "tsr_", 4)) {
        const char *q = p + 4;
        while ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_') q++;
        if (q[0] == ':' && q[1] == ' ')
            p = q + 2;
        else
            break;
    }
    return tsr__err(cx, rc, "%s", p);
}

/* A 2-D value that is the lazy transpose of the 2-D value `inner` (the
 * reference in *inner moves into the result; *inner becomes NIL). The
 * transpose of a lazy transpose is its original, so that case returns
 * that instead. */
int tsr__misc_lazy_t(tsr__val *inner, tsr__val *out);

/* Another reference to an array handle, for a value that shares it (the
 * 1-D <-> m x 1 / 1 x n reshapes). */
tsr_array_t *tsr__misc_share(tsr_array_t *a);

/* The logical row-major view of an array value in run mode, without
 * moving data: element (i, j) of the value is h(i, j), or h(j, i) when
 * trans. 1-D values are viewed as 1 x m rows. */
int tsr__misc_view(tsr__ctx *cx, tsr__arr *a, tsr_array_t **h, bool *trans);

#endif
