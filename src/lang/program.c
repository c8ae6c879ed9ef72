/* The public API of the language: parse, check, run.
 *
 * Check and run are the same walk (eval.c) in two modes. Check binds .npy
 * arguments as shapes read from their headers and numbers as themselves,
 * runs the top-level forms and main with shape-only arrays, and looks at
 * what the outputs name. Run checks first, then makes the one distribution
 * of the run, loads the arguments, runs, and saves the outputs. */
#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array/array_internal.h"
#include "array/mem_guard.h"
#include "array/npy_io.h"
#include "lang/eval_internal.h"
#include "lang/front.h"
#include "tessera/runtime.h"

struct tsr_program_s {
    tsr__node *top;
    const tsr__node *main_def; /* (define (main ...) ...) or NULL */
};

/* ---- parse ---- */

static int read_file(const char *path, char **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return tsr_error(TSR_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len - 1, f);
        if (len < cap - 1) break;
        char *b = realloc(buf, cap * 2);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) return tsr_error(TSR_ERR_NOMEM, "%s: no memory to read it", path);
    if (err) {
        free(buf);
        return tsr_error(TSR_ERR_IO, "%s: read error", path);
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        free(buf);
        return tsr_error(TSR_ERR_INVALID, "%s: not a text file (it contains a NUL byte)", path);
    }
    *out = buf;
    return TSR_OK;
}

static bool is_function_define(const tsr__node *n) {
    return n->kind == TSR__N_LIST && n->special == TSR__SF_DEFINE && n->nkids >= 3 &&
           n->kids[1]->kind == TSR__N_LIST && n->kids[1]->nkids >= 1;
}

int tsr_program_parse(const char *file, const char *text, tsr_program_t **out) {
    int rc = TSR_OK;
    char *owned = NULL;
    tsr_program_t *p = NULL;
    *out = NULL;
    if (!file) file = "<input>";
    if (!text) {
        TSR_CHECK(read_file(file, &owned));
        text = owned;
    }
    p = calloc(1, sizeof *p);
    TSR_CHECK_MSG(p, TSR_ERR_NOMEM, "no memory for a program");
    TSR_CHECK(tsr__parse(file, text, &p->top));
    TSR_CHECK(tsr__resolve(p->top));
    for (int i = 0; i < p->top->nkids; i++) {
        const tsr__node *k = p->top->kids[i];
        if (is_function_define(k) && !strcmp(k->kids[1]->kids[0]->text, "main"))
            p->main_def = k;
    }
    free(owned);
    *out = p;
    return TSR_OK;
fail:
    free(owned);
    tsr_program_free(&p);
    return rc;
}

void tsr_program_free(tsr_program_t **pp) {
    if (!pp || !*pp) return;
    tsr_program_t *p = *pp;
    if (p->top) tsr__node_free(p->top);
    free(p);
    *pp = NULL;
}

/* ---- bindings and outputs ---- */

static int nparams(const tsr_program_t *p) {
    return p->main_def ? p->main_def->kids[1]->nkids - 1 : 0;
}
static const char *param(const tsr_program_t *p, int i) {
    return p->main_def->kids[1]->kids[i + 1]->text;
}

/* "X y alpha" for messages. */
static void param_list(const tsr_program_t *p, char *buf, size_t size) {
    buf[0] = '\0';
    size_t len = 0;
    for (int i = 0; i < nparams(p) && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? " " : "", param(p, i));
}

/* Does `name` name a variable that --out can save: a parameter or a
 * variable defined directly in main's body (or in a block there), a
 * top-level variable, or `result`? */
static bool body_defines(const tsr__node *list, int from, const char *name, bool vars_only) {
    for (int i = from; i < list->nkids; i++) {
        const tsr__node *k = list->kids[i];
        if (k->kind != TSR__N_LIST) continue;
        if (k->special == TSR__SF_BLOCK && body_defines(k, 1, name, vars_only)) return true;
        if (k->special != TSR__SF_DEFINE || k->nkids < 2) continue;
        if (k->kids[1]->kind == TSR__N_SYM && !strcmp(k->kids[1]->text, name)) return true;
        if (!vars_only && is_function_define(k) && !strcmp(k->kids[1]->kids[0]->text, name))
            return true;
    }
    return false;
}

