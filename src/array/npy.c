/* .npy load and save through MPI-IO: each rank reads or writes the bytes of
 * its own tiles, and nothing else.
 *
 * The file view of a rank's tiles is MPI_Type_create_darray with cyclic(mb)
 * x cyclic(nb) over the P x Q grid: MPI lays that grid out row-major, as
 * Tessera does, so the view is exactly this rank's block-cyclic part, in file
 * order (row by row of the local part for C order, column by column for
 * Fortran order). Collective read_all/write_all calls then let MPI-IO
 * aggregate the strided pieces (two-phase I/O) instead of one call per tile
 * row segment. Measured on this 2-core node (ext4, page cache, 4000 x 4000
 * doubles, 100 x 100 tiles, noisy shared machine): at 4 ranks, load 1.5-2.2 s
 * with ompio's default collective component vs 0.9 s with one independent
 * MPI_File_read_at per row segment or OMPI_MCA_fcoll=individual; save 1.3-2.0
 * s collective vs 2.4-2.9 s individual. One node with a page cache is the
 * worst case for aggregation (it only adds copies) and parallel file systems
 * the best, so the code stays collective and the fcoll choice is left to
 * the site (OMPI_MCA_fcoll, or romio hints).
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
 * waits elsewhere need tasks; MPI-IO collectives need only main threads).
 *
 * Save writes a temporary file ".NAME.tmp.PID" beside the target (PID of rank
 * 0), which rank 0 creates first (so an unwritable directory fails before
 * any data moves); all ranks write their tiles, sync and close; rank 0
 * renames it over the target only when every rank succeeded, and removes it
 * otherwise, so a failed save leaves an old file as it was. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array/array_internal.h"
#include "array/npy.h"
#include "tessera/runtime.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error ".npy I/O reads and writes little-endian data in place: add byte swapping for this host"
#endif

#define REASON_MAX 768

/* One load or save: names for messages and the reason of the last local
 * failure (not the thread's message, which tasks run by helping waits may
 * overwrite). */
typedef struct io_ctx {
    const char *fn, *path;
    int rank;
    char reason[REASON_MAX];
} io_ctx;

static int why(io_ctx *x, int status, const char *fmt, ...) TSR_PRINTF(3, 4);
static int why(io_ctx *x, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->reason, sizeof x->reason, fmt, ap);
    va_end(ap);
    return status;
}

static int mpi_why(io_ctx *x, int mpi_rc, const char *call) {
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(mpi_rc, s, &n) != MPI_SUCCESS) snprintf(s, sizeof s, "MPI error %d", mpi_rc);
    return why(x, TSR_ERR_IO, "rank %d: %s failed: %s", x->rank, call, s);
}

/* Keep the first failure of a sequence of local steps. */
#define STEP(lrc, expr)                                                                  \
    do {                                                                                 \
        if ((lrc) == TSR_OK) (lrc) = (expr);                                             \
    } while (0)

/* Collective: TSR_OK everywhere, or on every rank the status and reason of
 * the lowest failing rank as "rank R: fn: path: reason". */
static int agree(int lrc, io_ctx *x) {
    int rc = TSR_OK;
    MPI_Comm comm = tsr__array_comm();
    struct {
        int status, rank;
    } mine = {lrc, x->rank}, worst;
    char reason[REASON_MAX];
    MPI_Request req;
    TSR_MPI(MPI_Iallreduce(&mine, &worst, 1, MPI_2INT, MPI_MINLOC, comm, &req));
    TSR_CHECK(tsr__mpi_wait_helping(&req, x->fn));
    if (worst.status == TSR_OK) return TSR_OK;
    if (x->rank == worst.rank) snprintf(reason, sizeof reason, "%s", x->reason);
    TSR_MPI(MPI_Ibcast(reason, (int)sizeof reason, MPI_CHAR, worst.rank, comm, &req));
    TSR_CHECK(tsr__mpi_wait_helping(&req, x->fn));
    reason[sizeof reason - 1] = '\0';
    return tsr_error(worst.status, "rank %d: %s: %s: %s", x->rank, x->fn, x->path, reason);
fail:
    return rc;
}

static const char *dtype_name(int dtype) {
    return dtype == TSR__NPY_I8 ? "int64" : dtype == TSR__NPY_F4 ? "float32" : "float64";
}

