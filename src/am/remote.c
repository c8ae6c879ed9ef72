/* Remote futures: a future on this rank that any rank fulfils by message.
 *
 * The owner keeps each unfulfilled future in a slot table and holds a
 * reference to it there. The handle's key is (generation << 32 | slot), so a
 * stale, duplicated or forged key is recognised and logged, never
 * dereferenced. Setting sends the bytes to the owner's REMOTE_SET handler,
 * whose alloc callback mallocs the landing buffer: the payload (eager or
 * rendezvous) ends up in the buffer the future then owns, with no extra copy. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "am/am_engine.h"
#include "base/internal.h"

typedef struct slot {
    tsr_future_t *f; /* NULL: free */
    uint32_t gen;
    int next_free;
} slot;

static struct {
    pthread_mutex_t lock;
    slot *slots;
    int n, cap, free_head;
    uint32_t gen;
} rt = {.lock = PTHREAD_MUTEX_INITIALIZER, .free_head = -1};

typedef struct fail_hdr {
    uint64_t key;
    int32_t status;
} fail_hdr;

/* Remove and return the future under key (its table reference passes to the
 * caller), or NULL if there is none. */
static tsr_future_t *take(uint64_t key) {
    uint32_t i = (uint32_t)key, gen = (uint32_t)(key >> 32);
    tsr_future_t *f = NULL;
    pthread_mutex_lock(&rt.lock);
    if (i < (uint32_t)rt.n && rt.slots[i].f && rt.slots[i].gen == gen) {
        f = rt.slots[i].f;
        rt.slots[i].f = NULL;
        rt.slots[i].next_free = rt.free_head;
        rt.free_head = (int)i;
    }
    pthread_mutex_unlock(&rt.lock);
    return f;
}

int tsr_remote_future_create(tsr_future_t **out, tsr_remote_handle *handle_out) {
    int rc = TSR_OK;
    tsr_future_t *f = NULL;
    TSR_CHECK_MSG(out && handle_out, TSR_ERR_INVALID, "tsr_remote_future_create: NULL output");
    *out = NULL;
    TSR_CHECK_MSG(atomic_load(&tsr__am.up), TSR_ERR_STATE,
                  "tsr_remote_future_create: the message engine is not running");
    TSR_CHECK(tsr_future_create(&f));
    pthread_mutex_lock(&rt.lock);
    int i = rt.free_head;
    if (i >= 0) {
        rt.free_head = rt.slots[i].next_free;
    } else {
        if (rt.n == rt.cap) {
            int cap = rt.cap ? 2 * rt.cap : 64;
            slot *s = realloc(rt.slots, (size_t)cap * sizeof *s);
            if (!s) {
                pthread_mutex_unlock(&rt.lock);
                TSR_CHECK_MSG(0, TSR_ERR_NOMEM, "rank %d: no memory for %d remote futures",
                              tsr__am.rank, cap);
            }
            rt.slots = s;
            rt.cap = cap;
        }
        i = rt.n++;
    }
    if (++rt.gen == 0) rt.gen = 1;
    rt.slots[i] = (slot){.f = f, .gen = rt.gen, .next_free = -1};
    tsr_future_retain(f); /* the table's reference, dropped when fulfilled */
    *handle_out = (tsr_remote_handle){
        .rank = tsr__am.rank, .pad = 0, .key = (uint64_t)rt.gen << 32 | (uint32_t)i};
    pthread_mutex_unlock(&rt.lock);
    *out = f;
    return TSR_OK;
fail:
    tsr_future_release(&f);
    return rc;
}

static int check_handle(const char *fn, tsr_remote_handle h) {
    if (!atomic_load(&tsr__am.up))
        return tsr_error(TSR_ERR_STATE, "%s: the message engine is not running", fn);
    if (h.rank < 0 || h.rank >= tsr__am.nranks)
        return tsr_error(TSR_ERR_INVALID, "rank %d: %s with a handle for rank %d (%d ranks)",
                         tsr__am.rank, fn, (int)h.rank, tsr__am.nranks);
    return TSR_OK;
}

int tsr_remote_future_set(tsr_remote_handle handle, const void *buf, size_t len) {
    int rc = check_handle("tsr_remote_future_set", handle);
    if (rc != TSR_OK) return rc;
    return tsr__am_send_copy(handle.rank, TSR__AM_ID_REMOTE_SET, &handle.key, sizeof handle.key,
                             buf, len);
}

