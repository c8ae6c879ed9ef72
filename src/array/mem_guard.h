/* How much memory a rank may ask for, so that a request that cannot fit is a
 * clear error naming the shape and the bytes instead of an OOM kill
 * (implemented in array.c, used by the array layer and the language's check).
 *
 * Two levels, both from inputs every rank sees alike, so that all ranks give
 * the same verdict without exchanging a message per array:
 *  - static (tsr__mem_static): MemTotal + SwapTotal of this node, less where
 *    a cgroup memory.max or RLIMIT_AS / RLIMIT_DATA says less. The check pass
 *    of a program compares an array's even share per rank with it: what
 *    fails there cannot fit on this node at any time.
 *  - agreed (tsr__mem_rank_limit): at the array layer's collective init,
 *    every rank measures what its node can give now (MemAvailable + SwapFree,
 *    the cgroup's headroom) divided among the ranks on that node, and the
 *    RLIMIT_AS / RLIMIT_DATA headroom of the process; the minimum over all
 *    ranks is the limit for one rank's part of one array. Each allocation
 *    compares its largest part (from the shape and the grid) with it.
 * Neither counts arrays already alive: several arrays that fit one by one
 * may still exhaust memory together. */
#ifndef TSR_ARRAY_MEM_GUARD_H
#define TSR_ARRAY_MEM_GUARD_H

#include <stddef.h>

/* "3.6 TiB", "21.3 GiB", "512 B": binary units, 3 significant digits. */
const char *tsr__fmt_bytes(double bytes, char *buf, size_t size);

/* Bytes one process may use on this node at most (the static level), and a
 * description for messages ("23.4 GiB of memory and swap on host h"). */
double tsr__mem_static(char *why, size_t size);

/* The agreed per-rank limit (< 0 before the array layer's init) and its
 * description ("21.3 GiB available on host h for its 2 ranks"). */
double tsr__mem_rank_limit(const char **why);

/* Ranks in this job before MPI is up, from the launcher's environment
 * (Open MPI, PMI, Slurm); tsr_nranks() once it is up; 1 when unknown. */
int tsr__mem_job_ranks(void);

#endif
