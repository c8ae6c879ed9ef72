/* Distributed arrays of double on a block-cyclic process grid.
 *
 * A distribution (tsr_dist_t) is a P x Q process grid and a tile size
 * mb x nb. Tile (ti, tj) of an array lives on grid position (ti mod P,
 * tj mod Q); ranks are laid out row-major on the grid (rank = prow * Q + pcol),
 * the same as a BLACS grid made with order "Row".
 *
 *            tile cols ->  0     1     2     3            P = 2, Q = 2
 *   tile rows   0        [r0]  [r1]  [r0]  [r1]
 *               1        [r2]  [r3]  [r2]  [r3]
 *               2        [r0]  [r1]  [r0]  [r1]
 *
 * Each rank stores all its tiles of an array in ONE column-major local
 * matrix with ScaLAPACK's layout (local rows = numroc(m, mb, prow, 0, P),
 * leading dimension lld), so tsr_array_scalapack() hands ScaLAPACK the very
 * same memory. A plain block distribution is mb = ceil(m/P), nb = ceil(n/Q).
 * 1-D arrays are n x 1.
 *
 * Every array operation is collective (all ranks call it, in the same order)
 * and asynchronous: it returns once its tile tasks are queued; later
 * operations wait on the futures of the tiles they read. Shape and
 * distribution errors are reported before anything is queued, with both
 * shapes in the message. tsr_array_wait() waits for an array's pending
 * writes; gather, save and scalar reads wait for you. */
#ifndef TESSERA_ARRAY_H
#define TESSERA_ARRAY_H

#include "tessera/base.h"
#include "tessera/future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_dist_s tsr_dist_t;
typedef struct tsr_array_s tsr_array_t;

/* ---- distributions (long-lived, collective create/free) ---- */

/* P x Q grid over all ranks (P * Q == nranks) with tiles mb x nb. P = Q = 0
 * picks the most square grid with P <= Q. Creates the BLACS context. */
TSR_API int tsr_dist_create(int P, int Q, int64_t mb, int64_t nb, tsr_dist_t **out);
TSR_API void tsr_dist_free(tsr_dist_t **d);
TSR_API void tsr_dist_grid(const tsr_dist_t *d, int *P, int *Q, int *myrow, int *mycol);
TSR_API void tsr_dist_tile(const tsr_dist_t *d, int64_t *mb, int64_t *nb);
/* Rank that owns global element (i, j). */
TSR_API int tsr_dist_owner(const tsr_dist_t *d, int64_t i, int64_t j);
TSR_API int tsr_dist_blacs_context(const tsr_dist_t *d);

/* ---- creation (collective) ---- */
TSR_API int tsr_array_zeros(tsr_dist_t *d, int64_t m, int64_t n, tsr_array_t **out);
TSR_API int tsr_array_full(tsr_dist_t *d, int64_t m, int64_t n, double value, tsr_array_t **out);
TSR_API int tsr_array_ones(tsr_dist_t *d, int64_t m, int64_t n, tsr_array_t **out);
TSR_API int tsr_array_identity(tsr_dist_t *d, int64_t n, tsr_array_t **out);
/* n x 1: start, start + step, ... */
TSR_API int tsr_array_arange(tsr_dist_t *d, int64_t n, double start, double step, tsr_array_t **out);
/* n x 1: n points from start to stop inclusive (numpy.linspace). */
TSR_API int tsr_array_linspace(tsr_dist_t *d, double start, double stop, int64_t n, tsr_array_t **out);
/* Counter-based (Philox4x32-10) random numbers keyed on (seed, global
 * index): the same seed gives the same array for any rank count and tile
 * size. Uniform on [lo, hi); normal by Box-Muller. */
TSR_API int tsr_array_random_uniform(tsr_dist_t *d, int64_t m, int64_t n, uint64_t seed, double lo,
                                     double hi, tsr_array_t **out);
TSR_API int tsr_array_random_normal(tsr_dist_t *d, int64_t m, int64_t n, uint64_t seed, double mean,
                                    double stddev, tsr_array_t **out);
/* From a buffer on rank root (row-major, m*n doubles; ignored elsewhere). */
TSR_API int tsr_array_scatter(tsr_dist_t *d, int64_t m, int64_t n, const double *buf, int root,
                              tsr_array_t **out);
/* Into a buffer on rank root (row-major, m*n doubles; NULL elsewhere): the
 * only way a whole array lands on one rank. Waits. */
