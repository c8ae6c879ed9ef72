/* Active-message latency and bandwidth between two ranks, against raw MPI
 * ping-pong measured in the same run.
 *
 *   raw, before tsr_init    MPI_Send/MPI_Recv on MPI_COMM_WORLD, no Tessera threads
 *   raw, Tessera idle       same on a dup'd communicator after tsr_init (this is the
 *                           baseline for the ratios: same MPI thread level, and it shows
 *                           what idle Tessera threads cost a user's own MPI calls)
 *   tessera                 latency: 8 B tsr_am_send ping, 8 B tsr_am_send pong
 *                           bandwidth: tsr_am_sendv (zero-copy) of 1 MiB / 16 MiB into a
 *                           buffer that rank 1's alloc callback hands out, then an 8 B ack
 *
 * How rank 0 waits for the pong/ack (--wait):
 *   future (default)  the pong handler sets a tsr_future that the main thread
 *                     tsr_wait()s on: the way a user is expected to wait.
 *   spin              the handler sets an atomic flag; the main thread loops on
 *                     tsr_sched_help() and tsr_am_progress() until it is set.
 * Rank 1 waits for a "stop" message the same way: in tsr_wait on a future
 * (future) or in the same help/progress loop on a flag (spin), so its main
 * thread (worker 0) runs the handlers and, in poll mode, drives progress.
 * Comparing the two shows what the runtime's waiting back-off costs.
 *
 * Raw and Tessera blocks alternate (after a warm-up round); each figure is the
 * best over --blocks blocks, a block's figure being its mean over its
 * iterations; the same for raw and Tessera. Latency is one way:
 * round trip / 2. Bandwidth is bytes / (data + ack round trip), in GB/s (1e9).
 * Output: a table on rank 0, then one JSON line (always last). */
#include <mpi.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"

#define MiB (1024UL * 1024UL)
#define NSIZES 2
static const size_t bw_sizes[NSIZES] = {1 * MiB, 16 * MiB};

static struct {
    int lat_iters, bw_iters[NSIZES], blocks, spin;
    int id_ping, id_pong, id_bulk, id_stop;
    unsigned char *recvbuf; /* rank 1: where bulk payloads must land */
    size_t recvcap;
    /* rank 0: the future (or flag) the current pong/ack completes */
    _Atomic(tsr_future_t *) pending;
    atomic_int flag;
    /* rank 1 */
    tsr_future_t *stop;
    atomic_int stop_flag;
    atomic_long misplaced; /* bulk payloads that did not land in recvbuf */
} B;

static void check(int rc, const char *what) {
    if (rc != TSR_OK) tsr_abort("bench_am: %s: %s: %s", what, tsr_status_string(rc),
                                tsr_error_message());
}

static void check_mpi(int rc, const char *what) {
    if (rc != MPI_SUCCESS) tsr_abort("bench_am: %s failed (MPI error %d)", what, rc);
}

/* ---- raw MPI ---------------------------------------------------------- */

/* Mean seconds per round trip, over one block of iters, of a len-byte
 * message answered by an ack of acklen bytes. */
static double raw_block(MPI_Comm comm, int rank, unsigned char *buf, size_t len, size_t acklen,
                        int iters) {
    unsigned char ack[8] = {0};
    MPI_Barrier(comm);
    double t0 = MPI_Wtime();
    for (int i = 0; i < iters; i++) {
        if (rank == 0) {
            check_mpi(MPI_Send(buf, (int)len, MPI_BYTE, 1, 1, comm), "MPI_Send");
            check_mpi(MPI_Recv(ack, (int)acklen, MPI_BYTE, 1, 2, comm, MPI_STATUS_IGNORE),
                      "MPI_Recv");
        } else {
            check_mpi(MPI_Recv(buf, (int)len, MPI_BYTE, 0, 1, comm, MPI_STATUS_IGNORE),
                      "MPI_Recv");
            check_mpi(MPI_Send(ack, (int)acklen, MPI_BYTE, 0, 2, comm), "MPI_Send");
        }
    }
    return (MPI_Wtime() - t0) / iters;
}

typedef struct {
    double lat_us, bw_gbs[NSIZES];
} figures;

static const figures worst = {.lat_us = 1e30};

/* Keep the best of each figure over rounds. */
static void keep_best(figures *best, const figures *round) {
    if (round->lat_us < best->lat_us) best->lat_us = round->lat_us;
    for (int s = 0; s < NSIZES; s++)
        if (round->bw_gbs[s] > best->bw_gbs[s]) best->bw_gbs[s] = round->bw_gbs[s];
}

