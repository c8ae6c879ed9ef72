/* The ScaLAPACK view of an array, and the ScaLAPACK-backed solvers. The local
 * matrix already has ScaLAPACK's layout, so the view is a descriptor and a
 * pointer: no copy. */
#include <stdlib.h>
#include <string.h>

#include "array/array_internal.h"
#include "tessera/am.h"

int tsr_array_scalapack(tsr_array_t *a, int desc[9], double **local, int *lld) {
    int rc = TSR_OK;
    const tsr_dist_t *d = a->dist;
    TSR_CHECK_MSG(a->m <= INT32_MAX && a->n <= INT32_MAX && d->mb <= INT32_MAX &&
                      d->nb <= INT32_MAX && a->lld <= INT32_MAX,
                  TSR_ERR_UNSUPPORTED,
                  "rank %d: array of shape (%lld, %lld) is too large for ScaLAPACK's int indices",
                  d->rank, (long long)a->m, (long long)a->n);
    TSR_CHECK(tsr_array_wait(a));
    /* DESC = [dtype=1 (dense), ctxt, M, N, MB, NB, RSRC, CSRC, LLD]. */
    desc[0] = 1;
    desc[1] = d->blacs_ctx;
    desc[2] = (int)a->m;
    desc[3] = (int)a->n;
    desc[4] = (int)d->mb;
    desc[5] = (int)d->nb;
    desc[6] = 0;
    desc[7] = 0;
    desc[8] = (int)a->lld;
    if (local) *local = a->data;
    if (lld) *lld = (int)a->lld;
    return TSR_OK;
fail:
    return rc;
}
