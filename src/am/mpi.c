/* The MPI transport. Two private duplicates of the caller's communicator:
 *   ctl   eager messages (one tag, ANY_SOURCE receives preposted into NPOST
 *         buffers) and the all-reductions of fence and register;
 *   data  rendezvous payloads, one tag per transfer from a per-sender counter,
 *         so a receiver can post its receive straight into the destination.
 * Both are set to MPI_ERRORS_RETURN and every call goes through TSR_MPI.
 *
 * Locking: every MPI call Tessera makes is under `lock` (so MPI_THREAD_
 * SERIALIZED would do); progress only trylocks, so at most one thread polls
 * and the others go back to running tasks. Callbacks run after unlocking. */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "am/am_engine.h"
#include "base/internal.h"

#define EAGER_TAG 1
/* Preposted eager receives. 16 x 16 KiB; more did not change the storm test
 * at 4 ranks (MPI buffers unexpected messages itself). */
#define NPOST 16
/* MPI counts are int: payloads above this go as several messages on the same
 * tag, which MPI's non-overtaking rule keeps in order. */
#define CHUNK ((size_t)1 << 30)

/* One operation the engine started; several requests (chunks) may share it. */
typedef struct xfer {
    tsr__am_done_fn done;
    void *ctx;
    int left;   /* requests not yet complete */
    int status; /* first error seen */
} xfer;

typedef struct event {
    int src;   /* deliver: source rank, or -1 for a finished xfer */
    void *msg; /* deliver: message (owned) */
    size_t n;
    xfer *x;
} event;

static struct {
    pthread_mutex_t lock;
    int up;
    MPI_Comm ctl, data;
    int rank, nranks;
    uint32_t tag_ub, next_tag;
    size_t bufsize;
    tsr__am_deliver_fn deliver;
    void *bufs[NPOST];
    /* reqs[0..NPOST) are the eager receives; reqs[NPOST..n) other operations,
     * xs[i] the operation reqs[i] belongs to. idx/st: Testsome scratch. */
    MPI_Request *reqs;
    xfer **xs;
    int *idx;
    MPI_Status *st;
    int n, cap;
    MPI_Request red;
} mp = {.lock = PTHREAD_MUTEX_INITIALIZER, .ctl = MPI_COMM_NULL, .data = MPI_COMM_NULL};

/* Make room for k more requests. Called with the lock held. */
static int reserve(int k) {
    if (mp.n + k <= mp.cap) return TSR_OK;
    int cap = mp.cap ? mp.cap : 64;
    while (cap < mp.n + k) cap *= 2;
    MPI_Request *r = realloc(mp.reqs, (size_t)cap * sizeof *r);
    if (r) mp.reqs = r;
    xfer **x = realloc(mp.xs, (size_t)cap * sizeof *x);
    if (x) mp.xs = x;
    int *i = realloc(mp.idx, (size_t)cap * sizeof *i);
    if (i) mp.idx = i;
    MPI_Status *s = realloc(mp.st, (size_t)cap * sizeof *s);
    if (s) mp.st = s;
    if (!r || !x || !i || !s)
        return tsr_error(TSR_ERR_NOMEM, "rank %d: no memory for %d MPI requests", mp.rank, cap);
    mp.cap = cap;
    return TSR_OK;
}

static int post_eager_recv(int i) {
    int rc = TSR_OK;
    TSR_MPI(MPI_Irecv(mp.bufs[i], (int)mp.bufsize, MPI_BYTE, MPI_ANY_SOURCE, EAGER_TAG, mp.ctl,
                      &mp.reqs[i]));
    return TSR_OK;
fail:
    return rc;
}

