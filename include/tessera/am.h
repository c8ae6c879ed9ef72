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

/* Runs as a task on the receiving rank. hdr is valid only during the call.
 * payload: for a handler registered WITH an alloc callback, a non-empty
 * payload always came from that callback (eager and self messages are copied
 * into an alloc'd buffer too) and belongs to the handler from then on;
 * otherwise (no callback, it returned NULL, or len == 0) it is the runtime's,
 * valid only during the call. Handlers may spawn tasks and send
 * messages; they must not call tsr_fence. */
typedef void (*tsr_am_handler)(int src, const void *hdr, size_t hdrlen, void *payload,
                               size_t len, void *arg);

/* Where a large payload should land. Runs on the receiving rank, on the
 * thread that drives progress, before the payload is received; must not
 * block. Return a buffer of at least len bytes (the handler owns it after),
 * or NULL to let the runtime allocate (and free after the handler returns). */
typedef void *(*tsr_am_alloc_fn)(int src, const void *hdr, size_t hdrlen, size_t len, void *arg);

/* Collective over all ranks, called in the same order everywhere: returns the
 * same id on every rank. alloc may be NULL. */
TSR_API int tsr_am_register(tsr_am_handler handler, tsr_am_alloc_fn alloc, void *arg, int *id_out);

/* Send buf (len bytes, may be 0) to handler id on rank dest (may be this
 * rank). buf is copied or sent before return: the caller may reuse it at once.
 * Use tsr_am_sendv for large zero-copy payloads. */
TSR_API int tsr_am_send(int dest, int id, const void *buf, size_t len);

/* Send a small header (copied, at most TSR_AM_MAX_HDR bytes) and a payload
 * that is NOT copied: the payload must stay untouched until *done (if not
 * NULL) is ready; done gets one reference for the caller. With done == NULL
 * the call returns only once the payload may be reused. */
#define TSR_AM_MAX_HDR 256
TSR_API int tsr_am_sendv(int dest, int id, const void *hdr, size_t hdrlen, const void *payload,
                         size_t len, tsr_future_t **done);

/* Collective: returns when every task on every rank has finished and every
 * message sent (including by handlers and the tasks they spawn) has been
 * handled. Called by the main thread of every rank, outside tasks. */
TSR_API int tsr_fence(void);

/* Drive message progress once from the calling thread. Returns the number of
 * events handled (0 if none or if another thread is polling). */
TSR_API int tsr_am_progress(void);

/* Remote futures: a future on this rank that another rank fulfils.
 * tsr_remote_future_create returns a local future and a handle (plain bytes:
 * send it anywhere). Any rank then calls tsr_remote_future_set(handle, buf,
 * len): the owner's future becomes ready with a malloc'd copy of buf (owned by
 * the future), or tsr_remote_future_fail(handle, status, msg). */
typedef struct tsr_remote_handle {
    int32_t rank;
    int32_t pad;
    uint64_t key;
} tsr_remote_handle;
TSR_API int tsr_remote_future_create(tsr_future_t **out, tsr_remote_handle *handle_out);
TSR_API int tsr_remote_future_set(tsr_remote_handle handle, const void *buf, size_t len);
TSR_API int tsr_remote_future_fail(tsr_remote_handle handle, int status, const char *msg);

typedef struct tsr_am_stats {
    uint64_t sent, received, eager_sent, rndv_sent, bytes_sent, bytes_received;
} tsr_am_stats;
TSR_API void tsr_am_stats_get(tsr_am_stats *out);

#ifdef __cplusplus
}
#endif
#endif
