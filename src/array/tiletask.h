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

#endif
