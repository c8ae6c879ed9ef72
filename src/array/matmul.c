/* tsr_matmul: checks, the choice of algorithm, and the pieces both
 * algorithms share (k steps, messages).
 *
 * Which algorithm: C stays where it is in both. When c has two or more tile
 * columns, SUMMA moves A and B panels along process rows and columns
 * (matmul_summa.c). When c has ONE tile column (n <= nb, matrix-vector
 * products included), SUMMA would send all of A to process column 0 and
 * leave the other columns idle; instead A stays, each rank multiplies its own
 * A tiles by the slices of B they need, and partial results are summed along
 * the process row on process column 0 (matmul_gemv.c): the bytes moved are
 * those of B and C, not of A. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "array/matmul_internal.h"
#include "tessera/runtime.h"
#include "tessera/perf.h"

typedef struct msg_hdr {
    int32_t status; /* TSR_OK: doubles follow; else msglen bytes of message */
    int32_t msglen;
    int64_t pad; /* keeps the doubles 16-byte aligned */
} msg_hdr;

int tsr__matmul_ksteps(int64_t k, int64_t a_nb, int64_t b_mb, tsr__kstep **out, int64_t *n) {
    /* At most one step per A cut plus one per B cut. */
    int64_t cap = tsr__ceil_div(k, a_nb) + tsr__ceil_div(k, b_mb);
    tsr__kstep *s = malloc((size_t)cap * sizeof *s);
    *out = NULL;
    *n = 0;
    if (!s) return tsr_error(TSR_ERR_NOMEM, "rank %d: tsr_matmul: no memory for %lld steps",
                             tsr_rank(), (long long)cap);
    int64_t cnt = 0;
    for (int64_t k0 = 0; k0 < k;) {
        int64_t la = k0 / a_nb, lb = k0 / b_mb;
        int64_t end_a = (la + 1) * a_nb, end_b = (lb + 1) * b_mb;
        int64_t k1 = end_a < end_b ? end_a : end_b;
        if (k1 > k) k1 = k;
        s[cnt++] = (tsr__kstep){.k0 = k0, .k1 = k1, .la = la, .lb = lb};
        k0 = k1;
    }
    *out = s;
    *n = cnt;
    return TSR_OK;
}

void *tsr__mm_alloc(int64_t count, double **data, size_t *len) {
    size_t bytes = sizeof(msg_hdr) + sizeof(double) * (size_t)count;
    msg_hdr *h = malloc(bytes);
    if (!h) return NULL;
    h->status = TSR_OK;
    h->msglen = 0;
    h->pad = 0;
    *data = (double *)(h + 1);
    *len = bytes;
    return h;
}

void *tsr__mm_pack(const double *src, int64_t ld, int64_t rows, int64_t cols, size_t *len) {
    double *dst;
    void *h = tsr__mm_alloc(rows * cols, &dst, len);
    if (!h) return NULL;
    for (int64_t j = 0; j < cols; j++)
        memcpy(dst + j * rows, src + j * ld, sizeof(double) * (size_t)rows);
    return h;
}

void *tsr__mm_pack_error(int status, size_t *len) {
    const char *msg = tsr_error_message();
    size_t n = strlen(msg);
    if (n > 4000) n = 4000;
    msg_hdr *h = malloc(sizeof *h + n + 1);
    if (!h) tsr_abort("rank %d: tsr_matmul: no memory to report an error (%s)", tsr_rank(), msg);
    h->status = status;
    h->msglen = (int32_t)n;
    h->pad = 0;
    memcpy(h + 1, msg, n);
    ((char *)(h + 1))[n] = '\0';
    *len = sizeof *h + n + 1;
    return h;
}

int tsr__mm_open(tsr_future_t *f, const double **data) {
    void *v = NULL;
    int rc = tsr_wait(f, &v);
    if (rc != TSR_OK) return rc;
    const msg_hdr *h = v;
    if (h->status != TSR_OK) return tsr_error(h->status, "%s", (const char *)(h + 1));
    *data = (const double *)(h + 1);
    return TSR_OK;
}

