/* Shared pieces of the two matmul algorithms (matmul.c chooses):
 *   SUMMA (matmul_summa.c): C stays, A and B panels travel;
 *   stationary A (matmul_gemv.c, c has one tile column, e.g. n == 1): A
 *   stays, B tiles and partial results travel.
 *
 * The k steps: a's column tiles (width a.nb) and b's row tiles (height b.mb)
 * cut [0, k) in two ways; a step is one piece of the union of both cuts, so
 * it lies inside one A tile column `la` and one B tile row `lb`. When
 * a.nb == b.mb (one distribution with square tiles) steps are the tiles.
 *
 * Messages: every payload starts with a small header. A sender that cannot
 * produce its data (an input tile failed) still sends, with the failure in
 * the header, so that the receiver fails too instead of waiting forever. */
#ifndef TSR_ARRAY_MATMUL_INTERNAL_H
#define TSR_ARRAY_MATMUL_INTERNAL_H

#include "array/array_internal.h"

typedef struct tsr__kstep {
    int64_t k0, k1; /* [k0, k1) of the inner dimension */
    int64_t la, lb; /* A tile column and B tile row holding it */
} tsr__kstep;

/* The steps for inner dimension k > 0; *out is malloc'd. */
int tsr__matmul_ksteps(int64_t k, int64_t a_nb, int64_t b_mb, tsr__kstep **out, int64_t *n);

/* Mailbox sub keys: the kind in the top byte, an index below. */
enum { TSR__MM_APANEL = 1, TSR__MM_BPANEL = 2, TSR__MM_BTILE = 3, TSR__MM_PARTIAL = 4 };
static inline uint64_t tsr__mm_sub(int kind, int64_t index) {
    return ((uint64_t)kind << 56) | (uint64_t)index;
}

/* A message of count doubles, uninitialised: *data points at them. malloc'd;
 * *len gets its size. NULL without memory. */
void *tsr__mm_alloc(int64_t count, double **data, size_t *len);
/* A message of rows x cols doubles packed column-major (ld = rows), copied
 * from src (leading dimension ld). malloc'd; *len gets its size. NULL
 * without memory. */
void *tsr__mm_pack(const double *src, int64_t ld, int64_t rows, int64_t cols, size_t *len);
/* A message that carries status (< 0) and the calling thread's message. */
void *tsr__mm_pack_error(int status, size_t *len);
/* The doubles of a received message (f is ready); a failure message becomes
 * the calling thread's error and its status. */
int tsr__mm_open(tsr_future_t *f, const double **data);
/* tsr__mbox_send_owned that cannot fail quietly: a receiver waits for every
 * message, so a failed send ends the job with the reason. */
void tsr__mm_send(int dest, uint64_t op, uint64_t sub, void *buf, size_t len, const char *what);

/* c = a b, queued; c is allocated by the caller (a's distribution), inputs
 * validated, k > 0 and c non-empty. Failures after queueing starts abort. */
int tsr__matmul_summa(tsr_array_t *a, tsr_array_t *b, tsr_array_t *c);
int tsr__matmul_gemv(tsr_array_t *a, tsr_array_t *b, tsr_array_t *c);

#endif
