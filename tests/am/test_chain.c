/* Messages that make more messages, finished by ONE tsr_fence:
 *   - trees: every rank starts TREES trees of fan-out FAN and depth DEPTH;
 *     each handler sends half its children itself and spawns a task that
 *     sends the other half (so the fence must wait for tasks that handlers
 *     spawn, too); some nodes carry payloads above the eager limit;
 *   - a chain: rank 0 starts a token that travels CHAIN hops around the ranks;
 *   - slow work: every rank spawns a task that sleeps, then sends a message
 *     whose handler spawns another sleeping task that sends once more;
 *   - quiet work: a task that respawns itself QUIET times without sending,
 *     then sends (a fence that only compared counters would end before it).
 * Right after the fence, before anything else can run, no task may be left
 * and the frozen local counters must add up over the ranks; a second fence
 * with nothing to do must return and change nothing.
 * Then STRESS rounds of short random cascades, each ended by a fence and
 * checked the same way: tokens hop between ranks, some handlers also send one
 * to their own rank, some spin a little first, so that ranks go passive and
 * get reactivated at all sorts of moments during the fence's waves.
 * Last, the case a single wave gets wrong, staged with generous sleeps so
 * that it happens every time (see reactivation()). */
#include <time.h>

#include "am_test.h"

#define TREES 8
#define FAN 3
#define DEPTH 5 /* levels 0..DEPTH: (3^6 - 1) / 2 = 364 nodes per tree */
#define CHAIN 2000
#define QUIET 2000
#define STRESS 400

typedef struct node_hdr {
    int32_t origin, tree, depth, pad;
    uint64_t path;
} node_hdr;

static int me, n, id_node, id_chain, id_slow, id_quiet, id_token, id_r1, id_r2, id_r3;
static atomic_long nodes_seen, chain_seen, slow_seen, quiet_seen, tokens_sent, tokens_seen;

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

static void on_quiet(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(src), TSR_UNUSED(hdr), TSR_UNUSED(hdrlen), TSR_UNUSED(payload), TSR_UNUSED(len);
    TSR_UNUSED(arg);
    atomic_fetch_add(&quiet_seen, 1);
}

static void quiet(void *arg) {
    intptr_t left = (intptr_t)arg;
    if (left > 0)
        ASSERT_OK(tsr_spawn(quiet, (void *)(left - 1)));
    else
        ASSERT_OK(tsr_am_send((me + 1) % n, id_quiet, NULL, 0));
}

typedef struct token {
    uint64_t key;
    int32_t ttl, pad;
} token;

static void send_token(int dest, uint64_t key, int ttl) {
    token t = {.key = key, .ttl = ttl};
    atomic_fetch_add(&tokens_sent, 1);
    ASSERT_OK(tsr_am_send(dest, id_token, &t, sizeof t));
}

static void spin(double seconds) {
    double until = tsr_time() + seconds;
    while (tsr_time() < until) {
    }
}

static void on_token(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(src), TSR_UNUSED(hdr), TSR_UNUSED(hdrlen), TSR_UNUSED(arg);
    ASSERT_EQ(len, sizeof(token));
    token t;
    memcpy(&t, payload, sizeof t);
    /* Busy a little while before or after forwarding: other ranks may go
     * passive meanwhile, and be woken again by what this one sends. */
    double busy = (double)(t.key % 300) * 1e-6;
    if (t.key % 3 == 0) spin(busy);
    if (t.ttl > 0) {
        uint64_t k = am_test_mix(t.key);
        send_token((int)(k % (uint64_t)n), k, t.ttl - 1);
        if (k % 4 == 0) send_token(me, k ^ 0x5555, (t.ttl - 1) / 2);
    }
    if (t.key % 3 == 1) spin(busy);
    atomic_fetch_add(&tokens_seen, 1);
}

/* Reactivation, ranks 0 and 1. Rank 0 enters the fence with nothing to do
 * and joins the first wave at once. Rank 1 is still busy in task T: after
 * 50 ms T sends m1 to rank 0 and stays busy until it has handled the answer.
 * Rank 0's handler of m1 answers rank 1 (m2) and sends itself m3, whose
 * handler starts 300 tasks of 1 ms each, one after the other, the last of
 * which sends m4 to rank 1 (short tasks: rank 0 keeps polling in between, so
 * the wave's all-reduce can complete meanwhile). When rank 1 joins the first
 * wave it has sent m1 and handled m2: that wave sees sent == handled, though
 * m3's work and m4 are still to come. Only the second wave can tell. */
static void on_r1(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(hdr), TSR_UNUSED(hdrlen), TSR_UNUSED(payload), TSR_UNUSED(len), TSR_UNUSED(arg);
    ASSERT_OK(tsr_am_send(src, id_r2, NULL, 0));
    ASSERT_OK(tsr_am_send(me, id_r3, NULL, 0));
}

static atomic_long r2_seen;
static void on_r2(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(src), TSR_UNUSED(hdr), TSR_UNUSED(hdrlen), TSR_UNUSED(payload), TSR_UNUSED(len);
    TSR_UNUSED(arg);
    atomic_fetch_add(&r2_seen, 1);
}

