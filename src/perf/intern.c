/* Interned strings for trace names built at run time ("prog.tsl:12 dot").
 * Events hold only a pointer, so a name must outlive the trace: interned
 * strings live until the process ends (reachable from the table, so leak
 * checkers stay quiet). One lock: interning is per language call, never
 * per task; callers that repeat a name may cache the pointer. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "perf/perf_internal.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char **slots; /* open addressing, power-of-two size */
static size_t nslots, nused;

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int grow(void) {
    size_t n = nslots ? 2 * nslots : 256;
    char **t = calloc(n, sizeof *t);
    if (t == NULL) return 0;
    for (size_t i = 0; i < nslots; i++) {
        if (slots[i] == NULL) continue;
        size_t k = hash(slots[i]) & (n - 1);
        while (t[k] != NULL) k = (k + 1) & (n - 1);
        t[k] = slots[i];
    }
    free(slots);
    slots = t;
    nslots = n;
    return 1;
}

const char *tsr_trace_intern(const char *s) {
    const char *out = NULL;
    if (s == NULL) return NULL;
    uint64_t h = hash(s);
    pthread_mutex_lock(&mu);
    if (2 * (nused + 1) > nslots && !grow()) goto done;
    size_t k = h & (nslots - 1);
    while (slots[k] != NULL) {
        if (strcmp(slots[k], s) == 0) {
            out = slots[k];
            goto done;
        }
        k = (k + 1) & (nslots - 1);
    }
    slots[k] = strdup(s);
    if (slots[k] != NULL) nused++;
    out = slots[k];
done:
    pthread_mutex_unlock(&mu);
    return out;
}
