/* test_abort MODE: a job in which the last rank fails while the others wait
 * for it. Run by run_abort.sh, which expects the whole job to end quickly
 * with a non-zero exit and "[rank N-1] tessera: fatal: ... boom from test".
 *   fence    rank N-1 calls tsr_abort; the others are in tsr_fence
 *   wait     rank N-1 calls tsr_abort; the others tsr_wait on a future that
 *            only rank N-1 would fulfil
 *   status   rank N-1 gets an error status from a failed call and turns it
 *            into tsr_abort with the call's message; the others in tsr_fence
 *   handler  rank 0 sends rank N-1 a message whose handler (a task on a
 *            worker) calls tsr_abort; then everybody fences
 * Exit 0 means the abort did not happen: run_abort.sh fails on that. */
#include <time.h>

#include "am_test.h"

static int id_boom;

static void on_boom(int src, const void *hdr, size_t hdrlen, void *payload, size_t len, void *arg) {
    TSR_UNUSED(hdr), TSR_UNUSED(hdrlen), TSR_UNUSED(payload), TSR_UNUSED(len), TSR_UNUSED(arg);
    tsr_abort("boom from test in a handler (message from rank %d)", src);
}

static void nap_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_abort fence|wait|status|handler\n");
        return 2;
    }
    const char *mode = argv[1];
    am_test_init(&argc, &argv);
    int me = tsr_rank(), n = tsr_nranks(), last = n - 1;
    ASSERT_OK(tsr_am_register(on_boom, NULL, NULL, &id_boom));
    /* Everyone is up and talking before the failure. */
    ASSERT_OK(tsr_fence());

    if (strcmp(mode, "fence") == 0) {
        if (me == last) {
            nap_ms(300);
            tsr_abort("boom from test (mode fence)");
        }
        ASSERT_OK(tsr_fence());
    } else if (strcmp(mode, "wait") == 0) {
        if (me == last) {
            nap_ms(300);
            tsr_abort("boom from test (mode wait)");
        }
        tsr_future_t *never = NULL;
        tsr_remote_handle h;
        ASSERT_OK(tsr_remote_future_create(&never, &h));
        ASSERT_OK(tsr_wait(never, NULL));
    } else if (strcmp(mode, "status") == 0) {
        if (me == last) {
            nap_ms(300);
            int rc = tsr_am_send(n + 3, id_boom, NULL, 0);
            if (rc != TSR_OK)
                tsr_abort("boom from test: tsr_am_send returned %s: %s", tsr_status_string(rc),
                          tsr_error_message());
        }
        ASSERT_OK(tsr_fence());
    } else if (strcmp(mode, "handler") == 0) {
        if (me == 0) ASSERT_OK(tsr_am_send(last, id_boom, NULL, 0));
        ASSERT_OK(tsr_fence());
    } else {
        TEST_FAIL("unknown mode '%s'", mode);
    }
    /* Not reached when the abort works. Exit 0 so that the checker notices. */
    fprintf(stderr, "[rank %d] test_abort %s: reached the end without an abort\n", me, mode);
    tsr_finalize();
    return 0;
}
