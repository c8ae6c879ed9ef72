/* Internal helpers shared by every layer: the one-exit-path macros, MPI error
 * conversion and asserts. Not installed. */
#ifndef TSR_BASE_INTERNAL_H
#define TSR_BASE_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>

#include "tessera/base.h"

/* Jump to the function's `fail:` label with rc set when expr fails. */
#define TSR_CHECK(expr)                                                                  \
    do {                                                                                 \
        rc = (expr);                                                                     \
        if (rc != TSR_OK) goto fail;                                                     \
    } while (0)

/* Like TSR_CHECK, but first sets the thread's message. */
#define TSR_CHECK_MSG(cond, status, ...)                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            rc = tsr_error((status), __VA_ARGS__);                                       \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

/* Every MPI call goes through here: an MPI error becomes TSR_ERR_MPI with the
 * routine's name and MPI's own text, then jumps to fail. The communicators
 * Tessera uses are set to MPI_ERRORS_RETURN so this sees the error. */
int tsr__mpi_error(int mpi_rc, const char *call, const char *file, int line);
#define TSR_MPI(call)                                                                    \
    do {                                                                                 \
        int mpi_rc_ = (call);                                                            \
        if (mpi_rc_ != 0) {                                                              \
            rc = tsr__mpi_error(mpi_rc_, #call, __FILE__, __LINE__);                     \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

/* Always-on invariant check (cheap); expensive checks only in debug builds. */
TSR_NORETURN void tsr__assert_fail(const char *expr, const char *file, int line);
#define tsr_assert(e) ((e) ? (void)0 : tsr__assert_fail(#e, __FILE__, __LINE__))
#ifdef NDEBUG
#define tsr_assert_expensive(e) ((void)0)
#else
#define tsr_assert_expensive(e) tsr_assert(e)
#endif

#define TSR_UNUSED(x) ((void)(x))
#define TSR_CACHELINE 64

/* Options as read at init; defaults until then. */
const tsr_options *tsr__options(void);
void tsr__options_set(const tsr_options *o);

/* How a fatal error leaves the process. The runtime installs MPI_Abort once
 * MPI is up; before that (or without MPI) it is exit(). */
void tsr__set_abort_hook(void (*hook)(int code));
TSR_NORETURN void tsr__die(int code);

/* CLOCK_MONOTONIC now + ns, for pthread_cond_timedwait on a condition
 * variable whose clock is CLOCK_MONOTONIC. */
struct timespec;
void tsr__deadline_ns(struct timespec *until, uint64_t ns);

#endif