static int mpi_init(MPI_Comm comm, size_t recv_bytes, tsr__am_deliver_fn deliver, int *rank_out,
                    int *nranks_out) {
    int rc = TSR_OK;
    pthread_mutex_lock(&mp.lock);
    TSR_MPI(MPI_Comm_dup(comm, &mp.ctl));
    TSR_MPI(MPI_Comm_dup(comm, &mp.data));
    TSR_MPI(MPI_Comm_set_errhandler(mp.ctl, MPI_ERRORS_RETURN));
    TSR_MPI(MPI_Comm_set_errhandler(mp.data, MPI_ERRORS_RETURN));
    TSR_MPI(MPI_Comm_rank(mp.ctl, &mp.rank));
    TSR_MPI(MPI_Comm_size(mp.ctl, &mp.nranks));
    int *ub = NULL, flag = 0;
    TSR_MPI(MPI_Comm_get_attr(mp.ctl, MPI_TAG_UB, &ub, &flag));
    mp.tag_ub = flag && ub && *ub > 0 ? (uint32_t)*ub : 32767u;
    mp.next_tag = 0;
    TSR_CHECK_MSG(recv_bytes <= (size_t)INT_MAX, TSR_ERR_INVALID, "eager buffer of %zu bytes",
                  recv_bytes);
    mp.bufsize = recv_bytes;
    mp.deliver = deliver;
    mp.n = 0;
    TSR_CHECK(reserve(NPOST));
    for (int i = 0; i < NPOST; i++) {
        mp.bufs[i] = malloc(mp.bufsize);
        TSR_CHECK_MSG(mp.bufs[i], TSR_ERR_NOMEM, "rank %d: no memory for eager buffers", mp.rank);
        mp.xs[i] = NULL;
        mp.reqs[i] = MPI_REQUEST_NULL;
        mp.n = i + 1;
        TSR_CHECK(post_eager_recv(i));
    }
    mp.red = MPI_REQUEST_NULL;
    mp.up = 1;
    *rank_out = mp.rank;
    *nranks_out = mp.nranks;
    pthread_mutex_unlock(&mp.lock);
    return TSR_OK;
fail:
    /* Best effort: a failure here is reported and the job is not usable. */
    for (int i = 0; i < mp.n; i++) {
        if (mp.reqs[i] != MPI_REQUEST_NULL) {
            MPI_Cancel(&mp.reqs[i]);
            MPI_Wait(&mp.reqs[i], MPI_STATUS_IGNORE);
        }
    }
    for (int i = 0; i < NPOST; i++) {
        free(mp.bufs[i]);
        mp.bufs[i] = NULL;
    }
    mp.n = 0;
    if (mp.ctl != MPI_COMM_NULL) MPI_Comm_free(&mp.ctl);
    if (mp.data != MPI_COMM_NULL) MPI_Comm_free(&mp.data);
    pthread_mutex_unlock(&mp.lock);
    return rc;
}

/* Post one operation of nreq requests (chunks of buf). recv != 0: receives. */
static int start(int peer, int tag, MPI_Comm comm, int recv, void *buf, size_t len,
                 tsr__am_done_fn done, void *ctx) {
    int rc = TSR_OK, posted = 0;
    size_t nchunk = len == 0 ? 1 : (len + CHUNK - 1) / CHUNK;
    xfer *x = malloc(sizeof *x);
    if (!x) return tsr_error(TSR_ERR_NOMEM, "rank %d: no memory for a transfer", mp.rank);
    *x = (xfer){.done = done, .ctx = ctx, .left = (int)nchunk, .status = TSR_OK};
    pthread_mutex_lock(&mp.lock);
    TSR_CHECK_MSG(mp.up, TSR_ERR_STATE, "rank %d: message engine is not running", mp.rank);
    TSR_CHECK(reserve((int)nchunk));
    for (size_t c = 0; c < nchunk; c++) {
        size_t off = c * CHUNK, cnt = len - off < CHUNK ? len - off : CHUNK;
        char *p = (char *)buf + off;
        if (recv)
            TSR_MPI(MPI_Irecv(p, (int)cnt, MPI_BYTE, peer, tag, comm, &mp.reqs[mp.n]));
        else
            TSR_MPI(MPI_Isend(p, (int)cnt, MPI_BYTE, peer, tag, comm, &mp.reqs[mp.n]));
        mp.xs[mp.n++] = x;
        posted++;
    }
    pthread_mutex_unlock(&mp.lock);
    return TSR_OK;
fail:
    /* Only a transfer of several chunks can fail half-posted; MPI_Isend/Irecv
     * do not fail on a working communicator, so this is the end of the job. */
    if (posted > 0)
        tsr_abort("rank %d: could not post a %zu-byte transfer: %s", mp.rank, len,
                  tsr_error_message());
    pthread_mutex_unlock(&mp.lock);
    free(x);
    return rc;
}

