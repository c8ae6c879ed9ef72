/* MPI collectives for the array layer, made safe next to asynchronous work.
 *
 * A rank that blocks inside an MPI collective runs no tasks and drives no
 * active messages; if another rank still needs a tile from it to finish the
 * work before the same collective, both wait forever. So the array layer
 * only starts nonblocking collectives and waits for them while helping: it
 * runs tasks and drives message progress between MPI_Test calls. */
#include <mpi.h>
#include <stdio.h>
#include <time.h>

#include "array/array_internal.h"
#include "tessera/am.h"
#include "tessera/runtime.h"
#include "tessera/sched.h"

static MPI_Comm array_comm = MPI_COMM_NULL;

int tsr__array_comm_init(void) {
    int rc = TSR_OK;
    if (array_comm != MPI_COMM_NULL) return TSR_OK;
    TSR_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &array_comm));
    TSR_MPI(MPI_Comm_set_errhandler(array_comm, MPI_ERRORS_RETURN));
    return TSR_OK;
fail:
    return rc;
}

void tsr__array_comm_fini(void) {
    if (array_comm != MPI_COMM_NULL) MPI_Comm_free(&array_comm);
}

MPI_Comm tsr__array_comm(void) { return array_comm; }

int tsr__mpi_wait_helping(MPI_Request *req, const char *what) {
    int rc = TSR_OK;
    int done = 0;
    unsigned idle = 0;
    for (;;) {
        TSR_MPI(MPI_Test(req, &done, MPI_STATUS_IGNORE));
        if (done) break;
        int worked = tsr_sched_help() + tsr_am_progress();
        if (worked) {
            idle = 0;
        } else if (++idle > 64) {
            /* Oversubscribed ranks share cores: let the others run. */
            struct timespec ts = {0, idle > 4096 ? 50000 : 1000};
            nanosleep(&ts, NULL);
        }
    }
    return TSR_OK;
fail:
    return tsr_error(rc, "%s: %s", what, tsr_error_message());
}

int tsr__array_agree(int rc, const char *what) {
    int mpi_rc = 0;
    /* (status, rank) pairs: MINLOC finds the most negative status and the
     * lowest rank that has it, so every rank names the same culprit. */
    struct {
        int status;
        int rank;
    } mine = {rc, tsr_rank()}, worst;
    MPI_Request req;
    /* Tasks run while we wait and may set this thread's message: keep ours. */
    char mine_msg[1024];
    snprintf(mine_msg, sizeof mine_msg, "%s", tsr_error_message());
    mpi_rc = MPI_Iallreduce(&mine, &worst, 1, MPI_2INT, MPI_MINLOC, array_comm, &req);
    if (mpi_rc != MPI_SUCCESS) return tsr__mpi_error(mpi_rc, "MPI_Iallreduce", __FILE__, __LINE__);
    int wrc = tsr__mpi_wait_helping(&req, what);
    if (wrc != TSR_OK) return wrc;
    if (worst.status == TSR_OK) return TSR_OK;
    if (rc != TSR_OK) {
        tsr_log(TSR_LOG_ERROR, "%s", mine_msg);
        return tsr_error(rc, "%s", mine_msg);
    }
    return tsr_error(worst.status, "rank %d: %s failed on rank %d (%s; its message is in its log)",
                     tsr_rank(), what, worst.rank, tsr_status_string(worst.status));
}
