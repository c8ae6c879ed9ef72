/* Futures that settle: ready once their inputs are ready, succeeded or not.
 * For tasks that must run even when an input failed, typically to send the
 * failure to a rank that waits for their message. */
#ifndef TSR_ARRAY_SETTLE_H
#define TSR_ARRAY_SETTLE_H

#include "tessera/future.h"

/* *out (one reference for the caller) becomes ready with value NULL and
 * status TSR_OK once all n inputs are ready, whatever their status. NULL
 * inputs count as ready. Fails only for lack of memory. */
int tsr__when_all_settled(int n, tsr_future_t *const *fs, tsr_future_t **out);

/* TSR_OK if every non-NULL future of fs (all ready) succeeded; else the first
 * failure's status, with its message as the calling thread's message. */
int tsr__first_failure(int n, tsr_future_t *const *fs);

#endif