static MPI_Datatype dtype_mpi(int dtype) {
    return dtype == TSR__NPY_I8 ? MPI_INT64_T : dtype == TSR__NPY_F4 ? MPI_FLOAT : MPI_DOUBLE;
}

/* Limits of MPI's int arguments, checked from the shape and the
 * distribution alone so every rank reaches the same verdict without a
 * message: global dimensions go into darray's int gsizes, and the largest
 * rank's part (grid position (0, 0) holds the most) must fit one int count
 * of bytes. */
static int check_mpi_limits(const tsr_dist_t *d, int64_t m, int64_t n, int itemsize, io_ctx *x) {
    double part = (double)tsr__numroc(m, d->mb, 0, d->P) * (double)tsr__numroc(n, d->nb, 0, d->Q) *
                  itemsize;
    if (m > INT_MAX || n > INT_MAX || part > (double)INT_MAX)
        return tsr_error(TSR_ERR_UNSUPPORTED,
                         "rank %d: %s: %s: shape (%lld, %lld) on a %d x %d grid is too large for "
                         "MPI-IO's int counts (at most 2^31-1 per dimension and 2 GiB per rank)",
                         x->rank, x->fn, x->path, (long long)m, (long long)n, d->P, d->Q);
    return TSR_OK;
}

/* The file view of this rank's tiles (see the top), or etype itself when the
 * rank holds none (a zero-size darray is not a valid filetype everywhere). */
static int tiles_filetype(const tsr_array_t *a, int fortran, MPI_Datatype etype, MPI_Datatype *out,
                          io_ctx *x) {
    const tsr_dist_t *d = a->dist;
    int mpi_rc;
    *out = etype;
    if (a->lm == 0 || a->ln == 0) return TSR_OK;
    /* A tile taller than the array is the same as one exactly as tall. */
    int gsizes[2] = {(int)a->m, (int)a->n};
    int distribs[2] = {MPI_DISTRIBUTE_CYCLIC, MPI_DISTRIBUTE_CYCLIC};
    int dargs[2] = {(int)(d->mb < a->m ? d->mb : a->m), (int)(d->nb < a->n ? d->nb : a->n)};
    int psizes[2] = {d->P, d->Q};
    MPI_Datatype t;
    mpi_rc = MPI_Type_create_darray(d->nranks, d->rank, 2, gsizes, distribs, dargs, psizes,
                                    fortran ? MPI_ORDER_FORTRAN : MPI_ORDER_C, etype, &t);
    if (mpi_rc != MPI_SUCCESS) return mpi_why(x, mpi_rc, "MPI_Type_create_darray");
    mpi_rc = MPI_Type_commit(&t);
    if (mpi_rc != MPI_SUCCESS) {
        MPI_Type_free(&t);
        return mpi_why(x, mpi_rc, "MPI_Type_commit");
    }
    *out = t;
    return TSR_OK;
}

/* Data moves in chunks of whole local rows (C order) or columns (Fortran
 * order): in file order the local part is `outer` runs of `inner` elements,
 * so a chunk of consecutive runs is contiguous in the view, and a bounded
 * scratch buffer converts it to or from the column-major tiles. Every rank
 * makes the same number of collective calls, planned from the largest part
 * (grid position (0, 0)); a rank past its own end moves nothing.
 *
 * Why not an MPI datatype for the column-major side: with a strided memory
 * type (a row of the local matrix is a vector of stride lld) read_all took
 * 5.7-7.6 s for a 4000 x 4000 array on this 2-core machine at 1-2 ranks,
 * against 1.4-1.9 s reading contiguously and transposing here (ompio; romio
 * 3.2-6.3 s vs 1.7 s). */
static size_t chunk_bytes = (size_t)32 << 20;

void tsr__npy_set_chunk_bytes(size_t bytes) { chunk_bytes = bytes ? bytes : (size_t)32 << 20; }

typedef struct chunk_plan {
    int64_t outer, inner; /* this rank's runs and run length (outer 0: nothing) */
    int64_t per;          /* runs per chunk, the same on every rank */
    int64_t calls;        /* collective calls, the same on every rank */
} chunk_plan;

