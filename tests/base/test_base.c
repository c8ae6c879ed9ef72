/* Base layer: status strings, per-thread messages, options from the
 * environment, aligned allocation, timers. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"

static void *other_thread(void *arg) {
    (void)arg;
    tsr_error(TSR_ERR_IO, "thread message %d", 7);
    return NULL;
}

static void test_errors(void) {
    ASSERT_CONTAINS(tsr_status_string(TSR_OK), "TSR_OK");
    ASSERT_CONTAINS(tsr_status_string(TSR_ERR_NOMEM), "TSR_ERR_NOMEM");
    ASSERT_CONTAINS(tsr_status_string(-999), "UNKNOWN");
    int rc = tsr_error(TSR_ERR_SHAPE, "shapes (%d,%d) and (%d,%d)", 2, 3, 4, 5);
    ASSERT_EQ(rc, TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "shapes (2,3) and (4,5)");
    /* Another thread's message does not overwrite ours. */
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, NULL);
    ASSERT_CONTAINS(tsr_error_message(), "shapes (2,3)");
    /* Formatting the current message into a new one is safe. */
    tsr_error(TSR_ERR_IO, "outer: %s", tsr_error_message());
    ASSERT_CONTAINS(tsr_error_message(), "outer: shapes (2,3) and (4,5)");
    tsr_error_clear();
    ASSERT_EQ(strlen(tsr_error_message()), 0);
}

static void test_options(void) {
    tsr_options o;
    unsetenv("TSR_THREADS");
    unsetenv("TSR_LOG");
    unsetenv("TSR_PROGRESS");
    unsetenv("TSR_EAGER_LIMIT");
    ASSERT_OK(tsr_options_from_env(&o));
    ASSERT_EQ(o.threads, 0);
    ASSERT_EQ(o.log_level, TSR_LOG_WARN);
    ASSERT_EQ(o.progress_thread, 0);

    setenv("TSR_THREADS", "3", 1);
    setenv("TSR_LOG", "debug", 1);
    setenv("TSR_PROGRESS", "thread", 1);
    setenv("TSR_EAGER_LIMIT", "4096", 1);
    ASSERT_OK(tsr_options_from_env(&o));
    ASSERT_EQ(o.threads, 3);
    ASSERT_EQ(o.log_level, TSR_LOG_DEBUG);
    ASSERT_EQ(o.progress_thread, 1);
    ASSERT_EQ(o.eager_limit, 4096);

    const char *bad[][2] = {{"TSR_THREADS", "two"}, {"TSR_THREADS", "0"},
                            {"TSR_THREADS", "4x"},  {"TSR_LOG", "loud"},
                            {"TSR_PROGRESS", "spin"}, {"TSR_EAGER_LIMIT", "-1"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(bad[i][0], bad[i][1], 1);
        ASSERT_STATUS(tsr_options_from_env(&o), TSR_ERR_INVALID);
        /* The message names the variable and the value. */
        ASSERT_CONTAINS(tsr_error_message(), bad[i][0]);
        ASSERT_CONTAINS(tsr_error_message(), bad[i][1]);
        unsetenv(bad[i][0]);
    }
}

static void test_alloc_and_time(void) {
    for (size_t align = 8; align <= 4096; align *= 2) {
        char *p = tsr_aligned_alloc(align, 1000);
        ASSERT_TRUE(p != NULL);
        ASSERT_EQ((uintptr_t)p % align, 0);
        memset(p, 1, 1000);
        tsr_aligned_free(p);
    }
    ASSERT_TRUE(tsr_aligned_alloc(24, 10) == NULL);
    ASSERT_CONTAINS(tsr_error_message(), "alignment 24");
    /* A request no machine can satisfy fails with a message, not a crash. */
    ASSERT_TRUE(tsr_aligned_alloc(64, SIZE_MAX / 2) == NULL);
    ASSERT_CONTAINS(tsr_error_message(), "cannot allocate");

    uint64_t t0 = tsr_time_ns();
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    uint64_t t1 = tsr_time_ns();
    ASSERT_TRUE(t1 - t0 >= 2000000);
    ASSERT_TRUE(tsr_time() > 0.0);
}

int main(void) {
    test_errors();
    test_options();
    test_alloc_and_time();
    printf("base: ok\n");
    return 0;
}
