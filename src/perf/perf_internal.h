/* Perf layer internals shared with the scheduler and the message engine:
 * the "is tracing on" flag (one relaxed load, the whole untraced cost), the
 * calling thread's label and site that spawned tasks capture, and the
 * recording entry points of the traced path. */
#ifndef TSR_PERF_INTERNAL_H
#define TSR_PERF_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "tessera/perf.h"
#include "tessera/sched.h"

#if defined(__GNUC__)
#define TSR_PERF_TLS_IE __attribute__((tls_model("initial-exec")))
#else
#define TSR_PERF_TLS_IE
#endif

/* Label and site current on this thread (tsr_trace_label/site). Read by
 * tsr_async & co. when they make a job, traced or not: two loads from
 * static TLS (initial-exec: no __tls_get_addr call) and no branch. */
typedef struct tsr__trace_ctx {
    const char *label;
    const char *site;
} tsr__trace_ctx;
extern TSR_PERF_TLS_IE _Thread_local tsr__trace_ctx tsr__trace_tls;

/* Nonzero while recording. Written at open/close only. */
extern _Atomic int tsr__trace_active;

static inline int tsr__trace_enabled(void) {
    return __builtin_expect(atomic_load_explicit(&tsr__trace_active, memory_order_relaxed), 0);
}

/* Traced path of running one job (tsr_async/then/when_all task): runs
 * fn(arg) between two clock reads with label and site current on this
 * thread (so what it spawns inherits them), then records it. */
void tsr__trace_task(tsr_task_fn fn, void *arg, const char *label, const char *site);

/* Message events (the message engine calls these only when enabled). */
void tsr__trace_send(int peer, uint64_t bytes);
void tsr__trace_recv(int peer, uint64_t bytes, uint64_t t0_ns, uint64_t t1_ns);

/* ---- shared by trace.c and trace_write.c ---- */

enum { TSR__EV_COMPLETE = 0, TSR__EV_INSTANT = 1 };

typedef struct tsr__trace_ev {
    uint64_t t0, t1; /* tsr_time_ns; t1 unused for instants */
    const char *name, *cat, *site;
    uint64_t bytes;
    int32_t peer;    /* < 0: none */
    uint32_t type;
} tsr__trace_ev;

/* Events live in chunks of TSR__TRACE_CHUNK, allocated when first needed. */
#define TSR__TRACE_CHUNK_LOG2 14
#define TSR__TRACE_CHUNK ((uint64_t)1 << TSR__TRACE_CHUNK_LOG2)
#define TSR__TRACE_MAX_CHUNKS 1024 /* cap of 16M events per thread */
#define TSR__TRACE_SPAN_DEPTH 64

/* One thread's buffer. Only the owner writes; the writer at close reads n
 * (acquire) and the events below it. Buffers are never freed (a late event
 * from another thread can never touch freed memory); a new trace session
 * reuses them. */
typedef struct tsr__trace_buf {
    struct tsr__trace_buf *next; /* list of all buffers, pushed lock-free */
    _Atomic int claimed;         /* owned by a thread in session `gen` */
    unsigned gen;
    int tid;
    char name[48];
    _Atomic uint64_t n;       /* events published */
    _Atomic uint64_t dropped; /* owner-only increments */
    tsr__trace_ev *chunk[TSR__TRACE_MAX_CHUNKS];
    int depth; /* open spans */
    struct {
        const char *name;
        uint64_t t0;
    } span[TSR__TRACE_SPAN_DEPTH];
} tsr__trace_buf;

/* Session state (trace.c). */
typedef struct tsr__trace_session {
    unsigned gen;
    uint64_t cap;    /* events per thread */
    uint64_t t_base; /* tsr_time_ns at open, after a barrier */
} tsr__trace_session;
extern tsr__trace_session tsr__trace_sess;
/* Head of the list of every buffer ever made. */
tsr__trace_buf *tsr__trace_buffers(void);

/* trace_write.c: the file. open: collective; creates rank 0's temporary
 * file (or moves to a new path) and ends with a barrier. close: collective;
 * gathers and writes every rank's events, renames, agrees on the status.
 * discard: local; forgets the file (open failed half-way). */
int tsr__trace_write_open(const char *path);
int tsr__trace_write_close(void);
void tsr__trace_write_discard(void);

#endif