static chunk_plan plan_chunks(const tsr_array_t *a, int fortran, int itemsize) {
    const tsr_dist_t *d = a->dist;
    chunk_plan p;
    int64_t lm_max = tsr__numroc(a->m, d->mb, 0, d->P), ln_max = tsr__numroc(a->n, d->nb, 0, d->Q);
    int64_t outer_max = fortran ? ln_max : lm_max, inner_max = fortran ? lm_max : ln_max;
    p.outer = fortran ? a->ln : a->lm;
    p.inner = fortran ? a->lm : a->ln;
    if (p.inner == 0) p.outer = 0;
    p.per = inner_max > 0 ? (int64_t)(chunk_bytes / ((size_t)inner_max * (size_t)itemsize)) : 1;
    if (p.per < 1) p.per = 1;
    p.calls = tsr__ceil_div(outer_max, p.per);
    return p;
}

/* Runs in this chunk: [o0, o0 + count). */
static int64_t chunk_runs(const chunk_plan *p, int64_t call, int64_t *o0) {
    *o0 = call * p->per;
    int64_t left = p->outer - *o0;
    return left <= 0 ? 0 : left < p->per ? left : p->per;
}

static inline double element(const void *buf, int dtype, int64_t k) {
    switch (dtype) {
    case TSR__NPY_I8: return (double)((const int64_t *)buf)[k];
    case TSR__NPY_F4: return (double)((const float *)buf)[k];
    default: return ((const double *)buf)[k];
    }
}

/* Transposes go by 64 x 64 blocks so both sides stay in cache. */
#define TBLOCK 64

/* Chunk (runs [o0, o0 + cnt) in file order, of dtype) -> local tiles. */
static void unpack(tsr_array_t *a, int fortran, int dtype, const void *buf, int64_t o0,
                   int64_t cnt) {
    const int64_t lm = a->lm, ln = a->ln, lld = a->lld;
    if (fortran) {
        for (int64_t c = 0; c < cnt; c++)
            for (int64_t i = 0; i < lm; i++) a->data[i + (o0 + c) * lld] = element(buf, dtype, c * lm + i);
        return;
    }
    for (int64_t j0 = 0; j0 < ln; j0 += TBLOCK)
        for (int64_t r0 = 0; r0 < cnt; r0 += TBLOCK) {
            int64_t j1 = j0 + TBLOCK < ln ? j0 + TBLOCK : ln, r1 = r0 + TBLOCK < cnt ? r0 + TBLOCK : cnt;
            for (int64_t j = j0; j < j1; j++)
                for (int64_t r = r0; r < r1; r++)
                    a->data[o0 + r + j * lld] = element(buf, dtype, r * ln + j);
        }
}

/* Local rows [o0, o0 + cnt) -> row-major doubles in buf (C-order file). */
static void pack_rows(const tsr_array_t *a, double *buf, int64_t o0, int64_t cnt) {
    const int64_t ln = a->ln, lld = a->lld;
    for (int64_t j0 = 0; j0 < ln; j0 += TBLOCK)
        for (int64_t r0 = 0; r0 < cnt; r0 += TBLOCK) {
            int64_t j1 = j0 + TBLOCK < ln ? j0 + TBLOCK : ln, r1 = r0 + TBLOCK < cnt ? r0 + TBLOCK : cnt;
            for (int64_t j = j0; j < j1; j++)
                for (int64_t r = r0; r < r1; r++) buf[r * ln + j] = a->data[o0 + r + j * lld];
        }
}

static void free_type(MPI_Datatype *t, MPI_Datatype builtin) {
    if (*t != builtin && *t != MPI_DATATYPE_NULL) MPI_Type_free(t);
    *t = MPI_DATATYPE_NULL;
}

/* ---------------------------------------------------------------- load -- */

/* What rank 0 found in the header, broadcast as bytes. */
typedef struct header_msg {
    int32_t status, dtype, itemsize, fortran;
    int64_t rows, cols, data_offset, file_size;
    char reason[REASON_MAX];
} header_msg;

static void shape_text(const tsr__npy_info *in, char *buf, size_t cap) {
    if (in->ndim == 0)
        snprintf(buf, cap, "()");
    else if (in->ndim == 1)
        snprintf(buf, cap, "(%lld,)", (long long)in->shape[0]);
    else
        snprintf(buf, cap, "(%lld, %lld)", (long long)in->shape[0], (long long)in->shape[1]);
}

/* 0, or an errno value (EIO for a file that ended early). */
static int read_fully(int fd, char *buf, size_t len, off_t at) {
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, at + (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return errno;
        if (r == 0) return EIO;
        got += (size_t)r;
    }
    return 0;
}

/* Rank 0: open the file, read at most TSR__NPY_MAX_HEADER bytes, parse, and
 * compare the data size the header promises with the file's. */
