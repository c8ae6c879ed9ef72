/* Philox4x32-10 (Salmon et al., SC'11): a counter-based generator, so the
 * random number of element g depends on (seed, g) only, never on which rank
 * or tile makes it or in what order. */
#ifndef TSR_PHILOX_H
#define TSR_PHILOX_H

#include <math.h>
#include <stdint.h>

static inline void tsr__philox4x32(uint64_t counter, uint64_t seed, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* 53 random bits to a double in [0, 1). */
static inline double tsr__u01(uint32_t hi, uint32_t lo) {
    uint64_t bits = ((uint64_t)hi << 21) ^ (uint64_t)(lo >> 11);
    return (double)(bits & ((1ull << 53) - 1)) * 0x1.0p-53;
}

static inline double tsr__philox_uniform(uint64_t g, uint64_t seed) {
    uint32_t r[4];
    tsr__philox4x32(g, seed, r);
    return tsr__u01(r[0], r[1]);
}

/* Box-Muller from one counter's four words; 1 - u keeps log away from 0. */
static inline double tsr__philox_normal(uint64_t g, uint64_t seed) {
    uint32_t r[4];
    tsr__philox4x32(g, seed, r);
    double u1 = 1.0 - tsr__u01(r[0], r[1]);
    double u2 = tsr__u01(r[2], r[3]);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
