/* Load benchmark (perf/load, tests/load): many tasks, many active messages,
 * large distributed arrays. Each part checks its results against a serial
 * computation and aborts the job (tsr_abort: message and rank, non-zero
 * exit) on a mismatch; memory is measured around every round. */
#ifndef TSR_PERF_BENCH_LOAD_H
#define TSR_PERF_BENCH_LOAD_H

#include <mpi.h>
#include <stdint.h>

#include "tessera.h"

typedef struct load_opts {
    int64_t tasks;    /* tasks in all, over all ranks */
    int64_t messages; /* active messages in all (requests + replies) */
    double gib;       /* bytes of the four live arrays at their peak, all ranks */
    int64_t tile;     /* array tile size (0: chosen from the size) */
    int rounds;       /* each part runs this often (leak check: last vs first) */
    double leak_mib;  /* > 0: fail when a rank's RSS after the last round exceeds
                         the first round's by more than this */
    const char *plant; /* a test of the checks: this part computes a wrong answer */
} load_opts;

/* What one round of a part reports back (this rank). */
typedef struct load_round {
    double seconds;
    int64_t count;    /* tasks run / messages sent / bytes of arrays (all ranks) */
    double checksum;  /* the part's main figure compared with the serial one */
} load_round;

extern MPI_Comm load_comm;
/* Whether o->plant names this part. */
int load_planted(const load_opts *o, const char *part); /* dup of MPI_COMM_WORLD for the benchmark's own checks */

/* One round each; every rank calls them together. */
void load_tasks(const load_opts *o, load_round *out);
void load_messages_setup(void);
void load_messages(const load_opts *o, load_round *out);
void load_arrays(const load_opts *o, load_round *out);

double load_now(void);
/* Tessera call failed: abort the job with what and the runtime's message. */
void load_check(int rc, const char *what);

#endif