static void read_header(const char *path, header_msg *h) {
    tsr__npy_info in;
    struct stat st;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    h->status = TSR_ERR_IO;
    if (fd < 0) {
        snprintf(h->reason, sizeof h->reason, "cannot open it: %s", strerror(errno));
        return;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(h->reason, sizeof h->reason, "cannot stat it: %s", strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(h->reason, sizeof h->reason, "it is not a regular file");
        goto done;
    }
    size_t want = (uint64_t)st.st_size < TSR__NPY_MAX_HEADER ? (size_t)st.st_size : TSR__NPY_MAX_HEADER;
    /* Exactly `want` bytes, so a parser overrun would hit the allocator's
     * guard (and the sanitizers) rather than slack. */
    buf = malloc(want ? want : 1);
    if (!buf) {
        snprintf(h->reason, sizeof h->reason, "no memory for the header");
        goto done;
    }
    int e = read_fully(fd, buf, want, 0);
    if (e != 0) {
        snprintf(h->reason, sizeof h->reason, "cannot read the header: %s", strerror(e));
        goto done;
    }
    if (tsr__npy_parse_header(buf, want, &in) != TSR_OK) {
        snprintf(h->reason, sizeof h->reason, "%s", in.message);
        goto done;
    }
    /* The parser saw data_offset bytes, so the file has at least that many. */
    uint64_t have = (uint64_t)st.st_size - in.data_offset;
    if (have != in.data_bytes) {
        char shape[64];
        shape_text(&in, shape, sizeof shape);
        if (have < in.data_bytes)
            snprintf(h->reason, sizeof h->reason,
                     "file is truncated: header says %s %s = %llu bytes of data, file has %llu",
                     shape, dtype_name(in.dtype), (unsigned long long)in.data_bytes,
                     (unsigned long long)have);
        else
            snprintf(h->reason, sizeof h->reason,
                     "file is longer than its header says: %s %s = %llu bytes of data, file has "
                     "%llu",
                     shape, dtype_name(in.dtype), (unsigned long long)in.data_bytes,
                     (unsigned long long)have);
        goto done;
    }
    h->status = TSR_OK;
    h->dtype = in.dtype;
    h->itemsize = in.itemsize;
    h->fortran = in.fortran_order;
    h->rows = in.rows;
    h->cols = in.cols;
    h->data_offset = (int64_t)in.data_offset;
    h->file_size = (int64_t)st.st_size;
done:
    free(buf);
    close(fd);
}

/* Every rank: the file is there and is the one rank 0 read. Checked with
 * POSIX first because a collective MPI_File_open that fails on some ranks
 * only may leave the others inside it. */
static int check_same_file(const char *path, int64_t size, io_ctx *x) {
    struct stat st;
    if (stat(path, &st) != 0)
        return why(x, TSR_ERR_IO, "rank %d cannot see the file: %s", x->rank, strerror(errno));
    if ((int64_t)st.st_size != size)
        return why(x, TSR_ERR_IO, "rank %d sees %lld bytes, rank 0 saw %lld (a different file?)",
                   x->rank, (long long)st.st_size, (long long)size);
    return TSR_OK;
}

/* Collective: open, view, read_all per chunk, close; each step agreed. */
static int read_tiles(tsr_array_t *a, const header_msg *h, io_ctx *x) {
    int rc = TSR_OK, lrc = TSR_OK, mpi_rc, opened = 0;
    MPI_File fh = MPI_FILE_NULL;
    MPI_Datatype etype = dtype_mpi(h->dtype), ft = MPI_DATATYPE_NULL;
    chunk_plan p = plan_chunks(a, h->fortran, h->itemsize);
    /* float64 in Fortran order is already the tiles' layout (lld == lm):
     * straight into place. */
    int direct = h->dtype == TSR__NPY_F8 && h->fortran;
    void *tmp = NULL;
    double none;

    STEP(lrc, check_same_file(x->path, h->file_size, x));
    STEP(lrc, tiles_filetype(a, h->fortran, etype, &ft, x));
    if (!direct && p.outer > 0) {
        size_t bytes = (size_t)(p.per * p.inner) * (size_t)h->itemsize;
        tmp = malloc(bytes);
        if (!tmp && lrc == TSR_OK)
            lrc = why(x, TSR_ERR_NOMEM, "rank %d: no memory for a %zu-byte read buffer", x->rank,
                      bytes);
    }
    TSR_CHECK(agree(lrc, x));

    mpi_rc = MPI_File_open(tsr__array_comm(), x->path, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh);
    if (mpi_rc != MPI_SUCCESS) lrc = mpi_why(x, mpi_rc, "MPI_File_open");
    opened = lrc == TSR_OK;
    rc = agree(lrc, x);
    if (rc != TSR_OK && opened)
        tsr_abort("%s (MPI_File_open failed on some ranks only: the file cannot be closed on the "
                  "others)", tsr_error_message());
    TSR_CHECK(rc);

    mpi_rc = MPI_File_set_view(fh, (MPI_Offset)h->data_offset, etype, ft, "native", MPI_INFO_NULL);
    if (mpi_rc != MPI_SUCCESS) lrc = mpi_why(x, mpi_rc, "MPI_File_set_view");
    rc = agree(lrc, x);
    /* Every rank makes every call, even after a local failure. */
    for (int64_t call = 0; rc == TSR_OK && call < p.calls; call++) {
        int64_t o0, cnt = chunk_runs(&p, call, &o0);
        int count = (int)(cnt * p.inner);
        void *buf = count == 0 ? (void *)&none : direct ? (void *)(a->data + o0 * a->lld) : tmp;
        MPI_Status st;
        MPI_Count got = 0;
        mpi_rc = MPI_File_read_all(fh, buf, count, etype, &st);
        if (mpi_rc != MPI_SUCCESS) {
            if (lrc == TSR_OK) lrc = mpi_why(x, mpi_rc, "MPI_File_read_all");
        } else if (count > 0 && lrc == TSR_OK) {
            MPI_Get_elements_x(&st, etype, &got);
            if (got != count)
                lrc = why(x, TSR_ERR_IO, "rank %d read %lld of %d elements (did the file change?)",
                          x->rank, (long long)got, count);
            else if (!direct)
                unpack(a, h->fortran, h->dtype, tmp, o0, cnt);
        }
    }
    mpi_rc = MPI_File_close(&fh);
    if (mpi_rc != MPI_SUCCESS && lrc == TSR_OK) lrc = mpi_why(x, mpi_rc, "MPI_File_close");
    if (rc == TSR_OK) rc = agree(lrc, x);
fail:
    free(tmp);
    free_type(&ft, etype);
    return rc;
}

int tsr_array_load(tsr_dist_t *d, const char *path, tsr_array_t **out) {
    int rc = TSR_OK;
    io_ctx x = {.fn = "tsr_array_load", .path = path, .rank = tsr_rank()};
    header_msg h;
    tsr_array_t *a = NULL;
    MPI_Request req;
    if (out) *out = NULL;
    TSR_CHECK_MSG(d != NULL && path != NULL && out != NULL, TSR_ERR_INVALID,
                  "rank %d: tsr_array_load: NULL %s", x.rank,
                  !d ? "distribution" : !path ? "path" : "output");
    memset(&h, 0, sizeof h);
    if (x.rank == 0) read_header(path, &h);
    TSR_MPI(MPI_Ibcast(&h, (int)sizeof h, MPI_BYTE, 0, tsr__array_comm(), &req));
    TSR_CHECK(tsr__mpi_wait_helping(&req, "tsr_array_load"));
    h.reason[sizeof h.reason - 1] = '\0';
    TSR_CHECK_MSG(h.status == TSR_OK, h.status, "rank %d: tsr_array_load: %s: %s", x.rank, path,
                  h.reason);
    TSR_CHECK(check_mpi_limits(d, h.rows, h.cols, 8, &x));
    TSR_CHECK(tsr__array_alloc(d, h.rows, h.cols, &a));
    if (h.rows > 0 && h.cols > 0) TSR_CHECK(read_tiles(a, &h, &x));
    *out = a;
    return TSR_OK;
fail:
    tsr_array_free(&a);
    return rc;
}

/* ---------------------------------------------------------------- save -- */

/* Rank 0: create the temporary file beside path (mode of the file it will
 * replace, if any) and write the header into it. */
static int make_temp(const tsr_array_t *a, const char *path, char *tmp, size_t cap, size_t *hlen,
                     io_ctx *x) {
    char header[256];
    struct stat old;
    int have_old = stat(path, &old) == 0;
    if (have_old && S_ISDIR(old.st_mode)) return why(x, TSR_ERR_IO, "it is a directory");
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int dirlen = slash ? (int)(slash - path) : 0;
    if (*base == '\0') return why(x, TSR_ERR_IO, "the path ends in '/': no file name");
    *hlen = tsr__npy_write_header(a->m, a->n, header, sizeof header);
    if (*hlen == 0) return why(x, TSR_ERR_IO, "cannot format the header");
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        int k = attempt == 0
                    ? snprintf(tmp, cap, "%.*s%s.%s.tmp.%ld", dirlen, path, slash ? "/" : "", base,
                               (long)getpid())
                    : snprintf(tmp, cap, "%.*s%s.%s.tmp.%ld.%d", dirlen, path, slash ? "/" : "",
                               base, (long)getpid(), attempt);
        if (k < 0 || (size_t)k >= cap) return why(x, TSR_ERR_IO, "the path is too long");
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) {
            int e = errno;
            tmp[0] = '\0';
            return why(x, TSR_ERR_IO, "cannot create a file in directory '%.*s': %s",
                       slash ? (dirlen ? dirlen : 1) : 1, slash ? path : ".", strerror(e));
        }
    }
    if (fd < 0) {
        tmp[0] = '\0';
        return why(x, TSR_ERR_IO, "cannot find an unused temporary name beside it");
    }
    int lrc = TSR_OK;
    if (have_old && fchmod(fd, old.st_mode & 07777) != 0)
        lrc = why(x, TSR_ERR_IO, "cannot set the mode of the temporary file: %s", strerror(errno));
    size_t done = 0;
    while (lrc == TSR_OK && done < *hlen) {
        ssize_t w = write(fd, header + done, *hlen - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            lrc = why(x, TSR_ERR_IO, "cannot write the header to %s: %s", tmp,
                      w < 0 ? strerror(errno) : "no progress");
        else
            done += (size_t)w;
    }
    if (close(fd) != 0 && lrc == TSR_OK)
        lrc = why(x, TSR_ERR_IO, "cannot close %s: %s", tmp, strerror(errno));
    if (lrc != TSR_OK) {
        unlink(tmp);
        tmp[0] = '\0';
    }
    return lrc;
}

