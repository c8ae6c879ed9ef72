/* Runtime lifecycle: MPI, options, scheduler, message engine. */
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "am/am_internal.h"
#include "runtime/runtime_internal.h"
#include "base/internal.h"
#include "tessera/perf.h"
#include "tessera/runtime.h"
#include "tessera/sched.h"

static struct {
    int up;
    int we_started_mpi;
    int rank, nranks;
    tsr_options opts;
} rt = {.rank = -1, .nranks = 0};

static void mpi_abort_hook(int code) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
    _Exit(code ? code : 1);
}

int tsr__mpi_error(int mpi_rc, const char *call, const char *file, int line) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(mpi_rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", mpi_rc);
    return tsr_error(TSR_ERR_MPI, "rank %d: %s failed at %s:%d: %s", rt.rank, call, file, line, text);
}

int tsr_init(int *argc, char ***argv) {
    int rc = TSR_OK;
    if (rt.up) return tsr_error(TSR_ERR_STATE, "tsr_init called twice");
    TSR_CHECK(tsr_options_from_env(&rt.opts));
    tsr__options_set(&rt.opts);

    int init = 0, provided = 0;
    MPI_Initialized(&init);
    if (!init) {
        /* MULTIPLE so that code outside Tessera (ScaLAPACK on the main thread)
         * may call MPI while a worker polls; Tessera itself serialises its own
         * calls under one lock. */
        if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
            return tsr_error(TSR_ERR_MPI, "MPI_Init_thread failed");
        rt.we_started_mpi = 1;
    } else {
        MPI_Query_thread(&provided);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    TSR_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rt.rank));
    TSR_MPI(MPI_Comm_size(MPI_COMM_WORLD, &rt.nranks));
    tsr_log_set_rank(rt.rank);
    tsr__set_abort_hook(mpi_abort_hook);
    TSR_CHECK_MSG(provided >= MPI_THREAD_SERIALIZED, TSR_ERR_UNSUPPORTED,
                  "rank %d: the MPI library gives thread level %d; Tessera needs at least "
                  "MPI_THREAD_SERIALIZED",
                  rt.rank, provided);

    TSR_CHECK(tsr_sched_init(rt.opts.threads, rt.opts.pin));
    rc = tsr__am_init(MPI_COMM_WORLD, &rt.opts);
    if (rc != TSR_OK) {
        tsr_sched_fini();
        goto fail;
    }
    rt.up = 1;
    /* TSR_TRACE: every rank sees the same environment, so this collective
     * call is made (and fails) on all ranks alike. */
    if (rt.opts.trace != NULL) {
        rc = tsr_trace_open(rt.opts.trace);
        if (rc != TSR_OK) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", tsr_error_message());
            rt.up = 0;
            tsr__am_fini();
            tsr_sched_fini();
            rc = tsr_error(rc, "%s", msg);
            goto fail;
        }
    }
    tsr_log(TSR_LOG_INFO, "tessera up: %d ranks, %d workers, progress by %s", rt.nranks,
            tsr_num_workers(), rt.opts.progress_thread ? "thread" : "polling");
    return TSR_OK;
fail:
    return rc;
}

/* Layers above the engine (arrays) tear down here; a handful at most. */
#define MAX_FINI_HOOKS 16
static void (*fini_hooks[MAX_FINI_HOOKS])(void);
static int nfini_hooks;

int tsr__runtime_at_finalize(void (*fn)(void)) {
    if (nfini_hooks == MAX_FINI_HOOKS)
        return tsr_error(TSR_ERR_STATE, "too many finalize hooks (%d)", MAX_FINI_HOOKS);
    fini_hooks[nfini_hooks++] = fn;
    return TSR_OK;
}

int tsr_finalize(void) {
    int rc = TSR_OK;
    if (!rt.up) return tsr_error(TSR_ERR_STATE, "tsr_finalize without tsr_init");
    if (nfini_hooks > 0) {
        /* Hooks free what messages and tasks may still use: finish those first. */
        TSR_CHECK(tsr_fence());
        while (nfini_hooks > 0) fini_hooks[--nfini_hooks]();
    }
    TSR_CHECK(tsr__am_fini());
    TSR_CHECK(tsr_sched_fini());
    rt.up = 0;
    tsr__set_abort_hook(NULL);
    if (rt.we_started_mpi) MPI_Finalize();
    return TSR_OK;
fail:
    return rc;
}

int tsr_rank(void) { return rt.rank; }
int tsr_nranks(void) { return rt.nranks; }
const tsr_options *tsr_runtime_options(void) { return &rt.opts; }

void tsr_abort(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char line[1200];
    int n = snprintf(line, sizeof line, "[rank %d] tessera: fatal: %s\n", rt.rank, msg);
    if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
    tsr__die(1);
}
