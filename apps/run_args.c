/* The command line of `tessera run` / `tessera check` (see run_args.h).
 * Pure, so that a fuzzer can call it with any argv: every message goes to
 * the caller's buffer, every allocation is released by app_run_args_free,
 * and every value that later code multiplies or converts is range-checked
 * here (--grid's P * Q fits an int). */
#include "run_args.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int say(char *msg, size_t cap, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *msg, size_t cap, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return status;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_number(const char *s, double *x) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v)) return -1;
    *x = v;
    return 0;
}

/* "PxQ": decimal P, Q >= 1, nothing else (no sign, no blank), with P * Q a
 * rank count (an int), so that callers may multiply them. */
static int parse_grid(const char *s, int *P, int *Q) {
    long v[2];
    for (int k = 0; k < 2; k++) {
        if (*s < '0' || *s > '9') return -1;
        char *end = NULL;
        errno = 0;
        v[k] = strtol(s, &end, 10);
        if (errno != 0 || v[k] < 1 || v[k] > INT_MAX) return -1;
        s = end;
        if (k == 0 && *s++ != 'x') return -1;
    }
    if (*s != '\0' || v[0] > INT_MAX / v[1]) return -1;
    *P = (int)v[0];
    *Q = (int)v[1];
    return 0;
}

/* NAME=VALUE into malloc'd name and value. */
static int split_assign(const char *opt, const char *s, char **name, char **value, char *msg,
                        size_t cap) {
    const char *eq = strchr(s, '=');
    *name = *value = NULL;
    if (!eq || eq == s || !eq[1])
        return say(msg, cap, APP_ARGS_USAGE, "%s needs NAME=%s, got '%s'", opt,
                   !strcmp(opt, "--out") ? "FILE.npy" : "FILE.npy or NAME=NUMBER", s);
    *name = strndup(s, (size_t)(eq - s));
    *value = strdup(eq + 1);
    if (*name && *value) return APP_ARGS_OK;
    free(*name);
    free(*value);
    *name = *value = NULL;
    return say(msg, cap, APP_ARGS_NOMEM, "no memory for %s %s", opt, s);
}

void app_run_args_free(app_run_args *o) {
    for (int i = 0; i < o->nbind; i++) {
        free((char *)o->binds[i].name);
        free((char *)o->binds[i].npy_path);
    }
    for (int i = 0; i < o->nout; i++) {
        free((char *)o->outs[i].name);
        free((char *)o->outs[i].npy_path);
    }
    free(o->binds);
    free(o->outs);
    *o = (app_run_args){0};
}

int app_run_args_parse(const char *cmd, int argc, char *const *argv, app_run_args *o, char *msg,
                       size_t cap) {
    *o = (app_run_args){0};
    msg[0] = '\0';
    /* At most one binding or output per argument. */
    size_t n = argc > 0 ? (size_t)argc : 1;
    o->binds = calloc(n, sizeof *o->binds);
    o->outs = calloc(n, sizeof *o->outs);
    if (!o->binds || !o->outs) return say(msg, cap, APP_ARGS_NOMEM, "no memory for %d arguments", argc);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char opt[64];
        /* --opt=value and --opt value */
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        if (eq && (size_t)(eq - a) < sizeof opt) {
            snprintf(opt, sizeof opt, "%.*s", (int)(eq - a), a);
            v = eq + 1;
        } else {
            snprintf(opt, sizeof opt, "%s", a);
        }
        bool takes = !strcmp(opt, "--arg") || !strcmp(opt, "--out") ||
                     !strcmp(opt, "--threads") || !strcmp(opt, "--trace") ||
                     !strcmp(opt, "--grid") || !strcmp(opt, "--tile");
        if (takes && !v) {
            if (i + 1 >= argc)
                return say(msg, cap, APP_ARGS_USAGE, "%s needs a value; see 'tessera %s --help'",
                           opt, cmd);
            v = argv[++i];
        }
        if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
            return APP_ARGS_HELP;
        } else if (!strcmp(opt, "--quiet") || !strcmp(opt, "-q")) {
            o->quiet = 1;
        } else if (!strcmp(opt, "--timing")) {
            o->timing = 1;
        } else if (!strcmp(opt, "--arg")) {
            char *name, *value;
            int st = split_assign("--arg", v, &name, &value, msg, cap);
            if (st != APP_ARGS_OK) return st;
            tsr_lang_binding *b = &o->binds[o->nbind++];
            b->name = name;
            if (parse_number(value, &b->number) == 0) {
                free(value);
            } else if (!strcmp(value, "true") || !strcmp(value, "false")) {
                b->number = !strcmp(value, "true");
                free(value);
            } else {
                b->npy_path = value;
            }
        } else if (!strcmp(opt, "--out")) {
            char *name, *value;
            int st = split_assign("--out", v, &name, &value, msg, cap);
            if (st != APP_ARGS_OK) return st;
            o->outs[o->nout++] = (tsr_lang_output){.name = name, .npy_path = value};
        } else if (!strcmp(opt, "--threads")) {
            long t;
            if (parse_long(v, 1, 4096, &t))
                return say(msg, cap, APP_ARGS_USAGE,
                           "--threads needs an integer in [1, 4096], got '%s'", v);
            o->threads = v;
        } else if (!strcmp(opt, "--trace")) {
            if (!*v) return say(msg, cap, APP_ARGS_USAGE, "--trace needs a file name");
            o->trace = v;
        } else if (!strcmp(opt, "--grid")) {
            if (parse_grid(v, &o->lang.P, &o->lang.Q))
                return say(msg, cap, APP_ARGS_USAGE,
                           "--grid needs PxQ (e.g. 2x1) with P * Q at most %d ranks, got '%s'",
                           INT_MAX, v);
        } else if (!strcmp(opt, "--tile")) {
            long t;
            if (parse_long(v, 1, 1L << 20, &t))
                return say(msg, cap, APP_ARGS_USAGE,
                           "--tile needs an integer in [1, %ld], got '%s'", 1L << 20, v);
            o->lang.tile = t;
        } else if (a[0] == '-' && a[1] != '\0') {
            return say(msg, cap, APP_ARGS_USAGE, "unknown option '%s'; see 'tessera %s --help'", a,
                       cmd);
        } else if (!o->prog) {
            o->prog = a;
        } else {
            return say(msg, cap, APP_ARGS_USAGE,
                       "one program at a time: got '%s' after '%s' (arguments are --arg NAME=...)",
                       a, o->prog);
        }
    }
    if (!o->prog)
        return say(msg, cap, APP_ARGS_USAGE,
                   "which program? usage: tessera %s PROG.tsl [options]; see 'tessera %s --help'",
                   cmd, cmd);
    return APP_ARGS_OK;
}