/* Collective: every rank writes its tiles into the temporary file. */
static int write_tiles(tsr_array_t *a, const char *tmp, size_t hlen, io_ctx *x) {
    int rc = TSR_OK, lrc = TSR_OK, mpi_rc, opened = 0;
    MPI_File fh = MPI_FILE_NULL;
    MPI_Datatype ft = MPI_DATATYPE_NULL;
    chunk_plan p = plan_chunks(a, 0, (int)sizeof(double));
    double *buf = NULL, none = 0;

    if (access(tmp, W_OK) != 0)
        lrc = why(x, TSR_ERR_IO, "rank %d cannot open the temporary file %s: %s", x->rank, tmp,
                  strerror(errno));
    STEP(lrc, tiles_filetype(a, 0, MPI_DOUBLE, &ft, x));
    if (p.outer > 0) {
        size_t bytes = (size_t)(p.per * p.inner) * sizeof(double);
        buf = malloc(bytes);
        if (!buf && lrc == TSR_OK)
            lrc = why(x, TSR_ERR_NOMEM, "rank %d: no memory for a %zu-byte write buffer", x->rank,
                      bytes);
    }
    TSR_CHECK(agree(lrc, x));

    mpi_rc = MPI_File_open(tsr__array_comm(), tmp, MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
    if (mpi_rc != MPI_SUCCESS) lrc = mpi_why(x, mpi_rc, "MPI_File_open");
    opened = lrc == TSR_OK;
    rc = agree(lrc, x);
    if (rc != TSR_OK && opened)
        tsr_abort("%s (MPI_File_open failed on some ranks only: the file cannot be closed on the "
                  "others)", tsr_error_message());
    TSR_CHECK(rc);

    mpi_rc = MPI_File_set_view(fh, (MPI_Offset)hlen, MPI_DOUBLE, ft, "native", MPI_INFO_NULL);
    if (mpi_rc != MPI_SUCCESS) lrc = mpi_why(x, mpi_rc, "MPI_File_set_view");
    rc = agree(lrc, x);
    if (rc == TSR_OK) {
        /* Every rank makes every call, even after a local failure. */
        for (int64_t call = 0; call < p.calls; call++) {
            int64_t o0, cnt = chunk_runs(&p, call, &o0);
            int count = (int)(cnt * p.inner);
            MPI_Status st;
            MPI_Count put = 0;
            if (count > 0) pack_rows(a, buf, o0, cnt);
            mpi_rc = MPI_File_write_all(fh, count > 0 ? buf : &none, count, MPI_DOUBLE, &st);
            if (mpi_rc != MPI_SUCCESS) {
                if (lrc == TSR_OK) lrc = mpi_why(x, mpi_rc, "MPI_File_write_all");
            } else if (count > 0 && lrc == TSR_OK) {
                MPI_Get_elements_x(&st, MPI_DOUBLE, &put);
                if (put != count)
                    lrc = why(x, TSR_ERR_IO, "rank %d wrote %lld of %d elements", x->rank,
                              (long long)put, count);
            }
        }
        mpi_rc = MPI_File_sync(fh);
        if (mpi_rc != MPI_SUCCESS && lrc == TSR_OK) lrc = mpi_why(x, mpi_rc, "MPI_File_sync");
    }
    mpi_rc = MPI_File_close(&fh);
    if (mpi_rc != MPI_SUCCESS && lrc == TSR_OK) lrc = mpi_why(x, mpi_rc, "MPI_File_close");
    if (rc == TSR_OK) rc = agree(lrc, x);
fail:
    free(buf);
    free_type(&ft, MPI_DOUBLE);
    return rc;
}

/* Rank 0, after every rank wrote: the temporary file has every byte, then
 * it takes the target's name; the directory entry is synced (best effort:
 * not every file system can). */
static int publish(const tsr_array_t *a, const char *tmp, size_t hlen, io_ctx *x) {
    struct stat st;
    uint64_t want = (uint64_t)hlen + (uint64_t)a->m * (uint64_t)a->n * sizeof(double);
    if (stat(tmp, &st) != 0)
        return why(x, TSR_ERR_IO, "the temporary file %s vanished: %s", tmp, strerror(errno));
    if ((uint64_t)st.st_size != want)
        return why(x, TSR_ERR_IO, "the temporary file %s has %llu bytes, expected %llu", tmp,
                   (unsigned long long)st.st_size, (unsigned long long)want);
    if (rename(tmp, x->path) != 0)
        return why(x, TSR_ERR_IO, "cannot rename %s to it: %s", tmp, strerror(errno));
    const char *slash = strrchr(x->path, '/');
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - x->path) + 1 : 1, slash ? x->path : ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    return TSR_OK;
}

