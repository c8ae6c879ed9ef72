/* Status strings and the per-thread error message. */
#include <stdarg.h>
#include <string.h>

#include "base/internal.h"

/* Big enough for a message naming a file path, two shapes and a rank. */
#define TSR_MSG_MAX 1024

static _Thread_local char tls_msg[TSR_MSG_MAX];

const char *tsr_status_string(int status) {
    switch (status) {
    case TSR_OK: return "TSR_OK";
    case TSR_ERR_INVALID: return "TSR_ERR_INVALID";
    case TSR_ERR_NOMEM: return "TSR_ERR_NOMEM";
    case TSR_ERR_MPI: return "TSR_ERR_MPI";
    case TSR_ERR_IO: return "TSR_ERR_IO";
    case TSR_ERR_SHAPE: return "TSR_ERR_SHAPE";
    case TSR_ERR_STATE: return "TSR_ERR_STATE";
    case TSR_ERR_UNSUPPORTED: return "TSR_ERR_UNSUPPORTED";
    case TSR_ERR_TIMEOUT: return "TSR_ERR_TIMEOUT";
    case TSR_ERR_REMOTE: return "TSR_ERR_REMOTE";
    case TSR_ERR_NOT_FOUND: return "TSR_ERR_NOT_FOUND";
    case TSR_ERR_RUNTIME: return "TSR_ERR_RUNTIME";
    case TSR_ERR_CANCELLED: return "TSR_ERR_CANCELLED";
    default: return "TSR_ERR_UNKNOWN";
    }
}

const char *tsr_error_message(void) { return tls_msg; }

void tsr_error_clear(void) { tls_msg[0] = '\0'; }

int tsr_error(int status, const char *fmt, ...) {
    if (fmt == NULL) {
        tls_msg[0] = '\0';
        return status;
    }
    /* fmt may format the current message itself ("%s", tsr_error_message()),
     * so format into a scratch buffer first. */
    char tmp[TSR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(tls_msg, tmp, sizeof tmp);
    return status;
}

void tsr__assert_fail(const char *expr, const char *file, int line) {
    tsr_log(TSR_LOG_ERROR, "internal error: assertion '%s' failed at %s:%d", expr, file, line);
    tsr__die(70);
}