TSR_API int tsr_array_gather(tsr_array_t *a, int root, double *buf);

/* Free this rank's part once pending work on it has finished. NULL-safe;
 * sets *a to NULL. */
TSR_API void tsr_array_free(tsr_array_t **a);

TSR_API void tsr_array_shape(const tsr_array_t *a, int64_t *m, int64_t *n);
TSR_API tsr_dist_t *tsr_array_dist(const tsr_array_t *a);
/* Wait until every pending write to this rank's tiles has finished; returns
 * the first error of the work that produced them. */
TSR_API int tsr_array_wait(tsr_array_t *a);

/* ScaLAPACK view, zero copy: waits, then gives desc[9], this rank's local
 * column-major buffer and its leading dimension. The buffer stays owned by
 * the array; writes through it are the array's new contents. */
TSR_API int tsr_array_scalapack(tsr_array_t *a, int desc[9], double **local, int *lld);

/* ---- element-wise expressions, evaluated as ONE fused pass per tile ----
 * Build a tree with the tsr_ex_* constructors, evaluate it with
 * tsr_array_eval: no temporaries are made for inner nodes. Operands are
 * arrays of one shape m x n on the same distribution, scalars, or vectors
 * broadcast over it as numpy does: 1 x n (a row, repeated down the rows),
 * m x 1 (a column, repeated across) and 1 x 1; a 1 x n and an m x 1 make
 * an m x n outer result. Every array operand must be on an equal
 * distribution (the same grid and tile size); the result gets the first
 * m x n operand's distribution (else the first array's). Shapes that do not
 * broadcast, or unequal distributions, are TSR_ERR_SHAPE naming both.
 *
 * Constructors take ownership of their children (a node has one parent:
 * build a repeated subtree twice). They return NULL on allocation failure
 * and pass NULL children through (freeing the others), so tsr_array_eval
 * reports the failure once. A tree does not own its arrays; free the tree
 * with tsr_ex_free after eval (eval holds what it needs: the arrays may be
 * freed at once too).
 *
 * Semantics follow numpy: maximum/minimum return a NaN operand (the left one
 * if both are NaN; ties give the right one), comparisons with NaN are false
 * (NE true), where's condition is true unless it is 0 (NaN is true),
 * sigmoid(x) = 1 / (1 + e^-x) computed without overflow. exp is Tessera's
 * own, vectorised, within 1 ulp of the C library's; the other functions are
 * the C library's. Results are bit-identical for any grid, tile size,
 * thread count and rank count. */
typedef struct tsr_expr_s tsr_expr_t;
enum tsr_binop {
    TSR_ADD, TSR_SUB, TSR_MUL, TSR_DIV, TSR_POW, TSR_MAXIMUM, TSR_MINIMUM,
    TSR_LT, TSR_LE, TSR_GT, TSR_GE, TSR_EQ, TSR_NE /* comparisons give 1.0 or 0.0 */
};
enum tsr_unop { TSR_NEG, TSR_ABS, TSR_SQRT, TSR_EXP, TSR_LOG, TSR_TANH, TSR_SIGMOID };
TSR_API tsr_expr_t *tsr_ex_array(tsr_array_t *a);
TSR_API tsr_expr_t *tsr_ex_scalar(double v);
TSR_API tsr_expr_t *tsr_ex_binary(int op, tsr_expr_t *l, tsr_expr_t *r);
TSR_API tsr_expr_t *tsr_ex_unary(int op, tsr_expr_t *x);
/* cond != 0 ? a : b, element by element. */
TSR_API tsr_expr_t *tsr_ex_where(tsr_expr_t *cond, tsr_expr_t *a, tsr_expr_t *b);
/* A scalar leaf whose value is *(const double *) of f's value, read when
 * each tile task runs (so f may still be pending, e.g. a
 * tsr_array_reduce_async result: eval's tile tasks depend on f, and a
 * failed f fails the result's tiles with f's error). The leaf holds a
 * reference on f (taken here; the caller keeps its own); eval keeps what it
 * needs, so the tree may be freed right after eval. Results are
 * bit-identical to tsr_ex_scalar with the same value. NULL f gives NULL. */
TSR_API tsr_expr_t *tsr_ex_future(tsr_future_t *f);
TSR_API void tsr_ex_free(tsr_expr_t **e);
TSR_API int tsr_array_eval(tsr_expr_t *e, tsr_array_t **out);

