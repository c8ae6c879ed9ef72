/* Inside the active-message layer: the wire format, the transport interface
 * (the one struct of function pointers through which the layer reaches MPI),
 * and the engine state shared by engine.c, fence.c, remote.c and progress.c.
 *
 *   engine.c    handler table, public send API, delivery of received messages
 *   wire.c      encode / decode of one message (pure functions)
 *   mpi.c       the MPI transport: eager receives, rendezvous data, reductions
 *   progress.c  who drives progress (idle hook or thread), backoff, waits
 *   fence.c     tsr_fence: termination detection by counting waves
 *   remote.c    remote futures, on two runtime-internal handlers */
#ifndef TSR_AM_ENGINE_H
#define TSR_AM_ENGINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "am/am_internal.h"
#include "tessera/runtime.h"

/* ---- wire format ---------------------------------------------------------
 *
 * Every eager MPI message is one of:
 *   EAGER: [24-byte fixed header][user header][pad to 16][payload]
 *   RTS:   [24-byte fixed header][user header]      (payload follows on the
 *          data communicator with the tag the header names)
 * The fixed header is host byte order (ranks of one job share an ABI):
 *   u16 magic, u8 kind, u8 flags, i32 handler id, u32 hdrlen, u32 tag,
 *   u64 payload length.
 * flags: 0, or TSR__AM_F_FLOW while tracing: then a u64 flow id (the trace's
 * send->recv arrow, nonzero) follows the user header, before the padding.
 * Padding puts the payload at a 16-byte offset so a handler may read doubles
 * from it in place. */
enum { TSR__AM_EAGER = 1, TSR__AM_RTS = 2 };
#define TSR__AM_MAGIC 0x5354u /* "TS" */
#define TSR__AM_FIXED_BYTES 24u
#define TSR__AM_F_FLOW 0x80u

typedef struct tsr__am_msg {
    int kind;            /* TSR__AM_EAGER or TSR__AM_RTS */
    int id;              /* handler id as sent; not checked against the table */
    uint32_t tag;        /* RTS: data tag; EAGER: 0 */
    const void *hdr;     /* NULL when hdrlen == 0 */
    size_t hdrlen;       /* <= TSR_AM_MAX_HDR */
    const void *payload; /* EAGER: inside buf (NULL when len == 0); RTS: NULL */
    size_t len;          /* payload bytes (RTS: bytes still to come, > 0) */
    uint64_t flow;       /* trace flow id, 0 when the sender was not tracing */
} tsr__am_msg;

/* Encoded sizes; SIZE_MAX if it would overflow. */
size_t tsr__am_eager_size(size_t hdrlen, size_t len);
size_t tsr__am_rts_size(size_t hdrlen);
/* The same with a trace flow id (0: none, as above). */
size_t tsr__am_eager_size_flow(size_t hdrlen, size_t len, uint64_t flow);
size_t tsr__am_rts_size_flow(size_t hdrlen, uint64_t flow);
/* Write one message into buf (of the size above). payload is ignored for RTS. */
void tsr__am_encode(void *buf, int kind, int id, uint32_t tag, const void *hdr, size_t hdrlen,
                    const void *payload, size_t len);
void tsr__am_encode_flow(void *buf, int kind, int id, uint32_t tag, const void *hdr,
                         size_t hdrlen, const void *payload, size_t len, uint64_t flow);
/* Parse n received bytes. Pure: reads only buf[0..n), writes only *out, never
 * allocates. Returns TSR_OK, or TSR_ERR_INVALID with the thread's message
 * saying what is wrong (bad magic, kind, lengths that do not add up to n). On
 * success the pointers in *out point into buf. */
int tsr__am_decode(const void *buf, size_t n, tsr__am_msg *out);

/* ---- transport ------------------------------------------------------------
 *
 * Completion callbacks (done, deliver) run on the thread that drives progress,
 * after the transport dropped its lock, so they may call back into the
 * transport. status is TSR_OK or TSR_ERR_MPI (message set on that thread). */
typedef void (*tsr__am_done_fn)(void *ctx, int status);
/* A received eager message: msg is malloc'd and now owned by the callee.
 * msg == NULL, n == 0 reports a message the transport had to drop (it was
 * longer than an eager buffer): the engine counts and logs it. */
typedef void (*tsr__am_deliver_fn)(int src, void *msg, size_t n);
typedef enum { TSR__AM_SUM = 0, TSR__AM_MAX = 1 } tsr__am_reduce_op;

