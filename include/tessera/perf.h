/* Tessera performance data: a Chrome trace of tasks, spans and messages.
 *
 * Every thread records into its own buffer (no lock, no shared cache line on
 * the recording path); at tsr_trace_close or tsr_finalize every rank's events
 * travel to rank 0, which writes ONE Chrome trace event JSON file for the job
 * (pid = rank, tid = worker; ts and dur in microseconds since the trace was
 * opened, aligned across ranks by a barrier). It opens in Perfetto
 * (ui.perfetto.dev) and chrome://tracing.
 *
 * What is recorded while tracing is on:
 *   - every job task (tsr_async, tsr_then, tsr_when_all: every task of the
 *     array layer and the language): a complete event ("ph":"X") on the
 *     worker that ran it, named by the label that was current on the thread
 *     that made it (tsr_trace_label; array operations label theirs "matmul",
 *     "eval", ...; unlabelled ones are "async", "then" or "when_all"), cat
 *     "task", args.site = the site current then (tsr_trace_site), if any.
 *     Bare tsr_spawn tasks are not recorded: the scheduler's run loop has
 *     no tracing branch, so empty tasks cost what they did;
 *   - spans from the caller (tsr_trace_span_begin/end, tsr_trace_event);
 *   - active messages: "send" instants (cat "am", args peer, bytes) on the
 *     sending thread and "recv" complete events around each handler.
 * When tracing is off the cost is one predictable branch per job and per
 * message, and two thread-local loads when a job is made.
 *
 * Memory is bounded: each thread keeps at most TSR_TRACE_EVENTS events
 * (default 1048576, 56 bytes each, allocated as needed in chunks); later
 * events are counted as dropped and the counts appear in the file's
 * "otherData" ("dropped_events", "dropped_by_rank") and in each thread's
 * thread_name args. */
#ifndef TESSERA_PERF_H
#define TESSERA_PERF_H

#include "tessera/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Start tracing to path. Collective over all ranks, after tsr_init (which
 * calls it itself when TSR_TRACE is set). Rank 0 creates path's temporary
 * file now, so an unwritable path fails here, on every rank alike
 * (TSR_ERR_IO), not after the run. Calling it while tracing is on only
 * changes where the trace goes (the events so far are kept). The file is
 * written by tsr_trace_close, or by tsr_finalize if still open.
 * Errors: TSR_ERR_INVALID (path NULL or ""), TSR_ERR_STATE (before tsr_init),
 * TSR_ERR_IO, TSR_ERR_MPI, TSR_ERR_INVALID for a malformed TSR_TRACE_EVENTS. */
TSR_API int tsr_trace_open(const char *path);

/* Stop tracing and write the file: fences (finishes all work and messages),
 * gathers every rank's events on rank 0, which writes a temporary file next
 * to path and renames it. Collective; call from the main thread outside any
 * task. Returns the same status on every rank; TSR_OK if tracing was off. */
TSR_API int tsr_trace_close(void);

/* 1 while events are being recorded on this rank, else 0. Thread-safe. */
TSR_API int tsr_trace_on(void);

/* Set the calling thread's current task label and return the previous one.
 * Jobs made by this thread (tsr_async, tsr_then, tsr_when_all and
 * everything built on them) take the label current when they are made; a
 * running traced job's label is current inside it, so what it makes
 * inherits it.
 * label must stay valid until the trace is written: a string literal or a
 * tsr_trace_intern result. NULL clears it. Cheap (one thread-local store),
 * so callers set labels whether tracing is on or not. */
TSR_API const char *tsr_trace_label(const char *label);

/* Same for the current site, e.g. the source line of the language program
 * ("prog.tsl:12 dot"); spawned tasks record it as args.site. */
TSR_API const char *tsr_trace_site(const char *site);

/* A copy of s that lives until the process ends, the same pointer for equal
 * strings (so callers may cache it). Thread-safe (takes a lock: not for the
 * per-task path). NULL if s is NULL or memory ran out. */
TSR_API const char *tsr_trace_intern(const char *s);

/* Spans on the calling thread, recorded as complete events of category
 * "span". Spans nest; end closes the innermost open span of that name
 * (inner ones left open are discarded), an end with no such span is
 * ignored. name follows the rule of tsr_trace_label. Both do nothing when
 * tracing is off. At most 64 spans are open per thread; deeper ones are
 * dropped (counted). */
TSR_API void tsr_trace_span_begin(const char *name);
TSR_API void tsr_trace_span_end(const char *name);

/* A complete event with times the caller took with tsr_time_ns(). cat may
 * be NULL ("user"). name follows the rule of tsr_trace_label. */
TSR_API void tsr_trace_event(const char *name, const char *cat, uint64_t t0_ns, uint64_t t1_ns);

/* An instant event now, with args peer (omitted if < 0) and bytes. */
TSR_API void tsr_trace_instant(const char *name, const char *cat, int peer, uint64_t bytes);

/* Add to the counts of the traced task running on the calling thread:
 * flops floating-point operations and bytes of memory traffic it did. They
 * appear in that task's event (args.flops, args.bytes; a task's counts
 * exclude tasks that ran nested inside it) and, summed per task kind, in
 * the summary (FILE.summary.json). Thread-local; one predictable branch
 * when tracing is off; outside a traced task the counts are dropped. The
 * array layer calls it for its kernels. */
TSR_API void tsr_trace_count(uint64_t flops, uint64_t bytes);

/* Name the calling thread in the trace (default: "worker N" for workers,
 * "thread N" for others). name is copied (at most 47 bytes). */
TSR_API void tsr_trace_thread_name(const char *name);

/* Events recorded and dropped on this rank since tsr_trace_open, and the
 * number of threads that recorded. Exact when the rank is quiescent. */
typedef struct tsr_trace_stats {
    uint64_t events, dropped;
    int threads;
} tsr_trace_stats;
TSR_API void tsr_trace_stats_get(tsr_trace_stats *out);

/* TSR_TRACE_SCOPE("matmul"); as the FIRST statement of a function (before
 * any goto that could jump past it) sets the label until the function
 * returns, on every return path. GCC/Clang only; elsewhere it does nothing. */
#if defined(__GNUC__)
TSR_API void tsr_trace_label_restore(const char **prev);
#define TSR_TRACE_SCOPE(label)                                                               \
    __attribute__((cleanup(tsr_trace_label_restore), unused)) const char *tsr_trace_prev_ = \
        tsr_trace_label(label)
#else
#define TSR_TRACE_SCOPE(label) ((void)0)
#endif

#ifdef __cplusplus
}
#endif
#endif
