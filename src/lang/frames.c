/* Scopes and check mode's snapshots of them. Lookups compare names along
 * the chain of scopes: programs have few variables per scope and the work
 * per statement is array operations, so a linear search is enough. */
#include <stdlib.h>
#include <string.h>

#include "lang/eval_internal.h"

tsr__frame *tsr__frame_new(tsr__frame *parent, const char *owner) {
    tsr__frame *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->refs = 1;
    f->live = true;
    f->parent = parent;
    f->owner = owner;
    if (parent) tsr__frame_retain(parent);
    return f;
}

void tsr__frame_retain(tsr__frame *f) { f->refs++; }

static void drop_vars(tsr__frame *f) {
    /* Later variables first: they may depend on earlier ones (nothing
     * requires it; it frees in the reverse order of creation). */
    for (int i = f->n - 1; i >= 0; i--) tsr__val_drop(&f->vals[i]);
    f->n = 0;
}

void tsr__frame_release(tsr__frame *f) {
    while (f && --f->refs == 0) {
        tsr__frame *parent = f->parent;
        drop_vars(f);
        free(f->names);
        free(f->vals);
        free(f);
        f = parent; /* iterative: long chains do not recurse */
    }
}

void tsr__frame_end(tsr__frame *f) {
    if (!f) return;
    f->live = false;
    /* Dropping a function value may release this frame's last other
     * reference: keep it alive until the variables are gone. */
    tsr__frame_retain(f);
    drop_vars(f);
    tsr__frame_release(f);
    tsr__frame_release(f);
}

tsr__val *tsr__frame_lookup_here(tsr__frame *f, const char *name) {
    for (int i = f->n - 1; i >= 0; i--)
        if (!strcmp(f->names[i], name)) return &f->vals[i];
    return NULL;
}

tsr__val *tsr__frame_lookup(tsr__frame *f, const char *name) {
    for (; f; f = f->parent) {
        tsr__val *v = tsr__frame_lookup_here(f, name);
        if (v) return v;
    }
    return NULL;
}

int tsr__frame_define(tsr__frame *f, const char *name, tsr__val v) {
    if (f->n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 8;
        const char **names = realloc(f->names, sizeof *names * (size_t)cap);
        if (names) f->names = names;
        tsr__val *vals = names ? realloc(f->vals, sizeof *vals * (size_t)cap) : NULL;
        if (!vals) {
            tsr__val_drop(&v);
            return tsr_error(TSR_ERR_NOMEM, "no memory for variable '%s'", name);
        }
        f->vals = vals;
        f->cap = cap;
    }
    f->names[f->n] = name;
    f->vals[f->n] = v;
    f->n++;
    return TSR_OK;
}

/* ---- snapshots (check mode) ---- */

int tsr__snap_take(tsr__frame *f, tsr__snap *s) {
    *s = (tsr__snap){0};
    int n = 0;
    for (tsr__frame *g = f; g; g = g->parent) n++;
    s->frames = calloc((size_t)n, sizeof *s->frames);
    s->counts = calloc((size_t)n, sizeof *s->counts);
    s->vals = calloc((size_t)n, sizeof *s->vals);
    if (!s->frames || !s->counts || !s->vals) goto nomem;
    for (tsr__frame *g = f; g; g = g->parent) {
        int i = s->nframes++;
        s->frames[i] = g;
        tsr__frame_retain(g);
        s->counts[i] = g->n;
        s->vals[i] = malloc(sizeof(tsr__val) * (size_t)(g->n ? g->n : 1));
        if (!s->vals[i]) {
            s->counts[i] = 0;
            goto nomem;
        }
        for (int k = 0; k < g->n; k++) s->vals[i][k] = tsr__val_ref(g->vals[k]);
    }
    return TSR_OK;
nomem:
    tsr__snap_free(s);
    return tsr_error(TSR_ERR_NOMEM, "no memory for a snapshot of the variables");
}

void tsr__snap_restore(tsr__snap *s) {
    for (int i = 0; i < s->nframes; i++) {
        tsr__frame *g = s->frames[i];
        int keep = s->counts[i] < g->n ? s->counts[i] : g->n;
        for (int k = g->n - 1; k >= keep; k--) tsr__val_drop(&g->vals[k]);
        g->n = keep;
        for (int k = 0; k < keep; k++) {
            tsr__val old = g->vals[k];
            g->vals[k] = tsr__val_ref(s->vals[i][k]);
            tsr__val_drop(&old);
        }
    }
}

static bool num_equal(tsr__val a, tsr__val b) {
    return a.state == TSR__NUM_KNOWN && b.state == TSR__NUM_KNOWN &&
           (a.num == b.num || (a.num != a.num && b.num != b.num));
}

tsr__val tsr__val_merge(tsr__val a, tsr__val b) {
    if (a.kind == TSR__V_NIL) return tsr__val_ref(b);
    if (b.kind == TSR__V_NIL) return tsr__val_ref(a);
    if (tsr__is_scalar(a) && tsr__is_scalar(b)) {
        if (a.kind == b.kind && num_equal(a, b)) return a;
        return tsr__unknown(a.kind == b.kind ? a.kind : TSR__V_NUM);
    }
    if (a.kind != b.kind || a.obj == b.obj) return tsr__val_ref(a);
    if (a.kind == TSR__V_ARRAY) {
        tsr__arr *x = tsr__as_arr(a), *y = tsr__as_arr(b);
        if (x->ndim != y->ndim || (x->m == y->m && x->n == y->n)) return tsr__val_ref(a);
        tsr__val out;
        if (tsr__val_array(x->ndim, x->m == y->m ? x->m : -1, x->n == y->n ? x->n : -1, NULL,
                           false, &out) != TSR_OK)
            return tsr__val_ref(a);
        return out;
    }
    if (a.kind == TSR__V_LIST) {
        tsr__list *x = (tsr__list *)a.obj, *y = (tsr__list *)b.obj;
        if (x->n != y->n) return tsr__val_ref(a);
        tsr__val out;
        if (tsr__val_list(x->n, x->items, &out) != TSR_OK) return tsr__val_ref(a);
        tsr__list *o = (tsr__list *)out.obj;
        for (int i = 0; i < o->n; i++) {
            tsr__val m = tsr__val_merge(x->items[i], y->items[i]);
            tsr__val_drop(&o->items[i]);
            o->items[i] = m;
        }
        return out;
    }
    return tsr__val_ref(a);
}

int tsr__snap_merge(tsr__snap *s) {
    for (int i = 0; i < s->nframes; i++) {
        tsr__frame *g = s->frames[i];
        int n = s->counts[i] < g->n ? s->counts[i] : g->n;
        for (int k = 0; k < n; k++) {
            tsr__val m = tsr__val_merge(s->vals[i][k], g->vals[k]);
            tsr__val_drop(&g->vals[k]);
            g->vals[k] = m;
        }
    }
    return TSR_OK;
}

void tsr__snap_free(tsr__snap *s) {
    for (int i = 0; i < s->nframes; i++) {
        if (s->vals && s->vals[i]) {
            for (int k = 0; k < s->counts[i]; k++) tsr__val_drop(&s->vals[i][k]);
            free(s->vals[i]);
        }
        tsr__frame_release(s->frames[i]);
    }
    free(s->frames);
    free(s->counts);
    free(s->vals);
    *s = (tsr__snap){0};
}
