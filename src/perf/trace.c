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
#include "perf/papi.h"
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
/* Task ids are handed to threads in blocks of ID_BLOCK: one shared atomic
 * per ID_BLOCK tasks instead of one per task. */
#define ID_BLOCK 4096u
static _Atomic uint32_t id_blocks;
static _Atomic uint64_t flow_seq;
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
    b->id_next = b->id_end = 0;
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

/* Room for k consecutive events (chunks allocated), or 0 (then the event
 * is counted once as dropped). */
static int reserve(tsr__trace_buf *b, uint64_t k) {
    uint64_t n = atomic_load_explicit(&b->n, memory_order_relaxed);
    if (n + k > tsr__trace_sess.cap) {
        count_drop(b);
        return 0;
    }
    for (uint64_t c = n >> TSR__TRACE_CHUNK_LOG2; c <= (n + k - 1) >> TSR__TRACE_CHUNK_LOG2; c++) {
        if (__builtin_expect(b->chunk[c] == NULL, 0)) {
            b->chunk[c] = malloc(TSR__TRACE_CHUNK * sizeof(tsr__trace_ev));
            if (b->chunk[c] == NULL) {
                count_drop(b);
                return 0;
            }
        }
    }
    return 1;
}

static void publish(tsr__trace_buf *b, uint64_t k) {
    atomic_store_explicit(&b->n, atomic_load_explicit(&b->n, memory_order_relaxed) + k,
                          memory_order_release);
}

static void record_full(const tsr__trace_ev *ev) {
    tsr__trace_buf *b = get_buf();
    if (b == NULL || !reserve(b, 1)) return;
    *TSR__TRACE_EV(b, atomic_load_explicit(&b->n, memory_order_relaxed)) = *ev;
    publish(b, 1);
}

static void record(uint32_t type, const char *name, const char *cat, const char *site,
                   uint64_t t0, uint64_t t1, int peer, uint64_t bytes) {
    tsr__trace_ev e = {.t0 = t0, .t1 = t1, .name = name, .cat = cat, .site = site,
                       .bytes = bytes, .peer = peer, .type = (uint16_t)type};
    record_full(&e);
}

/* ---- the traced paths ------------------------------------------------- */

uint32_t tsr__trace_next_id(void) {
    tsr__trace_buf *b = get_buf();
    if (b == NULL) return 0;
    if (b->id_next == b->id_end) {
        uint32_t blk = atomic_fetch_add_explicit(&id_blocks, 1, memory_order_relaxed);
        b->id_next = blk * ID_BLOCK + 1; /* ids start at 1: 0 means none */
        b->id_end = b->id_next + ID_BLOCK;
    }
    return b->id_next++;
}

/* A task event and its extra slots: deps (uint32) then counters (int64). */
static void record_task(const char *label, const char *site, uint64_t t0, uint64_t t1,
                        uint32_t id, const uint32_t *deps, int ndeps, uint64_t flops,
                        uint64_t bytes, const long long *ctr, int nctr) {
    tsr__trace_buf *b = get_buf();
    if (b == NULL) return;
    size_t extra_bytes = (size_t)ndeps * sizeof(uint32_t) + (size_t)nctr * sizeof(long long);
    uint64_t nextra = (extra_bytes + TSR__TRACE_EXTRA_BYTES - 1) / TSR__TRACE_EXTRA_BYTES;
    if (!reserve(b, 1 + nextra)) return;
    uint64_t n = atomic_load_explicit(&b->n, memory_order_relaxed);
    *TSR__TRACE_EV(b, n) = (tsr__trace_ev){.t0 = t0, .t1 = t1, .name = label, .cat = "task",
                                           .site = site, .bytes = bytes, .flops = flops,
                                           .id = id, .peer = -1, .type = TSR__EV_TASK,
                                           .nextra = (uint16_t)nextra, .ndeps = (uint32_t)ndeps,
                                           .nctr = (uint32_t)nctr};
    /* Pack into a contiguous scratch, then copy slot by slot (slots may lie
     * in two chunks). */
    unsigned char scratch[TSR__TRACE_MAX_DEPS * sizeof(uint32_t) +
                          TSR__PAPI_MAX_EVENTS * sizeof(long long) + TSR__TRACE_EXTRA_BYTES];
    memcpy(scratch, deps, (size_t)ndeps * sizeof(uint32_t));
    memcpy(scratch + (size_t)ndeps * sizeof(uint32_t), ctr, (size_t)nctr * sizeof(long long));
    for (uint64_t k = 0; k < nextra; k++) {
        tsr__trace_ev *x = TSR__TRACE_EV(b, n + 1 + k);
        memcpy(x, scratch + k * TSR__TRACE_EXTRA_BYTES, TSR__TRACE_EXTRA_BYTES);
        x->type = TSR__EV_EXTRA;
    }
    publish(b, 1 + nextra);
}