typedef struct tsr__am_transport {
    const char *name;
    /* Collective. Receives eager messages of up to recv_bytes. */
    int (*init)(MPI_Comm comm, size_t recv_bytes, tsr__am_deliver_fn deliver, int *rank_out,
                int *nranks_out);
    /* Send n bytes eagerly; msg must stay valid until done(ctx) runs. */
    int (*send)(int dest, const void *msg, size_t n, tsr__am_done_fn done, void *ctx);
    /* Start moving len bytes of buf to dest; *tag_out names the transfer for
     * the receiver's get. buf must stay valid until done(ctx) runs. */
    int (*put)(int dest, const void *buf, size_t len, uint32_t *tag_out, tsr__am_done_fn done,
               void *ctx);
    /* Receive the transfer src put with tag into buf (len bytes). */
    int (*get)(int src, uint32_t tag, void *buf, size_t len, tsr__am_done_fn done, void *ctx);
    /* Test outstanding operations once; returns how many completed, 0 if
     * another thread is polling right now. Never blocks. */
    int (*progress)(void);
    /* A nonblocking all-reduce over int64 (one at a time); in/out stay valid
     * until reduce_test sets *done. */
    int (*reduce_start)(const int64_t *in, int64_t *out, int n, tsr__am_reduce_op op);
    int (*reduce_test)(int *done);
    /* Collective. Cancels preposted receives, frees communicators. */
    int (*fini)(void);
} tsr__am_transport;

extern const tsr__am_transport tsr__am_mpi_transport;

/* ---- engine state ---------------------------------------------------------- */

/* Handler ids of the runtime's own handlers; user ids follow them. */
enum tsr__am_builtin_id {
    TSR__AM_ID_REMOTE_SET = 0,
    TSR__AM_ID_REMOTE_FAIL = 1,
    TSR__AM_ID_BUILTIN_COUNT
};

typedef struct tsr__am_state {
    atomic_int up;
    int rank, nranks;
    const tsr__am_transport *tp;
    size_t eager_limit;
    /* Termination counting (fence.c): messages this rank sent, and messages
     * it finished with (handler returned, or rejected). */
    atomic_int_fast64_t sent, handled;
    /* Transport operations started and not yet finished with (their
     * completion may still create work: a done future, a handler task). */
    atomic_int_fast64_t inflight;
    /* Bytes of send copies the transport still holds (backpressure). */
    atomic_size_t copied_bytes;
    atomic_uint_fast64_t st_sent, st_received, st_eager, st_rndv, st_bytes_sent, st_bytes_received;
} tsr__am_state;

extern tsr__am_state tsr__am;

/* Register a runtime handler at a fixed id (tsr__am_init, every rank alike). */
void tsr__am_register_builtin(int id, tsr_am_handler fn, tsr_am_alloc_fn alloc, void *arg);
/* Send with a header, payload copied before return (tsr_am_send semantics). */
int tsr__am_send_copy(int dest, int id, const void *hdr, size_t hdrlen, const void *payload,
                      size_t len);

/* For tests: hand n bytes to the receive path as if rank src had sent them
 * (buf NULL: a message the transport dropped). Counted as sent, so fences
 * still balance. Must not be an RTS the decoder accepts: no payload follows. */
void tsr__am_inject(int src, const void *buf, size_t n);

/* progress.c */
int tsr__am_progress_start(int use_thread);
void tsr__am_progress_stop(void);
/* Poll once (the idle hook). Returns events handled, or 1 when nothing
 * completed but transfers are in flight (after yielding the core): the
 * caller should keep polling rather than back off into sleep. */
int tsr__am_poll(void);
/* One round of waiting work: poll, run one task. Returns events. */
int tsr__am_drive(void);
/* Pacing of a polling loop, after a round that handled `events`: none
 * makes the loop back off (spin, then sched_yield, then short sleeps: 2
 * cores, oversubscribed tests, never spin for long); any resets *idle. */
void tsr__am_pace(int events, unsigned *idle);
/* A nonblocking all-reduce, driven to completion while this thread keeps
 * polling messages and running tasks (so ranks never wait on each other). */
int tsr__am_allreduce(const int64_t *in, int64_t *out, int n, tsr__am_reduce_op op);

/* watchdog.c: heartbeats around the ring of ranks on a duplicate of comm
 * (collective; nothing when fewer than 2 ranks or timeout_s is 0). A rank
 * silent for timeout_s seconds ends the job naming it. Stop is collective
 * too: it returns once every rank has stopped (no rank is declared lost for
 * having reached finalize first). */
int tsr__watchdog_start(MPI_Comm comm, long timeout_s);
void tsr__watchdog_stop(void);

/* remote.c */
void tsr__am_remote_init(void);
void tsr__am_remote_fini(void);

#endif
