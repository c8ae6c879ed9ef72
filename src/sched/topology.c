/* Core counting and pinning with hwloc.
 *
 * Workers get distinct cores of the process's binding. When the process is
 * not bound at all (its binding is the whole machine) and the launcher says
 * it is one of several ranks on this node, the placement starts at
 * local_rank * nworkers so that ranks do not all stack on the first cores.
 * When there are more threads than cores (more workers than cores, or
 * unbound ranks * workers > cores, as in the oversubscribed tests), pinning
 * would freeze an unbalanced placement, so workers are left to the OS. */
#include <hwloc.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/internal.h"
#include "sched/topology.h"

struct tsr__topo {
    hwloc_topology_t topo;
    hwloc_cpuset_t procset;   /* the process binding */
    hwloc_cpuset_t *cores;    /* each usable core, restricted to procset */
    int ncores;
    hwloc_cpuset_t *plan;     /* per worker (points into cores) */
    int nplan;
    hwloc_cpuset_t saved;     /* worker 0's binding before pinning */
    int have_saved;
};

static atomic_int pin_warned = 0;

static void pin_failed(const char *what, int w) {
    if (atomic_exchange(&pin_warned, 1) == 0)
        tsr_log(TSR_LOG_INFO,
                "sched: cannot pin worker %d (%s); workers run unpinned (set TSR_PIN=0 to "
                "silence)",
                w, what);
}

tsr__topo *tsr__topo_open(void) {
    tsr__topo *t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    if (hwloc_topology_init(&t->topo) != 0) {
        free(t);
        return NULL;
    }
    if (hwloc_topology_load(t->topo) != 0) goto fail;
    t->procset = hwloc_bitmap_alloc();
    if (t->procset == NULL) goto fail;
    if (hwloc_get_cpubind(t->topo, t->procset, HWLOC_CPUBIND_PROCESS) != 0 ||
        hwloc_bitmap_iszero(t->procset)) {
        /* Some systems answer only for the thread; that is as good here. */
        if (hwloc_get_cpubind(t->topo, t->procset, HWLOC_CPUBIND_THREAD) != 0 ||
            hwloc_bitmap_iszero(t->procset)) {
            tsr_log(TSR_LOG_DEBUG, "sched: hwloc cannot read this process's binding");
            goto fail;
        }
    }
    int n = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_CORE);
    int use_pu = n <= 0; /* no core level (some VMs): use processing units */
    if (use_pu) n = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_PU);
    if (n <= 0) goto fail;
    t->cores = calloc((size_t)n, sizeof *t->cores);
    if (t->cores == NULL) goto fail;
    for (int i = 0; i < n; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(t->topo, use_pu ? HWLOC_OBJ_PU : HWLOC_OBJ_CORE,
                                              (unsigned)i);
        if (o == NULL || !hwloc_bitmap_intersects(o->cpuset, t->procset)) continue;
        hwloc_cpuset_t s = hwloc_bitmap_dup(o->cpuset);
        if (s == NULL) goto fail;
        hwloc_bitmap_and(s, s, t->procset);
        t->cores[t->ncores++] = s;
    }
    if (t->ncores == 0) goto fail;
    return t;
fail:
    tsr__topo_close(t);
    return NULL;
}

void tsr__topo_close(tsr__topo *t) {
    if (t == NULL) return;
    for (int i = 0; i < t->ncores; i++) hwloc_bitmap_free(t->cores[i]);
    free(t->cores);
    free(t->plan);
    if (t->procset) hwloc_bitmap_free(t->procset);
    if (t->saved) hwloc_bitmap_free(t->saved);
    hwloc_topology_destroy(t->topo);
    free(t);
}

int tsr__topo_ncores(const tsr__topo *t) { return t ? t->ncores : 1; }

/* The first of vars set to an integer in [0, 2^20) in the environment, or
 * fallback. */
static int env_int(const char *const *vars, int nvars, int fallback) {
    for (int i = 0; i < nvars; i++) {
        const char *s = getenv(vars[i]);
        if (s && *s) {
            char *end = NULL;
            long v = strtol(s, &end, 10);
            if (*end == '\0' && v >= 0 && v < 1 << 20) return (int)v;
        }
    }
    return fallback;
}

static int local_rank(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                       "SLURM_LOCALID", "PMI_LOCAL_RANK"};
    return env_int(vars, 4, 0);
}

static int local_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                                       "PMI_LOCAL_SIZE"};
    int n = env_int(vars, 3, 1);
    return n < 1 ? 1 : n;
}

int tsr__topo_plan(tsr__topo *t, int nworkers) {
    if (t == NULL) return -1;
    free(t->plan);
    t->plan = calloc((size_t)nworkers, sizeof *t->plan);
    if (t->plan == NULL) return -1;
    t->nplan = nworkers;
    int first = 0, sharers = 1;
    hwloc_const_cpuset_t all = hwloc_topology_get_allowed_cpuset(t->topo);
    if (hwloc_bitmap_isincluded(all, t->procset)) {
        sharers = local_size();
        first = local_rank() * nworkers;
    }
    if ((long)sharers * nworkers > t->ncores) {
        tsr_log(TSR_LOG_INFO,
                "sched: not pinning: %d rank(s) x %d workers share %d core(s); the OS "
                "balances oversubscribed threads better",
                sharers, nworkers, t->ncores);
        return -1;
    }
    for (int w = 0; w < nworkers; w++) t->plan[w] = t->cores[(first + w) % t->ncores];
    return 0;
}

int tsr__topo_pin_self(tsr__topo *t, int w, int save) {
    if (t == NULL || t->plan == NULL || w >= t->nplan) return -1;
    if (save && !t->have_saved) {
        t->saved = hwloc_bitmap_alloc();
        if (t->saved && hwloc_get_cpubind(t->topo, t->saved, HWLOC_CPUBIND_THREAD) == 0)
            t->have_saved = 1;
    }
    if (hwloc_set_cpubind(t->topo, t->plan[w], HWLOC_CPUBIND_THREAD) != 0) {
        pin_failed("hwloc_set_cpubind refused", w);
        return -1;
    }
    return 0;
}

void tsr__topo_restore_self(tsr__topo *t) {
    if (t == NULL || !t->have_saved) return;
    if (hwloc_set_cpubind(t->topo, t->saved, HWLOC_CPUBIND_THREAD) != 0)
        tsr_log(TSR_LOG_DEBUG, "sched: could not restore the main thread's binding");
    t->have_saved = 0;
}

int tsr__topo_unpin_self(tsr__topo *t) {
    if (t == NULL || t->procset == NULL) return -1;
    return hwloc_set_cpubind(t->topo, t->procset, HWLOC_CPUBIND_THREAD) == 0 ? 0 : -1;
}
