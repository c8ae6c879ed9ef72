/* tsr_fence: collective termination detection by counting (Mattern's
 * four-counter method, as two consecutive equal waves).
 *
 * Each rank counts messages it sent (S) and messages it finished handling (R:
 * the handler task returned). A wave is one nonblocking all-reduce of (S, R),
 * and a rank joins it only while it is passive: no task pending, no transport
 * operation whose completion could still create work. A passive rank becomes
 * active again only by receiving a message. The fence ends when two
 * consecutive waves both give S == R with the same totals:
 *   - no rank sent anything between its two contributions (S unchanged), so
 *     none was reactivated by a message after joining wave 1;
 *   - every message counted as sent by wave 1 had been handled by wave 1
 *     (R == S), so none was in flight;
 * hence at the end of wave 1 every rank was passive with nothing in flight:
 * terminated. All ranks see the same totals, so all stop at the same wave.
 * While a wave is outstanding, this thread keeps polling and running tasks,
 * so a rank that is still busy is never kept waiting by one that is done. */
#include "am/am_engine.h"
#include "base/internal.h"
#include "tessera/sched.h"

/* Read (S, R) at a moment this rank is passive. Counters are monotonic:
 * equal before and after the passivity check means they held at the check. */
static int passive_snapshot(int64_t out[2]) {
    int64_t s = atomic_load(&tsr__am.sent), r = atomic_load(&tsr__am.handled);
    if (tsr_sched_pending() != 0 || atomic_load(&tsr__am.inflight) != 0) return 0;
    if (atomic_load(&tsr__am.sent) != s || atomic_load(&tsr__am.handled) != r) return 0;
    out[0] = s;
    out[1] = r;
    return 1;
}

int tsr_fence(void) {
    int rc = TSR_OK;
    int64_t prev[2] = {-1, -1};
    TSR_CHECK_MSG(atomic_load(&tsr__am.up), TSR_ERR_STATE,
                  "tsr_fence: the message engine is not running (call tsr_init first)");
    for (;;) {
        int64_t mine[2], total[2];
        unsigned idle = 0;
        while (!passive_snapshot(mine)) tsr__am_pace(tsr__am_drive(), &idle);
        TSR_CHECK(tsr__am_allreduce(mine, total, 2, TSR__AM_SUM));
        if (total[0] == total[1] && total[0] == prev[0] && total[1] == prev[1]) break;
        prev[0] = total[0];
        prev[1] = total[1];
    }
    return TSR_OK;
fail:
    return rc;
}