static void suggest_outputs(const tsr_program_t *p, tsr__suggest *s, const tsr__node *list,
                            int from) {
    for (int i = from; i < list->nkids; i++) {
        const tsr__node *k = list->kids[i];
        if (k->kind != TSR__N_LIST) continue;
        if (k->special == TSR__SF_BLOCK) suggest_outputs(p, s, k, 1);
        if (k->special == TSR__SF_DEFINE && k->nkids >= 2 && k->kids[1]->kind == TSR__N_SYM)
            tsr__suggest_add(s, k->kids[1]->text);
    }
}

static int check_output_name(const tsr_program_t *p, const char *name) {
    if (p->main_def) {
        for (int i = 0; i < nparams(p); i++)
            if (!strcmp(param(p, i), name)) return TSR_OK;
        if (body_defines(p->main_def, 2, name, true)) return TSR_OK;
        if (!strcmp(name, "result")) return TSR_OK;
    }
    if (body_defines(p->top, 0, name, true)) return TSR_OK;
    tsr__suggest s;
    tsr__suggest_init(&s, name);
    if (p->main_def) {
        for (int i = 0; i < nparams(p); i++) tsr__suggest_add(&s, param(p, i));
        suggest_outputs(p, &s, p->main_def, 2);
        tsr__suggest_add(&s, "result");
    }
    suggest_outputs(p, &s, p->top, 0);
    char hint[160] = "";
    if (s.best) snprintf(hint, sizeof hint, " (did you mean '%s'?)", s.best);
    return tsr_error(TSR_ERR_INVALID,
                     "--out %s: the program has no variable '%s' to save%s; --out names a "
                     "variable of main, a top-level variable, or result (main's value)",
                     name, name, hint);
}

/* Checks what needs no evaluation: the names of --arg and --out, and the
 * --arg files' headers. */
int tsr_program_check_args(tsr_program_t *p, int nbind, const tsr_lang_binding *b, int nout,
                           const tsr_lang_output *outs) {
    char params[512];
    param_list(p, params, sizeof params);
    if (!p->main_def && nbind > 0)
        return tsr_error(TSR_ERR_INVALID,
                         "--arg %s: the program has no main, so it takes no arguments",
                         b[0].name);
    for (int i = 0; i < nbind; i++) {
        int k = -1;
        for (int j = 0; j < nparams(p); j++)
            if (!strcmp(param(p, j), b[i].name)) k = j;
        if (k < 0)
            return tsr_error(TSR_ERR_INVALID, "--arg %s: main has no parameter '%s' (it takes: %s)",
                             b[i].name, b[i].name, params);
        for (int j = 0; j < i; j++)
            if (!strcmp(b[j].name, b[i].name))
                return tsr_error(TSR_ERR_INVALID, "--arg %s is given twice", b[i].name);
    }
    for (int j = 0; j < nparams(p); j++) {
        bool have = false;
        for (int i = 0; i < nbind; i++) have = have || !strcmp(param(p, j), b[i].name);
        if (!have)
            return tsr_error(TSR_ERR_INVALID,
                             "main's parameter '%s' needs a value: --arg %s=FILE.npy or "
                             "--arg %s=NUMBER (main takes: %s)",
                             param(p, j), param(p, j), param(p, j), params);
    }
    for (int i = 0; i < nbind; i++) {
        if (!b[i].npy_path) continue;
        int nd;
        int64_t m, n;
        int rc = tsr_npy_info(b[i].npy_path, &nd, &m, &n);
        if (rc != TSR_OK)
            return tsr_error(rc, "--arg %s: %s", b[i].name, tsr_error_message());
    }
    for (int i = 0; i < nout; i++) {
        int rc = check_output_name(p, outs[i].name);
        if (rc != TSR_OK) return rc;
        /* Where it goes, before any work (its size is checked with the
         * shapes, in the check pass). */
        char why[600];
        if (tsr__npy_check_target(outs[i].npy_path, 0, why, sizeof why) != TSR_OK)
            return tsr_error(TSR_ERR_IO, "--out %s: %s: %s", outs[i].name, outs[i].npy_path, why);
        for (int j = 0; j < i; j++)
            if (!strcmp(outs[j].npy_path, outs[i].npy_path))
                return tsr_error(TSR_ERR_INVALID, "--out %s and --out %s both write %s",
                                 outs[j].name, outs[i].name, outs[i].npy_path);
    }
    return TSR_OK;
}

