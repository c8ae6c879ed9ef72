/* What .npy load and save share: agreed errors, the collective open, the
 * file view of a rank's tiles and the chunked conversion between file order
 * and the column-major tiles. The design is in npy_io.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "array/npy_io.h"
#include "tessera/runtime.h"

int tsr__npy_why(tsr__npy_ctx *x, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->reason, sizeof x->reason, fmt, ap);
    va_end(ap);
    return status;
}

/* A temporary file of a save that was killed (kill -9, a node crash) stays
 * behind: nothing could remove it. The next save to the same name removes
 * such leftovers, ".NAME.tmp.PID" and ".NAME.tmp.PID.K" (and ompio's
 * ".locktest.N" probes of them), whose PID is not
 * a live process on this host (kill(PID, 0) fails with ESRCH) or is this
 * process itself (which is not saving that name now). A leftover of a job
 * on another host of a shared file system whose PID happens to be free here
 * is removed too: that job's save then fails ("vanished") rather than
 * publishing, which two jobs writing one name at once deserve anyway. */
int tsr__npy_remove_stale(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[PATH_MAX], prefix[NAME_MAX + 16], victim[PATH_MAX + NAME_MAX + 2];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    int k = snprintf(prefix, sizeof prefix, ".%s.tmp.", base);
    if (k < 0 || (size_t)k >= sizeof prefix || !*base) return 0;
    DIR *dp = opendir(dir);
    if (!dp) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (strncmp(e->d_name, prefix, (size_t)k) != 0) continue;
        const char *p = e->d_name + k;
        char *end;
        errno = 0;
        long pid = strtol(p, &end, 10);
        if (end == p || !isdigit((unsigned char)*p) || errno || pid <= 0) continue;
        if (*end == '.' && isdigit((unsigned char)end[1])) { /* ".K": a later attempt */
            const char *q = end + 1;
            strtol(q, &end, 10);
        }
        /* Open MPI's ompio probes locking with "<file>.locktest.N" beside it. */
        if (!strncmp(end, ".locktest.", 10) && isdigit((unsigned char)end[10])) {
            const char *q = end + 10;
            strtol(q, &end, 10);
        }
        if (*end != '\0') continue;
        if (pid != (long)getpid() && !(kill((pid_t)pid, 0) != 0 && errno == ESRCH)) continue;
        snprintf(victim, sizeof victim, "%s%s%s", dir, slash ? "" : "/", e->d_name);
        if (unlink(victim) == 0) removed++;
    }
    closedir(dp);
    return removed;
}

int tsr__npy_mpi_why(tsr__npy_ctx *x, int mpi_rc, const char *call) {
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(mpi_rc, s, &n) != MPI_SUCCESS)
        snprintf(s, sizeof s, "MPI error %d", mpi_rc);
    return tsr__npy_why(x, TSR_ERR_IO, "rank %d: %s failed: %s", x->rank, call, s);
}