static int mpi_send(int dest, const void *msg, size_t n, tsr__am_done_fn done, void *ctx) {
    if (n > mp.bufsize)
        return tsr_error(TSR_ERR_INVALID, "rank %d: eager message of %zu bytes > buffer %zu",
                         mp.rank, n, mp.bufsize);
    return start(dest, EAGER_TAG, mp.ctl, 0, (void *)msg, n, done, ctx);
}

static int mpi_put(int dest, const void *buf, size_t len, uint32_t *tag_out, tsr__am_done_fn done,
                   void *ctx) {
    pthread_mutex_lock(&mp.lock);
    uint32_t tag = mp.next_tag;
    mp.next_tag = tag >= mp.tag_ub ? 0 : tag + 1;
    pthread_mutex_unlock(&mp.lock);
    *tag_out = tag;
    return start(dest, (int)tag, mp.data, 0, (void *)buf, len, done, ctx);
}

static int mpi_get(int src, uint32_t tag, void *buf, size_t len, tsr__am_done_fn done, void *ctx) {
    if (tag > mp.tag_ub) return tsr_error(TSR_ERR_INVALID, "rank %d: data tag %u", mp.rank, tag);
    return start(src, (int)tag, mp.data, 1, buf, len, done, ctx);
}

/* Record the completions Testsome reported; called with the lock held. */
static int collect(int outcount, event *ev) {
    int nev = 0;
    for (int k = 0; k < outcount; k++) {
        int i = mp.idx[k];
        MPI_Status *s = &mp.st[k];
        if (i < NPOST) {
            int cnt = 0;
            if (s->MPI_ERROR == MPI_ERR_TRUNCATE) {
                tsr_log(TSR_LOG_ERROR, "message from rank %d longer than the %zu-byte eager "
                        "buffer: dropped", s->MPI_SOURCE, mp.bufsize);
                ev[nev++] = (event){.src = s->MPI_SOURCE, .msg = NULL, .n = 0, .x = NULL};
            } else if (s->MPI_ERROR != MPI_SUCCESS && s->MPI_ERROR != MPI_ERR_PENDING) {
                tsr__mpi_error(s->MPI_ERROR, "eager MPI_Irecv", __FILE__, __LINE__);
                tsr_abort("rank %d: receiving a message failed: %s", mp.rank, tsr_error_message());
            } else {
                MPI_Get_count(s, MPI_BYTE, &cnt);
                void *copy = malloc(cnt > 0 ? (size_t)cnt : 1);
                if (!copy) tsr_abort("rank %d: no memory for a %d-byte message", mp.rank, cnt);
                memcpy(copy, mp.bufs[i], (size_t)cnt);
                ev[nev++] = (event){.src = s->MPI_SOURCE, .msg = copy, .n = (size_t)cnt, .x = NULL};
            }
            if (post_eager_recv(i) != TSR_OK)
                tsr_abort("rank %d: reposting an eager receive failed: %s", mp.rank,
                          tsr_error_message());
        } else {
            xfer *x = mp.xs[i];
            mp.xs[i] = NULL;
            if (s->MPI_ERROR != MPI_SUCCESS && s->MPI_ERROR != MPI_ERR_PENDING &&
                x->status == TSR_OK)
                x->status = tsr__mpi_error(s->MPI_ERROR, "rendezvous transfer", __FILE__, __LINE__);
            if (--x->left == 0) ev[nev++] = (event){.src = -1, .msg = NULL, .n = 0, .x = x};
        }
    }
    /* Drop finished requests: move live ones down over the holes. */
    int w = NPOST;
    for (int i = NPOST; i < mp.n; i++) {
        if (mp.reqs[i] == MPI_REQUEST_NULL) continue;
        mp.reqs[w] = mp.reqs[i];
        mp.xs[w] = mp.xs[i];
        w++;
    }
    mp.n = w;
    return nev;
}

