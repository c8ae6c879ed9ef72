/* Random DAGs run with tsr_async dependencies: every edge u -> v (u < v)
 * must see u finish before v starts (global sequence numbers), and every
 * node's value, computed from its predecessors' values, must equal a serial
 * evaluation in index order. Duplicate edges are allowed on purpose (a future
 * may appear twice in one deps array). argv[1]: worker count. */
#include <stdatomic.h>

#include "harness.h"

#define NODES 4000
#define MAXPRED 5
#define MOD 1000000007ULL

typedef struct {
    int id, npred;
    int pred[MAXPRED];
    tsr_future_t *deps[MAXPRED];
} node;

static node nodes[NODES];
static tsr_future_t *fut[NODES];
static int64_t seq_start[NODES], seq_end[NODES];
static _Atomic int64_t clock_;
static uint64_t serial[NODES];

static uint64_t rng_state;
static uint64_t rnd(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static uint64_t combine(int v, const uint64_t *pv, int n) {
    uint64_t h = (uint64_t)v * 2654435761ULL % MOD;
    for (int i = 0; i < n; i++) h = (h * 31 + pv[i] + (uint64_t)i) % MOD;
    return h;
}

static int run_node(void *arg, void **out) {
    node *nd = arg;
    seq_start[nd->id] = atomic_fetch_add(&clock_, 1);
    uint64_t pv[MAXPRED];
    for (int i = 0; i < nd->npred; i++) {
        void *v = NULL;
        if (!tsr_future_ready(nd->deps[i]))
            return tsr_error(TSR_ERR_RUNTIME, "node %d: input %d not ready", nd->id, i);
        int rc = tsr_wait(nd->deps[i], &v);
        if (rc != TSR_OK) return rc;
        pv[i] = (uint64_t)(uintptr_t)v;
    }
    *out = (void *)(uintptr_t)combine(nd->id, pv, nd->npred);
    seq_end[nd->id] = atomic_fetch_add(&clock_, 1);
    return TSR_OK;
}

static void one_dag(uint64_t seed, int density) {
    rng_state = seed;
    atomic_store(&clock_, 0);
    for (int v = 0; v < NODES; v++) {
        node *nd = &nodes[v];
        nd->id = v;
        nd->npred = v == 0 ? 0 : (int)(rnd() % (uint64_t)(density + 1));
        for (int i = 0; i < nd->npred; i++) {
            /* Mostly near predecessors (long chains), some far ones. */
            uint64_t r = rnd();
            int span = (r & 3) ? (v < 16 ? v : 16) : v;
            nd->pred[i] = v - 1 - (int)((r >> 2) % (uint64_t)span);
            nd->deps[i] = fut[nd->pred[i]];
        }
        seq_start[v] = seq_end[v] = -1;
        ASSERT_OK(tsr_async(run_node, nd, nd->npred, nd->deps, &fut[v]));
        /* With one worker nothing runs while the graph is built unless we
         * help; then later nodes also register on futures already set. */
        if (v % 64 == 0)
            for (int k = 0; k < 32; k++) tsr_sched_help();
    }
    tsr_future_t *all = NULL;
    ASSERT_OK(tsr_when_all(NODES, fut, &all));
    ASSERT_OK(tsr_wait(all, NULL));
    tsr_future_release(&all);

    for (int v = 0; v < NODES; v++) {
        uint64_t pv[MAXPRED];
        for (int i = 0; i < nodes[v].npred; i++) pv[i] = serial[nodes[v].pred[i]];
        serial[v] = combine(v, pv, nodes[v].npred);
    }
    int64_t edges = 0;
    for (int v = 0; v < NODES; v++) {
        node *nd = &nodes[v];
        ASSERT_TRUE(seq_start[v] >= 0);
        for (int i = 0; i < nd->npred; i++) {
            int u = nd->pred[i];
            if (!(seq_end[u] < seq_start[v]))
                TEST_FAIL("seed %llu: edge %d -> %d: %d ended at %lld, %d started at %lld",
                          (unsigned long long)seed, u, v, u, (long long)seq_end[u], v,
                          (long long)seq_start[v]);
            edges++;
        }
        void *val = NULL;
        ASSERT_OK(tsr_wait(fut[v], &val));
        if ((uint64_t)(uintptr_t)val != serial[v])
            TEST_FAIL("seed %llu: node %d value %llu, serial %llu", (unsigned long long)seed, v,
                      (unsigned long long)(uintptr_t)val, (unsigned long long)serial[v]);
    }
    ASSERT_TRUE(edges > NODES / 4);
    for (int v = 0; v < NODES; v++) tsr_future_release(&fut[v]);
}

int main(int argc, char **argv) {
    int nthreads = argc > 1 ? atoi(argv[1]) : 2;
    ASSERT_OK(tsr_sched_init(nthreads, 0));
    one_dag(0x1234567ULL, 2);
    one_dag(0xdeadbeefULL, MAXPRED);
    one_dag(42, 1);
    ASSERT_OK(tsr_sched_drain());
    ASSERT_EQ(tsr_sched_pending(), 0);
    ASSERT_OK(tsr_sched_fini());
    printf("ok: 3 DAGs of %d nodes, %d threads\n", NODES, nthreads);
    return 0;
}
