/* The active-message engine: handler table, the public send API, and what
 * happens to a message once the transport delivered it (decode, check, run the
 * handler as a task). Everything MPI lives behind tsr__am.tp (mpi.c).
 *
 * Counting for tsr_fence: `sent` goes up before a message can possibly reach
 * its destination, `handled` after its handler returned (or it was rejected),
 * so sum(sent) == sum(handled) means nothing is in flight. `inflight` counts
 * transport operations whose completion is still to come: while it is
 * non-zero this rank may still create work by itself (a done future firing). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "am/am_engine.h"
#include "base/internal.h"
#include "perf/perf_internal.h"
#include "sched/sched_internal.h"
#include "tessera/sched.h"

/* Capacity of the handler table. Fixed, so handler tasks on any worker read
 * it without a lock while the main thread registers more. */
#define MAX_HANDLERS 4096
/* Send copies the transport may hold before tsr_am_send waits for some to
 * drain (polling progress). Bounds memory when one rank sends much faster
 * than its peers handle; a single larger message is still let through. */
#define COPY_LIMIT ((size_t)64 << 20)

typedef struct handler_entry {
    tsr_am_handler fn;
    tsr_am_alloc_fn alloc;
    void *arg;
} handler_entry;

static handler_entry table[MAX_HANDLERS];
static atomic_int table_n;

tsr__am_state tsr__am;

/* A received message on its way to its handler. */
typedef struct am_task {
    int src;
    tsr__am_msg m;  /* points into msg */
    void *msg;      /* the eager message or RTS; freed after the handler */
    void *dst;      /* rendezvous: where the payload landed */
    int dst_ours;   /* dst came from malloc here, not from the alloc callback */
} am_task;

static int lookup(int id, handler_entry *out) {
    if (id < 0 || id >= atomic_load_explicit(&table_n, memory_order_acquire)) return 0;
    *out = table[id];
    return out->fn != NULL;
}

static void count_handled(void) { atomic_fetch_add(&tsr__am.handled, 1); }

/* ---- receiving -------------------------------------------------------------- */

/* Runs as a task on a worker. */
static void run_handler(void *arg) {
    am_task *t = arg;
    handler_entry e;
    tsr_assert(lookup(t->m.id, &e));
    void *payload = t->dst;
    if (t->m.kind == TSR__AM_EAGER) {
        payload = (void *)t->m.payload;
        /* The alloc callback is asked for every non-empty payload, eager ones
         * included, so a handler with one always owns what it gets. */
        if (e.alloc && t->m.len > 0) {
            void *dst = e.alloc(t->src, t->m.hdr, t->m.hdrlen, t->m.len, e.arg);
            if (dst) {
                memcpy(dst, payload, t->m.len);
                payload = dst;
            }
        }
    }
    if (tsr__trace_enabled()) {
        uint64_t t0 = tsr_time_ns();
        e.fn(t->src, t->m.hdr, t->m.hdrlen, payload, t->m.len, e.arg);
        tsr__trace_recv(t->src, t->m.len, t->m.flow, t0, tsr_time_ns());
    } else {
        e.fn(t->src, t->m.hdr, t->m.hdrlen, payload, t->m.len, e.arg);
    }
    if (t->dst_ours) free(t->dst);
    free(t->msg);
    free(t);
    count_handled();
}

static void spawn_handler(am_task *t) {
    int rc = tsr_spawn(run_handler, t);
    if (rc != TSR_OK)
        tsr_abort("rank %d: cannot run handler %d for a message from rank %d: %s", tsr__am.rank,
                  t->m.id, t->src, tsr_error_message());
}

static void rndv_recv_done(void *ctx, int status) {
    am_task *t = ctx;
    if (status != TSR_OK)
        tsr_abort("rank %d: receiving %zu bytes from rank %d failed: %s", tsr__am.rank, t->m.len,
                  t->src, tsr_error_message());
    if (t->m.id < 0) { /* rejected message drained: see deliver() */
        free(t->dst);
        free(t->msg);
        free(t);
        count_handled();
    } else {
        spawn_handler(t);
    }
    atomic_fetch_sub(&tsr__am.inflight, 1);
}

