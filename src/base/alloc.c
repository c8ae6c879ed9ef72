/* Aligned allocation with an error message that names the request. */
#include <errno.h>
#include <stdlib.h>

#include "base/internal.h"

void *tsr_aligned_alloc(size_t align, size_t size) {
    if (align < sizeof(void *) || (align & (align - 1)) != 0) {
        tsr_error(TSR_ERR_INVALID, "tsr_aligned_alloc: alignment %zu is not a power of two >= %zu",
                  align, sizeof(void *));
        return NULL;
    }
    void *p = NULL;
    int e = posix_memalign(&p, align, size ? size : align);
    if (e != 0) {
        tsr_error(TSR_ERR_NOMEM, "tsr_aligned_alloc: cannot allocate %zu bytes (align %zu)", size,
                  align);
        return NULL;
    }
    return p;
}

void tsr_aligned_free(void *p) { free(p); }
