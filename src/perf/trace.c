/* Trace recording: per-thread buffers, the traced task path, spans, labels,
 * and the public open/close entry points (the file itself: trace_write.c).
 *
 * Lock-free recording: a thread finds its buffer through a thread-local
 * pointer; the first event of a session claims one (a CAS on a reusable
 * buffer, or a new one pushed onto a global list with a CAS). Appending is
 * owner-only: write the event, then publish n with release; the writer at
 * close reads n with acquire and never looks past it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "perf/perf_internal.h"
#include "runtime/runtime_internal.h"
#include "tessera/am.h"
#include "tessera/runtime.h"

#define TSR_TRACE_DEFAULT_EVENTS ((uint64_t)1 << 20)

TSR_PERF_TLS_IE _Thread_local tsr__trace_ctx tsr__trace_tls;
_Atomic int tsr__trace_active;
tsr__trace_session tsr__trace_sess;

static _Atomic(tsr__trace_buf *) all_bufs;
static _Atomic int nonworker_seq;
static _Thread_local tsr__trace_buf *my_buf;
static _Thread_local unsigned my_gen;

tsr__trace_buf *tsr__trace_buffers(void) { return atomic_load(&all_bufs); }

/* ---- buffers ---------------------------------------------------------- */

static void name_thread(tsr__trace_buf *b) {
    int w = tsr_worker_id();
    if (w >= 0) {
        b->tid = w;
        snprintf(b->name, sizeof b->name, "worker %d", w);
    } else {
        int k = atomic_fetch_add(&nonworker_seq, 1);
        b->tid = 1000 + k;
        snprintf(b->name, sizeof b->name, "thread %d", k);
    }
}

/* The calling thread's buffer for this session; NULL when tracing is off
 * or memory ran out. The acquire pairs with open's release: a thread that
 * sees tracing on also sees the session (gen, cap, base time). */