/* ---- reductions: local partials per tile, then a tree over ranks ----
 * Asynchronous inside (tasks and messages, no blocking collective). Like
 * numpy: MIN/MAX of anything with a NaN is NaN; ARGMIN/ARGMAX count NaN as
 * the extreme and return the first occurrence; an empty array (or an empty
 * axis) has SUM 0, NORM2 0, MEAN NaN, and no MIN/MAX/ARG (TSR_ERR_SHAPE).
 * SUM and MEAN are compensated sums and NORM2 is scaled (no overflow or
 * underflow before the result itself does); across rank counts and tile
 * sizes they may differ by reassociation only, within about 1e-15 times
 * sum |x| (SUM, MEAN) or a few ulps (NORM2); MIN/MAX/ARG are exact. A failed
 * input tile fails the result on every rank that waits for it. */
enum tsr_redop { TSR_SUM, TSR_MEAN, TSR_MIN, TSR_MAX, TSR_NORM2, TSR_ARGMIN, TSR_ARGMAX };
/* Whole array to one number, on every rank (waits). Argmin/argmax give the
 * flat row-major index of the first extreme element. */
TSR_API int tsr_array_reduce(tsr_array_t *a, int op, double *out);
/* Same, asynchronous: the future's value is a const double * it owns. */
TSR_API int tsr_array_reduce_async(tsr_array_t *a, int op, tsr_future_t **out);
/* Along axis 0 (down the columns: 1 x n result) or 1 (along the rows:
 * m x 1 result), on a's distribution. Arg ops give indices as doubles. */
TSR_API int tsr_array_reduce_axis(tsr_array_t *a, int op, int axis, tsr_array_t **out);

/* ---- linear algebra ---- */
/* c = a b for a m x k and b k x n; c gets a's distribution. SUMMA: A and B
 * panels move by active messages along process rows and columns, one dgemm
 * per block of c and k step, the next panels' transfer overlapping the
 * current product. When c has one tile column (n <= a's nb; n == 1 is
 * matrix-vector) A stays put instead, and partial products are summed on
 * process column 0. b may be on any distribution: unless it is on a's grid
 * with tiles as wide as a's (any height), it is first redistributed to a's
 * distribution (a temporary copy). Sums over k run tile by tile, so results
 * agree with a serial loop to rounding; they do not depend on the thread
 * count, nor on the grid except on the one-tile-column path (partial sums
 * per process column). TSR_ERR_SHAPE names both shapes when
 * a's columns are not b's rows; TSR_ERR_UNSUPPORTED beyond BLAS's int range. */
TSR_API int tsr_matmul(tsr_array_t *a, tsr_array_t *b, tsr_array_t **out);
/* c = a^T b for a m x k and b m x n (k x n result on a's distribution),
 * without forming a^T: each rank multiplies its local blocks (dgemm 'T','N'
 * per local tile pair, as tasks on the tile futures) and the partial k x n
 * blocks are summed across the grid's process rows by messages to each c
 * tile's owner, in a fixed order (deterministic for a given grid and tile
 * size; results agree with a serial loop to rounding). Asynchronous: no
 * blocking collective. b on another distribution is first redistributed to
 * a's; where the fast path does not apply (Q > 1 with k or n wider than one
 * tile) it falls back to tsr_array_transpose + tsr_matmul. TSR_ERR_SHAPE
 * names both shapes when a's rows are not b's rows. */
TSR_API int tsr_matmul_tn(tsr_array_t *a, tsr_array_t *b, tsr_array_t **out);
/* a^T (n x m), on a's distribution (tiles move between ranks). */
TSR_API int tsr_array_transpose(tsr_array_t *a, tsr_array_t **out);
/* x with a x = b (ScaLAPACK pdgesv on copies made tile by tile; a and b
 * unchanged and may be freed at once). a is square; b has a's rows and any
 * number of columns; both are on the same grid and tile size, with square
 * tiles (mb == nb, as pdgesv needs); else TSR_ERR_SHAPE before any work. x
 * gets a's distribution. Waits for a and b, then blocks inside ScaLAPACK.
 * A singular a (an exactly zero pivot) is TSR_ERR_RUNTIME on every rank:
 * "matrix is singular: U(k,k) is exactly zero (k=K)", K counted from 1. */
