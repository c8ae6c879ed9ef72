/* Messages that make more messages, finished by ONE tsr_fence:
 *   - trees: every rank starts TREES trees of fan-out FAN and depth DEPTH;
 *     each handler sends half its children itself and spawns a task that
 *     sends the other half (so the fence must wait for tasks that handlers
 *     spawn, too); some nodes carry payloads above the eager limit;
 *   - a chain: rank 0 starts a token that travels CHAIN hops around the ranks;
 *   - slow work: every rank spawns a task that sleeps, then sends a message
 *     whose handler spawns another sleeping task that sends once more.
 * After the fence the totals must match exactly; a second fence with nothing
 * to do must return and change nothing. */
#include <time.h>

#include "am_test.h"

#define TREES 8
#define FAN 3
#define DEPTH 5 /* levels 0..DEPTH: (3^6 - 1) / 2 = 364 nodes per tree */
#define CHAIN 2000

typedef struct node_hdr {
    int32_t origin, tree, depth, pad;
    uint64_t path;
} node_hdr;

static int me, n, id_node, id_chain, id_slow;
static atomic_long nodes_seen, chain_seen, slow_seen;

static size_t node_size(uint64_t path, int depth) {
    return depth == 2 ? 20000 + (size_t)(path % 1000) : (size_t)(path % 200);
}

static void send_child(const node_hdr *parent, int k) {
    node_hdr c = *parent;
    c.depth = parent->depth + 1;
    c.path = am_test_key(parent->path, (uint64_t)k);
    size_t len = node_size(c.path, c.depth);
    unsigned char *buf = malloc(len + 1);
    ASSERT_TRUE(buf != NULL);
    am_test_fill(buf, len, c.path);
    ASSERT_OK(tsr_am_sendv((int)(c.path % (uint64_t)n), id_node, &c, sizeof c, buf, len, NULL));
    free(buf);
}

typedef struct later {
    node_hdr h;
    int from;
} later;

static void send_later(void *arg) {
    later *l = arg;
    for (int k = l->from; k < FAN; k++) send_child(&l->h, k);
    free(l);
}

static void on_node(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(src), TSR_UNUSED(arg);
    ASSERT_EQ(hdrlen, sizeof(node_hdr));
    node_hdr h;
    memcpy(&h, hdr, sizeof h);
    ASSERT_EQ(len, node_size(h.path, h.depth));
    if (!am_test_check(payload, len, h.path))
        TEST_FAIL("tree node (origin %d, tree %d, depth %d) payload corrupted", h.origin, h.tree,
                  h.depth);
    atomic_fetch_add(&nodes_seen, 1);
    if (h.depth == DEPTH) return;
    send_child(&h, 0);
    later *l = malloc(sizeof *l);
    ASSERT_TRUE(l != NULL);
    *l = (later){.h = h, .from = 1};
    ASSERT_OK(tsr_spawn(send_later, l));
}

static void on_chain(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(src), TSR_UNUSED(hdr), TSR_UNUSED(hdrlen), TSR_UNUSED(arg);
    ASSERT_EQ(len, sizeof(int64_t));
    int64_t hop;
    memcpy(&hop, payload, sizeof hop);
    atomic_fetch_add(&chain_seen, 1);
    if (++hop < CHAIN) ASSERT_OK(tsr_am_send((me + 1) % n, id_chain, &hop, sizeof hop));
}

static void nap(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void slow_second(void *arg) {
    TSR_UNUSED(arg);
    nap(30);
    int32_t stage = 2;
    ASSERT_OK(tsr_am_send((me + n - 1) % n, id_slow, &stage, sizeof stage));
}

static void on_slow(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(src), TSR_UNUSED(hdr), TSR_UNUSED(hdrlen), TSR_UNUSED(arg);
    ASSERT_EQ(len, sizeof(int32_t));
    int32_t stage;
    memcpy(&stage, payload, sizeof stage);
    atomic_fetch_add(&slow_seen, 1);
    if (stage == 1) ASSERT_OK(tsr_spawn(slow_second, NULL));
}

static void slow_first(void *arg) {
    TSR_UNUSED(arg);
    nap(80);
    int32_t stage = 1;
    ASSERT_OK(tsr_am_send((me + 1) % n, id_slow, &stage, sizeof stage));
}

static void start_trees(void *arg) {
    TSR_UNUSED(arg);
    for (int t = 0; t < TREES; t++) {
        node_hdr root = {.origin = me, .tree = t, .depth = 0, .path = am_test_key((uint64_t)me, (uint64_t)t)};
        size_t len = node_size(root.path, 0);
        unsigned char *buf = malloc(len + 1);
        am_test_fill(buf, len, root.path);
        ASSERT_OK(tsr_am_sendv((int)(root.path % (uint64_t)n), id_node, &root, sizeof root, buf, len, NULL));
        free(buf);
    }
}

int main(int argc, char **argv) {
    am_test_init(&argc, &argv);
    me = tsr_rank();
    n = tsr_nranks();
    ASSERT_OK(tsr_am_register(on_node, NULL, NULL, &id_node));
    ASSERT_OK(tsr_am_register(on_chain, NULL, NULL, &id_chain));
    ASSERT_OK(tsr_am_register(on_slow, NULL, NULL, &id_slow));

    /* A fence with nothing to do returns. */
    ASSERT_OK(tsr_fence());

    double t0 = tsr_time();
    ASSERT_OK(tsr_spawn(slow_first, NULL));
    ASSERT_OK(tsr_spawn(start_trees, NULL));
    if (me == 0) {
        int64_t hop = 0;
        ASSERT_OK(tsr_am_send(1 % n, id_chain, &hop, sizeof hop));
    }
    ASSERT_OK(tsr_fence());
    double t1 = tsr_time();

    int64_t per_tree = 0, level = 1;
    for (int d = 0; d <= DEPTH; d++, level *= FAN) per_tree += level;
    int64_t nodes = am_test_sum_all(atomic_load(&nodes_seen));
    int64_t chain = am_test_sum_all(atomic_load(&chain_seen));
    int64_t slow = am_test_sum_all(atomic_load(&slow_seen));
    ASSERT_EQ(nodes, (int64_t)n * TREES * per_tree);
    ASSERT_EQ(chain, CHAIN);
    ASSERT_EQ(slow, 2 * n);
    ASSERT_EQ(atomic_load(&slow_seen), 2);

    tsr_am_stats before, after;
    tsr_am_stats_get(&before);
    ASSERT_OK(tsr_fence());
    ASSERT_OK(tsr_fence());
    tsr_am_stats_get(&after);
    ASSERT_EQ(after.sent, before.sent);
    ASSERT_EQ(after.received, before.received);
    ASSERT_EQ(am_test_sum_all((int64_t)after.sent), am_test_sum_all((int64_t)after.received));
    if (me == 0)
        printf("chain: %lld tree nodes, %d chain hops, %lld slow messages in %.2f s\n",
               (long long)nodes, CHAIN, (long long)slow, t1 - t0);
    am_test_finalize();
    return 0;
}
