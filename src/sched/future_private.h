/* The future record and its continuation list, shared by future.c (the
 * object, fulfilment, waiting) and async.c (tasks that wait on futures). */
#ifndef TSR_SCHED_FUTURE_PRIVATE_H
#define TSR_SCHED_FUTURE_PRIVATE_H

#include <stdatomic.h>

#include "tessera/future.h"

/* Something to do when a future becomes ready. ready() runs exactly once, on
 * the thread that fulfils the future, after the value or error is visible;
 * it must be short (typically: decrement a count and maybe spawn a task). */
typedef struct tsr__cont {
    struct tsr__cont *next;
    void (*ready)(struct tsr__cont *c);
} tsr__cont;

enum { TSR_FUTURE_UNSET = 0, TSR_FUTURE_SETTING = 1, TSR_FUTURE_READY = 2 };

struct tsr_future_s {
    _Atomic int refs;
    _Atomic int state;   /* UNSET -> SETTING (one winner) -> READY */
    int status;          /* TSR_OK or the error; valid once READY */
    /* Trace id of the traced job that makes this future (0: none / not
     * traced). Fills the padding after status: no size change. Written by
     * that job before it sets the future, read by jobs that wait on it. */
    uint32_t trace_id;
    void *value;
    void (*dtor)(void *);
    char *msg;           /* owned copy of the error message, or NULL */
    /* Lock-free stack of continuations; TSR__CONTS_CLOSED once ready, so a
     * late registration sees that it must not wait. */
    _Atomic(tsr__cont *) conts;
    _Atomic int blocked; /* non-worker threads blocked in tsr_wait */
};

#define TSR__CONTS_CLOSED ((tsr__cont *)(uintptr_t)1)

/* Register c on f. 1: c->ready(c) will be called when f is set. 0: f is
 * already ready (c is not registered; the caller proceeds at once). */
int tsr__future_on_ready(tsr_future_t *f, tsr__cont *c);

#endif
