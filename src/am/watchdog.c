/* Peer liveness watchdog. Open MPI's TCP transport does not notice a host
 * whose link went down for many minutes (TCP retransmits, keepalive defaults
 * are 300 s + 9 x 20 s), and a rank waiting for that host's messages waits as
 * long. So every rank of a job of more than one runs a thread that sends a
 * small heartbeat to its ring successor (rank + 1) and expects one from its
 * predecessor (rank - 1): silence for TSR_PEER_TIMEOUT seconds means the
 * predecessor is gone or unreachable, and the job ends with a message naming
 * it and its host.
 *
 * The beats come from this thread, never from compute, so a rank busy in a
 * long matmul still beats. The thread sleeps between beats (a few wake-ups a
 * second, one 4-byte message each). It has its own duplicate of the world
 * communicator and calls MPI directly (MPI_THREAD_MULTIPLE; the engine's
 * transport lock is not needed for a communicator nobody else uses).
 *
 * Shutdown: ranks reach tsr_finalize at different times, and a rank that
 * has finished must not be declared lost. So stopping is itself collective:
 * the thread enters a nonblocking barrier on its communicator and keeps
 * beating and watching until that completes, i.e. until every rank has
 * stopped. Only then does it stop beating. Stopping wakes the thread at
 * once and it then polls the barrier every millisecond or so (backing off if
 * the others are slow to come): a job's exit waits for it. */
#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "am/am_engine.h"
#include "base/internal.h"

#define WD_TAG 1
#define WD_HOST 64