static int mpi_progress(void) {
    if (pthread_mutex_trylock(&mp.lock) != 0) return 0;
    if (!mp.up) {
        pthread_mutex_unlock(&mp.lock);
        return 0;
    }
    int outcount = 0;
    int mrc = MPI_Testsome(mp.n, mp.reqs, &outcount, mp.idx, mp.st);
    if (mrc != MPI_SUCCESS && mrc != MPI_ERR_IN_STATUS) {
        tsr__mpi_error(mrc, "MPI_Testsome", __FILE__, __LINE__);
        tsr_abort("rank %d: message progress failed: %s", mp.rank, tsr_error_message());
    }
    if (outcount == MPI_UNDEFINED || outcount <= 0) {
        pthread_mutex_unlock(&mp.lock);
        return 0;
    }
    if (mrc == MPI_SUCCESS)
        for (int k = 0; k < outcount; k++) mp.st[k].MPI_ERROR = MPI_SUCCESS;
    event stack_ev[64];
    event *ev = outcount <= 64 ? stack_ev : malloc((size_t)outcount * sizeof *ev);
    if (!ev) tsr_abort("rank %d: no memory for %d events", mp.rank, outcount);
    int nev = collect(outcount, ev);
    pthread_mutex_unlock(&mp.lock);
    for (int k = 0; k < nev; k++) {
        if (ev[k].src >= 0) {
            mp.deliver(ev[k].src, ev[k].msg, ev[k].n);
        } else {
            xfer *x = ev[k].x;
            x->done(x->ctx, x->status);
            free(x);
        }
    }
    if (ev != stack_ev) free(ev);
    return outcount;
}

static int mpi_reduce_start(const int64_t *in, int64_t *out, int n, tsr__am_reduce_op op) {
    int rc = TSR_OK;
    pthread_mutex_lock(&mp.lock);
    TSR_CHECK_MSG(mp.red == MPI_REQUEST_NULL, TSR_ERR_STATE, "rank %d: a reduction is running",
                  mp.rank);
    TSR_MPI(MPI_Iallreduce(in, out, n, MPI_INT64_T, op == TSR__AM_SUM ? MPI_SUM : MPI_MAX, mp.ctl,
                           &mp.red));
fail:
    pthread_mutex_unlock(&mp.lock);
    return rc;
}

static int mpi_reduce_test(int *done) {
    int rc = TSR_OK, flag = 0;
    pthread_mutex_lock(&mp.lock);
    TSR_MPI(MPI_Test(&mp.red, &flag, MPI_STATUS_IGNORE));
    *done = flag;
fail:
    pthread_mutex_unlock(&mp.lock);
    return rc;
}

static int mpi_fini(void) {
    int rc = TSR_OK;
    pthread_mutex_lock(&mp.lock);
    mp.up = 0;
    for (int i = 0; i < NPOST; i++) {
        TSR_MPI(MPI_Cancel(&mp.reqs[i]));
        TSR_MPI(MPI_Wait(&mp.reqs[i], MPI_STATUS_IGNORE));
        free(mp.bufs[i]);
        mp.bufs[i] = NULL;
    }
    /* After a fence nothing else is outstanding; if something is, the
     * program broke the fence contract: say so rather than hang here. */
    if (mp.n > NPOST)
        tsr_log(TSR_LOG_WARN, "%d message operations still outstanding at shutdown", mp.n - NPOST);
    for (int i = NPOST; i < mp.n; i++) {
        MPI_Request_free(&mp.reqs[i]);
        free(mp.xs[i]); /* chunks share one xfer: free it once */
        for (int j = i + 1; j < mp.n; j++)
            if (mp.xs[j] == mp.xs[i]) mp.xs[j] = NULL;
    }
    mp.n = 0;
    TSR_MPI(MPI_Comm_free(&mp.ctl));
    TSR_MPI(MPI_Comm_free(&mp.data));
fail:
    free(mp.reqs);
    free(mp.xs);
    free(mp.idx);
    free(mp.st);
    mp.reqs = NULL;
    mp.xs = NULL;
    mp.idx = NULL;
    mp.st = NULL;
    mp.cap = 0;
    pthread_mutex_unlock(&mp.lock);
    return rc;
}

const tsr__am_transport tsr__am_mpi_transport = {
    .name = "mpi",
    .init = mpi_init,
    .send = mpi_send,
    .put = mpi_put,
    .get = mpi_get,
    .progress = mpi_progress,
    .reduce_start = mpi_reduce_start,
    .reduce_test = mpi_reduce_test,
    .fini = mpi_fini,
};
