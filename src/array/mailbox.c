/* The keyed mailbox: tiles and partial results travel between ranks under a
 * key (operation id, sub key) instead of a handle exchanged beforehand. Both
 * sides know the key from the operation alone (SPMD), so the sender never
 * waits for the receiver and a message that arrives before its consumer has
 * asked for it waits in the table.
 *
 * One table entry per key in flight. It is made by whichever of delivery and
 * expectation comes first and removed by the second; the future in it carries
 * the bytes to the consumer. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "array/array_internal.h"
#include "tessera/am.h"
#include "tessera/runtime.h"

typedef struct entry {
    tsr__mbox_key key;
    tsr_future_t *fut; /* the table's reference */
    int delivered, expected;
    struct entry *next;
} entry;

/* Striped so that progress (delivering) and workers (expecting) rarely meet
 * on one lock; 64 stripes cover the tiles of a few concurrent operations. */
#define NSTRIPES 64
#define NBUCKETS 4096

static struct {
    int up;
    int am_id;
    pthread_mutex_t locks[NSTRIPES];
    entry *buckets[NBUCKETS];
} mb;

static size_t bucket_of(tsr__mbox_key k) {
    uint64_t h = k.op * 0x9E3779B97F4A7C15ull ^ (k.sub + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29;
    return (size_t)(h % NBUCKETS);
}

/* Find or make the entry for key; called with its stripe locked. */
static entry *lookup(tsr__mbox_key key, size_t b, int *rc) {
    for (entry *e = mb.buckets[b]; e; e = e->next)
        if (e->key.op == key.op && e->key.sub == key.sub) return e;
    entry *e = calloc(1, sizeof *e);
    if (!e) {
        *rc = tsr_error(TSR_ERR_NOMEM, "mailbox: no memory for an entry");
        return NULL;
    }
    *rc = tsr_future_create(&e->fut);
    if (*rc != TSR_OK) {
        free(e);
        return NULL;
    }
    e->key = key;
    e->next = mb.buckets[b];
    mb.buckets[b] = e;
    return e;
}

static void unlink_entry(entry *e, size_t b) {
    entry **pp = &mb.buckets[b];
    while (*pp != e) pp = &(*pp)->next;
    *pp = e->next;
    tsr_future_release(&e->fut);
    free(e);
}

/* The entry for key, made if missing, with its stripe locked (*lk); NULL
 * with the stripe unlocked and *rc set if it could not be made. */
static entry *lock_entry(tsr__mbox_key key, size_t *b, pthread_mutex_t **lk, int *rc) {
    *b = bucket_of(key);
    *lk = &mb.locks[*b % NSTRIPES];
    pthread_mutex_lock(*lk);
    entry *e = lookup(key, *b, rc);
    if (!e) pthread_mutex_unlock(*lk);
    return e;
}

/* Runs on the progress thread before a large payload is received. */
static void *mbox_alloc(int src, const void *hdr, size_t hdrlen, size_t len, void *arg) {
    (void)src, (void)hdr, (void)hdrlen, (void)arg;
    return malloc(len ? len : 1);
}

/* Runs as a task on the receiving rank. */
static void mbox_handler(int src, const void *hdr, size_t hdrlen, void *payload, size_t len,
                         void *arg) {
    (void)arg;
    if (hdrlen != sizeof(tsr__mbox_key)) {
        tsr_log(TSR_LOG_ERROR, "mailbox: message from rank %d has a %zu-byte header, expected %zu",
                src, hdrlen, sizeof(tsr__mbox_key));
        return;
    }
    tsr__mbox_key key;
    memcpy(&key, hdr, sizeof key);
    /* The handler has an alloc callback, so a non-empty payload is always
     * ours (the engine copies eager and self messages into an alloc'd buffer
     * too); an empty one is not, and gets a buffer of its own. */
    void *data = len > 0 ? payload : malloc(1);
    if (!data) tsr_abort("mailbox: no memory for a message from rank %d", src);
    size_t b;
    pthread_mutex_t *lk;
    int rc = TSR_OK;
    entry *e = lock_entry(key, &b, &lk, &rc);
    if (!e) tsr_abort("mailbox: %s", tsr_error_message());
    if (e->delivered) {
        pthread_mutex_unlock(lk);
        tsr_abort("mailbox: key (%llu, %llu) delivered twice (second from rank %d)",
                  (unsigned long long)key.op, (unsigned long long)key.sub, src);
    }
    e->delivered = 1;
    tsr_future_set_owned(e->fut, data, free);
    if (e->expected) unlink_entry(e, b);
    pthread_mutex_unlock(lk);
}

int tsr__mbox_init(void) {
    if (mb.up) return TSR_OK;
    int rc = TSR_OK;
    for (int i = 0; i < NSTRIPES; i++) pthread_mutex_init(&mb.locks[i], NULL);
    TSR_CHECK(tsr_am_register(mbox_handler, mbox_alloc, NULL, &mb.am_id));
    mb.up = 1;
    return TSR_OK;
fail:
    return rc;
}

void tsr__mbox_fini(void) {
    if (!mb.up) return;
    size_t left = 0;
    for (size_t b = 0; b < NBUCKETS; b++) {
        while (mb.buckets[b]) {
            left++;
            unlink_entry(mb.buckets[b], b);
        }
    }
    if (left) tsr_log(TSR_LOG_WARN, "mailbox: %zu keys were sent or expected but never matched", left);
    for (int i = 0; i < NSTRIPES; i++) pthread_mutex_destroy(&mb.locks[i]);
    mb.up = 0;
}

/* Runs when the transport no longer needs the bytes. */
static int free_after_send(void *value, void *arg, void **out) {
    (void)value;
    free(arg);
    *out = NULL;
    return TSR_OK;
}

int tsr__mbox_send_owned(int dest, tsr__mbox_key key, void *buf, size_t len) {
    int rc = TSR_OK;
    tsr_future_t *done = NULL, *freed = NULL;
    rc = tsr_am_sendv(dest, mb.am_id, &key, sizeof key, buf, len, &done);
    if (rc != TSR_OK) {
        free(buf);
        return rc;
    }
    rc = tsr_then(done, free_after_send, buf, &freed);
    tsr_future_release(&done);
    if (rc != TSR_OK) return rc; /* the bytes leak rather than being freed under the transport */
    tsr_future_release(&freed);
    return TSR_OK;
}

int tsr__mbox_expect(tsr__mbox_key key, tsr_future_t **out) {
    size_t b;
    pthread_mutex_t *lk;
    int rc = TSR_OK;
    entry *e = lock_entry(key, &b, &lk, &rc);
    if (!e) return rc;
    if (e->expected) {
        pthread_mutex_unlock(lk);
        return tsr_error(TSR_ERR_STATE, "mailbox: key (%llu, %llu) expected twice",
                         (unsigned long long)key.op, (unsigned long long)key.sub);
    }
    e->expected = 1;
    tsr_future_retain(e->fut);
    *out = e->fut;
    if (e->delivered) unlink_entry(e, b);
    pthread_mutex_unlock(lk);
    return TSR_OK;
}
