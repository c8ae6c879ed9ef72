/* libFuzzer harness: the .npy header parser (src/array/npy_header.c), which
 * reads the first bytes of every --arg file and every `load`. The input is
 * the start of a file, in a buffer of exactly its size (ASan sees any read
 * past it). An accepted header must describe something loadable: a dtype
 * we read, 0-2 dimensions, a data offset inside the header bytes, and a
 * byte count that is rows * cols * itemsize without overflow. Accepted
 * float64 C-order 1-D/2-D shapes must come back byte-identical from the
 * writer's header when the writer would have written them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array/npy.h"
#include "tessera/base.h"

#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "fuzz_npy_header: %s:%d: %s\n", __FILE__, __LINE__, #c);              \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    tsr__npy_info h;
    int rc = tsr__npy_parse_header(buf, size, &h);
    size_t mlen = strnlen(h.message, sizeof h.message);
    CHECK(mlen < sizeof h.message);
    if (rc != TSR_OK) {
        CHECK(rc == TSR_ERR_IO);
        CHECK(mlen > 0);
        free(buf);
        return 0;
    }
    CHECK(mlen == 0);
    CHECK(h.major >= 1 && h.major <= 3 && h.minor == 0);
    CHECK(h.dtype == TSR__NPY_F8 || h.dtype == TSR__NPY_I8 || h.dtype == TSR__NPY_F4);
    CHECK(h.itemsize == (h.dtype == TSR__NPY_F4 ? 4 : 8));
    CHECK(h.fortran_order == 0 || h.fortran_order == 1);
    CHECK(h.ndim >= 0 && h.ndim <= 2);
    CHECK(h.rows >= 0 && h.cols >= 0);
    CHECK(h.rows == (h.ndim >= 1 ? h.shape[0] : 1));
    CHECK(h.cols == (h.ndim == 2 ? h.shape[1] : 1));
    CHECK(h.data_offset <= size && h.data_offset <= TSR__NPY_MAX_HEADER);
    CHECK(h.data_offset >= (h.major == 1 ? 10u : 12u));
    /* data_bytes is the product, computed without wrapping. */
    if (h.cols > 0) CHECK(h.data_bytes / (uint64_t)h.cols / (uint64_t)h.itemsize == (uint64_t)h.rows);
    else CHECK(h.data_bytes == 0);
    CHECK(h.data_bytes <= (uint64_t)INT64_MAX - h.data_offset);
    /* What we write, we read back the same. */
    if (h.ndim >= 1 && h.dtype == TSR__NPY_F8 && !h.fortran_order) {
        char out[256];
        size_t k = tsr__npy_write_header_nd(h.ndim, h.rows, h.cols, out, sizeof out);
        if (k > 0) {
            tsr__npy_info back;
            CHECK(tsr__npy_parse_header(out, k, &back) == TSR_OK);
            CHECK(back.ndim == h.ndim && back.rows == h.rows && back.cols == h.cols &&
                  back.data_bytes == h.data_bytes && back.data_offset == k);
        }
    }
    free(buf);
    return 0;
}