static tsr__trace_buf *get_buf(void) {
    if (!atomic_load_explicit(&tsr__trace_active, memory_order_acquire)) return NULL;
    unsigned gen = tsr__trace_sess.gen;
    if (__builtin_expect(my_buf != NULL && my_gen == gen, 1)) return my_buf;
    tsr__trace_buf *b;
    for (b = atomic_load(&all_bufs); b != NULL; b = b->next) {
        int zero = 0;
        if (atomic_load_explicit(&b->claimed, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong(&b->claimed, &zero, 1))
            break;
    }
    if (b == NULL) {
        b = calloc(1, sizeof *b);
        if (b == NULL) return NULL;
        atomic_init(&b->claimed, 1);
        tsr__trace_buf *head = atomic_load(&all_bufs);
        do b->next = head;
        while (!atomic_compare_exchange_weak(&all_bufs, &head, b));
    }
    b->gen = gen;
    b->depth = 0;
    atomic_store_explicit(&b->n, 0, memory_order_relaxed);
    atomic_store_explicit(&b->dropped, 0, memory_order_relaxed);
    name_thread(b);
    my_buf = b;
    my_gen = gen;
    return b;
}

static void count_drop(tsr__trace_buf *b) {
    atomic_store_explicit(&b->dropped, atomic_load_explicit(&b->dropped, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* A slot for the next event, or NULL (then counted as dropped). */
static tsr__trace_ev *next_slot(tsr__trace_buf *b) {
    uint64_t n = atomic_load_explicit(&b->n, memory_order_relaxed);
    if (n >= tsr__trace_sess.cap) {
        count_drop(b);
        return NULL;
    }
    tsr__trace_ev **c = &b->chunk[n >> TSR__TRACE_CHUNK_LOG2];
    if (__builtin_expect(*c == NULL, 0)) {
        *c = malloc(TSR__TRACE_CHUNK * sizeof(tsr__trace_ev));
        if (*c == NULL) {
            count_drop(b);
            return NULL;
        }
    }
    return &(*c)[n & (TSR__TRACE_CHUNK - 1)];
}

static void publish(tsr__trace_buf *b) {
    atomic_store_explicit(&b->n, atomic_load_explicit(&b->n, memory_order_relaxed) + 1,
                          memory_order_release);
}

static void record(uint32_t type, const char *name, const char *cat, const char *site,
                   uint64_t t0, uint64_t t1, int peer, uint64_t bytes) {
    tsr__trace_buf *b = get_buf();
    if (b == NULL) return;
    tsr__trace_ev *e = next_slot(b);
    if (e == NULL) return;
    *e = (tsr__trace_ev){.t0 = t0, .t1 = t1, .name = name, .cat = cat, .site = site,
                         .bytes = bytes, .peer = peer, .type = type};
    publish(b);
}

/* ---- the traced paths ------------------------------------------------- */

void tsr__trace_task(tsr_task_fn fn, void *arg, const char *label, const char *site) {
    tsr__trace_ctx prev = tsr__trace_tls;
    tsr__trace_tls.label = label;
    tsr__trace_tls.site = site;
    uint64_t t0 = tsr_time_ns();
    fn(arg);
    uint64_t t1 = tsr_time_ns();
    tsr__trace_tls = prev;
    /* Tracing may have stopped while the task ran: then the session's
     * buffers are being written and this event is not wanted. */
    if (tsr__trace_enabled()) record(TSR__EV_COMPLETE, label, "task", site, t0, t1, -1, 0);
}

void tsr__trace_send(int peer, uint64_t bytes) {
    uint64_t t = tsr_time_ns();
    record(TSR__EV_INSTANT, "send", "am", NULL, t, t, peer, bytes);
}

void tsr__trace_recv(int peer, uint64_t bytes, uint64_t t0_ns, uint64_t t1_ns) {
    record(TSR__EV_COMPLETE, "recv", "am", NULL, t0_ns, t1_ns, peer, bytes);
}

/* ---- public recording API -------------------------------------------- */

int tsr_trace_on(void) { return atomic_load_explicit(&tsr__trace_active, memory_order_relaxed); }

const char *tsr_trace_label(const char *label) {
    const char *prev = tsr__trace_tls.label;
    tsr__trace_tls.label = label;
    return prev;
}

void tsr_trace_label_restore(const char **prev) { tsr__trace_tls.label = *prev; }

const char *tsr_trace_site(const char *site) {
    const char *prev = tsr__trace_tls.site;
    tsr__trace_tls.site = site;
    return prev;
}

void tsr_trace_span_begin(const char *name) {
    if (!tsr__trace_enabled() || name == NULL) return;
    tsr__trace_buf *b = get_buf();
    if (b == NULL) return;
    if (b->depth == TSR__TRACE_SPAN_DEPTH) {
        count_drop(b);
        return;
    }
    b->span[b->depth].name = name;
    b->span[b->depth].t0 = tsr_time_ns();
    b->depth++;
}

void tsr_trace_span_end(const char *name) {
    if (!tsr__trace_enabled() || name == NULL) return;
    uint64_t t1 = tsr_time_ns();
    tsr__trace_buf *b = get_buf();
    if (b == NULL) return;
    int d = b->depth;
    /* Pointer first (the usual case), then text: a caller may pass an
     * equal string from another buffer. */
    while (d > 0 && b->span[d - 1].name != name && strcmp(b->span[d - 1].name, name) != 0) d--;
    if (d == 0) return;
    b->depth = d - 1;
    record(TSR__EV_COMPLETE, b->span[d - 1].name, "span", tsr__trace_tls.site, b->span[d - 1].t0,
           t1, -1, 0);
}

void tsr_trace_event(const char *name, const char *cat, uint64_t t0_ns, uint64_t t1_ns) {
    if (!tsr__trace_enabled() || name == NULL) return;
    if (t1_ns < t0_ns) t1_ns = t0_ns;
    record(TSR__EV_COMPLETE, name, cat ? cat : "user", NULL, t0_ns, t1_ns, -1, 0);
}

void tsr_trace_instant(const char *name, const char *cat, int peer, uint64_t bytes) {
    if (!tsr__trace_enabled() || name == NULL) return;
    uint64_t t = tsr_time_ns();
    record(TSR__EV_INSTANT, name, cat ? cat : "user", NULL, t, t, peer, bytes);
}

void tsr_trace_thread_name(const char *name) {
    if (!tsr__trace_enabled() || name == NULL) return;
    tsr__trace_buf *b = get_buf();
    if (b != NULL) snprintf(b->name, sizeof b->name, "%s", name);
}

void tsr_trace_stats_get(tsr_trace_stats *out) {
    if (out == NULL) return;
    memset(out, 0, sizeof *out);
    for (tsr__trace_buf *b = atomic_load(&all_bufs); b != NULL; b = b->next) {
        if (!atomic_load(&b->claimed) || b->gen != tsr__trace_sess.gen) continue;
        out->events += atomic_load_explicit(&b->n, memory_order_acquire);
        out->dropped += atomic_load_explicit(&b->dropped, memory_order_relaxed);
        out->threads++;
    }
}

/* ---- open and close --------------------------------------------------- */

static int hook_registered;

static void at_finalize(void) {
    if (!tsr_trace_on()) return;
    if (tsr_trace_close() != TSR_OK)
        tsr_log(TSR_LOG_ERROR, "the trace was not written: %s", tsr_error_message());
}

static int cap_from_env(uint64_t *out) {
    const char *s = getenv("TSR_TRACE_EVENTS");
    *out = TSR_TRACE_DEFAULT_EVENTS;
    if (s == NULL || *s == '\0') return TSR_OK;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t max = TSR__TRACE_CHUNK * TSR__TRACE_MAX_CHUNKS;
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < 1 || v > max)
        return tsr_error(TSR_ERR_INVALID, "TSR_TRACE_EVENTS='%s' is not an integer in [1, %llu]",
                         s, (unsigned long long)max);
    *out = v;
    return TSR_OK;
}

int tsr_trace_open(const char *path) {
    int rc = TSR_OK;
    uint64_t cap = 0;
    if (path == NULL || path[0] == '\0')
        return tsr_error(TSR_ERR_INVALID, "tsr_trace_open: the path is empty");
    if (tsr_nranks() <= 0 || tsr_num_workers() == 0)
        return tsr_error(TSR_ERR_STATE, "tsr_trace_open: call tsr_init first");
    /* Every rank parses the same environment, so all fail alike. */
    TSR_CHECK(cap_from_env(&cap));
    int was_on = tsr_trace_on();
    TSR_CHECK(tsr__trace_write_open(path)); /* collective: barrier, then base time */
    if (was_on) return TSR_OK;
    /* Recording is off, so no thread touches a buffer: start a session. The
     * barrier inside write_open is over, so t_base is aligned across ranks. */
    tsr__trace_sess.gen++;
    tsr__trace_sess.cap = cap;
    tsr__trace_sess.t_base = tsr_time_ns();
    for (tsr__trace_buf *b = atomic_load(&all_bufs); b != NULL; b = b->next)
        atomic_store(&b->claimed, 0);
    if (!hook_registered) {
        rc = tsr__runtime_at_finalize(at_finalize);
        if (rc != TSR_OK) {
            tsr__trace_write_discard();
            goto fail;
        }
        hook_registered = 1;
    }
    atomic_store_explicit(&tsr__trace_active, 1, memory_order_release);
    return TSR_OK;
fail:
    return rc;
}

int tsr_trace_close(void) {
    int rc = TSR_OK;
    if (!tsr_trace_on()) return TSR_OK;
    /* Finish all work first, so that every task's event is in. */
    TSR_CHECK(tsr_fence());
    atomic_store_explicit(&tsr__trace_active, 0, memory_order_release);
    TSR_CHECK(tsr__trace_write_close());
    return TSR_OK;
fail:
    atomic_store_explicit(&tsr__trace_active, 0, memory_order_release);
    return rc;
}