/* The value of one --arg: in check mode a shape (or an unknown number for
 * a 0-D file), in run mode the loaded array. */
static int bind_value(tsr__eval *ev, const tsr_lang_binding *b, tsr__val *out) {
    *out = tsr__nil();
    if (!b->npy_path) {
        *out = tsr__number(b->number);
        return TSR_OK;
    }
    int nd, rc;
    int64_t m, n;
    rc = tsr_npy_info(b->npy_path, &nd, &m, &n);
    if (rc != TSR_OK) return tsr_error(rc, "--arg %s: %s", b->name, tsr_error_message());
    if (ev->cx.check) {
        if (nd == 0) *out = tsr__unknown(TSR__V_NUM);
        else rc = tsr__val_array(nd, m, n, NULL, false, out);
        return rc;
    }
    tsr_array_t *a = NULL;
    rc = tsr_array_load(ev->cx.dist, b->npy_path, &a);
    if (rc != TSR_OK) {
        ev->cx.loc = (tsr__loc){0};
        ev->cx.who = NULL;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", tsr_error_message());
        const char *s = msg;
        /* Same text on every rank: drop "rank R: tsr_array_load: ". */
        if (!strncmp(s, "rank ", 5) && strstr(s, ": ")) s = strstr(s, ": ") + 2;
        if (!strncmp(s, "tsr_array_load: ", 16)) s += 16;
        return tsr_error(rc, "--arg %s: %s", b->name, s);
    }
    if (nd == 0) {
        double x;
        rc = tsr_array_reduce(a, TSR_SUM, &x);
        tsr_array_free(&a);
        if (rc != TSR_OK) return tsr_error(rc, "--arg %s: %s", b->name, tsr_error_message());
        *out = tsr__number(x);
        return TSR_OK;
    }
    return tsr__val_array(nd, m, nd == 1 ? 1 : n, a, false, out);
}

/* ---- saving outputs ---- */

/* A 0-D float64 .npy, written by rank 0 through a temporary file and a
 * rename; every rank gets rank 0's verdict. */
static int write_npy_scalar(const char *path, double x) {
    char tmp[4096];
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    snprintf(tmp, sizeof tmp, "%.*s.%s.tmp.%ld", dirlen, path, slash ? slash + 1 : path,
             (long)getpid());
    char hdr[128];
    const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (), }";
    size_t dlen = strlen(dict), total = 10 + dlen + 1;
    size_t pad = (64 - total % 64) % 64;
    uint16_t hlen = (uint16_t)(dlen + pad + 1);
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    memcpy(hdr + 10, dict, dlen);
    memset(hdr + 10 + dlen, ' ', pad);
    hdr[10 + dlen + pad] = '\n';
    (void)tsr__npy_remove_stale(path); /* of killed saves (npy_io.c) */
    FILE *f = fopen(tmp, "wb");
    if (!f) return tsr_error(TSR_ERR_IO, "%s: %s", path, strerror(errno));
    /* Synced before the rename, so a crash after it cannot leave it short. */
    bool ok = fwrite(hdr, 1, 10 + hlen, f) == (size_t)(10 + hlen) &&
              fwrite(&x, sizeof x, 1, f) == 1 && /* little-endian hosts only, as npy.c */
              fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        unlink(tmp);
        return tsr_error(TSR_ERR_IO, "%s: %s", path, strerror(err));
    }
    return TSR_OK;
}

