/* Per-worker free lists for futures and continuation records.
 *
 * A tsr_async makes one future and one record; recycling them through a list
 * owned by the running worker avoids malloc's cross-thread paths on the
 * critical path of fine-grained task graphs. Blocks are individually
 * malloc'ed, so any thread may free() one: a block allocated on worker A and
 * released on worker B simply joins B's list. The cap bounds memory held per
 * worker (TSR_POOL_CAP blocks per class).
 *
 * Under AddressSanitizer the lists are bypassed so that use-after-free of a
 * future is reported instead of hidden by reuse. */
#include <stdlib.h>

#include "sched/sched_private.h"

#define TSR_POOL_CAP 1024

#if defined(__SANITIZE_ADDRESS__)
#define TSR_POOL_BYPASS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TSR_POOL_BYPASS 1
#endif
#endif

/* Class index of size, or -1 if above the largest class. */
static int size_class(size_t size) {
    size_t c = TSR_POOL_MIN;
    for (int i = 0; i < TSR_POOL_NCLASS; i++, c *= 2)
        if (size <= c) return i;
    return -1;
}

void *tsr__pool_alloc(size_t size) {
    int k = size_class(size);
#ifndef TSR_POOL_BYPASS
    tsr__worker *w = tsr__tls_worker;
    if (w != NULL && k >= 0 && w->pool.head[k] != NULL) {
        void *p = w->pool.head[k];
        w->pool.head[k] = *(void **)p;
        w->pool.len[k]--;
        return p;
    }
#endif
    /* Round up to the class so the block can serve any request of it later. */
    return malloc(k >= 0 ? (size_t)TSR_POOL_MIN << k : size);
}

void tsr__pool_free(void *p, size_t size) {
    if (p == NULL) return;
#ifndef TSR_POOL_BYPASS
    int k = size_class(size);
    tsr__worker *w = tsr__tls_worker;
    if (w != NULL && k >= 0 && w->pool.len[k] < TSR_POOL_CAP) {
        *(void **)p = w->pool.head[k];
        w->pool.head[k] = p;
        w->pool.len[k]++;
        return;
    }
#else
    TSR_UNUSED(size);
#endif
    free(p);
}

void tsr__pool_clear(tsr__pool *pool) {
    for (int k = 0; k < TSR_POOL_NCLASS; k++) {
        void *p = pool->head[k];
        while (p != NULL) {
            void *next = *(void **)p;
            free(p);
            p = next;
        }
        pool->head[k] = NULL;
        pool->len[k] = 0;
    }
}
