/* Load, active messages: all-to-all requests with replies. Every rank sends
 * its share of requests to every rank in turn (itself included); each request
 * carries a value and a remote-future handle, and its handler answers by
 * setting that remote future (a second active message) to f(value). A rank
 * keeps at most WINDOW requests outstanding, waits for their replies and
 * checks each against f. Half the messages are requests, half replies. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bench_load.h"

#define WINDOW 256

typedef struct request {
    uint64_t value;
    tsr_remote_handle reply;
} request;

static int id_request;
static atomic_ullong recv_sum;
static atomic_llong recv_count;
static int planted; /* --plant messages: handlers count every value one too high */

static uint64_t answer(uint64_t v) { return v * 2654435761ULL + 7; }

static void on_request(int src, const void *hdr, size_t hdrlen, void *payload, size_t len,
                       void *arg) {
    (void)src, (void)hdr, (void)hdrlen, (void)arg;
    request rq;
    if (len != sizeof rq) tsr_abort("bench_load messages: request of %zu bytes", len);
    memcpy(&rq, payload, sizeof rq);
    atomic_fetch_add_explicit(&recv_sum, rq.value + (uint64_t)planted, memory_order_relaxed);
    atomic_fetch_add_explicit(&recv_count, 1, memory_order_relaxed);
    uint64_t a = answer(rq.value);
    load_check(tsr_remote_future_set(rq.reply, &a, sizeof a), "tsr_remote_future_set");
}

void load_messages_setup(void) {
    load_check(tsr_am_register(on_request, NULL, NULL, &id_request), "tsr_am_register");
}

void load_messages(const load_opts *o, load_round *out) {
    int rank = tsr_rank(), nranks = tsr_nranks();
    int64_t requests = o->messages / 2;
    int64_t mine = requests / nranks + (rank < requests % nranks);
    tsr_am_stats a0, a1;
    tsr_future_t *fut[WINDOW];
    uint64_t val[WINDOW], sent_sum = 0;
    planted = load_planted(o, "messages");
    atomic_store(&recv_sum, 0);
    atomic_store(&recv_count, 0);
    load_check(tsr_fence(), "tsr_fence");
    tsr_am_stats_get(&a0);
    MPI_Barrier(load_comm);
    double t0 = load_now();
    for (int64_t i = 0; i < mine;) {
        int k = 0;
        for (; k < WINDOW && i < mine; k++, i++) {
            request rq;
            val[k] = rq.value = ((uint64_t)rank << 48) ^ (uint64_t)i * 0x9E3779B97F4A7C15ULL;
            load_check(tsr_remote_future_create(&fut[k], &rq.reply), "tsr_remote_future_create");
            int dest = (int)((rank + 1 + i) % nranks); /* every rank in turn */
            load_check(tsr_am_send(dest, id_request, &rq, sizeof rq), "tsr_am_send");
            sent_sum += rq.value;
        }
        for (int j = 0; j < k; j++) {
            void *v;
            load_check(tsr_wait(fut[j], &v), "reply");
            uint64_t a;
            memcpy(&a, v, sizeof a);
            if (a != answer(val[j]))
                tsr_abort("bench_load messages: reply %llu to %llu, expected %llu",
                          (unsigned long long)a, (unsigned long long)val[j],
                          (unsigned long long)answer(val[j]));
            tsr_future_release(&fut[j]);
        }
    }
    load_check(tsr_fence(), "tsr_fence");
    double t1 = load_now();
    tsr_am_stats_get(&a1);

    /* Every request arrived exactly once: counts and sums over all ranks. */
    unsigned long long mine_in[2] = {(unsigned long long)atomic_load(&recv_count),
                                     (unsigned long long)atomic_load(&recv_sum)},
                       sent[2] = {(unsigned long long)mine, sent_sum}, all_in[2], all_sent[2];
    MPI_Allreduce(mine_in, all_in, 2, MPI_UNSIGNED_LONG_LONG, MPI_SUM, load_comm);
    MPI_Allreduce(sent, all_sent, 2, MPI_UNSIGNED_LONG_LONG, MPI_SUM, load_comm);
    if (all_in[0] != all_sent[0] || all_in[1] != all_sent[1])
        tsr_abort("bench_load messages: %llu requests handled (checksum %llu), %llu sent "
                  "(checksum %llu)", all_in[0], all_in[1], all_sent[0], all_sent[1]);
    int64_t n = (int64_t)(a1.sent - a0.sent), nrecv = (int64_t)(a1.received - a0.received);
    int64_t tot[2] = {n, nrecv}, all[2];
    MPI_Allreduce(tot, all, 2, MPI_INT64_T, MPI_SUM, load_comm);
    if (all[0] != all[1] || all[0] < 2 * requests)
        tsr_abort("bench_load messages: %lld messages sent, %lld received, %lld expected",
                  (long long)all[0], (long long)all[1], (long long)(2 * requests));
    out->seconds = t1 - t0;
    out->count = all[0];
    out->checksum = (double)(all_sent[1] >> 11);
}
