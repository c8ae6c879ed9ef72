/* Values: reference counts, constructors, and the forms of array values
 * (1-D as a column or a row, lazy transposes) made on demand.
 *
 * Everything here runs on the main thread: the counts are plain ints. A
 * pending number's future is the one thing other threads touch, and they
 * only through the future's own (thread-safe) references. */
#include <stdlib.h>
#include <string.h>

#include "lang/eval_internal.h"

/* A pending number remembers the builtin call that made it, so that a
 * failure seen only when it is forced is reported where it came from. */
typedef struct pending_ext {
    tsr__pending p;
    tsr__loc loc;
    const char *who;
} pending_ext;

static tsr__ctx *current_cx;
static int64_t arr_live, arr_peak;

void tsr__val_set_ctx(tsr__ctx *cx) { current_cx = cx; }
int64_t tsr__arr_live(void) { return arr_live; }
int64_t tsr__arr_peak(void) { return arr_peak; }

tsr__val tsr__val_ref(tsr__val v) {
    if (v.obj) v.obj->refs++;
    return v;
}

static void obj_free(tsr__obj *o) {
    switch (o->kind) {
    case TSR__V_LIST: {
        tsr__list *l = (tsr__list *)o;
        for (int i = 0; i < l->n; i++) tsr__val_drop(&l->items[i]);
        break;
    }
    case TSR__V_ARRAY: {
        tsr__arr *a = (tsr__arr *)o;
        tsr_array_free(&a->col);
        tsr_array_free(&a->row);
        if (a->tof) {
            tsr__val t = {.kind = TSR__V_ARRAY, .obj = &a->tof->hdr};
            tsr__val_drop(&t);
        }
        arr_live--;
        break;
    }
    case TSR__V_FUNC:
        tsr__frame_release(((tsr__func *)o)->env);
        break;
    case TSR__V_NUM:
    case TSR__V_BOOL:
        tsr_future_release(&((tsr__pending *)o)->f);
        break;
    default:
        break;
    }
    free(o);
}

void tsr__val_drop(tsr__val *v) {
    if (v->obj && --v->obj->refs == 0) obj_free(v->obj);
    *v = tsr__nil();
}

int tsr__val_string(const char *s, tsr__val *out) {
    size_t len = strlen(s);
    tsr__str *o = malloc(sizeof *o + len + 1);
    if (!o) return tsr_error(TSR_ERR_NOMEM, "no memory for a string of %zu bytes", len);
    o->hdr = (tsr__obj){.refs = 1, .kind = TSR__V_STR};
    memcpy(o->text, s, len + 1);
    *out = (tsr__val){.kind = TSR__V_STR, .obj = &o->hdr};
    return TSR_OK;
}

int tsr__val_list(int n, const tsr__val *items, tsr__val *out) {
    tsr__list *o = malloc(sizeof *o + sizeof(tsr__val) * (size_t)(n > 0 ? n : 0));
    if (!o) return tsr_error(TSR_ERR_NOMEM, "no memory for a list of %d", n);
    o->hdr = (tsr__obj){.refs = 1, .kind = TSR__V_LIST};
    o->n = n;
    for (int i = 0; i < n; i++) o->items[i] = tsr__val_ref(items[i]);
    *out = (tsr__val){.kind = TSR__V_LIST, .obj = &o->hdr};
    return TSR_OK;
}

int tsr__val_array(int ndim, int64_t m, int64_t n, tsr_array_t *a, bool is_row, tsr__val *out) {
    tsr__arr *o = calloc(1, sizeof *o);
    if (!o) {
        tsr_array_free(&a);
        return tsr_error(TSR_ERR_NOMEM, "no memory for an array value");
    }
    o->hdr = (tsr__obj){.refs = 1, .kind = TSR__V_ARRAY};
    o->ndim = ndim;
    o->m = m;
    o->n = ndim == 1 ? 1 : n;
    if (ndim == 1 && is_row)
        o->row = a;
    else
        o->col = a;
    if (++arr_live > arr_peak) arr_peak = arr_live;
    *out = (tsr__val){.kind = TSR__V_ARRAY, .obj = &o->hdr};
    return TSR_OK;
}