/* A message arrived (from the transport, or from this rank itself). Runs on
 * the thread driving progress, or on the sender for a message to self. */
static void deliver(int src, void *msg, size_t n) {
    tsr__am_msg m;
    handler_entry e;
    if (tsr__am_decode(msg, n, &m) != TSR_OK) {
        tsr_log(TSR_LOG_ERROR, "rejected a malformed message from rank %d (%zu bytes): %s", src, n,
                tsr_error_message());
        free(msg);
        count_handled();
        return;
    }
    atomic_fetch_add(&tsr__am.st_received, 1);
    atomic_fetch_add(&tsr__am.st_bytes_received, m.len);
    am_task *t = calloc(1, sizeof *t);
    if (!t) tsr_abort("rank %d: no memory for a message from rank %d", tsr__am.rank, src);
    t->src = src;
    t->m = m;
    t->msg = msg;
    int known = lookup(m.id, &e);
    if (!known) {
        tsr_log(TSR_LOG_ERROR,
                "rejected a message from rank %d for handler id %d (%d handlers registered)", src,
                m.id, atomic_load(&table_n));
        if (m.kind == TSR__AM_EAGER) {
            free(msg);
            free(t);
            count_handled();
            return;
        }
        /* Receive and drop the payload, so that the sender's transfer ends. */
        t->m.id = -1;
    }
    if (m.kind == TSR__AM_EAGER) {
        spawn_handler(t);
        return;
    }
    t->dst = known && e.alloc ? e.alloc(src, m.hdr, m.hdrlen, m.len, e.arg) : NULL;
    if (!t->dst) {
        t->dst = malloc(m.len);
        t->dst_ours = 1;
        if (!t->dst && !known) { /* a bogus length: nothing sane to drain into */
            free(msg);
            free(t);
            count_handled();
            return;
        }
        if (!t->dst)
            tsr_abort("rank %d: no memory for a %zu-byte message from rank %d", tsr__am.rank,
                      m.len, src);
    }
    atomic_fetch_add(&tsr__am.inflight, 1);
    if (tsr__am.tp->get(src, m.tag, t->dst, m.len, rndv_recv_done, t) != TSR_OK)
        tsr_abort("rank %d: cannot receive %zu bytes from rank %d: %s", tsr__am.rank, m.len, src,
                  tsr_error_message());
}

void tsr__am_inject(int src, const void *buf, size_t n) {
    void *copy = NULL;
    if (buf) {
        copy = malloc(n ? n : 1);
        if (!copy) tsr_abort("rank %d: no memory to inject %zu bytes", tsr__am.rank, n);
        memcpy(copy, buf, n);
    }
    atomic_fetch_add(&tsr__am.sent, 1);
    deliver(src, copy, n);
}

/* ---- sending ---------------------------------------------------------------- */

/* A send the transport holds: what to free and what to tell when it is done. */
typedef struct send_ctx {
    void *copy;          /* freed when done (eager message, RTS, payload copy) */
    size_t copied;       /* bytes counted in copied_bytes */
    tsr_future_t *done;  /* fulfilled when done; we hold one reference */
    atomic_int *flag;    /* set when done (a sender waiting for reuse) */
} send_ctx;

static void send_done(void *ctx, int status) {
    send_ctx *c = ctx;
    if (c->copied) atomic_fetch_sub(&tsr__am.copied_bytes, c->copied);
    free(c->copy);
    if (c->done) {
        if (status == TSR_OK)
            tsr_future_set(c->done, NULL);
        else
            tsr_future_fail(c->done, status, tsr_error_message());
        tsr_future_release(&c->done);
    } else if (status != TSR_OK) {
        /* Nobody to tell: a lost message would hang every later fence. */
        tsr_abort("rank %d: sending a message failed: %s", tsr__am.rank, tsr_error_message());
    }
    if (c->flag) atomic_store(c->flag, 1);
    free(c);
    atomic_fetch_sub(&tsr__am.inflight, 1); /* last: the work above is visible first */
}

/* The transport's answer to a post: a post that failed is not in flight. */
static int posted(int rc_of_post) {
    if (rc_of_post != TSR_OK) atomic_fetch_sub(&tsr__am.inflight, 1);
    return rc_of_post;
}

