/* Writing the trace: every rank serialises its own events to Chrome trace
 * JSON text and streams it to rank 0 in chunks of TEXT_CHUNK bytes; rank 0
 * writes its header and events, then each rank's text in rank order, to a
 * temporary file next to the target, and renames it. Memory per rank stays
 * one chunk whatever the trace size (no rank ever holds another's events).
 *
 * Runs with recording stopped and (from tsr_trace_close) after a fence, so
 * blocking MPI calls here cannot starve a peer that needs this rank's tasks.
 * The communicator is our own duplicate: the active-message traffic and the
 * array layer's collectives never match these messages. */
#include <errno.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/internal.h"
#include "perf/perf_internal.h"
#include "tessera/runtime.h"
#include "tessera/version.h"

#define TEXT_CHUNK ((size_t)1 << 20)
#define TEXT_SLACK 4096 /* room for one event: flush when less is left */
#define NAME_MAX_OUT 512 /* longer names are cut (one event must fit the slack) */
#define MSG_LEN 512
#define TAG_TEXT 1

static struct {
    int open;
    int rank, nranks;
    MPI_Comm comm;
    char *path; /* target (every rank keeps a copy; rank 0 uses it) */
    char *tmp;  /* rank 0: the temporary file */
    FILE *fp;   /* rank 0 */
    char *text; /* TEXT_CHUNK bytes, allocated at open so close needs none */
} W = {.comm = MPI_COMM_NULL};

/* ---- status agreement ------------------------------------------------- */

/* Rank 0's (status, message) become every rank's. */
static int agree_root(int rc) {
    struct {
        int status;
        char msg[MSG_LEN];
    } m;
    memset(&m, 0, sizeof m);
    m.status = rc;
    if (rc != TSR_OK) snprintf(m.msg, sizeof m.msg, "%s", tsr_error_message());
    int mrc = MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, 0, W.comm);
    if (mrc != MPI_SUCCESS) return tsr__mpi_error(mrc, "MPI_Bcast", __FILE__, __LINE__);
    if (m.status == TSR_OK) return TSR_OK;
    if (W.rank == 0) return m.status; /* keep our own message */
    return tsr_error(m.status, "%s", m.msg);
}

/* ---- rank 0's file ---------------------------------------------------- */

static int make_tmp(const char *path, char **tmp_out, FILE **fp_out) {
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (tmp == NULL) return tsr_error(TSR_ERR_NOMEM, "tsr_trace_open: no memory");
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "w");
    if (fp == NULL) {
        int e = errno;
        free(tmp);
        return tsr_error(TSR_ERR_IO, "tsr_trace_open: cannot create the trace file %s: %s", path,
                         strerror(e));
    }
    *tmp_out = tmp;
    *fp_out = fp;
    return TSR_OK;
}

static void drop_tmp(void) {
    if (W.fp) fclose(W.fp);
    if (W.tmp) unlink(W.tmp);
    free(W.tmp);
    W.fp = NULL;
    W.tmp = NULL;
}

int tsr__trace_write_open(const char *path) {
    int rc = TSR_OK, lrc = TSR_OK;
    char *tmp = NULL, *copy = NULL;
    FILE *fp = NULL;
    if (!W.open) {
        TSR_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &W.comm));
        TSR_MPI(MPI_Comm_set_errhandler(W.comm, MPI_ERRORS_RETURN));
        TSR_MPI(MPI_Comm_rank(W.comm, &W.rank));
        TSR_MPI(MPI_Comm_size(W.comm, &W.nranks));
    }
    copy = strdup(path);
    if (copy == NULL) lrc = tsr_error(TSR_ERR_NOMEM, "tsr_trace_open: no memory");
    if (lrc == TSR_OK && W.text == NULL) {
        W.text = malloc(TEXT_CHUNK);
        if (W.text == NULL) lrc = tsr_error(TSR_ERR_NOMEM, "tsr_trace_open: no memory");
    }
    if (lrc == TSR_OK && W.rank == 0) lrc = make_tmp(path, &tmp, &fp);
    /* Any rank's failure: the lowest failing status everywhere; rank 0's
     * message, else a generic one. */
    int worst = 0;
    TSR_MPI(MPI_Allreduce(&lrc, &worst, 1, MPI_INT, MPI_MIN, W.comm));
    if (worst != TSR_OK) {
        if (W.rank == 0 && lrc == TSR_OK) lrc = tsr_error(worst, "tsr_trace_open failed on a rank");
        rc = agree_root(lrc);
        goto fail;
    }
    if (W.rank == 0) {
        drop_tmp(); /* a previous target, when only the path changes */
        W.tmp = tmp;
        W.fp = fp;
        tmp = NULL;
        fp = NULL;
    }
    free(W.path);
    W.path = copy;
    copy = NULL;
    W.open = 1;
    /* Line the ranks up: the caller takes the session's base time next. */
    TSR_MPI(MPI_Barrier(W.comm));
    return TSR_OK;
