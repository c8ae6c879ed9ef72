/* Tessera base layer: status codes, per-thread error messages, logging, aligned
 * allocation, monotonic timers and options read from the environment.
 *
 * Every fallible Tessera call returns an int status: TSR_OK (0) or a negative
 * TSR_ERR_* code. The calling thread's message (tsr_error_message()) then says
 * what failed, where, and with which values. Messages are per thread, so a
 * worker's failure never overwrites the main thread's message. */
#ifndef TESSERA_BASE_H
#define TESSERA_BASE_H

#include <stddef.h>
#include <stdint.h>

#if defined(TSR_BUILDING_LIBRARY) && defined(__GNUC__)
#define TSR_API __attribute__((visibility("default")))
#else
#define TSR_API
#endif

#if defined(__GNUC__)
#define TSR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define TSR_NORETURN __attribute__((noreturn))
#else
#define TSR_PRINTF(f, a)
#define TSR_NORETURN
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum tsr_status {
    TSR_OK = 0,
    TSR_ERR_INVALID = -1,     /* bad argument from the caller */
    TSR_ERR_NOMEM = -2,       /* allocation failed or request larger than memory */
    TSR_ERR_MPI = -3,         /* an MPI routine failed (message names it) */
    TSR_ERR_IO = -4,          /* file could not be read or written */
    TSR_ERR_SHAPE = -5,       /* shapes or distributions do not match */
    TSR_ERR_STATE = -6,       /* call not allowed now (e.g. before tsr_init) */
    TSR_ERR_UNSUPPORTED = -7, /* feature not available on this build/machine */
    TSR_ERR_TIMEOUT = -8,     /* a bounded wait expired */
    TSR_ERR_REMOTE = -9,      /* another rank failed; message says which */
    TSR_ERR_NOT_FOUND = -10,  /* name, file or handler id does not exist */
    TSR_ERR_RUNTIME = -11,    /* a computation failed (singular matrix, ...) */
    TSR_ERR_CANCELLED = -12   /* work was cancelled because an input failed */
};

/* Constant name of a status code, e.g. "TSR_ERR_NOMEM". Never NULL. */
TSR_API const char *tsr_status_string(int status);

/* The calling thread's last error message ("" if none). Valid until the next
 * Tessera call on this thread that sets an error. */
TSR_API const char *tsr_error_message(void);

/* Set the calling thread's message from a printf format and return status, so
 * that `return tsr_error(TSR_ERR_INVALID, "n=%d < 0", n);` reads naturally. */
TSR_API int tsr_error(int status, const char *fmt, ...) TSR_PRINTF(2, 3);
TSR_API void tsr_error_clear(void);

/* Logging. Lines go to stderr as "[rank R] level: text". The level comes from
 * TSR_LOG (error|warn|info|debug, or 0..3; default warn). Thread-safe: one
 * line is written with one write(2), so lines of different threads and ranks
 * do not interleave within a line. */
enum tsr_log_level { TSR_LOG_ERROR = 0, TSR_LOG_WARN = 1, TSR_LOG_INFO = 2, TSR_LOG_DEBUG = 3 };
TSR_API void tsr_log(int level, const char *fmt, ...) TSR_PRINTF(2, 3);
TSR_API int tsr_log_enabled(int level);
/* Rank shown in the prefix; -1 (before MPI is up) shows "[rank ?]". */
TSR_API void tsr_log_set_rank(int rank);

/* Aligned allocation. align is a power of two >= sizeof(void *). Returns NULL
 * and sets the thread's message on failure. Free with tsr_aligned_free. */
TSR_API void *tsr_aligned_alloc(size_t align, size_t size);
TSR_API void tsr_aligned_free(void *p);

/* Monotonic clock: nanoseconds and seconds since an arbitrary fixed point. */
TSR_API uint64_t tsr_time_ns(void);
TSR_API double tsr_time(void);

/* Options read from the environment once, at tsr_init (or by this call).
 *   TSR_THREADS        worker threads per rank (default: cores this rank is bound to)
 *   TSR_LOG            log level (error|warn|info|debug)
 *   TSR_PIN            1 (default) pins workers to cores with hwloc, 0 leaves them free
 *   TSR_PROGRESS       poll (default) or thread: who drives MPI progress
 *   TSR_EAGER_LIMIT    bytes up to which active messages are sent eagerly (default 16384)
 *   TSR_TRACE          path of a trace file (perf layer)
 *   TSR_PEER_TIMEOUT   seconds without a heartbeat from a peer rank before the job
 *                      is ended as "lost contact with rank P" (default 30; 0: off)
 * A malformed value is an error naming the variable and the value. */
typedef struct tsr_options {
    int threads;          /* 0: decide from hwloc binding */
    int log_level;
    int pin;
    int progress_thread;  /* 0: idle workers and waiters poll; 1: dedicated thread */
    size_t eager_limit;
    const char *trace;    /* NULL if unset; points into the environment */
    long peer_timeout;    /* seconds; 0: no liveness watchdog */
} tsr_options;

TSR_API int tsr_options_from_env(tsr_options *out);

#ifdef __cplusplus
}
#endif
#endif