static int save_number(const char *path, double x) {
    struct {
        int rc;
        char msg[1020];
    } verdict = {0};
    if (tsr_rank() == 0) {
        verdict.rc = write_npy_scalar(path, x);
        if (verdict.rc != TSR_OK) snprintf(verdict.msg, sizeof verdict.msg, "%s", tsr_error_message());
    }
    MPI_Request req;
    int rc = TSR_OK;
    TSR_MPI(MPI_Ibcast(&verdict, (int)sizeof verdict, MPI_BYTE, 0, tsr__array_comm(), &req));
    TSR_CHECK(tsr__mpi_wait_helping(&req, "saving a number"));
    if (verdict.rc != TSR_OK) return tsr_error(verdict.rc, "%s", verdict.msg);
    return TSR_OK;
fail:
    return rc;
}

static int output_kind_ok(const tsr_lang_output *o, tsr__val v) {
    if (v.kind == TSR__V_ARRAY || tsr__is_scalar(v)) return TSR_OK;
    char buf[64];
    return tsr_error(TSR_ERR_INVALID,
                     "--out %s: '%s' is %s%s when main returns; only arrays and numbers can be "
                     "saved as .npy",
                     o->name, o->name, v.kind == TSR__V_NIL ? "" : "a ",
                     tsr__describe(v, buf, sizeof buf));
}

static int save_output(tsr__eval *ev, const tsr_lang_output *o, tsr__val *v) {
    int rc = output_kind_ok(o, *v);
    if (rc == TSR_OK && ev->cx.check && v->kind == TSR__V_ARRAY) {
        /* The shape is known now: does the file system have room? */
        const tsr__arr *a = tsr__as_arr(*v);
        char why[600];
        if (a->m >= 0 && a->n >= 0 &&
            tsr__npy_check_target(o->npy_path, 128.0 + (double)a->m * (double)a->n * 8.0, why,
                                  sizeof why) != TSR_OK)
            rc = tsr_error(TSR_ERR_IO, "--out %s: %s: %s", o->name, o->npy_path, why);
    }
    if (rc != TSR_OK || ev->cx.check) return rc;
    ev->cx.loc = (tsr__loc){0};
    ev->cx.who = NULL;
    if (tsr__is_scalar(*v)) {
        rc = tsr__num_force(&ev->cx, v, NULL);
        if (rc == TSR_OK) rc = save_number(o->npy_path, v->num);
    } else {
        tsr__arr *a = tsr__as_arr(*v);
        tsr_array_t *h = a->ndim == 1 && !a->col ? a->row : NULL;
        if (!h) rc = tsr__arr_get(&ev->cx, a, &h);
        if (rc == TSR_OK) rc = tsr_array_save_nd(h, o->npy_path, a->ndim);
    }
    if (rc != TSR_OK) {
        char msg[1024];
        const char *s = tsr_error_message();
        if (!strncmp(s, "rank ", 5) && strstr(s, ": ")) s = strstr(s, ": ") + 2;
        if (!strncmp(s, "tsr_array_save: ", 16)) s += 16;
        snprintf(msg, sizeof msg, "%s", s);
        return tsr_error(rc, "--out %s: %s", o->name, msg);
    }
    return TSR_OK;
}

/* ---- the check pass's memory guard ---- */

/* Called for every array a builtin makes in the check pass (eval.c): one
 * whose shape is known must fit this node at all, its even share per rank
 * against the node's memory and swap (mem_guard.h: the static level, the
 * same verdict on every rank of a uniform cluster). A shape that is known
 * only while running meets the array layer's guard instead. */
int tsr__lang_check_fits(tsr__ctx *cx, tsr__val v) {
    if (!cx->check || v.kind != TSR__V_ARRAY) return TSR_OK;
    const tsr__arr *a = tsr__as_arr(v);
    if (a->m < 0 || a->n < 0) return TSR_OK;
    int nranks = tsr__mem_job_ranks();
    /* In double: 10^10 x 10^10 elements must not wrap. */
    double share = (double)a->m * (double)a->n * (double)sizeof(double) / (double)nranks;
    if (share < (double)(64 << 20)) return TSR_OK; /* fits anything that runs Tessera */
    char why[200], b1[32];
    double cap = tsr__mem_static(why, sizeof why);
    if (share <= cap) return TSR_OK;
    char shape[64];
    if (a->ndim == 1)
        snprintf(shape, sizeof shape, "%lld-element", (long long)a->m);
    else
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)a->m, (long long)a->n);
    return tsr__err(cx, TSR_ERR_NOMEM,
                    "a %s array needs %s on %s%d rank%s, more than fits: %s (found before "
                    "running)",
                    shape, tsr__fmt_bytes(share, b1, sizeof b1), nranks == 1 ? "" : "each of ",
                    nranks, nranks == 1 ? "" : "s", why);
}