void tsr__mm_send(int dest, uint64_t op, uint64_t sub, void *buf, size_t len, const char *what) {
    if (!buf)
        tsr_abort("rank %d: tsr_matmul: no memory for %s for rank %d (%zu bytes)", tsr_rank(),
                  what, dest, len);
    int rc = tsr__mbox_send_owned(dest, (tsr__mbox_key){op, sub}, buf, len);
    if (rc != TSR_OK)
        tsr_abort("rank %d: tsr_matmul: sending %s to rank %d failed: %s", tsr_rank(), what, dest,
                  tsr_error_message());
}

/* Shapes and distributions, checked alike on every rank before anything is
 * queued. */
static int check(const tsr_array_t *a, const tsr_array_t *b) {
    const tsr_dist_t *da = a->dist;
    if (a->n != b->m)
        return tsr_error(TSR_ERR_SHAPE,
                         "rank %d: tsr_matmul: shapes (%lld, %lld) and (%lld, %lld) do not match "
                         "(inner dimensions %lld != %lld)",
                         da->rank, (long long)a->m, (long long)a->n, (long long)b->m,
                         (long long)b->n, (long long)a->n, (long long)b->m);
    /* OpenBLAS takes int sizes and leading dimensions; local ones are at
     * most the global ones (checked on global sizes so ranks agree). */
    if (a->m > INT_MAX || a->n > INT_MAX || b->n > INT_MAX)
        return tsr_error(TSR_ERR_UNSUPPORTED,
                         "rank %d: tsr_matmul: shapes (%lld, %lld) and (%lld, %lld) exceed BLAS's "
                         "int range",
                         da->rank, (long long)a->m, (long long)a->n, (long long)b->m,
                         (long long)b->n);
    return TSR_OK;
}

/* C gets a's distribution, so b must be on a's grid with its columns cut
 * like c's (tile width a.nb); its row tiles may be any height (the k steps
 * follow both cuts). */
static int aligned(const tsr_array_t *a, const tsr_array_t *b) {
    const tsr_dist_t *da = a->dist, *db = b->dist;
    return da->P == db->P && da->Q == db->Q && da->nb == db->nb;
}

int tsr_matmul(tsr_array_t *a, tsr_array_t *b, tsr_array_t **out) {
    TSR_TRACE_SCOPE("matmul");
    int rc = TSR_OK;
    tsr_array_t *c = NULL, *moved = NULL;
    TSR_CHECK_MSG(out != NULL, TSR_ERR_INVALID, "rank %d: tsr_matmul: out is NULL", tsr_rank());
    *out = NULL;
    TSR_CHECK_MSG(a != NULL && b != NULL, TSR_ERR_INVALID, "rank %d: tsr_matmul: %s is NULL",
                  tsr_rank(), a == NULL ? "a" : "b");
    TSR_CHECK(check(a, b));
    if (a->n == 0 || a->m == 0 || b->n == 0) return tsr_array_zeros(a->dist, a->m, b->n, out);
    if (!aligned(a, b)) {
        /* b's columns must be cut like c's (a's distribution); a's own
         * distribution is one that does, and needs no new BLACS grid. */
        TSR_CHECK(tsr_array_redistribute(b, a->dist, &moved));
        b = moved;
    }
    TSR_CHECK(tsr__array_alloc(a->dist, a->m, b->n, &c));
    if (c->nt == 1)
        TSR_CHECK(tsr__matmul_gemv(a, b, c));
    else
        TSR_CHECK(tsr__matmul_summa(a, b, c));
    *out = c;
    c = NULL;
fail:
    tsr_array_free(&moved); /* the queued tasks hold their own reference */
    tsr_array_free(&c);
    return rc;
}
