/* Message-engine entry points used by the runtime. */
#ifndef TSR_AM_INTERNAL_H
#define TSR_AM_INTERNAL_H

#include <mpi.h>

#include "tessera/am.h"
#include "tessera/base.h"

/* Bring the engine up on a private duplicate of comm (collective). Installs
 * the scheduler idle hook (or starts the progress thread) per options. */
int tsr__am_init(MPI_Comm comm, const tsr_options *opts);
/* Fence, cancel preposted receives, free buffers (collective). */
int tsr__am_fini(void);

#endif
