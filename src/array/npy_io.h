/* .npy load and save through MPI-IO (npy_load.c, npy_save.c), and what they
 * share (npy_io.c): each rank reads or writes the bytes of its own tiles,
 * and nothing else.
 *
 * The file view of a rank's tiles is MPI_Type_create_darray with cyclic(mb)
 * x cyclic(nb) over the P x Q grid: MPI lays that grid out row-major, as
 * Tessera does, so the view is exactly this rank's block-cyclic part, in file
 * order (row by row of the local part for C order, column by column for
 * Fortran order). Each rank then moves its part with independent
 * MPI_File_read/MPI_File_write calls through that view, one per chunk
 * (below), which ompio turns into vectored preadv/pwritev of the contiguous
 * pieces: no call per tile row segment.
 *
 * Collective read_all/write_all were tried first and dropped:
 *  - in Open MPI 4.1's ompio, a write error on one aggregator (a file size
 *    limit in test_npy's failed-save case; a full disk alike) makes that rank
 *    leave write_all early while the others stay in it, and the job hangs in
 *    the next collective; with the default 32 MiB buffers the same error was
 *    swallowed instead and the file silently short;
 *  - they were not faster on this 2-core node (ext4, page cache, 4000 x 4000
 *    doubles, 100 x 100 tiles, noisy shared machine), at 4 ranks: load
 *    1.5-2.2 s collective vs 0.9-1.1 s independent, save 1.3-2.0 s vs
 *    1.8-2.9 s; at 1 rank independent is 0.23 s / 0.73 s (load / save);
 *  - their 32 MiB aggregation buffers per call made a 10 x 10 save at 4
 *    ranks take 93 ms instead of 7 under glibc's MALLOC_PERTURB_ (which
 *    meson sets for tests).
 * Only open, set_view, sync and close stay collective; none of them returns
 * early on one rank for a file error.
 *
 * Errors. A file error must be the same error on every rank and must never
 * leave one rank inside a collective the others skipped. So: rank 0 reads
 * and checks the header and broadcasts the verdict; every step a single rank
 * may fail (a system call, an MPI-IO call) is followed by an agreement that
 * also broadcasts the failing rank's reason, so every rank returns
 * "rank R: tsr_array_load: PATH: <reason>". Before the first blocking MPI-IO
 * collective (open) every rank has passed such an agreement, which means
 * every rank's main thread is inside this call: none can be waiting for a
 * task of ours, so blocking in MPI-IO for a while cannot deadlock (helping
 * waits elsewhere need tasks; MPI-IO collectives need only main threads). */
#ifndef TSR_ARRAY_NPY_IO_H
#define TSR_ARRAY_NPY_IO_H

#include "array/array_internal.h"
#include "array/npy.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error ".npy I/O reads and writes little-endian data in place: add byte swapping for this host"
#endif

#define TSR__NPY_REASON_MAX 768

/* One load or save: names for messages and the reason of the last local
 * failure (not the thread's message, which tasks run by helping waits may
 * overwrite). */
typedef struct tsr__npy_ctx {
    const char *fn, *path;
    int rank;
    char reason[TSR__NPY_REASON_MAX];
} tsr__npy_ctx;

/* Rank 0 of a save, before it creates its temporary file: remove the
 * temporary files of earlier saves to path that were killed ("." + name +
 * ".tmp." + PID[.K] beside it, PID not alive on this host, or this very
 * process). Returns how many it removed; never fails. */
int tsr__npy_remove_stale(const char *path);

/* Before a long computation (a program's check pass): can a save to path
 * work? Its directory must exist and be writable (access(2), so a
 * read-only mount fails even for root), path must not be a directory, and
 * when bytes > 0 the file system must have that much free (the old file
 * stays until the rename, so all of it). TSR_OK, or TSR_ERR_IO with the
 * reason in why (the same words a failing save uses). */
int tsr__npy_check_target(const char *path, double bytes, char *why, size_t size);

/* Test hook: TSR_TEST_SAVE_DELAY_MS=N (read at each save, tests only) makes
 * every rank sleep N ms after each chunk it writes, with 1 MiB chunks, so a
 * test can kill a save half way through its data. 0 or unset: no effect. */
long tsr__npy_test_save_delay_ms(void);

/* Set x's reason from a format; returns status. */
int tsr__npy_why(tsr__npy_ctx *x, int status, const char *fmt, ...) TSR_PRINTF(3, 4);
/* The same for a failed MPI call: TSR_ERR_IO with MPI's text. */
int tsr__npy_mpi_why(tsr__npy_ctx *x, int mpi_rc, const char *call);

/* Keep the first failure of a sequence of local steps. */
#define TSR__NPY_STEP(lrc, expr)                                                         \
    do {                                                                                 \
        if ((lrc) == TSR_OK) (lrc) = (expr);                                             \
    } while (0)

/* Collective: TSR_OK everywhere, or on every rank the status and reason of
 * the lowest failing rank, as "rank R: fn: path: reason". Helping waits. */
int tsr__npy_agree(int lrc, tsr__npy_ctx *x);

/* MPI-IO's int limits, from the shape and distribution alone (the same
 * verdict on every rank): TSR_ERR_UNSUPPORTED with the thread's message. */
int tsr__npy_check_limits(const tsr_dist_t *d, int64_t m, int64_t n, tsr__npy_ctx *x);

/* Collective open on the array layer's communicator, agreed. A rank whose
 * open succeeded while another's failed cannot close again (close is
 * collective): that ends the job with the reason. */
int tsr__npy_open(const char *file, int amode, MPI_File *fh, tsr__npy_ctx *x);

/* The file view of this rank's tiles of a (see the top), or etype itself
 * when the rank holds none; release with tsr__npy_free_type(t, etype). */
int tsr__npy_filetype(const tsr_array_t *a, int fortran, MPI_Datatype etype, MPI_Datatype *out,
                      tsr__npy_ctx *x);
void tsr__npy_free_type(MPI_Datatype *t, MPI_Datatype builtin);

/* Data moves in chunks of whole local rows (C order) or columns (Fortran
 * order): in file order the local part is `outer` runs of `inner` elements,
 * so a chunk of consecutive runs is contiguous in the view, and a bounded
 * scratch buffer converts it to or from the column-major tiles. The plan is
 * the same on every rank (from the largest part, grid position (0, 0)); a
 * rank stops at its own end. */
typedef struct tsr__npy_chunks {
    int64_t outer, inner; /* this rank's runs and run length (outer 0: nothing) */
    int64_t per;          /* runs per chunk, the same on every rank */
    int64_t calls;        /* chunks of the largest part */
} tsr__npy_chunks;

tsr__npy_chunks tsr__npy_plan(const tsr_array_t *a, int fortran, int itemsize);
/* Bytes of file data per chunk (the scratch buffer); 0 restores the default
 * of 32 MiB. For tests, which make it tiny to exercise many chunks: set the
 * same value on every rank, between operations. */
void tsr__npy_set_chunk_bytes(size_t bytes);
/* Runs of chunk `call`: [*o0, *o0 + returned count). */
int64_t tsr__npy_chunk_runs(const tsr__npy_chunks *p, int64_t call, int64_t *o0);
/* Chunk (runs [o0, o0 + cnt) in file order, elements of dtype) -> tiles. */
void tsr__npy_unpack(tsr_array_t *a, int fortran, int dtype, const void *buf, int64_t o0,
                     int64_t cnt);
/* Local rows [o0, o0 + cnt) -> row-major doubles in buf (C-order files). */
void tsr__npy_pack_rows(const tsr_array_t *a, double *buf, int64_t o0, int64_t cnt);

#endif