int tsr__val_transpose(tsr__val a, tsr__val *out) {
    tsr__arr *x = tsr__as_arr(a);
    if (x->ndim == 1) {
        *out = tsr__val_ref(a);
        return TSR_OK;
    }
    if (x->tof && !x->col) { /* the transpose of a lazy transpose is the original */
        *out = tsr__val_ref((tsr__val){.kind = TSR__V_ARRAY, .obj = &x->tof->hdr});
        return TSR_OK;
    }
    int rc = tsr__val_array(2, x->n, x->m, NULL, false, out);
    if (rc != TSR_OK) return rc;
    x->hdr.refs++;
    tsr__as_arr(*out)->tof = x;
    return TSR_OK;
}

int tsr__val_pending(int kind, tsr_future_t *f, tsr__val *out) {
    pending_ext *o = malloc(sizeof *o);
    if (!o) {
        tsr_future_release(&f);
        return tsr_error(TSR_ERR_NOMEM, "no memory for a pending number");
    }
    o->p.hdr = (tsr__obj){.refs = 1, .kind = kind};
    o->p.f = f;
    o->loc = current_cx ? current_cx->loc : (tsr__loc){0};
    o->who = current_cx ? current_cx->who : NULL;
    *out = (tsr__val){.kind = (uint8_t)kind, .state = TSR__NUM_PENDING, .obj = &o->p.hdr};
    return TSR_OK;
}

int tsr__num_force(tsr__ctx *cx, tsr__val *v, bool *known) {
    if (known) *known = true;
    if (v->state == TSR__NUM_UNKNOWN) {
        if (known) *known = false;
        return TSR_OK;
    }
    if (v->state != TSR__NUM_PENDING) return TSR_OK;
    pending_ext *p = (pending_ext *)v->obj;
    void *value = NULL;
    int rc = tsr_wait(p->p.f, &value);
    if (rc != TSR_OK) {
        /* Report it where the number was made. */
        tsr__loc loc = cx->loc;
        const char *who = cx->who;
        if (p->loc.file) {
            cx->loc = p->loc;
            cx->who = p->who;
        }
        rc = tsr__err_from(cx, rc);
        cx->loc = loc;
        cx->who = who;
        return rc;
    }
    double x = *(const double *)value;
    int kind = v->kind;
    tsr__val_drop(v);
    *v = kind == TSR__V_BOOL ? tsr__boolean(x != 0) : tsr__number(x);
    return TSR_OK;
}

/* ---- array forms ---- */

static int transpose_into(tsr__ctx *cx, tsr_array_t *src, tsr_array_t **dst) {
    int rc = tsr_array_transpose(src, dst);
    return rc == TSR_OK ? rc : tsr__err_from(cx, rc);
}

int tsr__arr_col(tsr__ctx *cx, tsr__arr *a, tsr_array_t **out) {
    *out = NULL;
    if (cx->check) return TSR_OK;
    if (a->ndim == 2) return tsr__arr_get(cx, a, out);
    if (!a->col) {
        if (!a->row) return tsr__err(cx, TSR_ERR_STATE, "array value without data");
        int rc = transpose_into(cx, a->row, &a->col);
        if (rc != TSR_OK) return rc;
    }
    *out = a->col;
    return TSR_OK;
}

int tsr__arr_row(tsr__ctx *cx, tsr__arr *a, tsr_array_t **out) {
    *out = NULL;
    if (cx->check) return TSR_OK;
    if (a->ndim == 2) return tsr__arr_get(cx, a, out);
    if (!a->row) {
        if (!a->col) return tsr__err(cx, TSR_ERR_STATE, "array value without data");
        int rc = transpose_into(cx, a->col, &a->row);
        if (rc != TSR_OK) return rc;
    }
    *out = a->row;
    return TSR_OK;
}

int tsr__arr_get(tsr__ctx *cx, tsr__arr *a, tsr_array_t **out) {
    *out = NULL;
    if (cx->check) return TSR_OK;
    if (a->ndim == 1) return tsr__arr_col(cx, a, out);
    if (!a->col) {
        if (!a->tof) return tsr__err(cx, TSR_ERR_STATE, "array value without data");
        tsr_array_t *src;
        int rc = tsr__arr_get(cx, a->tof, &src);
        if (rc != TSR_OK) return rc;
        rc = transpose_into(cx, src, &a->col);
        if (rc != TSR_OK) return rc;
    }
    *out = a->col;
    return TSR_OK;
}