void tsr__trace_task(tsr_task_fn fn, void *arg, const char *label, const char *site, uint32_t id,
                     const uint32_t *deps, int ndeps) {
    uint32_t dep_copy[TSR__TRACE_MAX_DEPS];
    long long c0[TSR__PAPI_MAX_EVENTS], c1[TSR__PAPI_MAX_EVENTS];
    int nctr = tsr__trace_sess.papi_n;
    if (ndeps > TSR__TRACE_MAX_DEPS) ndeps = TSR__TRACE_MAX_DEPS;
    /* The caller's deps may live in what fn frees. */
    memcpy(dep_copy, deps, (size_t)ndeps * sizeof *deps);
    tsr__trace_ctx prev = tsr__trace_tls;
    tsr__trace_tls = (tsr__trace_ctx){.label = label, .site = site, .flops = 0, .bytes = 0};
    if (nctr > 0) tsr__papi_read(c0);
    uint64_t t0 = tsr_time_ns();
    fn(arg);
    uint64_t t1 = tsr_time_ns();
    if (nctr > 0) {
        tsr__papi_read(c1);
        for (int i = 0; i < nctr; i++) c1[i] -= c0[i];
    }
    uint64_t flops = tsr__trace_tls.flops, bytes = tsr__trace_tls.bytes;
    tsr__trace_tls = prev;
    /* Tracing may have stopped while the task ran: then the session's
     * buffers are being written and this event is not wanted. */
    if (tsr__trace_enabled())
        record_task(label, site, t0, t1, id, dep_copy, ndeps, flops, bytes, c1, nctr);
}

uint64_t tsr__trace_flow_id(uint64_t *t_ns) {
    /* rank * 2^40 + a per-rank sequence (from 1): unique in the job, and
     * exact as a JSON number for up to 8192 ranks. */
    uint64_t seq = atomic_fetch_add_explicit(&flow_seq, 1, memory_order_relaxed) + 1;
    *t_ns = tsr_time_ns();
    return ((uint64_t)tsr_rank() << 40) + seq;
}

void tsr__trace_send(int peer, uint64_t bytes, uint64_t flow, uint64_t t_ns) {
    tsr__trace_ev e = {.t0 = t_ns, .t1 = t_ns, .name = "send", .cat = "am", .bytes = bytes,
                       .id = flow, .peer = peer, .type = TSR__EV_SEND};
    record_full(&e);
}

void tsr__trace_recv(int peer, uint64_t bytes, uint64_t flow, uint64_t t0_ns, uint64_t t1_ns) {
    tsr__trace_ev e = {.t0 = t0_ns, .t1 = t1_ns, .name = "recv", .cat = "am", .bytes = bytes,
                       .id = flow, .peer = peer, .type = TSR__EV_RECV};
    record_full(&e);
}

void tsr__trace_wait(uint32_t for_id, uint64_t t0_ns, uint64_t t1_ns) {
    if (!tsr__trace_enabled()) return;
    tsr__trace_ev e = {.t0 = t0_ns, .t1 = t1_ns, .name = "wait", .cat = "wait",
                       .site = tsr__trace_tls.site, .id = for_id, .peer = -1,
                       .type = TSR__EV_WAIT};
    record_full(&e);
}

/* ---- public recording API -------------------------------------------- */

int tsr_trace_on(void) { return tsr__trace_enabled(); }

void tsr_trace_count(uint64_t flops, uint64_t bytes) {
    if (!tsr__trace_enabled()) return;
    tsr__trace_tls.flops += flops;
    tsr__trace_tls.bytes += bytes;
}

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
    uint64_t cap = 0, base = 0;
    int papi_up = 0;
    if (path == NULL || path[0] == '\0')
        return tsr_error(TSR_ERR_INVALID, "tsr_trace_open: the path is empty");
    if (!TSR_TRACE_ENABLED)
        return tsr_error(TSR_ERR_UNSUPPORTED,
                         "tsr_trace_open: tracing is compiled out of this build (meson "
                         "-Dtrace=false); cannot write %s",
                         path);
    if (tsr_nranks() <= 0 || tsr_num_workers() == 0)
        return tsr_error(TSR_ERR_STATE, "tsr_trace_open: call tsr_init first");
    /* Every rank parses the same environment, so all fail alike. */
    TSR_CHECK(cap_from_env(&cap));
    int was_on = tsr_trace_on();
    if (!was_on) {
        TSR_CHECK(tsr__papi_init()); /* TSR_OK without counters (rank 0 says why, once) */
        papi_up = 1;
    }
    TSR_CHECK(tsr__trace_write_open(path, &base)); /* collective: clock offsets, base time */
    if (was_on) return TSR_OK;
    /* Recording is off, so no thread touches a buffer: start a session. */
    tsr__trace_sess.gen++;
    tsr__trace_sess.cap = cap;
    tsr__trace_sess.t_base = base;
    tsr__trace_sess.t_end = 0;
    tsr__trace_sess.papi_n = tsr__papi_nevents();
    atomic_store(&id_blocks, 0);
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
    if (papi_up) tsr__papi_fini();
    return rc;
}

int tsr_trace_close(void) {
    int rc = TSR_OK;
    if (!tsr_trace_on()) return TSR_OK;
    /* Finish all work first, so that every task's event is in. */
    TSR_CHECK(tsr_fence());
    tsr__trace_sess.t_end = tsr_time_ns();
    atomic_store_explicit(&tsr__trace_active, 0, memory_order_release);
    rc = tsr__trace_write_close(); /* reads the PAPI event names: fini after */
    tsr__papi_fini();
    tsr__trace_sess.papi_n = 0;
    return rc;
fail:
    atomic_store_explicit(&tsr__trace_active, 0, memory_order_release);
    tsr__papi_fini();
    tsr__trace_sess.papi_n = 0;
    return rc;
}
