/* Active messages over MPI.
 *
 * A handler is registered collectively: every rank registers the same
 * handlers in the same order and gets the same id. tsr_am_send(rank, id, ...)
 * makes `id` run as a task on `rank` with the bytes sent. Payloads up to the
 * eager limit (TSR_EAGER_LIMIT) travel in one message through preposted
 * buffers; larger ones go by rendezvous: a small request travels eagerly, the
 * receiver chooses the destination (its handler's alloc callback, e.g. the
 * tile the bytes belong in) and the payload moves by nonblocking MPI straight
 * into it.
 *
 * Progress: idle workers and waiting threads poll MPI (TSR_PROGRESS=poll,
 * default), or a dedicated thread does (TSR_PROGRESS=thread).
 *
 *    rank A                                  rank B
 *    tsr_am_send(B, id, hdr, payload) ──eager──▶ handler task(id, hdr, payload)
 *                             (large) ──RTS────▶ alloc(hdr, len) -> dst
 *                                     ══data═══▶ dst ; handler task(id, hdr, dst) */
#ifndef TESSERA_AM_H
#define TESSERA_AM_H

#include "tessera/base.h"
#include "tessera/future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs as a task on the receiving rank. hdr is valid only during the call
 * (NULL when hdrlen == 0; payload is NULL when len == 0). Messages carry no
 * ordering guarantee, not even between one pair of ranks: each handler is a
 * task, and tasks run in any order on any worker.
 * payload: for a handler registered WITH an alloc callback, a non-empty
 * payload always came from that callback (eager and self messages are copied
 * into an alloc'd buffer too) and belongs to the handler from then on;
 * otherwise (no callback, it returned NULL, or len == 0) it is the runtime's,
 * valid only during the call. Handlers may spawn tasks and send
 * messages; they must not call tsr_fence. */
typedef void (*tsr_am_handler)(int src, const void *hdr, size_t hdrlen, void *payload,
                               size_t len, void *arg);

/* Where a payload should land. Called for every message with len > 0:
 * for a rendezvous payload on the thread that drives progress, before the
 * bytes move; for an eager one (or one sent to this rank itself) on the
 * worker, just before the handler. Must not block. Return a buffer of at
 * least len bytes (the handler owns it after), or NULL to let the runtime
 * allocate (and free after the handler returns). */
typedef void *(*tsr_am_alloc_fn)(int src, const void *hdr, size_t hdrlen, size_t len, void *arg);

/* Collective over all ranks, called in the same order everywhere: returns the
 * same id on every rank. alloc may be NULL. Once it returns on any rank, the
 * handler exists on all, so messages to it may be sent at once; whatever the
 * handler touches must therefore be ready before the call. Ranks that have
 * registered different counts get TSR_ERR_STATE. */
TSR_API int tsr_am_register(tsr_am_handler handler, tsr_am_alloc_fn alloc, void *arg, int *id_out);

/* Send buf (len bytes, may be 0) to handler id on rank dest (may be this
 * rank). buf is copied before return: the caller may reuse it at once. Above
 * the eager limit the copy then goes by rendezvous; to avoid the copy use
 * tsr_am_sendv. While more than 64 MiB of such copies are still unsent, the
 * call first polls progress until enough have gone (memory bound).
 * Errors: TSR_ERR_INVALID (dest out of range, NULL buf with len > 0),
 * TSR_ERR_NOT_FOUND (id not registered), TSR_ERR_STATE (before tsr_init). */
TSR_API int tsr_am_send(int dest, int id, const void *buf, size_t len);

/* Send a small header (copied, at most TSR_AM_MAX_HDR bytes) and a payload
 * that is NOT copied: the payload must stay untouched until *done (if not
 * NULL) is ready; done gets one reference for the caller. With done == NULL
 * the call returns only once the payload may be reused (it polls progress
 * meanwhile, without running other tasks). Payloads that fit the eager
 * limit, and messages to this rank, are copied anyway: *done is then ready
 * on return. */
#define TSR_AM_MAX_HDR 256
TSR_API int tsr_am_sendv(int dest, int id, const void *hdr, size_t hdrlen, const void *payload,
                         size_t len, tsr_future_t **done);

/* Collective: returns when every task on every rank has finished and every
 * message sent (including by handlers and the tasks they spawn) has been
 * handled. Called by the main thread of every rank, outside tasks; runs tasks
 * and polls meanwhile. Ranks leave at slightly different times: a message a
 * rank sends after its tsr_fence returned may be handled on another rank
 * that is still inside its own tsr_fence. */
TSR_API int tsr_fence(void);

/* Drive message progress once from the calling thread. Returns the number of
 * events handled (0 if none or if another thread is polling). Any thread. */
TSR_API int tsr_am_progress(void);

/* Remote futures: a future on this rank that another rank fulfils.
 * tsr_remote_future_create returns a local future and a handle (plain bytes:
 * send it anywhere). Any rank then calls tsr_remote_future_set(handle, buf,
 * len): the owner's future becomes ready with a malloc'd copy of buf (owned by
 * the future; NULL when len == 0), or tsr_remote_future_fail(handle, status,
 * msg) with status < 0. Only the first fulfilment counts: a later one (or a
 * stale or forged handle) is logged as an error on the owner and ignored. The
 * runtime keeps the future alive until it is fulfilled or tsr_finalize. */
typedef struct tsr_remote_handle {
    int32_t rank;
    int32_t pad;
    uint64_t key;
} tsr_remote_handle;
TSR_API int tsr_remote_future_create(tsr_future_t **out, tsr_remote_handle *handle_out);
TSR_API int tsr_remote_future_set(tsr_remote_handle handle, const void *buf, size_t len);
TSR_API int tsr_remote_future_fail(tsr_remote_handle handle, int status, const char *msg);

/* Counters since tsr_init, this rank; messages to itself included. bytes_*
 * count payloads, not headers; received counts messages that decoded. */
typedef struct tsr_am_stats {
    uint64_t sent, received, eager_sent, rndv_sent, bytes_sent, bytes_received;
} tsr_am_stats;
TSR_API void tsr_am_stats_get(tsr_am_stats *out);

#ifdef __cplusplus
}
#endif
#endif
