/* The .npy header: a pure parser and writer, no MPI and no I/O, so that a
 * fuzzer can drive the parser alone (tests/array/test_npy_header.c does a
 * small version of that; build a libFuzzer target around
 * tsr__npy_parse_header with nothing else linked but libc).
 *
 * Format (numpy.lib.format): magic "\x93NUMPY", major and minor version
 * bytes, header length (uint16 little-endian for 1.0, uint32 for 2.0 and
 * 3.0), then the header: a Python dict literal such as
 *   {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ending in '\n'; the data follows at once. */
#ifndef TSR_ARRAY_NPY_H
#define TSR_ARRAY_NPY_H

#include <stddef.h>
#include <stdint.h>

/* The most header bytes (prelude included) the parser accepts. numpy writes
 * version 1.0 whose length field caps the dict at 65535 bytes; real files of
 * the dtypes we read have headers under 128 bytes. */
#define TSR__NPY_MAX_HEADER ((size_t)12 + 65536)

enum tsr__npy_dtype { TSR__NPY_F8 = 0, TSR__NPY_I8 = 1, TSR__NPY_F4 = 2 };

typedef struct tsr__npy_info {
    int major, minor;     /* format version: 1.0, 2.0 or 3.0 */
    int dtype;            /* enum tsr__npy_dtype */
    int itemsize;         /* bytes per element: 8 or 4 */
    int fortran_order;    /* 1: column-major data */
    int ndim;             /* 0, 1 or 2 */
    int64_t shape[2];     /* the first ndim entries are the file's shape */
    int64_t rows, cols;   /* as a Tessera array: () is 1 x 1, (n,) is n x 1 */
    uint64_t data_offset; /* bytes before the data (prelude + header) */
    uint64_t data_bytes;  /* rows * cols * itemsize */
    char message[256];    /* why the header was refused ("" when accepted) */
} tsr__npy_info;

/* Parse and validate the header at the start of buf (len bytes: the whole
 * file or at least its first TSR__NPY_MAX_HEADER bytes). Never reads outside
 * buf[0, len). Returns TSR_OK (0) and fills out, or TSR_ERR_IO with
 * out->message saying what is wrong (without the file's name: the caller adds
 * it). Accepts only what Tessera can load: descr '<f8', '<i8' or '<f4',
 * fortran_order True or False, shape () / (n,) / (m, n). Thread-safe. */
int tsr__npy_parse_header(const char *buf, size_t len, tsr__npy_info *out);

/* Write the header of an m x n float64 C-order array into buf (cap bytes):
 * version 1.0, padded with spaces so the data starts at a multiple of 64
 * bytes, as numpy does. Returns the header length, or 0 if cap is too small
 * or m, n < 0. Thread-safe. */
size_t tsr__npy_write_header(int64_t m, int64_t n, char *buf, size_t cap);
/* The same with ndim 1: shape (m * n,) (the caller has checked that m or n
 * is 1); ndim 2 is tsr__npy_write_header. 0 for another ndim. */
size_t tsr__npy_write_header_nd(int ndim, int64_t m, int64_t n, char *buf, size_t cap);

#endif
