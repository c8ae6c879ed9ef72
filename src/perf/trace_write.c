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
#include <stdint.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/internal.h"
#include "perf/papi.h"
#include "perf/perf_internal.h"
#include "tessera/runtime.h"
#include "tessera/version.h"

#define TEXT_CHUNK ((size_t)1 << 20)
#define TEXT_SLACK 4096 /* room for one event: flush when less is left */
#define NAME_MAX_OUT 512 /* longer names are cut (one event must fit the slack) */
#define MSG_LEN 512
#define TAG_TEXT 1
#define TAG_PING 2
#define TAG_SUMMARY 3
/* Ping-pong rounds per rank for the clock offset: the round with the
 * shortest round trip bounds the error by half of it. */
#define PING_ROUNDS 16

static struct {
    int open;
    int rank, nranks;
    MPI_Comm comm;
    char *path; /* target (every rank keeps a copy; rank 0 uses it) */
    char *tmp;  /* rank 0: the temporary file */
    FILE *fp;   /* rank 0 */
    char *text; /* TEXT_CHUNK bytes, allocated at open so close needs none */
    /* Clock offsets from rank 0 (this rank's clock minus rank 0's) and the
     * best round trip they were measured with, per rank; every rank has all. */
    int64_t *offset_ns, *rtt_ns;
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

/* Rank 0 ping-pongs each rank PING_ROUNDS times; offset = the rank's clock
 * read minus the midpoint of rank 0's send and receive, from the round with
 * the shortest round trip. Then rank 0 takes the base time and every rank
 * gets base + its offset: the same instant in its own clock. */
static int measure_clocks(uint64_t *t_base) {
    int rc = TSR_OK, n = W.nranks;
    int64_t *msg = malloc((size_t)(2 * n + 1) * sizeof *msg);
    TSR_CHECK_MSG(msg != NULL, TSR_ERR_NOMEM, "tsr_trace_open: no memory");
    if (W.rank == 0) {
        msg[0] = 0;
        msg[n] = 0;
        for (int r = 1; r < n; r++) {
            int64_t best = INT64_MAX, off = 0;
            for (int k = 0; k < PING_ROUNDS; k++) {
                uint64_t ta = tsr_time_ns(), tr = 0;
                TSR_MPI(MPI_Send(&ta, 1, MPI_UINT64_T, r, TAG_PING, W.comm));
                TSR_MPI(MPI_Recv(&tr, 1, MPI_UINT64_T, r, TAG_PING, W.comm, MPI_STATUS_IGNORE));
                uint64_t tb = tsr_time_ns();
                if ((int64_t)(tb - ta) < best) {
                    best = (int64_t)(tb - ta);
                    off = (int64_t)(tr - (ta + (tb - ta) / 2));
                }
            }
            msg[r] = off;
            msg[n + r] = best;
        }
        msg[2 * n] = (int64_t)tsr_time_ns();
    } else {
        for (int k = 0; k < PING_ROUNDS; k++) {
            uint64_t ta = 0;
            TSR_MPI(MPI_Recv(&ta, 1, MPI_UINT64_T, 0, TAG_PING, W.comm, MPI_STATUS_IGNORE));
            uint64_t tr = tsr_time_ns();
            TSR_MPI(MPI_Send(&tr, 1, MPI_UINT64_T, 0, TAG_PING, W.comm));
        }
    }
    TSR_MPI(MPI_Bcast(msg, 2 * n + 1, MPI_INT64_T, 0, W.comm));
    memcpy(W.offset_ns, msg, (size_t)n * sizeof *msg);
    memcpy(W.rtt_ns, msg + n, (size_t)n * sizeof *msg);
    *t_base = (uint64_t)(msg[2 * n] + msg[W.rank]);
fail:
    free(msg);
    return rc;
}

int tsr__trace_write_open(const char *path, uint64_t *t_base) {
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
    if (lrc == TSR_OK && W.offset_ns == NULL) {
        W.offset_ns = calloc((size_t)W.nranks, sizeof *W.offset_ns);
        W.rtt_ns = calloc((size_t)W.nranks, sizeof *W.rtt_ns);
        if (W.offset_ns == NULL || W.rtt_ns == NULL)
            lrc = tsr_error(TSR_ERR_NOMEM, "tsr_trace_open: no memory");
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
    int was_open = W.open;
    W.open = 1;
    /* A new session: align the clocks (a redirected one keeps its base). */
    if (was_open)
        *t_base = tsr__trace_sess.t_base;
    else
        TSR_CHECK(measure_clocks(t_base));
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
    FILE *fp;          /* flush_file: where (rank 0) */
    const char *fname; /* for messages */
    int tag;           /* flush_mpi: TAG_TEXT or TAG_SUMMARY */
} sink;

static int flush_file(sink *s) {
    if (s->len > 0 && s->err == TSR_OK && fwrite(W.text, 1, s->len, s->fp) != s->len)
        s->err = tsr_error(TSR_ERR_IO, "writing %s: %s", s->fname, strerror(errno));
    s->len = 0;
    return TSR_OK;
}

static int flush_mpi(sink *s) {
    int rc = TSR_OK;
    TSR_MPI(MPI_Send(W.text, (int)s->len, MPI_CHAR, 0, s->tag, W.comm));
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

static double dur_us(const tsr__trace_ev *e) { return (double)(e->t1 - e->t0) / 1000.0; }

/* The extra slots of the task event at index i of b, unpacked. */
static void task_extra(const tsr__trace_buf *b, uint64_t i, const tsr__trace_ev *e,
                       uint32_t *deps, long long *ctr) {
    unsigned char raw[TSR__TRACE_MAX_DEPS * sizeof(uint32_t) +
                      TSR__PAPI_MAX_EVENTS * sizeof(long long) + TSR__TRACE_EXTRA_BYTES];
    for (uint64_t k = 0; k < e->nextra; k++)
        memcpy(raw + k * TSR__TRACE_EXTRA_BYTES, TSR__TRACE_EV(b, i + 1 + k),
               TSR__TRACE_EXTRA_BYTES);
    memcpy(deps, raw, e->ndeps * sizeof(uint32_t));
    memcpy(ctr, raw + e->ndeps * sizeof(uint32_t), e->nctr * sizeof(long long));
}

static int put_head(sink *s, const tsr__trace_ev *e, const char *ph, int pid, int tid) {
    int rc = TSR_OK;
    TSR_CHECK(put(s, ",\n{\"name\":"));
    TSR_CHECK(put_str(s, e->name));
    TSR_CHECK(put(s, ",\"cat\":"));
    TSR_CHECK(put_str(s, e->cat));
    TSR_CHECK(put(s, ",\"ph\":\"%s\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f", ph, pid, tid, us(e->t0)));
    if (ph[0] == 'X') TSR_CHECK(put(s, ",\"dur\":%.3f", dur_us(e)));
    if (ph[0] == 'i') TSR_CHECK(put(s, ",\"s\":\"t\""));
    return TSR_OK;
fail:
    return rc;
}

/* The flow arrow's end at a message event: "s" at the send, "f" bound to
 * the enclosing slice (the handler's recv event) at the receiver. */
static int put_flow(sink *s, const tsr__trace_ev *e, int pid, int tid, int start) {
    return put(s,
               ",\n{\"name\":\"msg\",\"cat\":\"msg\",\"ph\":\"%s\",\"id\":%llu,\"pid\":%d,"
               "\"tid\":%d,\"ts\":%.3f%s,\"args\":{\"peer\":%d,\"bytes\":%llu}}",
               start ? "s" : "f", (unsigned long long)e->id, pid, tid, us(e->t0),
               start ? "" : ",\"bp\":\"e\"", (int)e->peer, (unsigned long long)e->bytes);
}

static int put_task(sink *s, int pid, int tid, const tsr__trace_buf *b, uint64_t i,
                    const tsr__trace_ev *e) {
    int rc = TSR_OK;
    uint32_t deps[TSR__TRACE_MAX_DEPS];
    long long ctr[TSR__PAPI_MAX_EVENTS];
    task_extra(b, i, e, deps, ctr);
    TSR_CHECK(put_head(s, e, "X", pid, tid));
    TSR_CHECK(put(s, ",\"args\":{\"id\":%llu,\"deps\":[", (unsigned long long)e->id));
    for (uint32_t k = 0; k < e->ndeps; k++) TSR_CHECK(put(s, "%s%u", k ? "," : "", deps[k]));
    TSR_CHECK(put(s, "]"));
    if (e->site != NULL) {
        TSR_CHECK(put(s, ",\"site\":"));
        TSR_CHECK(put_str(s, e->site));
    }
    TSR_CHECK(put(s, ",\"flops\":%llu,\"bytes\":%llu", (unsigned long long)e->flops,
                  (unsigned long long)e->bytes));
    for (uint32_t k = 0; k < e->nctr; k++) {
        const char *nm = tsr__papi_event_name((int)k);
        TSR_CHECK(put(s, ","));
        TSR_CHECK(put_str(s, nm ? nm : "counter"));
        TSR_CHECK(put(s, ":%lld", ctr[k]));
    }
    TSR_CHECK(put(s, "}}"));
    return TSR_OK;
fail:
    return rc;
}

static int put_event(sink *s, int pid, int tid, const tsr__trace_buf *b, uint64_t i) {
    int rc = TSR_OK;
    const tsr__trace_ev *e = TSR__TRACE_EV(b, i);
    switch (e->type) {
    case TSR__EV_TASK: return put_task(s, pid, tid, b, i, e);
    case TSR__EV_SEND:
    case TSR__EV_RECV:
        TSR_CHECK(put_head(s, e, e->type == TSR__EV_SEND ? "i" : "X", pid, tid));
        TSR_CHECK(put(s, ",\"args\":{\"peer\":%d,\"bytes\":%llu", (int)e->peer,
                      (unsigned long long)e->bytes));
        if (e->id != 0) TSR_CHECK(put(s, ",\"flow\":%llu", (unsigned long long)e->id));
        TSR_CHECK(put(s, "}}"));
        if (e->id != 0) TSR_CHECK(put_flow(s, e, pid, tid, e->type == TSR__EV_SEND));
        return TSR_OK;
    case TSR__EV_WAIT:
        TSR_CHECK(put_head(s, e, "X", pid, tid));
        TSR_CHECK(put(s, ",\"args\":{"));
        if (e->id != 0) TSR_CHECK(put(s, "\"for\":%llu%s", (unsigned long long)e->id,
                                      e->site ? "," : ""));
        if (e->site != NULL) {
            TSR_CHECK(put(s, "\"site\":"));
            TSR_CHECK(put_str(s, e->site));
        }
        TSR_CHECK(put(s, "}}"));
        return TSR_OK;
    case TSR__EV_EXTRA: return TSR_OK;
    default: break;
    }
    TSR_CHECK(put_head(s, e, e->type == TSR__EV_COMPLETE ? "X" : "i", pid, tid));
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
        for (uint64_t i = 0; i < n; i++) TSR_CHECK(put_event(s, r, b->tid, b, i));
    }
    return TSR_OK;
fail:
    return rc;
}

/* ---- the per-rank summary --------------------------------------------- */

typedef struct kind_sum {
    const char *name;
    uint64_t count, flops, bytes;
    double total_us, max_us;
    long long ctr[TSR__PAPI_MAX_EVENTS];
} kind_sum;

typedef struct rank_sum {
    kind_sum *kinds;
    int nkinds, cap;
    uint64_t *peer; /* 4 per rank: msgs sent, bytes sent, msgs received, bytes received */
    uint64_t waits;
    double wait_us;
} rank_sum;

static kind_sum *kind_of(rank_sum *rs, const char *name) {
    for (int k = 0; k < rs->nkinds; k++)
        if (rs->kinds[k].name == name || strcmp(rs->kinds[k].name, name) == 0)
            return &rs->kinds[k];
    if (rs->nkinds == rs->cap) {
        int cap = rs->cap ? 2 * rs->cap : 16;
        kind_sum *k = realloc(rs->kinds, (size_t)cap * sizeof *k);
        if (k == NULL) return NULL;
        rs->kinds = k;
        rs->cap = cap;
    }
    kind_sum *k = &rs->kinds[rs->nkinds++];
    memset(k, 0, sizeof *k);
    k->name = name;
    return k;
}

/* Busy time of one thread: the union of its task and handler (recv)
 * intervals. They nest or are disjoint (a thread runs one at a time, a
 * waiting task runs others inside its own interval) and are recorded in
 * order of their end, so walking backwards an interval either ends at or
 * before the start of the covering one seen so far (disjoint: add it) or
 * lies inside it (skip). */
static double busy_us(const tsr__trace_buf *b, uint64_t n, uint64_t *tasks) {
    uint64_t busy = 0, cover = UINT64_MAX;
    *tasks = 0;
    for (uint64_t i = n; i-- > 0;) {
        const tsr__trace_ev *e = TSR__TRACE_EV(b, i);
        if (e->type != TSR__EV_TASK && e->type != TSR__EV_RECV) continue;
        if (e->type == TSR__EV_TASK) (*tasks)++;
        if (e->t1 <= cover) {
            busy += e->t1 - e->t0;
            cover = e->t0;
        } else if (e->t0 < cover) {
            /* Overlaps without nesting (should not happen): count the rest. */
            busy += cover - e->t0;
            cover = e->t0;
        }
    }
    return (double)busy / 1000.0;
}

static int put_summary(sink *s) {
    int rc = TSR_OK;
    rank_sum rs;
    memset(&rs, 0, sizeof rs);
    rs.peer = calloc((size_t)W.nranks * 4, sizeof *rs.peer);
    TSR_CHECK_MSG(rs.peer != NULL, TSR_ERR_NOMEM, "trace summary: no memory");
    uint64_t events = 0, dropped = 0;
    double wall = us(tsr__trace_sess.t_end);
    TSR_CHECK(put(s, "%s{\"rank\":%d,\"wall_us\":%.3f,\"clock_offset_us\":%.3f,\"threads\":[",
                  W.rank == 0 ? "" : ",\n", W.rank, wall, (double)W.offset_ns[W.rank] / 1000.0));
    int first = 1;
    for (tsr__trace_buf *b = tsr__trace_buffers(); b != NULL; b = b->next) {
        if (!session_buf(b)) continue;
        uint64_t n = atomic_load_explicit(&b->n, memory_order_acquire), tasks = 0;
        events += n;
        dropped += atomic_load_explicit(&b->dropped, memory_order_relaxed);
        double busy = busy_us(b, n, &tasks);
        TSR_CHECK(put(s, "%s{\"tid\":%d,\"name\":", first ? "" : ",", b->tid));
        TSR_CHECK(put_str(s, b->name));
        TSR_CHECK(put(s, ",\"worker\":%s,\"busy_us\":%.3f,\"idle_us\":%.3f,\"tasks\":%llu}",
                      b->tid < 1000 ? "true" : "false", busy, wall > busy ? wall - busy : 0.0,
                      (unsigned long long)tasks));
        first = 0;
        for (uint64_t i = 0; i < n; i++) {
            const tsr__trace_ev *e = TSR__TRACE_EV(b, i);
            if (e->type == TSR__EV_TASK) {
                kind_sum *k = kind_of(&rs, e->name);
                TSR_CHECK_MSG(k != NULL, TSR_ERR_NOMEM, "trace summary: no memory");
                uint32_t deps[TSR__TRACE_MAX_DEPS];
                long long ctr[TSR__PAPI_MAX_EVENTS];
                task_extra(b, i, e, deps, ctr);
                double d = dur_us(e);
                k->count++;
                k->total_us += d;
                if (d > k->max_us) k->max_us = d;
                k->flops += e->flops;
                k->bytes += e->bytes;
                for (uint32_t c = 0; c < e->nctr; c++) k->ctr[c] += ctr[c];
            } else if ((e->type == TSR__EV_SEND || e->type == TSR__EV_RECV) && e->peer >= 0 &&
                       e->peer < W.nranks) {
                uint64_t *p = &rs.peer[4 * e->peer + (e->type == TSR__EV_SEND ? 0 : 2)];
                p[0]++;
                p[1] += e->bytes;
            } else if (e->type == TSR__EV_WAIT) {
                rs.waits++;
                rs.wait_us += dur_us(e);
            }
        }
    }
    TSR_CHECK(put(s, "],\"events\":%llu,\"dropped_events\":%llu,\"kinds\":{",
                  (unsigned long long)events, (unsigned long long)dropped));
    for (int k = 0; k < rs.nkinds; k++) {
        kind_sum *ks = &rs.kinds[k];
        TSR_CHECK(put(s, "%s", k ? "," : ""));
        TSR_CHECK(put_str(s, ks->name));
        TSR_CHECK(put(s, ":{\"count\":%llu,\"total_us\":%.3f,\"mean_us\":%.3f,\"max_us\":%.3f,"
                         "\"flops\":%llu,\"bytes\":%llu,\"counters\":{",
                      (unsigned long long)ks->count, ks->total_us,
                      ks->total_us / (double)ks->count, ks->max_us,
                      (unsigned long long)ks->flops, (unsigned long long)ks->bytes));
        for (int c = 0; c < tsr__trace_sess.papi_n; c++) {
            const char *nm = tsr__papi_event_name(c);
            TSR_CHECK(put(s, "%s", c ? "," : ""));
            TSR_CHECK(put_str(s, nm ? nm : "counter"));
            TSR_CHECK(put(s, ":%lld", ks->ctr[c]));
        }
        TSR_CHECK(put(s, "}}"));
    }
    TSR_CHECK(put(s, "},\"peers\":{"));
    first = 1;
    for (int p = 0; p < W.nranks; p++) {
        const uint64_t *q = &rs.peer[4 * p];
        if (q[0] == 0 && q[2] == 0) continue;
        TSR_CHECK(put(s, "%s\"%d\":{\"msgs_sent\":%llu,\"bytes_sent\":%llu,\"msgs_recv\":%llu,"
                         "\"bytes_recv\":%llu}",
                      first ? "" : ",", p, (unsigned long long)q[0], (unsigned long long)q[1],
                      (unsigned long long)q[2], (unsigned long long)q[3]));
        first = 0;
    }
    TSR_CHECK(put(s, "},\"waits\":{\"count\":%llu,\"total_us\":%.3f}}",
                  (unsigned long long)rs.waits, rs.wait_us));
fail:
    free(rs.kinds);
    free(rs.peer);
    return rc;
}

/* Rank 0: copy each other rank's stream of `tag` into s's file. */
static int relay(sink *s, int tag) {
    int rc = TSR_OK;
    for (int r = 1; r < W.nranks; r++) {
        for (;;) {
            MPI_Status st;
            int cnt = 0;
            TSR_MPI(MPI_Probe(r, tag, W.comm, &st));
            TSR_MPI(MPI_Get_count(&st, MPI_CHAR, &cnt));
            TSR_MPI(MPI_Recv(W.text, cnt, MPI_CHAR, r, tag, W.comm, MPI_STATUS_IGNORE));
            if (cnt == 0) break;
            s->len = (size_t)cnt;
            TSR_CHECK(flush_file(s));
        }
    }
    return TSR_OK;
fail:
    return rc;
}

static int put_papi_names(sink *s) {
    int rc = TSR_OK;
    TSR_CHECK(put(s, "["));
    for (int c = 0; c < tsr__trace_sess.papi_n; c++) {
        const char *nm = tsr__papi_event_name(c);
        TSR_CHECK(put(s, "%s", c ? "," : ""));
        TSR_CHECK(put_str(s, nm ? nm : "counter"));
    }
    TSR_CHECK(put(s, "]"));
    return TSR_OK;
fail:
    return rc;
}

/* Flush, close and rename a finished file; s->err holds the first error. */
static int finish_file(sink *s, FILE *fp, const char *tmp, const char *path) {
    if (s->err == TSR_OK && fflush(fp) != 0)
        s->err = tsr_error(TSR_ERR_IO, "writing %s: %s", tmp, strerror(errno));
    int closed = fclose(fp);
    if (s->err == TSR_OK && closed != 0)
        s->err = tsr_error(TSR_ERR_IO, "closing %s: %s", tmp, strerror(errno));
    if (s->err == TSR_OK && rename(tmp, path) != 0)
        s->err = tsr_error(TSR_ERR_IO, "renaming %s to %s: %s", tmp, path, strerror(errno));
    if (s->err != TSR_OK) unlink(tmp);
    return s->err;
}

/* Rank 0: header, own events, then each rank's text as it arrives; then the
 * summary file the same way. */
static int write_root(const uint64_t *counts) {
    int rc = TSR_OK;
    sink s = {.len = 0, .err = TSR_OK, .flush = flush_file, .fp = W.fp, .fname = W.tmp};
    uint64_t ev = 0, dr = 0;
    char *spath = NULL, *stmp = NULL;
    FILE *sfp = NULL;
    for (int r = 0; r < W.nranks; r++) {
        ev += counts[2 * r];
        dr += counts[2 * r + 1];
    }
    TSR_CHECK(put(&s, "{\"otherData\":{\"tool\":\"tessera\",\"version\":\"%s\",\"ranks\":%d,"
                      "\"clock\":\"monotonic, us since tsr_trace_open on rank 0; other ranks' "
                      "clocks corrected by clock_offsets_us (ping-pong at open, best of %d)\","
                      "\"events\":%llu,\"dropped_events\":%llu,"
                      "\"events_per_thread_cap\":%llu,\"dropped_by_rank\":[",
                  TSR_VERSION_STRING, W.nranks, PING_ROUNDS, (unsigned long long)ev,
                  (unsigned long long)dr, (unsigned long long)tsr__trace_sess.cap));
    for (int r = 0; r < W.nranks; r++)
        TSR_CHECK(put(&s, "%s%llu", r ? "," : "", (unsigned long long)counts[2 * r + 1]));
    TSR_CHECK(put(&s, "],\"clock_offsets_us\":["));
    for (int r = 0; r < W.nranks; r++)
        TSR_CHECK(put(&s, "%s%.3f", r ? "," : "", (double)W.offset_ns[r] / 1000.0));
    TSR_CHECK(put(&s, "],\"clock_rtt_us\":["));
    for (int r = 0; r < W.nranks; r++)
        TSR_CHECK(put(&s, "%s%.3f", r ? "," : "", (double)W.rtt_ns[r] / 1000.0));
    TSR_CHECK(put(&s, "],\"papi_events\":"));
    TSR_CHECK(put_papi_names(&s));
    TSR_CHECK(put(&s, ",\"papi_note\":"));
    const char *note = tsr__papi_note();
    if (note != NULL && note[0] != '\0')
        TSR_CHECK(put_str(&s, note));
    else
        TSR_CHECK(put(&s, "null"));
    TSR_CHECK(put(&s, ",\"summary\":"));
    size_t pl = strlen(W.path) + 32;
    spath = malloc(pl);
    stmp = malloc(pl + 32);
    TSR_CHECK_MSG(spath && stmp, TSR_ERR_NOMEM, "trace: no memory");
    snprintf(spath, pl, "%s.summary.json", W.path);
    snprintf(stmp, pl + 32, "%s.tmp.%ld", spath, (long)getpid());
    TSR_CHECK(put_str(&s, spath));
    TSR_CHECK(put(&s, "},\n\"displayTimeUnit\":\"ms\",\n\"traceEvents\":[\n"));
    TSR_CHECK(put_rank(&s));
    TSR_CHECK(flush_file(&s));
    TSR_CHECK(relay(&s, TAG_TEXT));
    TSR_CHECK(put(&s, "\n]}\n"));
    TSR_CHECK(flush_file(&s));
    W.fp = NULL;
    rc = finish_file(&s, s.fp, W.tmp, W.path);

    /* The summary: every rank's stream arrives whatever happened above. */
    sink ss = {.len = 0, .err = TSR_OK, .flush = flush_file, .fname = stmp};
    sfp = fopen(stmp, "w");
    if (sfp == NULL)
        ss.err = tsr_error(TSR_ERR_IO, "cannot create %s: %s", stmp, strerror(errno));
    ss.fp = sfp;
    TSR_CHECK(put(&ss, "{\"ranks\":%d,\"trace\":", W.nranks));
    TSR_CHECK(put_str(&ss, W.path));
    TSR_CHECK(put(&ss, ",\"papi_events\":"));
    TSR_CHECK(put_papi_names(&ss));
    TSR_CHECK(put(&ss, ",\"dropped_events\":%llu,\"per_rank\":[\n", (unsigned long long)dr));
    TSR_CHECK(put_summary(&ss));
    if (sfp) TSR_CHECK(flush_file(&ss));
    ss.len = 0;
    TSR_CHECK(relay(&ss, TAG_SUMMARY));
    TSR_CHECK(put(&ss, "\n]}\n"));
    if (sfp) {
        TSR_CHECK(flush_file(&ss));
        int src = finish_file(&ss, sfp, stmp, spath);
        sfp = NULL;
        if (rc == TSR_OK) rc = src;
    }
    free(spath);
    free(stmp);
    return rc;
fail:
    if (sfp) {
        fclose(sfp);
        unlink(stmp);
    }
    free(spath);
    free(stmp);
    return rc;
}

/* Another rank: its events, then its summary, each stream ended by an
 * empty message (also after a failure: rank 0 waits for it). */
static int write_other(void) {
    int rc = TSR_OK;
    sink s = {.len = 0, .err = TSR_OK, .flush = flush_mpi, .tag = TAG_TEXT};
    rc = put_rank(&s);
    if (rc == TSR_OK) rc = flush_mpi(&s);
    if (MPI_Send(W.text, 0, MPI_CHAR, 0, TAG_TEXT, W.comm) != MPI_SUCCESS && rc == TSR_OK)
        rc = tsr_error(TSR_ERR_MPI, "rank %d: sending the trace's end mark failed", W.rank);
    sink ss = {.len = 0, .err = TSR_OK, .flush = flush_mpi, .tag = TAG_SUMMARY};
    int src = put_summary(&ss);
    if (src == TSR_OK) src = flush_mpi(&ss);
    if (MPI_Send(W.text, 0, MPI_CHAR, 0, TAG_SUMMARY, W.comm) != MPI_SUCCESS && src == TSR_OK)
        src = tsr_error(TSR_ERR_MPI, "rank %d: sending the summary's end mark failed", W.rank);
    return rc != TSR_OK ? rc : src;
}

static void local_counts(uint64_t out[2]) {
    out[0] = out[1] = 0;
    for (tsr__trace_buf *b = tsr__trace_buffers(); b != NULL; b = b->next) {
        if (!session_buf(b)) continue;
        out[0] += atomic_load_explicit(&b->n, memory_order_acquire);
        out[1] += atomic_load_explicit(&b->dropped, memory_order_relaxed);
    }
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
    if (W.rank == 0)
        rc = write_root(counts);
    else
        rc = write_other();
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
