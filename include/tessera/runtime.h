/* Runtime lifecycle: MPI, the scheduler and the message engine, brought up
 * and down together. */
#ifndef TESSERA_RUNTIME_H
#define TESSERA_RUNTIME_H

#include "tessera/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initialise MPI (unless the application already did, with at least
 * MPI_THREAD_SERIALIZED), read options from the environment, start the
 * scheduler and the message engine. Called once per process by the main
 * thread, which becomes worker 0. argc/argv may be NULL. */
TSR_API int tsr_init(int *argc, char ***argv);

/* Fence, stop workers and the engine, finalise MPI if tsr_init started it. */
TSR_API int tsr_finalize(void);

TSR_API int tsr_rank(void);
TSR_API int tsr_nranks(void);
TSR_API const tsr_options *tsr_runtime_options(void);

/* End the whole job now: print "[rank R] tessera: fatal: <msg>" on stderr and
 * take every rank down with a non-zero exit. Callable from any thread. */
TSR_API void tsr_abort(const char *fmt, ...) TSR_PRINTF(1, 2) TSR_NORETURN;

#ifdef __cplusplus
}
#endif
#endif
