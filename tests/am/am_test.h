/* Helpers shared by the active-message tests: deterministic bytes keyed on a
 * seed, their checksum, and bring-up/shutdown of the runtime. */
#ifndef TSR_AM_TEST_H
#define TSR_AM_TEST_H

#include <mpi.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "base/internal.h" /* TSR_UNUSED */
#include "harness.h"

static inline uint64_t am_test_mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t am_test_key(uint64_t a, uint64_t b) { return am_test_mix(a * 0x100000001b3ull ^ am_test_mix(b)); }

/* n bytes of the stream keyed on seed. */
static inline void am_test_fill(void *buf, size_t n, uint64_t seed) {
    unsigned char *p = buf;
    uint64_t s = seed;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = am_test_mix(s++);
        memcpy(p + i, &w, 8);
    }
    if (i < n) {
        uint64_t w = am_test_mix(s);
        memcpy(p + i, &w, n - i);
    }
}

/* Checksum of n bytes (position-dependent, so swapped words are caught). */
static inline uint64_t am_test_sum(const void *buf, size_t n) {
    const unsigned char *p = buf;
    uint64_t h = 0x84222325cbf29ce4ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = am_test_mix(h ^ w);
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, p + i, n - i);
        h = am_test_mix(h ^ w);
    }
    return h;
}

/* Checksum of the stream keyed on seed, without storing it. */
static inline uint64_t am_test_expected_sum(size_t n, uint64_t seed) {
    uint64_t h = 0x84222325cbf29ce4ull ^ n, s = seed;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) h = am_test_mix(h ^ am_test_mix(s++));
    if (i < n) {
        uint64_t w = am_test_mix(s), v = 0;
        memcpy(&v, &w, n - i);
        h = am_test_mix(h ^ v);
    }
    return h;
}

/* 1 if buf holds exactly the n bytes of the stream keyed on seed. */
static inline int am_test_check(const void *buf, size_t n, uint64_t seed) {
    const unsigned char *p = buf;
    uint64_t s = seed;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = am_test_mix(s++);
        if (memcmp(p + i, &w, 8) != 0) return 0;
    }
    if (i < n) {
        uint64_t w = am_test_mix(s);
        if (memcmp(p + i, &w, n - i) != 0) return 0;
    }
    return 1;
}

static inline void am_test_init(int *argc, char ***argv) {
    ASSERT_OK(tsr_init(argc, argv));
    harness_mpi_up = 1;
}

static inline void am_test_finalize(void) {
    ASSERT_OK(tsr_finalize());
    harness_mpi_up = 0;
}

static inline int64_t am_test_sum_all(int64_t v) {
    int64_t out = 0;
    if (MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
        TEST_FAIL("MPI_Allreduce failed");
    return out;
}

#endif