static void wait_flag(atomic_int *flag) {
    unsigned idle = 0;
    while (!atomic_load(flag)) tsr__am_pace(tsr__am_poll(), &idle);
}

static void backpressure(size_t more) {
    unsigned idle = 0;
    for (;;) {
        size_t held = atomic_load(&tsr__am.copied_bytes);
        if (held == 0 || held + more <= COPY_LIMIT) return;
        tsr__am_pace(tsr__am_poll(), &idle);
    }
}

/* copy: the payload is copied (tsr_am_send); otherwise zero-copy, and with
 * done_out == NULL we return only when the transport is finished with it. */
static int am_send(int dest, int id, const void *hdr, size_t hdrlen, const void *payload,
                   size_t len, int copy, tsr_future_t **done_out) {
    int rc = TSR_OK;
    handler_entry e;
    send_ctx *c = NULL;
    void *msg = NULL;
    tsr_future_t *done = NULL;
    if (done_out) *done_out = NULL;
    TSR_CHECK_MSG(atomic_load(&tsr__am.up), TSR_ERR_STATE,
                  "tsr_am_send: the message engine is not running (call tsr_init first)");
    TSR_CHECK_MSG(dest >= 0 && dest < tsr__am.nranks, TSR_ERR_INVALID,
                  "rank %d: tsr_am_send to rank %d, but there are %d ranks", tsr__am.rank, dest,
                  tsr__am.nranks);
    TSR_CHECK_MSG(lookup(id, &e), TSR_ERR_NOT_FOUND,
                  "rank %d: tsr_am_send to handler id %d, which is not registered (%d are)",
                  tsr__am.rank, id, atomic_load(&table_n));
    TSR_CHECK_MSG(hdrlen <= TSR_AM_MAX_HDR && (hdr || !hdrlen), TSR_ERR_INVALID,
                  "rank %d: header of %zu bytes (at most %d, non-NULL if non-empty)",
                  tsr__am.rank, hdrlen, TSR_AM_MAX_HDR);
    TSR_CHECK_MSG(payload || !len, TSR_ERR_INVALID, "rank %d: NULL payload of %zu bytes",
                  tsr__am.rank, len);
    if (done_out) TSR_CHECK(tsr_future_create(&done));
    /* Tracing: the message carries a flow id (the trace's send->recv arrow),
     * taken with the send's time before it can be delivered. */
    uint64_t flow = 0, t_send = 0;
    if (tsr__trace_enabled()) flow = tsr__trace_flow_id(&t_send);

    size_t esz = tsr__am_eager_size_flow(hdrlen, len, flow);
    TSR_CHECK_MSG(esz != SIZE_MAX, TSR_ERR_NOMEM, "rank %d: message of %zu bytes", tsr__am.rank,
                  len);
    int self = dest == tsr__am.rank;
    if (self || esz <= tsr__am.eager_limit) {
        /* Eager (and every message to self, whatever its size): one copy. */
        if (!self) backpressure(esz);
        msg = malloc(esz);
        TSR_CHECK_MSG(msg, TSR_ERR_NOMEM, "rank %d: no memory for a %zu-byte message",
                      tsr__am.rank, esz);
        tsr__am_encode_flow(msg, TSR__AM_EAGER, id, 0, hdr, hdrlen, payload, len, flow);
        atomic_fetch_add(&tsr__am.sent, 1);
        if (self) {
            deliver(dest, msg, esz);
        } else {
            c = calloc(1, sizeof *c);
            TSR_CHECK_MSG(c, TSR_ERR_NOMEM, "rank %d: no memory for a send", tsr__am.rank);
            *c = (send_ctx){.copy = msg, .copied = esz};
            atomic_fetch_add(&tsr__am.copied_bytes, esz);
            atomic_fetch_add(&tsr__am.inflight, 1);
            rc = posted(tsr__am.tp->send(dest, msg, esz, send_done, c));
            if (rc != TSR_OK) {
                atomic_fetch_sub(&tsr__am.copied_bytes, esz);
                atomic_fetch_sub(&tsr__am.sent, 1);
                free(c);
                c = NULL;
                goto fail;
            }
        }
        msg = NULL;
        c = NULL;
        atomic_fetch_add(&tsr__am.st_eager, 1);
        if (done) TSR_CHECK(tsr_future_set(done, NULL));
    } else {
        /* Rendezvous: the payload goes on the data channel under a fresh tag,
         * then the RTS tells the receiver the tag. */
        atomic_int flag = 0;
        int wait = !copy && !done; /* decided now: c may be gone once posted */
        size_t rsz = tsr__am_rts_size_flow(hdrlen, flow);
        msg = malloc(rsz);
        c = calloc(1, sizeof *c);
        TSR_CHECK_MSG(msg && c, TSR_ERR_NOMEM, "rank %d: no memory for a send", tsr__am.rank);
        const void *src = payload;
        if (copy) {
            backpressure(len);
            c->copy = malloc(len);
            TSR_CHECK_MSG(c->copy, TSR_ERR_NOMEM, "rank %d: no memory to copy %zu bytes",
                          tsr__am.rank, len);
            memcpy(c->copy, payload, len);
            c->copied = len;
            atomic_fetch_add(&tsr__am.copied_bytes, len);
            src = c->copy;
        } else if (done) {
            tsr_future_retain(done);
            c->done = done;
        } else {
            c->flag = &flag;
        }
        uint32_t tag = 0;
        atomic_fetch_add(&tsr__am.sent, 1);
        atomic_fetch_add(&tsr__am.inflight, 1);
        rc = posted(tsr__am.tp->put(dest, src, len, &tag, send_done, c));
        if (rc != TSR_OK) {
            atomic_fetch_sub(&tsr__am.sent, 1);
            if (c->copied) atomic_fetch_sub(&tsr__am.copied_bytes, c->copied);
            free(c->copy);
            if (c->done) tsr_future_release(&c->done);
            goto fail;
        }
        tsr__am_encode_flow(msg, TSR__AM_RTS, id, tag, hdr, hdrlen, NULL, len, flow);
        send_ctx *rc_ctx = calloc(1, sizeof *rc_ctx);
        if (!rc_ctx) tsr_abort("rank %d: no memory for a send", tsr__am.rank);
        *rc_ctx = (send_ctx){.copy = msg};
        atomic_fetch_add(&tsr__am.inflight, 1);
        if (posted(tsr__am.tp->send(dest, msg, rsz, send_done, rc_ctx)) != TSR_OK)
            tsr_abort("rank %d: the payload to rank %d is posted but its RTS failed: %s",
                      tsr__am.rank, dest, tsr_error_message());
        msg = NULL;
        c = NULL;
        atomic_fetch_add(&tsr__am.st_rndv, 1);
        if (wait) wait_flag(&flag);
    }
    atomic_fetch_add(&tsr__am.st_sent, 1);
    atomic_fetch_add(&tsr__am.st_bytes_sent, len);
    if (flow) tsr__trace_send(dest, len, flow, t_send);
    if (done_out) *done_out = done;
    return TSR_OK;
fail:
    free(msg);
    free(c);
    tsr_future_release(&done);
    return rc;
}

