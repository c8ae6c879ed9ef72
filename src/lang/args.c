/* Messages of builtins and their argument checks: every one starts
 * "FILE:LINE:COL: NAME: " at the call being evaluated, and is the same on
 * every rank. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lang/eval_internal.h"

static int verr(tsr__ctx *cx, int status, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    const char *file = cx->loc.file ? cx->loc.file : "?";
    if (cx->who)
        return tsr_error(status, "%s:%d:%d: %s: %s", file, cx->loc.line, cx->loc.col, cx->who,
                         msg);
    return tsr_error(status, "%s:%d:%d: %s", file, cx->loc.line, cx->loc.col, msg);
}

int tsr__err(tsr__ctx *cx, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = verr(cx, status, fmt, ap);
    va_end(ap);
    return rc;
}

/* Skip "rank R: " and then "tsr_name: " (an identifier starting with tsr_),
 * so the text no longer depends on the rank or on which array function
 * said it. */
static const char *strip_prefixes(const char *s) {
    if (!strncmp(s, "rank ", 5)) {
        const char *p = s + 5;
        while (isdigit((unsigned char)*p)) p++;
        if (p > s + 5 && p[0] == ':' && p[1] == ' ') s = p + 2;
    }
    if (!strncmp(s, "tsr_", 4)) {
        const char *p = s + 4;
        while (isalnum((unsigned char)*p) || *p == '_') p++;
        if (p[0] == ':' && p[1] == ' ') s = p + 2;
    }
    return s;
}

int tsr__err_from(tsr__ctx *cx, int status) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", strip_prefixes(tsr_error_message()));
    if (!msg[0]) snprintf(msg, sizeof msg, "%s", tsr_status_string(status));
    return tsr__err(cx, status, "%s", msg);
}

const char *tsr__describe(tsr__val v, char *buf, size_t size) {
    switch (v.kind) {
    case TSR__V_NIL: return "nil";
    case TSR__V_NUM: return "number";
    case TSR__V_BOOL: return "boolean";
    case TSR__V_STR: return "string";
    case TSR__V_LIST: return "list";
    case TSR__V_FUNC: return "function";
    case TSR__V_ARRAY: {
        const tsr__arr *a = tsr__as_arr(v);
        char m[24], n[24];
        if (a->m < 0) snprintf(m, sizeof m, "?");
        else snprintf(m, sizeof m, "%lld", (long long)a->m);
        if (a->n < 0) snprintf(n, sizeof n, "?");
        else snprintf(n, sizeof n, "%lld", (long long)a->n);
        if (a->ndim == 1)
            snprintf(buf, size, "1-D array of %s", m);
        else
            snprintf(buf, size, "2-D array %sx%s", m, n);
        return buf;
    }
    default: return "value";
    }
}

/* "a number", "a 2-D array 3x4", "nil". */
static const char *with_article(tsr__val v, char *buf, size_t size) {
    char d[64];
    const char *s = tsr__describe(v, d, sizeof d);
    if (v.kind == TSR__V_NIL) snprintf(buf, size, "nil");
    else snprintf(buf, size, "a %s", s);
    return buf;
}

int tsr__arg_num(tsr__ctx *cx, tsr__val *argv, int k, double *x, bool *known) {
    char buf[80];
    *x = NAN;
    if (known) *known = true;
    if (!tsr__is_scalar(argv[k]))
        return tsr__err(cx, TSR_ERR_INVALID, "argument %d must be a number, got %s", k + 1,
                        with_article(argv[k], buf, sizeof buf));
    bool kn = true;
    int rc = tsr__num_force(cx, &argv[k], &kn);
    if (rc != TSR_OK) return rc;
    if (known) *known = kn;
    if (kn) *x = argv[k].num;
    else if (!known)
        return tsr__err(cx, TSR_ERR_INVALID, "argument %d must be known before running", k + 1);
    return TSR_OK;
}

int tsr__arg_int(tsr__ctx *cx, tsr__val *argv, int k, int64_t lo, int64_t hi, int64_t *x,
                 bool *known) {
    double d;
    bool kn = true;
    *x = 0;
    int rc = tsr__arg_num(cx, argv, k, &d, known ? &kn : NULL);
    if (rc != TSR_OK) return rc;
    if (known) *known = kn;
    if (!kn) return TSR_OK;
    if (!(d == floor(d)) || fabs(d) > 9007199254740992.0)
        return tsr__err(cx, TSR_ERR_INVALID, "argument %d must be an integer, got %.17g", k + 1,
                        d);
    if (d < (double)lo || d > (double)hi)
        return tsr__err(cx, TSR_ERR_INVALID, "argument %d must be in [%lld, %lld], got %.17g",
                        k + 1, (long long)lo, (long long)hi, d);
    *x = (int64_t)d;
    return TSR_OK;
}

int tsr__arg_str(tsr__ctx *cx, tsr__val *argv, int k, const char **s) {
    char buf[80];
    *s = NULL;
    if (argv[k].kind != TSR__V_STR)
        return tsr__err(cx, TSR_ERR_INVALID, "argument %d must be a string, got %s", k + 1,
                        with_article(argv[k], buf, sizeof buf));
    *s = ((tsr__str *)argv[k].obj)->text;
    return TSR_OK;
}

int tsr__arg_arr(tsr__ctx *cx, tsr__val *argv, int k, tsr__arr **a) {
    char buf[80];
    *a = NULL;
    if (argv[k].kind != TSR__V_ARRAY)
        return tsr__err(cx, TSR_ERR_INVALID, "argument %d must be an array, got %s", k + 1,
                        with_article(argv[k], buf, sizeof buf));
    *a = tsr__as_arr(argv[k]);
    return TSR_OK;
}