static void nap(long ms);
static void r3_later(void *arg) {
    intptr_t left = (intptr_t)arg;
    nap(1);
    if (left > 0)
        ASSERT_OK(tsr_spawn(r3_later, (void *)(left - 1)));
    else
        ASSERT_OK(tsr_am_send(1, id_r2, NULL, 0));
}

static void on_r3(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(src), TSR_UNUSED(hdr), TSR_UNUSED(hdrlen), TSR_UNUSED(payload), TSR_UNUSED(len);
    TSR_UNUSED(arg);
    ASSERT_OK(tsr_spawn(r3_later, (void *)(intptr_t)300));
}

static void task_t(void *arg) {
    TSR_UNUSED(arg);
    nap(50);
    ASSERT_OK(tsr_am_send(0, id_r1, NULL, 0));
    while (atomic_load(&r2_seen) == 0)
        if (tsr_am_progress() == 0 && tsr_sched_help() == 0) nap(1);
}

/* Right after a fence: nothing may run any more, and what this rank counted
 * must add up with the others (counters are read before the blocking
 * all-reduce, during which nothing here runs with one worker). */
static void check_quiet_after_fence(const char *what) {
    if (tsr_sched_pending() != 0)
        TEST_FAIL("%s: %lld tasks still pending after tsr_fence", what,
                  (long long)tsr_sched_pending());
    tsr_am_stats st;
    tsr_am_stats_get(&st);
    int64_t sent = am_test_sum_all((int64_t)st.sent), received = am_test_sum_all((int64_t)st.received);
    if (sent != received)
        TEST_FAIL("%s: %lld messages sent but %lld received when tsr_fence returned", what,
                  (long long)sent, (long long)received);
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
    ASSERT_OK(tsr_am_register(on_quiet, NULL, NULL, &id_quiet));
    ASSERT_OK(tsr_am_register(on_token, NULL, NULL, &id_token));
    ASSERT_OK(tsr_am_register(on_r1, NULL, NULL, &id_r1));
    ASSERT_OK(tsr_am_register(on_r2, NULL, NULL, &id_r2));
    ASSERT_OK(tsr_am_register(on_r3, NULL, NULL, &id_r3));

    /* A fence with nothing to do returns. */
    ASSERT_OK(tsr_fence());

    double t0 = tsr_time();
    ASSERT_OK(tsr_spawn(slow_first, NULL));
    ASSERT_OK(tsr_spawn(start_trees, NULL));
    ASSERT_OK(tsr_spawn(quiet, (void *)(intptr_t)QUIET));
    if (me == 0) {
        int64_t hop = 0;
        ASSERT_OK(tsr_am_send(1 % n, id_chain, &hop, sizeof hop));
    }
    ASSERT_OK(tsr_fence());
    double t1 = tsr_time();
    check_quiet_after_fence("trees, chain, slow and quiet work");

    int64_t per_tree = 0, level = 1;
    for (int d = 0; d <= DEPTH; d++, level *= FAN) per_tree += level;
    int64_t nodes = am_test_sum_all(atomic_load(&nodes_seen));
    int64_t chain = am_test_sum_all(atomic_load(&chain_seen));
    int64_t slow = am_test_sum_all(atomic_load(&slow_seen));
    ASSERT_EQ(nodes, (int64_t)n * TREES * per_tree);
    ASSERT_EQ(chain, CHAIN);
    ASSERT_EQ(slow, 2 * n);
    ASSERT_EQ(atomic_load(&slow_seen), 2);
    ASSERT_EQ(atomic_load(&quiet_seen), 1);

    tsr_am_stats before, after;
    tsr_am_stats_get(&before);
    ASSERT_OK(tsr_fence());
    ASSERT_OK(tsr_fence());
    tsr_am_stats_get(&after);
    ASSERT_EQ(after.sent, before.sent);
    ASSERT_EQ(after.received, before.received);
    ASSERT_EQ(am_test_sum_all((int64_t)after.sent), am_test_sum_all((int64_t)after.received));

    for (int round = 0; round < STRESS; round++) {
        uint64_t k = am_test_key((uint64_t)me, (uint64_t)round);
        if (k % 2 == 0) send_token((int)(k % (uint64_t)n), k, 1 + (int)(k % 8));
        ASSERT_OK(tsr_fence());
        char what[64];
        snprintf(what, sizeof what, "stress round %d", round);
        check_quiet_after_fence(what);
        int64_t ts = am_test_sum_all(atomic_load(&tokens_sent));
        int64_t tr = am_test_sum_all(atomic_load(&tokens_seen));
        if (ts != tr) TEST_FAIL("%s: %lld tokens sent, %lld handled", what, (long long)ts, (long long)tr);
    }

    if (n >= 2) {
        if (me == 1) ASSERT_OK(tsr_spawn(task_t, NULL));
        ASSERT_OK(tsr_fence());
        check_quiet_after_fence("reactivation");
        ASSERT_EQ(atomic_load(&r2_seen), me == 1 ? 2 : 0);
    }
    if (me == 0)
        printf("chain: %lld tree nodes, %d chain hops, %lld slow messages in %.2f s\n",
               (long long)nodes, CHAIN, (long long)slow, t1 - t0);
    am_test_finalize();
    return 0;
}