TSR_API int tsr_solve(tsr_array_t *a, tsr_array_t *b, tsr_array_t **out);
/* Lower-triangular l with l l^T = a (pdpotrf on a copy; upper part zero).
 * Only a's lower triangle is read (symmetry is not checked). a is square on
 * square tiles, else TSR_ERR_SHAPE. Not positive definite is TSR_ERR_RUNTIME
 * on every rank, naming the order of the leading minor that is not. Waits
 * and blocks like tsr_solve. */
TSR_API int tsr_cholesky(tsr_array_t *a, tsr_array_t **out);

/* ---- restructuring (each makes a new distributed array) ----
 * Tiles move by one message per (source rank, destination tile) at most;
 * inputs may be freed right after the call. */
/* Rows [r0, r1) and columns [c0, c1), on a's distribution. An empty,
 * reversed or out-of-range range is TSR_ERR_SHAPE. */
TSR_API int tsr_array_slice(tsr_array_t *a, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                            tsr_array_t **out);
/* The same values on another distribution (any grid and tile size; d must
 * span the same ranks, else TSR_ERR_INVALID). */
TSR_API int tsr_array_redistribute(tsr_array_t *a, tsr_dist_t *d, tsr_array_t **out);
/* out(i, j) = a(i + di, j + dj) where that is inside a, else fill; same
 * shape and distribution as a. Only the boundary strips travel between
 * ranks (the halo exchange of a stencil). Any di, dj: |di| >= m or
 * |dj| >= n gives all fill. */
TSR_API int tsr_array_shift(tsr_array_t *a, int64_t di, int64_t dj, double fill,
                            tsr_array_t **out);
/* Along axis 0 (stack rows) or 1 (side by side), on the first one's dist;
 * the others may be on any distribution. count >= 1. Sizes across the axis
 * that differ are TSR_ERR_SHAPE; an axis other than 0 or 1 TSR_ERR_INVALID. */
TSR_API int tsr_array_concat(int count, tsr_array_t *const *arrays, int axis, tsr_array_t **out);

/* ---- .npy files through MPI-IO: each rank reads/writes its own tiles ----
 * Load reads little-endian float64 (also int64 and float32, converted;
 * int64 beyond 2^53 rounds), C or Fortran order, format 1.0 to 3.0, 0-D (as
 * 1 x 1), 1-D (as n x 1) or 2-D, onto d. Save writes float64 C order,
 * format 1.0, shape (m, n), to a temporary ".NAME.tmp.PID" beside path, then
 * renames, so a failed save leaves an old file intact and no temporary file
 * behind; a replaced file keeps its permission bits. Both are collective and
 * wait (save for a's tiles); every rank must see path on a shared file
 * system. Errors are TSR_ERR_IO on every rank, alike but for the rank,
 * "rank R: tsr_array_load: PATH: <what is wrong>": missing or unreadable,
 * not a .npy file, an unsupported dtype or shape, data shorter or longer
 * than the header says, a directory that cannot be written. Shapes beyond
 * MPI-IO's int counts (2^31 - 1 per dimension, 2 GiB per rank) are
 * TSR_ERR_UNSUPPORTED. */
TSR_API int tsr_array_load(tsr_dist_t *d, const char *path, tsr_array_t **out);
TSR_API int tsr_array_save(tsr_array_t *a, const char *path);
/* As tsr_array_save; ndim 2 is tsr_array_save itself, ndim 1 writes shape
 * (len,) for an m x 1 or 1 x n array (else TSR_ERR_SHAPE), ndim other than
 * 1 or 2 is TSR_ERR_INVALID. Same temporary-and-rename safety. */
TSR_API int tsr_array_save_nd(tsr_array_t *a, const char *path, int ndim);
/* The shape in a .npy file's header, read locally (no MPI; any process may
 * call it, e.g. to check shapes before running). ndim is 0, 1 or 2; 0-D
 * gives m = n = 1, 1-D gives m = length, n = 1. Errors are TSR_ERR_IO with
 * tsr_array_load's texts ("PATH: <what is wrong>", without the rank and
 * function prefix): missing or unreadable, not a .npy file, unsupported
 * dtype or shape, data shorter or longer than the header says (the same
 * checks as load's). */
TSR_API int tsr_npy_info(const char *path, int *ndim, int64_t *m, int64_t *n);

#ifdef __cplusplus
}
#endif
#endif