int tsr_am_send(int dest, int id, const void *buf, size_t len) {
    return am_send(dest, id, NULL, 0, buf, len, 1, NULL);
}

int tsr_am_sendv(int dest, int id, const void *hdr, size_t hdrlen, const void *payload, size_t len,
                 tsr_future_t **done) {
    return am_send(dest, id, hdr, hdrlen, payload, len, 0, done);
}

int tsr__am_send_copy(int dest, int id, const void *hdr, size_t hdrlen, const void *payload,
                      size_t len) {
    return am_send(dest, id, hdr, hdrlen, payload, len, 1, NULL);
}

/* ---- registration, stats, lifecycle ------------------------------------------ */

void tsr__am_register_builtin(int id, tsr_am_handler fn, tsr_am_alloc_fn alloc, void *arg) {
    tsr_assert(id >= 0 && id < TSR__AM_ID_BUILTIN_COUNT);
    table[id] = (handler_entry){.fn = fn, .alloc = alloc, .arg = arg};
}

int tsr_am_register(tsr_am_handler handler, tsr_am_alloc_fn alloc, void *arg, int *id_out) {
    int rc = TSR_OK;
    TSR_CHECK_MSG(atomic_load(&tsr__am.up), TSR_ERR_STATE,
                  "tsr_am_register: the message engine is not running (call tsr_init first)");
    TSR_CHECK_MSG(handler && id_out, TSR_ERR_INVALID, "tsr_am_register: NULL handler or id_out");
    int n = atomic_load(&table_n);
    TSR_CHECK_MSG(n < MAX_HANDLERS, TSR_ERR_NOMEM, "rank %d: more than %d handlers", tsr__am.rank,
                  MAX_HANDLERS);
    /* Publish first, then agree: once the reduction completes anywhere, every
     * rank has the entry, so a message sent right after never finds it
     * missing. The reduction also checks every rank registered as many. */
    table[n] = (handler_entry){.fn = handler, .alloc = alloc, .arg = arg};
    atomic_store_explicit(&table_n, n + 1, memory_order_release);
    int64_t in[2] = {n, -(int64_t)n}, out[2];
    TSR_CHECK(tsr__am_allreduce(in, out, 2, TSR__AM_MAX));
    TSR_CHECK_MSG(out[0] == -out[1], TSR_ERR_STATE,
                  "rank %d: tsr_am_register is collective, but ranks had between %lld and %lld "
                  "handlers before this call (registered in a different order or count)",
                  tsr__am.rank, (long long)-out[1], (long long)out[0]);
    *id_out = n;
    return TSR_OK;
fail:
    return rc;
}