/* ---- the walk ---- */

typedef struct walk_in {
    int nbind;
    const tsr_lang_binding *b;
    int nout;
    const tsr_lang_output *outs;
    char **result_text;
} walk_in;

/* --timing: a phase ends once its newest array is ready (run mode). */
static void phase_done(tsr__eval *ev, int phase, double *t) {
    if (!ev->timing || ev->cx.check) return;
    if (ev->last_array.kind == TSR__V_ARRAY) {
        tsr__arr *a = tsr__as_arr(ev->last_array);
        tsr_array_t *h = a->col ? a->col : a->row;
        if (h && tsr_array_wait(h) != TSR_OK) tsr_error_clear();
    }
    double now = tsr_time();
    ev->phase[phase] = now - *t;
    *t = now;
}

/* --timing's report, on rank 0's stderr. */
static void report_timing(const tsr__eval *ev, double check_s) {
    fprintf(stderr,
            "[tessera] timing: check %.3f s, top-level forms %.3f s, --arg loads %.3f s, "
            "main %.3f s, --out saves %.3f s\n",
            check_s, ev->phase[0], ev->phase[1], ev->phase[2], ev->phase[3]);
    for (int i = 0; i < ev->nloops; i++) {
        const struct tsr__loop_time *l = &ev->loops[i];
        fprintf(stderr, "[tessera] timing: %s:%d %s: %lld iterations in %.3f s, %.3f ms per iteration\n",
                l->form->loc.file, l->form->loc.line,
                l->form->special == TSR__SF_FOR ? "for" : "while", (long long)l->iterations,
                l->seconds, l->iterations ? 1e3 * l->seconds / (double)l->iterations : 0.0);
    }
}

static int walk(tsr_program_t *p, tsr__eval *ev, const walk_in *in) {
    int rc = TSR_OK, np = nparams(p);
    tsr__val v = tsr__nil(), result = tsr__nil();
    tsr__val *argv = NULL;
    tsr__frame *mainf = NULL;
    tsr__val_set_ctx(&ev->cx);
    ev->global = tsr__frame_new(NULL, NULL);
    TSR_CHECK_MSG(ev->global, TSR_ERR_NOMEM, "no memory for the global scope");
    double t = tsr_time();
    TSR_CHECK(tsr__eval_body(ev, ev->global, p->top, 0, &v));
    tsr__val_drop(&v);
    phase_done(ev, 0, &t);
    if (p->main_def) {
        argv = calloc((size_t)(np > 0 ? np : 1), sizeof *argv);
        TSR_CHECK_MSG(argv, TSR_ERR_NOMEM, "no memory for main's arguments");
        for (int i = 0; i < np; i++) {
            for (int j = 0; j < in->nbind; j++)
                if (!strcmp(in->b[j].name, param(p, i))) TSR_CHECK(bind_value(ev, &in->b[j], &argv[i]));
        }
        phase_done(ev, 1, &t);
        tsr__val *fv = tsr__frame_lookup_here(ev->global, "main");
        TSR_CHECK_MSG(fv && fv->kind == TSR__V_FUNC, TSR_ERR_INVALID,
                      "main is not a function when the program ends");
        TSR_CHECK(tsr__call_user(ev, p->main_def, (tsr__func *)fv->obj, np, argv, &result,
                                 &mainf));
        phase_done(ev, 2, &t);
    }
    for (int i = 0; i < in->nout; i++) {
        const char *name = in->outs[i].name;
        tsr__val *slot = mainf ? tsr__frame_lookup_here(mainf, name) : NULL;
        if (!slot) slot = tsr__frame_lookup_here(ev->global, name);
        if (!slot && mainf && !strcmp(name, "result")) slot = &result;
        TSR_CHECK_MSG(slot, TSR_ERR_INVALID, "--out %s: no variable '%s' when main returns",
                      name, name);
        TSR_CHECK(save_output(ev, &in->outs[i], slot));
    }
    phase_done(ev, 3, &t);
    if (!ev->cx.check && in->result_text &&
        (tsr__is_scalar(result) || result.kind == TSR__V_STR)) {
        ev->cx.loc = p->main_def->loc;
        ev->cx.who = NULL;
        TSR_CHECK(tsr__format_value(&ev->cx, result, in->result_text));
    }
fail:
    if (rc == TSR__CUT) {
        const tsr__node *at = ev->cut_at;
        rc = tsr_error(TSR_ERR_INVALID,
                       "%s:%d:%d: this recursion never ends: every branch calls %s again",
                       at->loc.file, at->loc.line, at->loc.col, at->kids[0]->text);
    }
    for (int i = 0; argv && i < np; i++) tsr__val_drop(&argv[i]);
    free(argv);
    tsr__val_drop(&result);
    tsr__val_drop(&v);
    tsr__frame_end(mainf);
    tsr__frame_end(ev->global);
    ev->global = NULL;
    tsr__val_set_ctx(NULL);
    return rc;
}

