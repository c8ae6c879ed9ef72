/* Distributed-array internals shared by the files of src/array.
 *
 * Storage: each rank keeps its tiles of an array in one column-major local
 * matrix, ScaLAPACK's layout: local tile (li, lj) is global tile
 * (li * P + myrow, lj * Q + mycol) and starts at data + li * mb + lj * nb * lld.
 *
 * Asynchrony: every local tile has a future `ready[li + lj * lmt]` for the
 * task that writes it (NULL: already written). An operation reads tiles by
 * depending on their futures and writes a new array, so tiles are written
 * once and never rewritten by the runtime (no write-after-read hazards);
 * tasks that read an array hold a reference on it (tsr__array_retain), so
 * tsr_array_free from the user only drops the user's reference.
 *
 * Communication: operations are collective and issued in the same order on
 * every rank, so tsr__array_next_op() gives the same id everywhere; tiles
 * travel through the keyed mailbox (mailbox.c) under (op id, sub key), so a
 * tile that arrives before its consumer asked for it simply waits there. */
#ifndef TSR_ARRAY_INTERNAL_H
#define TSR_ARRAY_INTERNAL_H

#include <stdatomic.h>

#include "base/internal.h"
#include "tessera/array.h"
#include "tessera/future.h"

struct tsr_dist_s {
    atomic_int refs;
    int P, Q, myrow, mycol, rank, nranks;
    int64_t mb, nb;
    int blacs_ctx; /* -1 until first needed */
};

struct tsr_array_s {
    atomic_int refs;
    tsr_dist_t *dist; /* holds a reference */
    int64_t m, n;
    int64_t mt, nt;   /* global tile counts */
    int64_t lmt, lnt; /* local tile counts */
    int64_t lm, ln;   /* local rows and columns (numroc) */
    int64_t lld;      /* >= max(1, lm) */
    double *data;     /* lld * ln doubles, 64-byte aligned; NULL if ln * lm == 0 */
    tsr_future_t **ready; /* lmt * lnt entries; NULL entries are ready */
};

/* ScaLAPACK's numroc: how many of n items, in blocks of nb dealt round-robin
 * over nprocs starting at process 0, land on process iproc. */
static inline int64_t tsr__numroc(int64_t n, int64_t nb, int iproc, int nprocs) {
    int64_t nblocks = n / nb;
    int64_t num = (nblocks / nprocs) * nb;
    int64_t extra = nblocks % nprocs;
    if (iproc < extra)
        num += nb;
    else if (iproc == extra)
        num += n % nb;
    return num;
}

static inline int64_t tsr__ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* A local tile: its global tile index, global origin, size and storage. */
typedef struct tsr__tile {
    int64_t ti, tj;   /* global tile coordinates */
    int64_t i0, j0;   /* global index of the first element */
    int64_t rows, cols;
    double *ptr;      /* column-major, leading dimension ld */
    int64_t ld;
} tsr__tile;

static inline tsr__tile tsr__local_tile(const tsr_array_t *a, int64_t li, int64_t lj) {
    const tsr_dist_t *d = a->dist;
    tsr__tile t;
    t.ti = li * d->P + d->myrow;
    t.tj = lj * d->Q + d->mycol;
    t.i0 = t.ti * d->mb;
    t.j0 = t.tj * d->nb;
    t.rows = a->m - t.i0 < d->mb ? a->m - t.i0 : d->mb;
    t.cols = a->n - t.j0 < d->nb ? a->n - t.j0 : d->nb;
    t.ptr = a->data ? a->data + li * d->mb + lj * d->nb * a->lld : NULL;
    t.ld = a->lld;
    return t;
}

/* Owner rank of global tile (ti, tj). */
static inline int tsr__tile_owner(const tsr_dist_t *d, int64_t ti, int64_t tj) {
    return (int)(ti % d->P) * d->Q + (int)(tj % d->Q);
}

/* Index into a->ready of global tile (ti, tj), which must be local. */
static inline int64_t tsr__ready_index(const tsr_array_t *a, int64_t ti, int64_t tj) {
    return (ti / a->dist->P) + (tj / a->dist->Q) * a->lmt;
}

/* Allocate this rank's part of an m x n array on d, all tiles ready (data
 * uninitialised). A size that cannot fit is TSR_ERR_NOMEM naming the shape. */
int tsr__array_alloc(tsr_dist_t *d, int64_t m, int64_t n, tsr_array_t **out);
void tsr__array_retain(tsr_array_t *a);
void tsr__array_release(tsr_array_t *a);
void tsr__dist_retain(tsr_dist_t *d);

/* Same-id-on-every-rank operation counter (main thread only). */
uint64_t tsr__array_next_op(void);

/* The keyed mailbox (collective init, from the first tsr_dist_create).
 * tsr__mbox_send_owned: send len bytes of the malloc'd buf to rank dest
 * under key; the mailbox frees buf once sent (also on error). tsr__mbox_expect:
 * a future that becomes ready with a malloc'd buffer (owned by the future)
 * holding what arrives under key. Each key is sent once and expected once. */
typedef struct tsr__mbox_key {
    uint64_t op;
    uint64_t sub;
} tsr__mbox_key;
int tsr__array_layer_init(void); /* collective, idempotent */
void tsr__dist_fini(void);
int tsr__mbox_init(void);
void tsr__mbox_fini(void);
int tsr__mbox_send_owned(int dest, tsr__mbox_key key, void *buf, size_t len);
int tsr__mbox_expect(tsr__mbox_key key, tsr_future_t **out);

/* The array layer's own communicator (a dup of MPI_COMM_WORLD), and a wait
 * for a nonblocking MPI request that keeps running tasks and messages. */
#include <mpi.h>
int tsr__array_comm_init(void);
void tsr__array_comm_fini(void);
MPI_Comm tsr__array_comm(void);
int tsr__mpi_wait_helping(MPI_Request *req, const char *what);
/* Collective agreement on a status that may differ between ranks: returns
 * TSR_OK everywhere, or an error everywhere naming the failing rank. The
 * failing rank keeps its own message and also logs it. */
int tsr__array_agree(int rc, const char *what);

#endif
