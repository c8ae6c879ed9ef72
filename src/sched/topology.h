/* Which cores this process may use, and pinning workers to them (hwloc). */
#ifndef TSR_SCHED_TOPOLOGY_H
#define TSR_SCHED_TOPOLOGY_H

typedef struct tsr__topo tsr__topo;

/* Load the machine topology and this process's binding. Returns NULL (and
 * logs at debug level) when hwloc cannot tell; callers then use one core and
 * do not pin. */
tsr__topo *tsr__topo_open(void);
void tsr__topo_close(tsr__topo *t);

/* Cores that the process binding covers (>= 1; 1 when t is NULL). */
int tsr__topo_ncores(const tsr__topo *t);

/* Choose a core for each of nworkers workers (call once, before pinning).
 * Returns 0 if pinning makes sense, -1 if not (no topology). */
int tsr__topo_plan(tsr__topo *t, int nworkers);

/* Bind the calling thread to worker w's core. The first call saves the
 * thread's previous binding when save != 0 so tsr__topo_restore_self can put
 * it back (worker 0 is the application's own thread). Returns 0 or -1; a
 * failure is logged once at info level and the thread stays unpinned. */
int tsr__topo_pin_self(tsr__topo *t, int w, int save);
void tsr__topo_restore_self(tsr__topo *t);
/* Bind the calling thread to the whole process binding (undo an inherited pin). */
int tsr__topo_unpin_self(tsr__topo *t);

#endif