int tsr_program_check(tsr_program_t *p, int nbind, const tsr_lang_binding *b, int nout,
                      const tsr_lang_output *outs) {
    int rc = tsr_program_check_args(p, nbind, b, nout, outs);
    if (rc != TSR_OK) return rc;
    tsr__eval ev;
    tsr__eval_init(&ev, true);
    walk_in in = {nbind, b, nout, outs, NULL};
    rc = walk(p, &ev, &in);
    tsr__eval_fini(&ev);
    return rc;
}

int tsr_program_run(tsr_program_t *p, int nbind, const tsr_lang_binding *b, int nout,
                    const tsr_lang_output *outs, const tsr_lang_options *opts,
                    char **result_text) {
    int rc;
    if (result_text) *result_text = NULL;
    tsr_lang_options o = opts ? *opts : (tsr_lang_options){0};
    if (o.P <= 0 || o.Q <= 0) {
        o.P = tsr_nranks();
        o.Q = 1;
    }
    if (o.tile <= 0) o.tile = 256;
    if (o.P * o.Q != tsr_nranks())
        return tsr_error(TSR_ERR_INVALID, "grid %dx%d does not have %d ranks", o.P, o.Q,
                         tsr_nranks());
    double t0 = tsr_time();
    rc = tsr_program_check(p, nbind, b, nout, outs);
    if (rc != TSR_OK) return rc;
    double check_s = tsr_time() - t0;
    tsr__eval ev;
    tsr__eval_init(&ev, false);
    ev.cx.progress = o.progress && tsr_rank() == 0;
    ev.timing = o.timing != 0;
    rc = tsr_dist_create(o.P, o.Q, o.tile, o.tile, &ev.cx.dist);
    if (rc != TSR_OK) return rc;
    walk_in in = {nbind, b, nout, outs, result_text};
    rc = walk(p, &ev, &in);
    if (rc == TSR_OK && ev.timing && tsr_rank() == 0) report_timing(&ev, check_s);
    tsr__eval_fini(&ev);
    if (rc != TSR_OK && result_text) {
        free(*result_text);
        *result_text = NULL;
    }
    if (getenv("TSR_LANG_STATS") && tsr_rank() == 0) {
        long hwm_kb = -1;
        char line[256];
        FILE *f = fopen("/proc/self/status", "r");
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %ld kB", &hwm_kb) == 1) break;
        if (f) fclose(f);
        fprintf(stderr,
                "[tessera] array values: %lld live at the end, at most %lld at once; "
                "peak resident memory %ld MB\n",
                (long long)tsr__arr_live(), (long long)tsr__arr_peak(),
                hwm_kb < 0 ? -1 : hwm_kb / 1024);
    }
    tsr_dist_free(&ev.cx.dist);
    return rc;
}
