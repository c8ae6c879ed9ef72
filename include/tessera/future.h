/* Futures: one-shot results of asynchronous work, holding a value or an error.
 *
 * A future is reference counted. The creator holds one reference; every API
 * call that hands a future out (tsr_async, tsr_then, tsr_when_all,
 * tsr_future_create) gives the caller one reference, released with
 * tsr_future_release. The runtime holds its own references for as long as it
 * needs a future, so releasing early is always safe.
 *
 * Values are opaque pointers: the future does not own or free them unless a
 * destructor is given with tsr_future_set_owned. Errors carry a status and a
 * message; an error in an input propagates to every continuation downstream
 * (their functions are not run) with the original message, so the first
 * failure is what the final tsr_wait reports. */
#ifndef TESSERA_FUTURE_H
#define TESSERA_FUTURE_H

#include "tessera/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_future_s tsr_future_t;

/* The body of a task that produces a value. Runs on a worker. Return TSR_OK
 * and set *value_out, or return an error status after setting the thread's
 * message (tsr_error); the future then fails with that status and message. */
typedef int (*tsr_async_fn)(void *arg, void **value_out);

/* Continuation body: gets the value of the future it was chained on. */
typedef int (*tsr_then_fn)(void *value, void *arg, void **value_out);

/* A fresh, unset future (a promise): fulfil it with tsr_future_set or
 * tsr_future_fail, exactly once, from any thread. */
TSR_API int tsr_future_create(tsr_future_t **out);

/* Fulfil with a value; continuations become runnable. Setting twice is
 * TSR_ERR_STATE. */
TSR_API int tsr_future_set(tsr_future_t *f, void *value);
/* Fulfil with a value the future owns: dtor(value) runs when the last
 * reference is released. */
TSR_API int tsr_future_set_owned(tsr_future_t *f, void *value, void (*dtor)(void *));
/* Fail with status (< 0) and a message (copied; may be NULL). */
TSR_API int tsr_future_fail(tsr_future_t *f, int status, const char *msg);

TSR_API void tsr_future_retain(tsr_future_t *f);
/* Drop one reference and set *f to NULL. NULL-safe. */
TSR_API void tsr_future_release(tsr_future_t **f);

/* 1 once set or failed, else 0. Never blocks. */
TSR_API int tsr_future_ready(const tsr_future_t *f);

/* Wait until f is ready. A worker thread runs other tasks (and drives
 * message progress) meanwhile instead of blocking; any other thread sleeps
 * on a condition variable until the future is set. Returns TSR_OK and the
 * value (value_out may be NULL), or the future's error status with its
 * message copied to the calling thread's message. */
TSR_API int tsr_wait(tsr_future_t *f, void **value_out);

/* Status of a ready future (TSR_OK or its error; TSR_ERR_STATE if not ready
 * yet) and, for errors, its message ("" otherwise; valid while the caller
 * holds a reference). */
TSR_API int tsr_future_status(const tsr_future_t *f);
TSR_API const char *tsr_future_message(const tsr_future_t *f);

/* Run fn(arg) as a task once all n deps are ready (n may be 0). If a dep
 * failed, fn is not run and *out fails with the first failed dep's status and
 * message (lowest index). The task holds its own references to deps.
 * TSR_ERR_STATE when the scheduler is not running (fn is then never run). */
TSR_API int tsr_async(tsr_async_fn fn, void *arg, int n, tsr_future_t *const *deps,
                      tsr_future_t **out);

/* When f is ready: run fn(f's value, arg) as a task; *out gets its result.
 * If f failed, fn is not run and *out fails the same way. */
TSR_API int tsr_then(tsr_future_t *f, tsr_then_fn fn, void *arg, tsr_future_t **out);

/* A future that is ready when all n futures are; its value is NULL. If any
 * failed, it fails with the first failure by index. n == 0 gives a ready one. */
TSR_API int tsr_when_all(int n, tsr_future_t *const *fs, tsr_future_t **out);

#ifdef __cplusplus
}
#endif
#endif