int tsr_am_progress(void) {
    if (!atomic_load(&tsr__am.up)) return 0;
    return tsr__am.tp->progress();
}

void tsr_am_stats_get(tsr_am_stats *out) {
    out->sent = atomic_load(&tsr__am.st_sent);
    out->received = atomic_load(&tsr__am.st_received);
    out->eager_sent = atomic_load(&tsr__am.st_eager);
    out->rndv_sent = atomic_load(&tsr__am.st_rndv);
    out->bytes_sent = atomic_load(&tsr__am.st_bytes_sent);
    out->bytes_received = atomic_load(&tsr__am.st_bytes_received);
}

int tsr__am_init(MPI_Comm comm, const tsr_options *opts) {
    int rc = TSR_OK;
    if (atomic_load(&tsr__am.up)) return tsr_error(TSR_ERR_STATE, "message engine already up");
    tsr__am.tp = &tsr__am_mpi_transport;
    tsr__am.eager_limit = opts->eager_limit;
    /* A receive buffer holds any eager message and any RTS. */
    size_t recv = tsr__am.eager_limit;
    size_t rts_max = tsr__am_rts_size_flow(TSR_AM_MAX_HDR, 1);
    if (recv < rts_max) recv = rts_max;
    TSR_CHECK(tsr__am.tp->init(comm, recv, deliver, &tsr__am.rank, &tsr__am.nranks));
    memset(table, 0, sizeof table);
    atomic_store(&table_n, TSR__AM_ID_BUILTIN_COUNT);
    tsr__am_remote_init();
    atomic_store(&tsr__am.up, 1);
    rc = tsr__am_progress_start(opts->progress_thread);
    if (rc != TSR_OK) {
        atomic_store(&tsr__am.up, 0);
        tsr__am.tp->fini();
        goto fail;
    }
    rc = tsr__watchdog_start(comm, opts->peer_timeout);
    if (rc != TSR_OK) {
        tsr__am_progress_stop();
        atomic_store(&tsr__am.up, 0);
        tsr__am.tp->fini();
        goto fail;
    }
    return TSR_OK;
fail:
    return rc;
}

int tsr__am_fini(void) {
    int rc = TSR_OK;
    if (!atomic_load(&tsr__am.up)) return tsr_error(TSR_ERR_STATE, "message engine is not up");
    TSR_CHECK(tsr_fence());
    /* After the fence: a rank waiting there for a slow one still beats. */
    tsr__watchdog_stop();
    tsr__am_progress_stop();
    atomic_store(&tsr__am.up, 0);
    tsr__am_remote_fini();
    rc = tsr__am.tp->fini();
    atomic_store(&table_n, 0);
fail:
    return rc;
}