int tsr_remote_future_fail(tsr_remote_handle handle, int status, const char *msg) {
    int rc = check_handle("tsr_remote_future_fail", handle);
    if (rc != TSR_OK) return rc;
    if (status >= 0)
        return tsr_error(TSR_ERR_INVALID, "tsr_remote_future_fail: status %d is not an error",
                         status);
    fail_hdr h = {.key = handle.key, .status = status};
    return tsr__am_send_copy(handle.rank, TSR__AM_ID_REMOTE_FAIL, &h, sizeof h, msg,
                             msg ? strlen(msg) : 0);
}

/* Runs on the progress thread (rendezvous) or in the handler task (eager). */
static void *set_alloc(int src, const void *hdr, size_t hdrlen, size_t len, void *arg) {
    TSR_UNUSED(src), TSR_UNUSED(hdr), TSR_UNUSED(hdrlen), TSR_UNUSED(arg);
    void *p = malloc(len);
    /* NULL would make the runtime lend its own buffer, which the future
     * could not own; and the runtime's malloc would fail just the same. */
    if (!p) tsr_abort("rank %d: no memory for a %zu-byte remote future value", tsr__am.rank, len);
    return p;
}

static void set_handler(int src, const void *hdr, size_t hdrlen, void *payload, size_t len,
                        void *arg) {
    TSR_UNUSED(arg);
    uint64_t key = 0;
    tsr_future_t *f = NULL;
    if (hdrlen == sizeof key) {
        memcpy(&key, hdr, sizeof key);
        f = take(key);
    }
    if (!f) {
        tsr_log(TSR_LOG_ERROR, "remote future set by rank %d: key 0x%llx is unknown or already "
                "fulfilled", src, (unsigned long long)key);
        free(payload); /* ours: set_alloc made it */
        return;
    }
    int rc = len ? tsr_future_set_owned(f, payload, free) : tsr_future_set(f, NULL);
    if (rc != TSR_OK) {
        tsr_log(TSR_LOG_ERROR, "remote future set by rank %d: %s", src, tsr_error_message());
        if (len) free(payload);
    }
    tsr_future_release(&f);
}

static void fail_handler(int src, const void *hdr, size_t hdrlen, void *payload, size_t len,
                         void *arg) {
    TSR_UNUSED(arg);
    fail_hdr h = {0, 0};
    tsr_future_t *f = NULL;
    if (hdrlen == sizeof h) {
        memcpy(&h, hdr, sizeof h);
        f = h.status < 0 ? take(h.key) : NULL;
    }
    if (!f) {
        tsr_log(TSR_LOG_ERROR, "remote future failed by rank %d: key 0x%llx (status %d) is "
                "unknown or already fulfilled", src, (unsigned long long)h.key, (int)h.status);
        return;
    }
    char *msg = malloc(len + 1);
    if (msg) {
        if (len) memcpy(msg, payload, len);
        msg[len] = '\0';
    }
    if (tsr_future_fail(f, h.status, msg) != TSR_OK)
        tsr_log(TSR_LOG_ERROR, "remote future failed by rank %d: %s", src, tsr_error_message());
    free(msg);
    tsr_future_release(&f);
}

void tsr__am_remote_init(void) {
    tsr__am_register_builtin(TSR__AM_ID_REMOTE_SET, set_handler, set_alloc, NULL);
    tsr__am_register_builtin(TSR__AM_ID_REMOTE_FAIL, fail_handler, NULL, NULL);
}

/* Futures nobody fulfilled: drop the table's references. */
void tsr__am_remote_fini(void) {
    pthread_mutex_lock(&rt.lock);
    int left = 0;
    for (int i = 0; i < rt.n; i++) {
        if (rt.slots[i].f) {
            tsr_future_release(&rt.slots[i].f);
            left++;
        }
    }
    free(rt.slots);
    rt.slots = NULL;
    rt.n = rt.cap = 0;
    rt.free_head = -1;
    pthread_mutex_unlock(&rt.lock);
    if (left) tsr_log(TSR_LOG_DEBUG, "%d remote futures were never fulfilled", left);
}
