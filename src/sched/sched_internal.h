/* Scheduler internals shared with other layers (am, runtime). */
#ifndef TSR_SCHED_INTERNAL_H
#define TSR_SCHED_INTERNAL_H

#include "tessera/sched.h"

/* Called by idle workers and by waiting threads (tsr_wait, drain) between
 * attempts to find a task: drives message progress. Returns the number of
 * events it handled, so the caller resets its backoff when > 0. Must be
 * cheap and non-blocking when there is nothing to do. NULL: none. */
typedef int (*tsr__idle_hook_fn)(void);
void tsr__sched_set_idle_hook(tsr__idle_hook_fn hook);

/* A helper thread that is not a worker (the progress thread) calls this
 * first: threads inherit their creator's binding, and the creator is usually
 * worker 0, pinned to one core that the helper would then share with it. */
void tsr__sched_unpin_helper_thread(void);

/* Wake sleeping workers (e.g. after a message arrived for them). */
void tsr__sched_wake_all(void);

#endif
