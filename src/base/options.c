/* Options from the environment. Each variable is parsed strictly: a value
 * that is not understood is an error naming the variable, never a silent
 * default. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/internal.h"

#define TSR_EAGER_DEFAULT 16384
/* Long enough that no healthy rank (heartbeats come from a thread of their
 * own) is ever declared lost; short against the minutes TCP takes to give up. */
#define TSR_PEER_TIMEOUT_DEFAULT 30

static tsr_options current = {
    .threads = 0,
    .log_level = TSR_LOG_WARN,
    .pin = 1,
    .progress_thread = 0,
    .eager_limit = TSR_EAGER_DEFAULT,
    .trace = NULL,
    .peer_timeout = TSR_PEER_TIMEOUT_DEFAULT,
};
static int current_from_env = 0;

static int parse_long(const char *var, const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return tsr_error(TSR_ERR_INVALID, "%s='%s' is not an integer in [%ld, %ld]", var, s, lo,
                         hi);
    *out = v;
    return TSR_OK;
}

static int parse_level(const char *s, int *out) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = i;
            return TSR_OK;
        }
    }
    if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0') {
        *out = s[0] - '0';
        return TSR_OK;
    }
    return tsr_error(TSR_ERR_INVALID, "TSR_LOG='%s' is not one of error, warn, info, debug, 0-3", s);
}

int tsr_options_from_env(tsr_options *out) {
    int rc = TSR_OK;
    tsr_options o = {
        .threads = 0,
        .log_level = TSR_LOG_WARN,
        .pin = 1,
        .progress_thread = 0,
        .eager_limit = TSR_EAGER_DEFAULT,
        .trace = NULL,
    .peer_timeout = TSR_PEER_TIMEOUT_DEFAULT,
    };
    long v;
    const char *s;
    if ((s = getenv("TSR_THREADS")) && *s) {
        TSR_CHECK(parse_long("TSR_THREADS", s, 1, 1024, &v));
        o.threads = (int)v;
    }
    if ((s = getenv("TSR_LOG")) && *s) TSR_CHECK(parse_level(s, &o.log_level));
    if ((s = getenv("TSR_PIN")) && *s) {
        TSR_CHECK(parse_long("TSR_PIN", s, 0, 1, &v));
        o.pin = (int)v;
    }
    if ((s = getenv("TSR_PROGRESS")) && *s) {
        if (strcmp(s, "poll") == 0)
            o.progress_thread = 0;
        else if (strcmp(s, "thread") == 0)
            o.progress_thread = 1;
        else
            TSR_CHECK_MSG(0, TSR_ERR_INVALID, "TSR_PROGRESS='%s' is not 'poll' or 'thread'", s);
    }
    if ((s = getenv("TSR_EAGER_LIMIT")) && *s) {
        TSR_CHECK(parse_long("TSR_EAGER_LIMIT", s, 64, 1L << 24, &v));
        o.eager_limit = (size_t)v;
    }
    if ((s = getenv("TSR_TRACE")) && *s) o.trace = s;
    if ((s = getenv("TSR_PEER_TIMEOUT")) && *s) {
        TSR_CHECK(parse_long("TSR_PEER_TIMEOUT", s, 0, 86400, &v));
        o.peer_timeout = v;
    }
    *out = o;
    return TSR_OK;
fail:
    return rc;
}

const tsr_options *tsr__options(void) {
    /* Before tsr_init the logger may still ask for the level: read it once,
     * ignoring errors (tsr_init reports them properly). */
    if (!current_from_env) {
        tsr_options o;
        if (tsr_options_from_env(&o) == TSR_OK) current = o;
        current_from_env = 1;
    }
    return &current;
}

void tsr__options_set(const tsr_options *o) {
    current = *o;
    current_from_env = 1;
}
