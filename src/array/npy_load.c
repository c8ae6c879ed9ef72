/* tsr_array_load: rank 0 reads and checks the header and broadcasts the
 * verdict; then every rank reads its own tiles through a darray view, in
 * chunks, converting to double (npy_io.h has the design). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array/npy_io.h"
#include "tessera/runtime.h"
#include "tessera/perf.h"

static const char *dtype_name(int dtype) {
    return dtype == TSR__NPY_I8 ? "int64" : dtype == TSR__NPY_F4 ? "float32" : "float64";
}

static MPI_Datatype dtype_mpi(int dtype) {
    return dtype == TSR__NPY_I8 ? MPI_INT64_T : dtype == TSR__NPY_F4 ? MPI_FLOAT : MPI_DOUBLE;
}

/* What rank 0 found in the header, broadcast as bytes. */
typedef struct header_msg {
    int32_t status, dtype, itemsize, fortran, ndim;
    int64_t rows, cols, data_offset, file_size;
    char reason[TSR__NPY_REASON_MAX];
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
    size_t want =
        (uint64_t)st.st_size < TSR__NPY_MAX_HEADER ? (size_t)st.st_size : TSR__NPY_MAX_HEADER;
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
    h->ndim = in.ndim;
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
static int check_same_file(const char *path, int64_t size, tsr__npy_ctx *x) {
    struct stat st;
    if (stat(path, &st) != 0)
        return tsr__npy_why(x, TSR_ERR_IO, "rank %d cannot see the file: %s", x->rank,
                            strerror(errno));
    if ((int64_t)st.st_size != size)
        return tsr__npy_why(x, TSR_ERR_IO,
                            "rank %d sees %lld bytes, rank 0 saw %lld (a different file?)", x->rank,
                            (long long)st.st_size, (long long)size);
    return TSR_OK;
}

/* Collective: open and view, then this rank's reads, close; agreed. */
static int read_tiles(tsr_array_t *a, const header_msg *h, tsr__npy_ctx *x) {
    int rc = TSR_OK, lrc = TSR_OK, mpi_rc;
    MPI_File fh = MPI_FILE_NULL;
    MPI_Datatype etype = dtype_mpi(h->dtype), ft = MPI_DATATYPE_NULL;
    tsr__npy_chunks p = tsr__npy_plan(a, h->fortran, h->itemsize);
    /* float64 in Fortran order is already the tiles' layout (lld == lm):
     * straight into place. */
    int direct = h->dtype == TSR__NPY_F8 && h->fortran;
    void *tmp = NULL;

    TSR__NPY_STEP(lrc, check_same_file(x->path, h->file_size, x));
    TSR__NPY_STEP(lrc, tsr__npy_filetype(a, h->fortran, etype, &ft, x));
    if (!direct && p.outer > 0) {
        size_t bytes = (size_t)(p.per * p.inner) * (size_t)h->itemsize;
        tmp = malloc(bytes);
        if (!tmp && lrc == TSR_OK)
            lrc = tsr__npy_why(x, TSR_ERR_NOMEM, "rank %d: no memory for a %zu-byte read buffer",
                               x->rank, bytes);
    }
    TSR_CHECK(tsr__npy_agree(lrc, x));

    TSR_CHECK(tsr__npy_open(x->path, MPI_MODE_RDONLY, &fh, x));

    mpi_rc = MPI_File_set_view(fh, (MPI_Offset)h->data_offset, etype, ft, "native", MPI_INFO_NULL);
    if (mpi_rc != MPI_SUCCESS) lrc = tsr__npy_mpi_why(x, mpi_rc, "MPI_File_set_view");
    /* Independent reads (see npy_io.h): a rank stops at its first error. */
    for (int64_t call = 0; lrc == TSR_OK && call < p.calls; call++) {
        int64_t o0, cnt = tsr__npy_chunk_runs(&p, call, &o0);
        int count = (int)(cnt * p.inner);
        if (count == 0) break;
        void *buf = direct ? (void *)(a->data + o0 * a->lld) : tmp;
        MPI_Status st;
        MPI_Count got = 0;
        mpi_rc = MPI_File_read(fh, buf, count, etype, &st);
        if (mpi_rc != MPI_SUCCESS) {
            lrc = tsr__npy_mpi_why(x, mpi_rc, "MPI_File_read");
        } else {
            MPI_Get_elements_x(&st, etype, &got);
            if (got != count)
                lrc = tsr__npy_why(x, TSR_ERR_IO,
                                   "rank %d read %lld of %d elements (did the file change?)",
                                   x->rank, (long long)got, count);
            else if (!direct)
                tsr__npy_unpack(a, h->fortran, h->dtype, tmp, o0, cnt);
        }
    }
    mpi_rc = MPI_File_close(&fh);
    if (mpi_rc != MPI_SUCCESS && lrc == TSR_OK) lrc = tsr__npy_mpi_why(x, mpi_rc, "MPI_File_close");
    rc = tsr__npy_agree(lrc, x);
fail:
    free(tmp);
    tsr__npy_free_type(&ft, etype);
    return rc;
}

int tsr_array_load(tsr_dist_t *d, const char *path, tsr_array_t **out) {
    TSR_TRACE_SCOPE("load");
    int rc = TSR_OK;
    tsr__npy_ctx x = {.fn = "tsr_array_load", .path = path, .rank = tsr_rank()};
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
    TSR_CHECK(tsr__npy_check_limits(d, h.rows, h.cols, &x));
    TSR_CHECK(tsr__array_alloc(d, h.rows, h.cols, &a));
    if (h.rows > 0 && h.cols > 0) TSR_CHECK(read_tiles(a, &h, &x));
    *out = a;
    return TSR_OK;
fail:
    tsr_array_free(&a);
    return rc;
}

/* Local: the same checks as load's rank 0 (header and data length). */
int tsr_npy_info(const char *path, int *ndim, int64_t *m, int64_t *n) {
    header_msg h;
    if (!path) return tsr_error(TSR_ERR_INVALID, "tsr_npy_info: the path is NULL");
    memset(&h, 0, sizeof h);
    read_header(path, &h);
    h.reason[sizeof h.reason - 1] = '\0';
    if (h.status != TSR_OK) return tsr_error(h.status, "%s: %s", path, h.reason);
    if (ndim) *ndim = h.ndim;
    if (m) *m = h.rows;
    if (n) *n = h.cols;
    return TSR_OK;
}