/* One block of each raw measurement. rank 0's buf is only ever sent, so it
 * keeps the pattern that Tessera's bulk transfers are checked against. */
static void raw_round(MPI_Comm comm, int rank, unsigned char *buf, figures *out) {
    out->lat_us = 1e6 * raw_block(comm, rank, buf, 8, 8, B.lat_iters) / 2.0;
    for (int s = 0; s < NSIZES; s++)
        out->bw_gbs[s] =
            (double)bw_sizes[s] / raw_block(comm, rank, buf, bw_sizes[s], 8, B.bw_iters[s]) / 1e9;
}

/* ---- Tessera handlers -------------------------------------------------- */

/* rank 1: answer a ping with a pong. Runs as a task on rank 1. */
static void on_ping(int src, const void *hdr, size_t hdrlen, void *payload, size_t len,
                    void *arg) {
    (void)hdr, (void)hdrlen, (void)payload, (void)len, (void)arg;
    uint64_t word = 0;
    check(tsr_am_send(src, B.id_pong, &word, sizeof word), "tsr_am_send(pong)");
}

/* rank 0: a pong or ack arrived; complete what the main thread waits on.
 * The future carries a reference for this handler (taken by the sender), so
 * the main thread may release its own as soon as it sees the future ready. */
static void on_pong(int src, const void *hdr, size_t hdrlen, void *payload, size_t len,
                    void *arg) {
    (void)src, (void)hdr, (void)hdrlen, (void)payload, (void)len, (void)arg;
    if (B.spin) {
        atomic_store_explicit(&B.flag, 1, memory_order_release);
        return;
    }
    tsr_future_t *f = atomic_exchange(&B.pending, NULL);
    if (!f) tsr_abort("bench_am: pong with nothing pending");
    check(tsr_future_set(f, NULL), "tsr_future_set");
    tsr_future_release(&f);
}

/* rank 1: land every bulk payload in the preallocated buffer. Runs on the
 * progress thread, before the payload moves. */
static void *bulk_alloc(int src, const void *hdr, size_t hdrlen, size_t len, void *arg) {
    (void)src, (void)hdr, (void)hdrlen, (void)arg;
    return len <= B.recvcap ? B.recvbuf : NULL;
}

static void on_bulk(int src, const void *hdr, size_t hdrlen, void *payload, size_t len,
                    void *arg) {
    (void)hdr, (void)hdrlen, (void)arg;
    if (payload != B.recvbuf) atomic_fetch_add(&B.misplaced, 1);
    (void)len;
    uint64_t word = 0;
    check(tsr_am_send(src, B.id_pong, &word, sizeof word), "tsr_am_send(ack)");
}

static void on_stop(int src, const void *hdr, size_t hdrlen, void *payload, size_t len,
                    void *arg) {
    (void)src, (void)hdr, (void)hdrlen, (void)payload, (void)len, (void)arg;
    if (B.spin) {
        atomic_store_explicit(&B.stop_flag, 1, memory_order_release);
        return;
    }
    check(tsr_future_set(B.stop, NULL), "tsr_future_set(stop)");
}

/* ---- Tessera rank 0 side ----------------------------------------------- */

static tsr_future_t *arm(void) {
    if (B.spin) {
        atomic_store_explicit(&B.flag, 0, memory_order_relaxed);
        return NULL;
    }
    tsr_future_t *f = NULL;
    check(tsr_future_create(&f), "tsr_future_create");
    tsr_future_retain(f); /* the handler's reference */
    atomic_store(&B.pending, f);
    return f;
}

static void await(tsr_future_t *f) {
    if (B.spin) {
        while (!atomic_load_explicit(&B.flag, memory_order_acquire))
            if (!tsr_sched_help()) tsr_am_progress();
        return;
    }
    check(tsr_wait(f, NULL), "tsr_wait(pong)");
    tsr_future_release(&f);
}

/* rank 0: one block of iters pings; mean one-way seconds. */
static double tsr_latency_block(void) {
    uint64_t word = 0;
    double t0 = tsr_time();
    for (int i = 0; i < B.lat_iters; i++) {
        tsr_future_t *f = arm();
        check(tsr_am_send(1, B.id_ping, &word, sizeof word), "tsr_am_send(ping)");
        await(f);
    }
    return (tsr_time() - t0) / B.lat_iters / 2.0;
}

