/* One task per local tile of an output array. */
#ifndef TSR_ARRAY_TILETASK_H
#define TSR_ARRAY_TILETASK_H

#include "array/array_internal.h"

/* Writes the tile t of array a (its own tile, ready to write). Runs on a
 * worker. Returns TSR_OK or an error with the thread's message set. */
typedef int (*tsr__tile_fn)(const tsr__tile *t, const tsr_array_t *a, void *arg);

/* Futures a tile's task must wait for: append up to `cap` futures to deps
 * (borrowed references) and return how many, or a negative status. */
typedef int (*tsr__tile_deps_fn)(const tsr_array_t *a, int64_t li, int64_t lj, void *arg,
                                 tsr_future_t **deps, int cap);
#define TSR_TILE_MAX_DEPS 64

/* Queue fn for every local tile of a, each after its deps (deps_fn may be
 * NULL), and make it the tile's ready future. arg is shared by the tasks;
 * dtor(arg) runs once after the last of them (at once if a has no local
 * tiles, and also if queueing fails). The tasks hold a reference on a. */
int tsr__for_each_tile(tsr_array_t *a, tsr__tile_fn fn, void *arg, void (*dtor)(void *));
int tsr__for_each_tile_deps(tsr_array_t *a, tsr__tile_fn fn, tsr__tile_deps_fn deps_fn, void *arg,
                            void (*dtor)(void *));

/* A task that runs once all n deps are ready, whether they succeeded or
 * not: dep_status is TSR_OK, or the status of the first failed dep (lowest
 * index) with its message in dep_msg (valid during the call). fn returns a
 * status and value like a tsr_async_fn. Use it for work that must happen
 * even after a failure: a send a peer is waiting for (it then carries the
 * error), or freeing the task's own argument. Runs on a worker. */
typedef int (*tsr__settled_fn)(void *arg, int dep_status, const char *dep_msg, void **value_out);
int tsr__async_settled(tsr__settled_fn fn, void *arg, int n, tsr_future_t *const *deps,
                       tsr_future_t **out);

#endif