fail:
    if (fp) fclose(fp);
    if (tmp) unlink(tmp);
    free(tmp);
    free(copy);
    if (!W.open && W.comm != MPI_COMM_NULL) MPI_Comm_free(&W.comm);
    return rc;
}

/* ---- text ------------------------------------------------------------- */

typedef struct sink {
    size_t len;
    int err; /* a status once writing failed; later text is dropped */
    int (*flush)(struct sink *s);
} sink;

static int flush_file(sink *s) {
    if (s->len > 0 && s->err == TSR_OK && fwrite(W.text, 1, s->len, W.fp) != s->len)
        s->err = tsr_error(TSR_ERR_IO, "writing the trace file %s: %s", W.tmp, strerror(errno));
    s->len = 0;
    return TSR_OK;
}

static int flush_mpi(sink *s) {
    int rc = TSR_OK;
    TSR_MPI(MPI_Send(W.text, (int)s->len, MPI_CHAR, 0, TAG_TEXT, W.comm));
    s->len = 0;
    return TSR_OK;
fail:
    s->len = 0;
    return rc;
}

static int put(sink *s, const char *fmt, ...) TSR_PRINTF(2, 3);
static int put(sink *s, const char *fmt, ...) {
    int rc = TSR_OK;
    if (TEXT_CHUNK - s->len < TEXT_SLACK) TSR_CHECK(s->flush(s));
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(W.text + s->len, TEXT_CHUNK - s->len, fmt, ap);
    va_end(ap);
    if (n > 0) s->len += (size_t)n < TEXT_CHUNK - s->len ? (size_t)n : TEXT_CHUNK - s->len - 1;
    return TSR_OK;
fail:
    return rc;
}