/* rank 0: one block of iters zero-copy sends of len bytes, each acked; GB/s. */
static double tsr_bandwidth_block(const unsigned char *buf, size_t len, int iters) {
    uint64_t hdr = len;
    double t0 = tsr_time();
    for (int i = 0; i < iters; i++) {
        tsr_future_t *f = arm(), *done = NULL;
        check(tsr_am_sendv(1, B.id_bulk, &hdr, sizeof hdr, buf, len, &done), "tsr_am_sendv");
        await(f);
        check(tsr_wait(done, NULL), "tsr_wait(sendv done)");
        tsr_future_release(&done);
    }
    return (double)len / ((tsr_time() - t0) / iters) / 1e9;
}

/* rank 1: make ready to receive this round's stop. Called before a barrier
 * that rank 0 passes before it can send the stop. */
static void arm_stop(void) {
    if (B.spin)
        atomic_store_explicit(&B.stop_flag, 0, memory_order_relaxed);
    else
        check(tsr_future_create(&B.stop), "tsr_future_create");
}

/* One block of each Tessera measurement: rank 0 drives, rank 1 serves
 * until rank 0's stop message. */
static void tsr_round(int rank, const unsigned char *buf, figures *out) {
    if (rank == 0) {
        out->lat_us = 1e6 * tsr_latency_block();
        for (int s = 0; s < NSIZES; s++)
            out->bw_gbs[s] = tsr_bandwidth_block(buf, bw_sizes[s], B.bw_iters[s]);
        check(tsr_am_send(1, B.id_stop, NULL, 0), "tsr_am_send(stop)");
    } else if (B.spin) {
        while (!atomic_load_explicit(&B.stop_flag, memory_order_acquire))
            if (!tsr_sched_help()) tsr_am_progress();
    } else {
        check(tsr_wait(B.stop, NULL), "tsr_wait(stop)");
        tsr_future_release(&B.stop);
    }
}

static void fill(unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 131u + 7u);
}

static int verify(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 131u + 7u)) return 0;
    return 1;
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_am [--wait future|spin] [--iters N] [--blocks B] [--quick]\n"
               "  run on exactly 2 ranks (perf/run am does: mpirun-tsr -np 2)\n");
}

