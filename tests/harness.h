/* A tiny test harness: ASSERT_* print both values and where, then exit 1.
 * MPI tests print the rank and take the whole job down through tsr_abort so a
 * failed check on one rank never leaves the others waiting. */
#ifndef TSR_TEST_HARNESS_H
#define TSR_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"

/* Set by tests that run under MPI after tsr_init succeeded. */
static int harness_mpi_up = 0;

#define TEST_FAIL(...)                                                                   \
    do {                                                                                 \
        char harness_buf_[1024];                                                         \
        snprintf(harness_buf_, sizeof harness_buf_, __VA_ARGS__);                        \
        if (harness_mpi_up) tsr_abort("test failed at %s:%d: %s", __FILE__, __LINE__,    \
                                      harness_buf_);                                     \
        fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, harness_buf_);           \
        exit(1);                                                                         \
    } while (0)

#define ASSERT_TRUE(c)                                                                   \
    do {                                                                                 \
        if (!(c)) TEST_FAIL("expected true: %s", #c);                                    \
    } while (0)

#define ASSERT_EQ(a, b)                                                                  \
    do {                                                                                 \
        long long a_ = (long long)(a), b_ = (long long)(b);                              \
        if (a_ != b_) TEST_FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);              \
    } while (0)

#define ASSERT_NEAR(a, b, tol)                                                           \
    do {                                                                                 \
        double a_ = (double)(a), b_ = (double)(b);                                       \
        if (!(a_ - b_ <= (tol) && b_ - a_ <= (tol)))                                     \
            TEST_FAIL("%s ~ %s: %.17g vs %.17g (tol %g)", #a, #b, a_, b_, (double)(tol)); \
    } while (0)

/* A Tessera call must succeed; on failure print its status and message. */
#define ASSERT_OK(call)                                                                  \
    do {                                                                                 \
        int rc_ = (call);                                                                \
        if (rc_ != TSR_OK)                                                               \
            TEST_FAIL("%s returned %s: %s", #call, tsr_status_string(rc_),             \
                      tsr_error_message());                                              \
    } while (0)

#define ASSERT_STATUS(call, want)                                                        \
    do {                                                                                 \
        int rc_ = (call);                                                                \
        if (rc_ != (want))                                                               \
            TEST_FAIL("%s returned %s, expected %s (%s)", #call, tsr_status_string(rc_), \
                      tsr_status_string(want), tsr_error_message());                     \
    } while (0)

#define ASSERT_CONTAINS(hay, needle)                                                     \
    do {                                                                                 \
        const char *h_ = (hay), *n_ = (needle);                                          \
        if (h_ == NULL || strstr(h_, n_) == NULL)                                        \
            TEST_FAIL("'%s' does not contain '%s'", h_ ? h_ : "(null)", n_);             \
    } while (0)

#endif