/* s as a JSON string (quotes included), at most NAME_MAX_OUT bytes of it. */
static int put_str(sink *s, const char *str) {
    char out[2 * NAME_MAX_OUT + 8];
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; str[i] != '\0' && i < NAME_MAX_OUT; i++) {
        unsigned char c = (unsigned char)str[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            /* \u00XX would need 6 bytes: control characters become '?'. */
            out[o++] = '?';
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return put(s, "%s", out);
}

static double us(uint64_t t) {
    return ((double)(int64_t)(t - tsr__trace_sess.t_base)) / 1000.0;
}

static int put_event(sink *s, int pid, int tid, const tsr__trace_ev *e) {
    int rc = TSR_OK;
    TSR_CHECK(put(s, ",\n{\"name\":"));
    TSR_CHECK(put_str(s, e->name));
    TSR_CHECK(put(s, ",\"cat\":"));
    TSR_CHECK(put_str(s, e->cat));
    if (e->type == TSR__EV_COMPLETE)
        TSR_CHECK(put(s, ",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f", pid, tid,
                      us(e->t0), (double)(e->t1 - e->t0) / 1000.0));
    else
        TSR_CHECK(put(s, ",\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f", pid, tid,
                      us(e->t0)));
    if (e->site != NULL) {
        TSR_CHECK(put(s, ",\"args\":{\"site\":"));
        TSR_CHECK(put_str(s, e->site));
        TSR_CHECK(put(s, "}}"));
    } else if (e->peer >= 0 || e->bytes > 0) {
        TSR_CHECK(put(s, ",\"args\":{\"peer\":%d,\"bytes\":%llu}}", (int)e->peer,
                      (unsigned long long)e->bytes));
    } else {
        TSR_CHECK(put(s, "}"));
    }
    return TSR_OK;
fail:
    return rc;
}

static int session_buf(const tsr__trace_buf *b) {
    return atomic_load(&b->claimed) && b->gen == tsr__trace_sess.gen;
}

/* This rank's metadata and events. The first record has no leading comma
 * only on rank 0, which writes it right after the header. */
static int put_rank(sink *s) {
    int rc = TSR_OK, r = W.rank;
    TSR_CHECK(put(s, "%s{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
                     "\"args\":{\"name\":\"rank %d\"}}",
                  r == 0 ? "" : ",\n", r, r));
    TSR_CHECK(put(s, ",\n{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
                     "\"args\":{\"sort_index\":%d}}",
                  r, r));
    for (tsr__trace_buf *b = tsr__trace_buffers(); b != NULL; b = b->next) {
        if (!session_buf(b)) continue;
        uint64_t n = atomic_load_explicit(&b->n, memory_order_acquire);
        uint64_t dropped = atomic_load_explicit(&b->dropped, memory_order_relaxed);
        TSR_CHECK(put(s, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
                         "\"args\":{\"name\":",
                      r, b->tid));
        TSR_CHECK(put_str(s, b->name));
        TSR_CHECK(put(s, ",\"events\":%llu,\"dropped\":%llu}}", (unsigned long long)n,
                      (unsigned long long)dropped));
        TSR_CHECK(put(s, ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
                         "\"args\":{\"sort_index\":%d}}",
                      r, b->tid, b->tid));
        for (uint64_t i = 0; i < n; i++) {
            const tsr__trace_ev *e =
                &b->chunk[i >> TSR__TRACE_CHUNK_LOG2][i & (TSR__TRACE_CHUNK - 1)];
            TSR_CHECK(put_event(s, r, b->tid, e));
        }
    }
    return TSR_OK;
fail:
    return rc;
}

static void local_counts(uint64_t out[2]) {
    out[0] = out[1] = 0;
    for (tsr__trace_buf *b = tsr__trace_buffers(); b != NULL; b = b->next) {
        if (!session_buf(b)) continue;
        out[0] += atomic_load_explicit(&b->n, memory_order_acquire);
        out[1] += atomic_load_explicit(&b->dropped, memory_order_relaxed);
    }
}

/* Rank 0: header, own events, then each rank's text as it arrives. */
static int write_root(const uint64_t *counts) {
    int rc = TSR_OK;
    sink s = {.len = 0, .err = TSR_OK, .flush = flush_file};
    uint64_t ev = 0, dr = 0;
    for (int r = 0; r < W.nranks; r++) {
        ev += counts[2 * r];
        dr += counts[2 * r + 1];
    }
    TSR_CHECK(put(&s, "{\"otherData\":{\"tool\":\"tessera\",\"version\":\"%s\",\"ranks\":%d,"
                      "\"clock\":\"monotonic, us since tsr_trace_open, ranks aligned by a "
                      "barrier\",\"events\":%llu,\"dropped_events\":%llu,"
                      "\"events_per_thread_cap\":%llu,\"dropped_by_rank\":[",
                  TSR_VERSION_STRING, W.nranks, (unsigned long long)ev, (unsigned long long)dr,
                  (unsigned long long)tsr__trace_sess.cap));
    for (int r = 0; r < W.nranks; r++)
        TSR_CHECK(put(&s, "%s%llu", r ? "," : "", (unsigned long long)counts[2 * r + 1]));
    TSR_CHECK(put(&s, "]},\n\"displayTimeUnit\":\"ms\",\n\"traceEvents\":[\n"));
    TSR_CHECK(put_rank(&s));
    TSR_CHECK(flush_file(&s));
    for (int r = 1; r < W.nranks; r++) {
        for (;;) {
            MPI_Status st;
            int cnt = 0;
            TSR_MPI(MPI_Probe(r, TAG_TEXT, W.comm, &st));
            TSR_MPI(MPI_Get_count(&st, MPI_CHAR, &cnt));
            TSR_MPI(MPI_Recv(W.text, cnt, MPI_CHAR, r, TAG_TEXT, W.comm, MPI_STATUS_IGNORE));
            if (cnt == 0) break;
            s.len = (size_t)cnt;
            TSR_CHECK(flush_file(&s));
        }
    }
    TSR_CHECK(put(&s, "\n]}\n"));
    TSR_CHECK(flush_file(&s));
    if (s.err == TSR_OK && fflush(W.fp) != 0)
        s.err = tsr_error(TSR_ERR_IO, "writing the trace file %s: %s", W.tmp, strerror(errno));
    int closed = fclose(W.fp);
    W.fp = NULL;
    if (s.err == TSR_OK && closed != 0)
        s.err = tsr_error(TSR_ERR_IO, "closing the trace file %s: %s", W.tmp, strerror(errno));
    if (s.err == TSR_OK && rename(W.tmp, W.path) != 0)
        s.err = tsr_error(TSR_ERR_IO, "renaming %s to %s: %s", W.tmp, W.path, strerror(errno));
    return s.err;
fail:
    return rc;
}

static void close_state(void) {
    drop_tmp();
    free(W.path);
    W.path = NULL;
    if (W.comm != MPI_COMM_NULL) MPI_Comm_free(&W.comm);
    W.open = 0;
}

int tsr__trace_write_close(void) {
    int rc = TSR_OK;
    uint64_t mine[2];
    uint64_t *counts = NULL;
    if (!W.open) return TSR_OK;
    local_counts(mine);
    if (W.rank == 0) {
        counts = malloc((size_t)W.nranks * 2 * sizeof *counts);
        if (counts == NULL) tsr_abort("rank 0: no memory for the trace's counts");
    }
    TSR_MPI(MPI_Gather(mine, 2, MPI_UINT64_T, counts, 2, MPI_UINT64_T, 0, W.comm));
    if (W.rank == 0) {
        rc = write_root(counts);
    } else {
        sink s = {.len = 0, .err = TSR_OK, .flush = flush_mpi};
        rc = put_rank(&s);
        if (rc == TSR_OK) rc = flush_mpi(&s);
        /* The end mark, also after a failure: rank 0 waits for it. */
        if (MPI_Send(W.text, 0, MPI_CHAR, 0, TAG_TEXT, W.comm) != MPI_SUCCESS && rc == TSR_OK)
            rc = tsr_error(TSR_ERR_MPI, "rank %d: sending the trace's end mark failed", W.rank);
    }
    if (rc != TSR_OK)
        tsr_log(TSR_LOG_ERROR, "writing the trace: %s", tsr_error_message());
    rc = agree_root(rc);
fail:
    free(counts);
    close_state();
    return rc;
}

void tsr__trace_write_discard(void) {
    if (W.open) close_state();
}
