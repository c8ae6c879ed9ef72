/* tsr_array_save: a temporary file ".NAME.tmp.PID" beside the target (PID
 * of rank 0), which rank 0 creates first with the header, so an unwritable
 * directory fails before any data moves; every rank writes its own tiles
 * through a darray view in chunks, syncs and closes; rank 0 checks the size
 * and renames it over the target only when every rank succeeded, and
 * removes it otherwise, so a failed save leaves an old file as it was.
 * npy_io.h has the rest of the design. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "array/mem_guard.h"
#include "array/npy_io.h"
#include "tessera/runtime.h"
#include "tessera/perf.h"

/* Rank 0: create the temporary file beside path (mode of the file it will
 * replace, if any) and write the header into it. */
static int make_temp(const tsr_array_t *a, int ndim, const char *path, char *tmp, size_t cap,
                     size_t *hlen, tsr__npy_ctx *x) {
    char header[256];
    struct stat old;
    int have_old = stat(path, &old) == 0;
    if (have_old && S_ISDIR(old.st_mode)) return tsr__npy_why(x, TSR_ERR_IO, "it is a directory");
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int dirlen = slash ? (int)(slash - path) : 0;
    if (*base == '\0') return tsr__npy_why(x, TSR_ERR_IO, "the path ends in '/': no file name");
    (void)tsr__npy_remove_stale(path);
    *hlen = tsr__npy_write_header_nd(ndim, a->m, a->n, header, sizeof header);
    if (*hlen == 0) return tsr__npy_why(x, TSR_ERR_IO, "cannot format the header");
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        int k = attempt == 0 ? snprintf(tmp, cap, "%.*s%s.%s.tmp.%ld", dirlen, path,
                                        slash ? "/" : "", base, (long)getpid())
                             : snprintf(tmp, cap, "%.*s%s.%s.tmp.%ld.%d", dirlen, path,
                                        slash ? "/" : "", base, (long)getpid(), attempt);
        if (k < 0 || (size_t)k >= cap) return tsr__npy_why(x, TSR_ERR_IO, "the path is too long");
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) {
            int e = errno;
            tmp[0] = '\0';
            return tsr__npy_why(x, TSR_ERR_IO, "cannot create a file in directory '%.*s': %s",
                                slash ? (dirlen ? dirlen : 1) : 1, slash ? path : ".", strerror(e));
        }
    }
    if (fd < 0) {
        tmp[0] = '\0';
        return tsr__npy_why(x, TSR_ERR_IO, "cannot find an unused temporary name beside it");
    }
    int lrc = TSR_OK;
    if (have_old && fchmod(fd, old.st_mode & 07777) != 0)
        lrc = tsr__npy_why(x, TSR_ERR_IO, "cannot set the mode of the temporary file: %s",
                           strerror(errno));
    size_t done = 0;
    while (lrc == TSR_OK && done < *hlen) {
        ssize_t w = write(fd, header + done, *hlen - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            lrc = tsr__npy_why(x, TSR_ERR_IO, "cannot write the header to %s: %s", tmp,
                               w < 0 ? strerror(errno) : "no progress");
        else
            done += (size_t)w;
    }
    /* An empty array has no tile writes, whose sync covers the header:
     * sync it here, so a crash after the rename cannot leave it short. */
    if (lrc == TSR_OK && (a->m == 0 || a->n == 0) && fsync(fd) != 0)
        lrc = tsr__npy_why(x, TSR_ERR_IO, "cannot sync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && lrc == TSR_OK)
        lrc = tsr__npy_why(x, TSR_ERR_IO, "cannot close %s: %s", tmp, strerror(errno));
    if (lrc != TSR_OK) {
        unlink(tmp);
        tmp[0] = '\0';
    }
    return lrc;
}

/* After a failed write: when the file system has less room than the file
 * needs, say so in plain words (MPI-IO's own text is often only "wrote
 * fewer elements"). */
static void explain_full(const char *tmp, const tsr_array_t *a, size_t hlen, tsr__npy_ctx *x) {
    const char *slash = strrchr(tmp, '/');
    char dir[PATH_MAX], b1[32], b2[32];
    snprintf(dir, sizeof dir, "%.*s", slash ? (slash > tmp ? (int)(slash - tmp) : 1) : 1,
             slash ? tmp : ".");
    struct statvfs vfs;
    double need = (double)hlen + (double)a->m * (double)a->n * (double)sizeof(double);
    if (statvfs(dir, &vfs) != 0) return;
    double avail = (double)vfs.f_bavail * (double)vfs.f_frsize;
    /* What is free now, next to what the file needs; the partial temporary
     * file is still there and holds the rest. */
    struct stat st;
    double have = stat(tmp, &st) == 0 ? (double)st.st_blocks * 512.0 : 0; /* sparse: blocks */
    if (avail + have >= need) return;
    tsr__npy_why(x, TSR_ERR_IO,
                 "rank %d: no space left on the device: the file needs %s, %s free in %s "
                 "(the old file, if any, is kept)",
                 x->rank, tsr__fmt_bytes(need, b1, sizeof b1),
                 tsr__fmt_bytes(avail + have, b2, sizeof b2), dir);
}

/* Collective: every rank writes its own tiles into the temporary file. */
static int write_tiles(tsr_array_t *a, const char *tmp, size_t hlen, tsr__npy_ctx *x) {
    int rc = TSR_OK, lrc = TSR_OK, mpi_rc;
    MPI_File fh = MPI_FILE_NULL;
    MPI_Datatype ft = MPI_DATATYPE_NULL;
    tsr__npy_chunks p = tsr__npy_plan(a, 0, (int)sizeof(double));
    double *buf = NULL;

    if (access(tmp, W_OK) != 0)
        lrc = tsr__npy_why(x, TSR_ERR_IO, "rank %d cannot open the temporary file %s: %s", x->rank,
                           tmp, strerror(errno));
    TSR__NPY_STEP(lrc, tsr__npy_filetype(a, 0, MPI_DOUBLE, &ft, x));
    if (p.outer > 0) {
        size_t bytes = (size_t)(p.per * p.inner) * sizeof(double);
        buf = malloc(bytes);
        if (!buf && lrc == TSR_OK)
            lrc = tsr__npy_why(x, TSR_ERR_NOMEM, "rank %d: no memory for a %zu-byte write buffer",
                               x->rank, bytes);
    }
    TSR_CHECK(tsr__npy_agree(lrc, x));

    TSR_CHECK(tsr__npy_open(tmp, MPI_MODE_WRONLY, &fh, x));

    mpi_rc = MPI_File_set_view(fh, (MPI_Offset)hlen, MPI_DOUBLE, ft, "native", MPI_INFO_NULL);
    if (mpi_rc != MPI_SUCCESS) lrc = tsr__npy_mpi_why(x, mpi_rc, "MPI_File_set_view");
    /* Independent writes (see npy_io.h): a rank stops at its first error. */
    long delay_ms = tsr__npy_test_save_delay_ms();
    for (int64_t call = 0; lrc == TSR_OK && call < p.calls; call++) {
        if (delay_ms > 0 && call > 0) {
            struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        int64_t o0, cnt = tsr__npy_chunk_runs(&p, call, &o0);
        int count = (int)(cnt * p.inner);
        if (count == 0) break;
        MPI_Status st;
        MPI_Count put = 0;
        tsr__npy_pack_rows(a, buf, o0, cnt);
        mpi_rc = MPI_File_write(fh, buf, count, MPI_DOUBLE, &st);
        if (mpi_rc != MPI_SUCCESS) {
            lrc = tsr__npy_mpi_why(x, mpi_rc, "MPI_File_write");
        } else {
            MPI_Get_elements_x(&st, MPI_DOUBLE, &put);
            if (put != count)
                lrc = tsr__npy_why(x, TSR_ERR_IO,
                                   "rank %d wrote %lld of %d elements (file system full, or a "
                                   "file size limit?)",
                                   x->rank, (long long)put, count);
        }
        if (lrc != TSR_OK) explain_full(tmp, a, hlen, x);
    }
    /* Collective, called by every rank whatever its writes did. */
    mpi_rc = MPI_File_sync(fh);
    if (mpi_rc != MPI_SUCCESS && lrc == TSR_OK) lrc = tsr__npy_mpi_why(x, mpi_rc, "MPI_File_sync");
    mpi_rc = MPI_File_close(&fh);
    if (mpi_rc != MPI_SUCCESS && lrc == TSR_OK) lrc = tsr__npy_mpi_why(x, mpi_rc, "MPI_File_close");
    rc = tsr__npy_agree(lrc, x);
fail:
    free(buf);
    tsr__npy_free_type(&ft, MPI_DOUBLE);
    return rc;
}

/* Rank 0, after every rank wrote: the temporary file has every byte, then
 * it takes the target's name; the directory entry is synced (best effort:
 * not every file system can). */
static int publish(const tsr_array_t *a, const char *target, const char *tmp, size_t hlen,
                   tsr__npy_ctx *x) {
    struct stat st;
    uint64_t want = (uint64_t)hlen + (uint64_t)a->m * (uint64_t)a->n * sizeof(double);
    if (stat(tmp, &st) != 0)
        return tsr__npy_why(x, TSR_ERR_IO, "the temporary file %s vanished: %s", tmp,
                            strerror(errno));
    if ((uint64_t)st.st_size != want)
        return tsr__npy_why(x, TSR_ERR_IO, "the temporary file %s has %llu bytes, expected %llu",
                            tmp, (unsigned long long)st.st_size, (unsigned long long)want);
    if (rename(tmp, target) != 0)
        return tsr__npy_why(x, TSR_ERR_IO, "cannot rename %s to %s: %s", tmp, target,
                            strerror(errno));
    const char *slash = strrchr(target, '/');
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - target) + 1 : 1, slash ? target : ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    return TSR_OK;
}

int tsr__npy_check_target(const char *path, double bytes, char *why, size_t size) {
    struct stat st;
    char *real = lstat(path, &st) == 0 && S_ISLNK(st.st_mode) ? realpath(path, NULL) : NULL;
    const char *target = real ? real : path;
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    char dir[PATH_MAX], b1[32], b2[32];
    int rc = TSR_ERR_IO;
    snprintf(dir, sizeof dir, "%.*s", slash ? (slash > target ? (int)(slash - target) : 1) : 1,
             slash ? target : ".");
    struct statvfs vfs;
    if (*base == '\0') {
        snprintf(why, size, "the path ends in '/': no file name");
    } else if (stat(target, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(why, size, "it is a directory");
    } else if (stat(dir, &st) != 0) {
        snprintf(why, size, "cannot create a file in directory '%s': %s", dir, strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        snprintf(why, size, "cannot create a file in directory '%s': %s", dir, strerror(ENOTDIR));
    } else if (access(dir, W_OK | X_OK) != 0) {
        snprintf(why, size, "cannot create a file in directory '%s': %s", dir, strerror(errno));
    } else if (bytes > 0 && statvfs(dir, &vfs) == 0 &&
               (double)vfs.f_bavail * (double)vfs.f_frsize < bytes) {
        snprintf(why, size, "not enough space: the file needs %s, %s free in %s",
                 tsr__fmt_bytes(bytes, b1, sizeof b1),
                 tsr__fmt_bytes((double)vfs.f_bavail * (double)vfs.f_frsize, b2, sizeof b2), dir);
    } else {
        rc = TSR_OK;
    }
    free(real);
    return rc;
}

/* ndim 1 or 2 (checked by the callers): the header's shape; the data bytes
 * are the same (an m x 1 or 1 x n array in C order is its n values). */
static int save(tsr_array_t *a, const char *path, int ndim) {
    TSR_TRACE_SCOPE("save");
    int rc = TSR_OK, lrc = TSR_OK, created = 0;
    tsr__npy_ctx x = {.fn = "tsr_array_save", .path = path, .rank = tsr_rank()};
    char tmp[PATH_MAX + 64] = "", target[PATH_MAX] = "", header[256];
    size_t hlen = 0;
    MPI_Request req;
    TSR_CHECK_MSG(a != NULL && path != NULL, TSR_ERR_INVALID, "rank %d: tsr_array_save: NULL %s",
                  x.rank, !a ? "array" : "path");
    TSR_CHECK(tsr__npy_check_limits(a->dist, a->m, a->n, &x));
    /* Every tile computed everywhere before a byte is written. */
    lrc = tsr_array_wait(a);
    if (lrc != TSR_OK) tsr__npy_why(&x, lrc, "the array was not computed: %s", tsr_error_message());
    TSR_CHECK(tsr__npy_agree(lrc, &x));
    if (x.rank == 0) {
        /* A symbolic link is followed, as numpy's open() would: the file it
         * names is replaced and the link stays. */
        struct stat st;
        char *real = lstat(path, &st) == 0 && S_ISLNK(st.st_mode) ? realpath(path, NULL) : NULL;
        snprintf(target, sizeof target, "%s", real ? real : path);
        free(real);
        lrc = make_temp(a, ndim, target, tmp, sizeof tmp, &hlen, &x);
        created = lrc == TSR_OK;
    }
    TSR_CHECK(tsr__npy_agree(lrc, &x));
    /* The header's length depends on the shape alone: the same everywhere. */
    hlen = tsr__npy_write_header_nd(ndim, a->m, a->n, header, sizeof header);
    TSR_MPI(MPI_Ibcast(tmp, (int)sizeof tmp, MPI_CHAR, 0, tsr__array_comm(), &req));
    TSR_CHECK(tsr__mpi_wait_helping(&req, "tsr_array_save"));
    if (a->m > 0 && a->n > 0) TSR_CHECK(write_tiles(a, tmp, hlen, &x));
    if (x.rank == 0) {
        lrc = publish(a, target, tmp, hlen, &x);
        if (lrc == TSR_OK) created = 0;
    }
    TSR_CHECK(tsr__npy_agree(lrc, &x));
    return TSR_OK;
fail:
    if (created) unlink(tmp);
    return rc;
}

int tsr_array_save(tsr_array_t *a, const char *path) { return save(a, path, 2); }

/* Messages name tsr_array_save, like those of save itself, so that callers
 * strip one prefix. */
int tsr_array_save_nd(tsr_array_t *a, const char *path, int ndim) {
    int rc = TSR_OK;
    TSR_CHECK_MSG(ndim == 1 || ndim == 2, TSR_ERR_INVALID,
                  "rank %d: tsr_array_save: %s: cannot save %d dimensions (1 or 2)", tsr_rank(),
                  path ? path : "(null)", ndim);
    if (ndim == 1)
        TSR_CHECK_MSG(a == NULL || a->m == 1 || a->n == 1, TSR_ERR_SHAPE,
                      "rank %d: tsr_array_save: %s: an array of shape (%lld, %lld) is not 1-D "
                      "(it needs one row or one column)",
                      tsr_rank(), path ? path : "(null)", (long long)a->m, (long long)a->n);
    return save(a, path, ndim);
fail:
    return rc;
}