int tsr_array_save(tsr_array_t *a, const char *path) {
    int rc = TSR_OK, lrc = TSR_OK, created = 0;
    io_ctx x = {.fn = "tsr_array_save", .path = path, .rank = tsr_rank()};
    char tmp[PATH_MAX + 64] = "", header[256];
    size_t hlen = 0;
    MPI_Request req;
    TSR_CHECK_MSG(a != NULL && path != NULL, TSR_ERR_INVALID, "rank %d: tsr_array_save: NULL %s",
                  x.rank, !a ? "array" : "path");
    TSR_CHECK(check_mpi_limits(a->dist, a->m, a->n, 8, &x));
    /* Every tile computed everywhere before a byte is written. */
    lrc = tsr_array_wait(a);
    if (lrc != TSR_OK) why(&x, lrc, "the array was not computed: %s", tsr_error_message());
    TSR_CHECK(agree(lrc, &x));
    if (x.rank == 0) {
        lrc = make_temp(a, path, tmp, sizeof tmp, &hlen, &x);
        created = lrc == TSR_OK;
    }
    TSR_CHECK(agree(lrc, &x));
    /* The header's length depends on the shape alone: the same everywhere. */
    hlen = tsr__npy_write_header(a->m, a->n, header, sizeof header);
    TSR_MPI(MPI_Ibcast(tmp, (int)sizeof tmp, MPI_CHAR, 0, tsr__array_comm(), &req));
    TSR_CHECK(tsr__mpi_wait_helping(&req, "tsr_array_save"));
    if (a->m > 0 && a->n > 0) TSR_CHECK(write_tiles(a, tmp, hlen, &x));
    if (x.rank == 0) {
        lrc = publish(a, tmp, hlen, &x);
        if (lrc == TSR_OK) created = 0;
    }
    TSR_CHECK(agree(lrc, &x));
    return TSR_OK;
fail:
    if (created) unlink(tmp);
    return rc;
}