static struct {
    int on;
    MPI_Comm comm;
    int rank, nranks, pred, succ;
    long timeout;        /* seconds */
    double beat;         /* seconds between beats */
    char *hosts;         /* nranks x WD_HOST, for the message */
    int inbuf, outbuf;   /* must outlive their requests */
    pthread_t thread;
    atomic_int leaving;
    /* Stop wakes the thread at once instead of after its current nap: every
     * job's exit waits for this thread, and short jobs are common. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} wd;

/* Sleep s seconds, or less if tsr__watchdog_stop asks the thread to leave
 * meanwhile. Once it has asked, naps are whole (the shutdown loop must not
 * spin while slower ranks finish). */
static void nap(double s) {
    struct timespec until;
    tsr__deadline_ns(&until, (uint64_t)(s * 1e9));
    pthread_mutex_lock(&wd.mu);
    const int was_leaving = atomic_load(&wd.leaving);
    while (atomic_load(&wd.leaving) == was_leaving) {
        if (pthread_cond_timedwait(&wd.cv, &wd.mu, &until) != 0) break; /* ETIMEDOUT */
    }
    pthread_mutex_unlock(&wd.mu);
}

/* The predecessor is lost: say so and end the job. Written with write(2)
 * (other threads may be printing), then the same exit as any fatal error:
 * MPI_Abort through tsr__die. On a host cut off from the rest MPI_Abort may
 * never hear back from mpirun; the alarm ends this process anyway, and its
 * daemon notices. */
TSR_NORETURN static void lost(double silent) {
    char line[512];
    int n = snprintf(line, sizeof line,
                     "tessera: rank %d: lost contact with rank %d (host %s): no heartbeat for "
                     "%.0f s (TSR_PEER_TIMEOUT=%ld)\n",
                     wd.rank, wd.pred, wd.hosts + (size_t)wd.pred * WD_HOST, silent, wd.timeout);
    if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
    alarm(10);
    tsr__die(1);
}

static void *wd_main(void *arg) {
    (void)arg;
    /* Named, so that top -H / ps -L show what it is. */
    pthread_setname_np(pthread_self(), "tsr-watchdog");
    MPI_Request rreq = MPI_REQUEST_NULL, sreq = MPI_REQUEST_NULL, breq = MPI_REQUEST_NULL;
    const double poll = wd.beat < 0.1 ? wd.beat : 0.1;
    const double limit = (double)wd.timeout;
    double last_seen = tsr_time(), last_beat = 0, last_loop = last_seen, left = 0;
    int done = 0;
    MPI_Irecv(&wd.inbuf, 1, MPI_INT, wd.pred, WD_TAG, wd.comm, &rreq);
    while (!done) {
        double now = tsr_time();
        /* This thread itself did not run for a long while (the process was
         * stopped, the machine suspended): the silence is ours, not theirs. */
        if (now - last_loop > limit / 2) last_seen = now;
        last_loop = now;
        if (now - last_beat >= wd.beat) {
            int flag = 1;
            if (sreq != MPI_REQUEST_NULL) MPI_Test(&sreq, &flag, MPI_STATUS_IGNORE);
            /* At most one beat in flight: a successor that does not take
             * them does not make us queue more. */
            if (flag) MPI_Isend(&wd.outbuf, 1, MPI_INT, wd.succ, WD_TAG, wd.comm, &sreq);
            last_beat = now;
        }
        for (;;) {
            int got = 0;
            MPI_Test(&rreq, &got, MPI_STATUS_IGNORE);
            if (!got) break;
            last_seen = tsr_time();
            MPI_Irecv(&wd.inbuf, 1, MPI_INT, wd.pred, WD_TAG, wd.comm, &rreq);
        }
        double wait = poll;
        if (atomic_load(&wd.leaving)) {
            if (breq == MPI_REQUEST_NULL) {
                MPI_Ibarrier(wd.comm, &breq);
                left = tsr_time();
            }
            MPI_Test(&breq, &done, MPI_STATUS_IGNORE);
            if (done) break;
            /* Ranks usually leave within milliseconds of each other: look
             * again soon, backing off to the normal poll as the wait grows
             * (a rank that finished long before the others does not spin). */
            wait = (tsr_time() - left) / 10;
            if (wait < 0.001) wait = 0.001;
            if (wait > poll) wait = poll;
        }
        double silent = tsr_time() - last_seen;
        if (silent > limit) lost(silent);
        nap(wait);
    }
    MPI_Cancel(&rreq);
    MPI_Wait(&rreq, MPI_STATUS_IGNORE);
    /* A last beat the successor never took (it already left) is small and
     * eager: let it go rather than wait for it. */
    if (sreq != MPI_REQUEST_NULL) {
        int flag = 0;
        MPI_Test(&sreq, &flag, MPI_STATUS_IGNORE);
        if (!flag) MPI_Request_free(&sreq);
    }
    return NULL;
}

int tsr__watchdog_start(MPI_Comm comm, long timeout_s) {
    int rc = TSR_OK;
    int nranks = 0;
    TSR_MPI(MPI_Comm_size(comm, &nranks));
    if (nranks < 2 || timeout_s <= 0) return TSR_OK;
    memset(&wd, 0, sizeof wd);
    wd.comm = MPI_COMM_NULL;
    TSR_MPI(MPI_Comm_dup(comm, &wd.comm));
    MPI_Comm_rank(wd.comm, &wd.rank);
    wd.nranks = nranks;
    wd.pred = (wd.rank + nranks - 1) % nranks;
    wd.succ = (wd.rank + 1) % nranks;
    wd.timeout = timeout_s;
    /* Several beats per timeout, and at least one a second. */
    wd.beat = (double)timeout_s / 5 < 1.0 ? (double)timeout_s / 5 : 1.0;
    wd.hosts = calloc((size_t)nranks, WD_HOST);
    TSR_CHECK_MSG(wd.hosts != NULL, TSR_ERR_NOMEM, "rank %d: watchdog: no memory for %d host names",
                  wd.rank, nranks);
    char me[WD_HOST] = "";
    char name[MPI_MAX_PROCESSOR_NAME] = "";
    int len = 0;
    if (MPI_Get_processor_name(name, &len) != MPI_SUCCESS) snprintf(name, sizeof name, "?");
    size_t nl = strnlen(name, WD_HOST - 1); /* a longer name is cut */
    memcpy(me, name, nl);
    TSR_MPI(MPI_Allgather(me, WD_HOST, MPI_CHAR, wd.hosts, WD_HOST, MPI_CHAR, wd.comm));
    atomic_store(&wd.leaving, 0);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd.cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&wd.mu, NULL);
    int e = pthread_create(&wd.thread, NULL, wd_main, NULL);
    TSR_CHECK_MSG(e == 0, TSR_ERR_STATE, "rank %d: watchdog: pthread_create: %s", wd.rank,
                  strerror(e));
    wd.on = 1;
    return TSR_OK;
fail:
    free(wd.hosts);
    wd.hosts = NULL;
    if (wd.comm != MPI_COMM_NULL) MPI_Comm_free(&wd.comm);
    return rc;
}

void tsr__watchdog_stop(void) {
    if (!wd.on) return;
    pthread_mutex_lock(&wd.mu);
    atomic_store(&wd.leaving, 1);
    pthread_cond_signal(&wd.cv);
    pthread_mutex_unlock(&wd.mu);
    pthread_join(wd.thread, NULL);
    pthread_cond_destroy(&wd.cv);
    pthread_mutex_destroy(&wd.mu);
    MPI_Comm_free(&wd.comm);
    free(wd.hosts);
    wd.hosts = NULL;
    wd.on = 0;
}