int main(int argc, char **argv) {
    B.lat_iters = 20000;
    B.bw_iters[0] = 400;
    B.bw_iters[1] = 40;
    B.blocks = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--wait") && i + 1 < argc) {
            i++;
            if (!strcmp(argv[i], "spin")) B.spin = 1;
            else if (strcmp(argv[i], "future")) { usage(stderr); return 2; }
        } else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
            B.lat_iters = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--blocks") && i + 1 < argc) {
            B.blocks = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--quick")) {
            B.lat_iters = 2000, B.bw_iters[0] = 40, B.bw_iters[1] = 5, B.blocks = 2;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (B.lat_iters < 1 || B.blocks < 1) { usage(stderr); return 2; }

    /* MPI first, at the level Tessera asks for, so the first raw figure has
     * no Tessera thread in the process at all. */
    int provided = 0, rank = 0, nranks = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) return 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if (nranks != 2) {
        if (rank == 0) fprintf(stderr, "bench_am: needs exactly 2 ranks, got %d\n", nranks);
        MPI_Finalize();
        return 2;
    }
    B.recvcap = bw_sizes[NSIZES - 1];
    unsigned char *buf = tsr_aligned_alloc(4096, B.recvcap);
    B.recvbuf = tsr_aligned_alloc(4096, B.recvcap);
    if (!buf || !B.recvbuf) return 1;
    fill(buf, B.recvcap);
    memset(B.recvbuf, 0, B.recvcap);

    /* Round -1 warms up (connections, page faults) and is not counted. */
    figures raw_pre = worst, raw = worst, tes = worst, round;
    for (int r = -1; r < B.blocks; r++) {
        raw_round(MPI_COMM_WORLD, rank, buf, &round);
        if (r >= 0) keep_best(&raw_pre, &round);
    }

    check(tsr_init(&argc, &argv), "tsr_init");
    const char *mode = tsr_runtime_options()->progress_thread ? "thread" : "poll";
    check(tsr_am_register(on_ping, NULL, NULL, &B.id_ping), "register ping");
    check(tsr_am_register(on_pong, NULL, NULL, &B.id_pong), "register pong");
    check(tsr_am_register(on_bulk, bulk_alloc, NULL, &B.id_bulk), "register bulk");
    check(tsr_am_register(on_stop, NULL, NULL, &B.id_stop), "register stop");
    check(tsr_fence(), "tsr_fence");

    /* Raw and Tessera blocks alternate, so that both see the same machine
     * (it is shared and noisy); each figure is the best over rounds. */
    MPI_Comm dup;
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &dup), "MPI_Comm_dup");
    for (int r = -1; r < B.blocks; r++) {
        if (rank == 1) arm_stop();
        raw_round(dup, rank, buf, &round);
        if (r >= 0) keep_best(&raw, &round);
        MPI_Barrier(dup);
        tsr_round(rank, buf, &round);
        if (r >= 0 && rank == 0) keep_best(&tes, &round);
    }
    check(tsr_fence(), "tsr_fence");
    tsr_am_stats st;
    tsr_am_stats_get(&st);

    /* Rank 1 checks the last bulk payload and where it landed; rank 0 reports. */
    int ok[2] = {1, 1};
    if (rank == 1) {
        ok[0] = verify(B.recvbuf, bw_sizes[NSIZES - 1]);
        ok[1] = atomic_load(&B.misplaced) == 0;
    }
    MPI_Bcast(ok, 2, MPI_INT, 1, dup);
    MPI_Comm_free(&dup);

    if (rank == 0) {
        printf("progress=%s wait=%s (best of %d blocks; latency one way)\n", mode,
               B.spin ? "spin" : "future", B.blocks);
        printf("  %-22s %12s %14s %14s\n", "", "latency us", "1 MiB GB/s", "16 MiB GB/s");
        printf("  %-22s %12.3f %14.2f %14.2f\n", "raw MPI, before init", raw_pre.lat_us,
               raw_pre.bw_gbs[0], raw_pre.bw_gbs[1]);
        printf("  %-22s %12.3f %14.2f %14.2f\n", "raw MPI, Tessera idle", raw.lat_us,
               raw.bw_gbs[0], raw.bw_gbs[1]);
        printf("  %-22s %12.3f %14.2f %14.2f\n", "tessera AM", tes.lat_us, tes.bw_gbs[0],
               tes.bw_gbs[1]);
        printf("  ratios tessera/raw: latency %.2f, bandwidth 1 MiB %.2f, 16 MiB %.2f\n",
               tes.lat_us / raw.lat_us, tes.bw_gbs[0] / raw.bw_gbs[0],
               tes.bw_gbs[1] / raw.bw_gbs[1]);
        printf("  rank 0 am stats: sent %llu (eager %llu, rendezvous %llu), received %llu; "
               "payload %s, zero-copy landing %s\n",
               (unsigned long long)st.sent, (unsigned long long)st.eager_sent,
               (unsigned long long)st.rndv_sent, (unsigned long long)st.received,
               ok[0] ? "ok" : "CORRUPT", ok[1] ? "ok" : "NOT IN ALLOC BUFFER");
        printf("{\"bench\":\"am\",\"progress\":\"%s\",\"wait\":\"%s\",\"latency_ratio\":%.4f,"
               "\"bandwidth_ratio\":%.4f,\"tessera_latency_us\":%.4f,\"raw_latency_us\":%.4f,"
               "\"tessera_bw_1MiB_GBs\":%.3f,\"raw_bw_1MiB_GBs\":%.3f,"
               "\"tessera_bw_16MiB_GBs\":%.3f,\"raw_bw_16MiB_GBs\":%.3f,"
               "\"raw_preinit_latency_us\":%.4f,\"raw_preinit_bw_16MiB_GBs\":%.3f,"
               "\"payload_ok\":%s,\"zero_copy\":%s}\n",
               mode, B.spin ? "spin" : "future", tes.lat_us / raw.lat_us,
               tes.bw_gbs[1] / raw.bw_gbs[1], tes.lat_us, raw.lat_us, tes.bw_gbs[0],
               raw.bw_gbs[0], tes.bw_gbs[1], raw.bw_gbs[1], raw_pre.lat_us, raw_pre.bw_gbs[1],
               ok[0] ? "true" : "false", ok[1] ? "true" : "false");
        fflush(stdout);
    }
    check(tsr_finalize(), "tsr_finalize");
    tsr_aligned_free(buf);
    tsr_aligned_free(B.recvbuf);
    MPI_Finalize();
    return ok[0] && ok[1] ? 0 : 1;
}