int tsr__npy_agree(int lrc, tsr__npy_ctx *x) {
    int rc = TSR_OK;
    MPI_Comm comm = tsr__array_comm();
    struct {
        int status, rank;
    } mine = {lrc, x->rank}, worst;
    char reason[TSR__NPY_REASON_MAX];
    MPI_Request req;
    /* MINLOC: the most negative status, and the lowest rank that has it. */
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

/* Global dimensions go into darray's int gsizes, and the largest rank's
 * part (grid position (0, 0) holds the most) must fit MPI's int counts and
 * datatype sizes in bytes. */
int tsr__npy_check_limits(const tsr_dist_t *d, int64_t m, int64_t n, tsr__npy_ctx *x) {
    double part = (double)tsr__numroc(m, d->mb, 0, d->P) * (double)tsr__numroc(n, d->nb, 0, d->Q) *
                  (double)sizeof(double);
    if (m > INT_MAX || n > INT_MAX || part > (double)INT_MAX)
        return tsr_error(TSR_ERR_UNSUPPORTED,
                         "rank %d: %s: %s: shape (%lld, %lld) on a %d x %d grid is too large for "
                         "MPI-IO's int counts (at most 2^31-1 per dimension and 2 GiB per rank)",
                         x->rank, x->fn, x->path, (long long)m, (long long)n, d->P, d->Q);
    return TSR_OK;
}

int tsr__npy_open(const char *file, int amode, MPI_File *fh, tsr__npy_ctx *x) {
    int lrc = TSR_OK;
    int mpi_rc = MPI_File_open(tsr__array_comm(), file, amode, MPI_INFO_NULL, fh);
    if (mpi_rc != MPI_SUCCESS) lrc = tsr__npy_mpi_why(x, mpi_rc, "MPI_File_open");
    int rc = tsr__npy_agree(lrc, x);
    if (rc != TSR_OK && lrc == TSR_OK)
        tsr_abort("%s (MPI_File_open failed on some ranks only: the file cannot be closed on the "
                  "others)", tsr_error_message());
    return rc;
}

int tsr__npy_filetype(const tsr_array_t *a, int fortran, MPI_Datatype etype, MPI_Datatype *out,
                      tsr__npy_ctx *x) {
    const tsr_dist_t *d = a->dist;
    int mpi_rc;
    *out = etype;
    /* A zero-size darray is not a valid filetype everywhere. */
    if (a->lm == 0 || a->ln == 0) return TSR_OK;
    /* A tile taller than the array is the same as one exactly as tall. */
    int gsizes[2] = {(int)a->m, (int)a->n};
    int distribs[2] = {MPI_DISTRIBUTE_CYCLIC, MPI_DISTRIBUTE_CYCLIC};
    int dargs[2] = {(int)(d->mb < a->m ? d->mb : a->m), (int)(d->nb < a->n ? d->nb : a->n)};
    int psizes[2] = {d->P, d->Q};
    MPI_Datatype t;
    mpi_rc = MPI_Type_create_darray(d->nranks, d->rank, 2, gsizes, distribs, dargs, psizes,
                                    fortran ? MPI_ORDER_FORTRAN : MPI_ORDER_C, etype, &t);
    if (mpi_rc != MPI_SUCCESS) return tsr__npy_mpi_why(x, mpi_rc, "MPI_Type_create_darray");
    mpi_rc = MPI_Type_commit(&t);
    if (mpi_rc != MPI_SUCCESS) {
        MPI_Type_free(&t);
        return tsr__npy_mpi_why(x, mpi_rc, "MPI_Type_commit");
    }
    *out = t;
    return TSR_OK;
}

void tsr__npy_free_type(MPI_Datatype *t, MPI_Datatype builtin) {
    if (*t != builtin && *t != MPI_DATATYPE_NULL) MPI_Type_free(t);
    *t = MPI_DATATYPE_NULL;
}

/* Why chunks and not an MPI datatype for the column-major side: with a
 * strided memory type (a row of the local matrix is a vector of stride lld)
 * read_all took 5.7-7.6 s for a 4000 x 4000 array on this 2-core machine at
 * 1-2 ranks, against 1.4-1.9 s reading contiguously and transposing here
 * (ompio; romio 3.2-6.3 s vs 1.7 s). 32 MiB chunks keep the scratch memory
 * small next to a rank's part and the calls few. */
static size_t chunk_bytes = (size_t)32 << 20;

void tsr__npy_set_chunk_bytes(size_t bytes) { chunk_bytes = bytes ? bytes : (size_t)32 << 20; }

long tsr__npy_test_save_delay_ms(void) {
    const char *v = getenv("TSR_TEST_SAVE_DELAY_MS");
    long ms = v ? atol(v) : 0;
    return ms > 0 ? ms : 0;
}

tsr__npy_chunks tsr__npy_plan(const tsr_array_t *a, int fortran, int itemsize) {
    const tsr_dist_t *d = a->dist;
    tsr__npy_chunks p;
    int64_t lm_max = tsr__numroc(a->m, d->mb, 0, d->P), ln_max = tsr__numroc(a->n, d->nb, 0, d->Q);
    int64_t outer_max = fortran ? ln_max : lm_max, inner_max = fortran ? lm_max : ln_max;
    p.outer = fortran ? a->ln : a->lm;
    p.inner = fortran ? a->lm : a->ln;
    if (p.inner == 0) p.outer = 0;
    size_t bytes = tsr__npy_test_save_delay_ms() > 0 ? (size_t)1 << 20 : chunk_bytes;
    p.per = inner_max > 0 ? (int64_t)(bytes / ((size_t)inner_max * (size_t)itemsize)) : 1;
    /* No more runs than the largest part has: the scratch buffer is sized
     * from per, and a small array must not cost a 32 MiB one. */
    if (p.per > outer_max) p.per = outer_max;
    if (p.per < 1) p.per = 1;
    p.calls = tsr__ceil_div(outer_max, p.per);
    return p;
}

int64_t tsr__npy_chunk_runs(const tsr__npy_chunks *p, int64_t call, int64_t *o0) {
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

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

void tsr__npy_unpack(tsr_array_t *a, int fortran, int dtype, const void *buf, int64_t o0,
                     int64_t cnt) {
    const int64_t lm = a->lm, ln = a->ln, lld = a->lld;
    if (fortran) {
        for (int64_t c = 0; c < cnt; c++)
            for (int64_t i = 0; i < lm; i++)
                a->data[i + (o0 + c) * lld] = element(buf, dtype, c * lm + i);
        return;
    }
    for (int64_t j0 = 0; j0 < ln; j0 += TBLOCK)
        for (int64_t r0 = 0; r0 < cnt; r0 += TBLOCK) {
            int64_t j1 = min64(j0 + TBLOCK, ln), r1 = min64(r0 + TBLOCK, cnt);
            for (int64_t j = j0; j < j1; j++)
                for (int64_t r = r0; r < r1; r++)
                    a->data[o0 + r + j * lld] = element(buf, dtype, r * ln + j);
        }
}

void tsr__npy_pack_rows(const tsr_array_t *a, double *buf, int64_t o0, int64_t cnt) {
    const int64_t ln = a->ln, lld = a->lld;
    for (int64_t j0 = 0; j0 < ln; j0 += TBLOCK)
        for (int64_t r0 = 0; r0 < cnt; r0 += TBLOCK) {
            int64_t j1 = min64(j0 + TBLOCK, ln), r1 = min64(r0 + TBLOCK, cnt);
            for (int64_t j = j0; j < j1; j++)
                for (int64_t r = r0; r < r1; r++) buf[r * ln + j] = a->data[o0 + r + j * lld];
        }
}
