/* Perf layer internals shared with the scheduler and the message engine:
 * the "is tracing on" flag (one relaxed load, the whole untraced cost), the
 * calling thread's label and site that spawned tasks capture, and the
 * recording entry points of the traced path. */
#ifndef TSR_PERF_INTERNAL_H
#define TSR_PERF_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/perf.h"
#include "tessera/sched.h"

#if defined(__GNUC__)
#define TSR_PERF_TLS_IE __attribute__((tls_model("initial-exec")))
#else
#define TSR_PERF_TLS_IE
#endif

/* Meson's -Dtrace=false defines TSR_TRACE_ENABLED=0: tsr__trace_enabled()
 * is then the constant 0, every traced branch is compiled out, and
 * tsr_trace_open says tracing is not in this build. */
#ifndef TSR_TRACE_ENABLED
#define TSR_TRACE_ENABLED 1
#endif

/* Label and site current on this thread (tsr_trace_label/site). Read by
 * tsr_async & co. when they make a job, traced or not: two loads from
 * static TLS (initial-exec: no __tls_get_addr call) and no branch.
 * flops/bytes: tsr_trace_count's sums for the traced task running on this
 * thread (zeroed when it starts; only touched while tracing). */
typedef struct tsr__trace_ctx {
    const char *label;
    const char *site;
    uint64_t flops, bytes;
} tsr__trace_ctx;
extern TSR_PERF_TLS_IE _Thread_local tsr__trace_ctx tsr__trace_tls;

/* Nonzero while recording. Written at open/close only. */
extern _Atomic int tsr__trace_active;

static inline int tsr__trace_enabled(void) {
#if TSR_TRACE_ENABLED
    return __builtin_expect(atomic_load_explicit(&tsr__trace_active, memory_order_relaxed), 0);
#else
    return 0;
#endif
}

/* Most dependencies recorded per task (a when_all over more lists the
 * first ones). */
#define TSR__TRACE_MAX_DEPS 1024

/* A fresh task id, unique on this rank for the session (never 0). Taken
 * from a per-thread block, so no shared counter per task. */
uint32_t tsr__trace_next_id(void);

/* Traced path of running one job (tsr_async/then/when_all task): runs
 * fn(arg) between two clock reads with label and site current on this
 * thread (so what it spawns inherits them) and the thread's flop/byte
 * counts (and PAPI counters, when on) zeroed, then records it with its id
 * and the ids of the tasks it depended on (deps[0..ndeps), copied). */
void tsr__trace_task(tsr_task_fn fn, void *arg, const char *label, const char *site, uint32_t id,
                     const uint32_t *deps, int ndeps);

/* Message events (the message engine calls these only when enabled).
 * flow_id: a job-unique id for the send->recv arrow; *t_ns gets now. */
uint64_t tsr__trace_flow_id(uint64_t *t_ns);
void tsr__trace_send(int peer, uint64_t bytes, uint64_t flow, uint64_t t_ns);
void tsr__trace_recv(int peer, uint64_t bytes, uint64_t flow, uint64_t t0_ns, uint64_t t1_ns);

/* A wait (tsr_wait on a future that was not ready) from t0 to t1; for_id:
 * trace id of the task making the future, 0 if unknown. */
void tsr__trace_wait(uint32_t for_id, uint64_t t0_ns, uint64_t t1_ns);

/* ---- shared by trace.c and trace_write.c ---- */

enum {
    TSR__EV_COMPLETE = 0, /* span / user event */
    TSR__EV_INSTANT = 1,
    TSR__EV_TASK = 2,  /* id, flops, bytes; deps and counters in extra slots */
    TSR__EV_SEND = 3,  /* instant; id = flow */
    TSR__EV_RECV = 4,  /* complete; id = flow (0: sender not tracing) */
    TSR__EV_WAIT = 5,  /* complete; id = awaited task */
    TSR__EV_EXTRA = 6  /* continuation slot of the event before it */
};

typedef struct tsr__trace_ev {
    uint64_t t0, t1; /* tsr_time_ns; t1 unused for instants */
    const char *name, *cat, *site;
    uint64_t bytes, flops;
    uint64_t id;     /* task id / flow id / awaited task id; 0: none */
    int32_t peer;    /* < 0: none */
    uint16_t type;
    uint16_t nextra; /* EXTRA slots that follow (task: deps then counters) */
    uint32_t ndeps;  /* task: uint32 ids in the extra slots, then nctr int64 counters */
    uint32_t nctr;
} tsr__trace_ev;
/* An EXTRA slot stores raw bytes in the part before `type` (which stays
 * TSR__EV_EXTRA, so a reader can tell extra slots from events). */
#define TSR__TRACE_EXTRA_BYTES offsetof(tsr__trace_ev, type)

/* Event i of buffer b (i < n). */
#define TSR__TRACE_EV(b, i) (&(b)->chunk[(i) >> TSR__TRACE_CHUNK_LOG2][(i) & (TSR__TRACE_CHUNK - 1)])

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
    uint32_t id_next, id_end;    /* this thread's block of task ids */
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
    uint64_t t_base; /* rank 0's base time at open, in this rank's clock */
    uint64_t t_end;  /* tsr_time_ns at close (after the fence) */
    int papi_n;      /* PAPI counters per task (0: none) */
} tsr__trace_session;
extern tsr__trace_session tsr__trace_sess;
/* Head of the list of every buffer ever made. */
tsr__trace_buf *tsr__trace_buffers(void);

/* trace_write.c: the file. open: collective; creates rank 0's temporary
 * file (or moves to a new path), measures every rank's clock offset from
 * rank 0 (ping-pong, best of several) and sets *t_base to rank 0's base
 * time expressed in this rank's clock (so ts are aligned across ranks). close: collective;
 * gathers and writes every rank's events, renames, agrees on the status.
 * discard: local; forgets the file (open failed half-way). */
int tsr__trace_write_open(const char *path, uint64_t *t_base);
int tsr__trace_write_close(void);
void tsr__trace_write_discard(void);

#endif
