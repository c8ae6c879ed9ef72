/* PAPI counters for the trace: the event list, the no-counters note, and one
 * eventset per thread, started on the thread's first read.
 *
 * Why "can an event be added" and not PAPI_query_event decides whether the
 * machine has counters: in a VM without a virtual PMU (this project's CI),
 * PAPI's perf_event component is enabled, PAPI_query_event(PAPI_TOT_CYC)
 * says OK, and only PAPI_add_event fails (PAPI_ENOEVNT), because the kernel
 * has no "cpu" PMU. So init builds a probe eventset on the main thread: what
 * it can add is what every thread will count.
 *
 * Threads: PAPI_thread_init is called at init; each thread registers itself
 * and builds its eventset on its first tsr__papi_read under `setup_lock`
 * (once per thread per session, so the lock is off the per-task path).
 * After that a read is one PAPI_read on the thread's own eventset. A
 * session counter (`gen`) tells a thread that a new init happened: it then
 * checks that its eventset still counts the current list. */
#include "perf/papi.h"

#include <papi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/internal.h"
#include "tessera/runtime.h"
#include "tessera/sched.h"

#define NAME_LEN PAPI_MAX_STR_LEN
#define NOTE_LEN 512
#define LIST_LEN 1024

static const char *const default_events[] = {"PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_L2_TCM",
                                             "PAPI_L3_TCM"};
#define NDEFAULT ((int)(sizeof default_events / sizeof default_events[0]))

static pthread_mutex_t setup_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int lib;          /* 0: PAPI_library_init not tried; 1: up (for good); -1: it failed */
    int on;           /* a session with counters is open (init succeeded, fini not yet) */
    int nevents;      /* published to readers through `gen` (release) */
    int code[TSR__PAPI_MAX_EVENTS];
    char name[TSR__PAPI_MAX_EVENTS][NAME_LEN];
    unsigned list;       /* bumped whenever code[] changes: threads rebuild their eventsets */
    char note[NOTE_LEN]; /* why no counters; "" when there are */
    int noted;           /* the note was printed (once per process, i.e. per job on rank 0) */
} P;
/* Session number; odd while counters are on (nevents > 0), even otherwise.
 * A reader that sees an odd value (acquire) sees nevents, code[], list. */
static _Atomic unsigned gen;

/* This thread's eventset, built for event list `list`, and the session it
 * last joined. PAPI is never shut down (re-initialising PAPI 7 after
 * PAPI_shutdown crashed in PAPI_add_event on a worker thread with perf::
 * native events), so an eventset outlives sessions: a thread joining a new
 * session keeps it when the list is unchanged, else destroys and rebuilds
 * it itself (PAPI eventsets belong to the thread that made them). */
static _Thread_local struct {
    unsigned gen, list;
    int es;         /* PAPI_NULL: none, or this thread could not start one */
    int registered; /* PAPI_register_thread done */
    int built;      /* es (or its failure) is for list `list` */
} me = {0, 0, PAPI_NULL, 0, 0};

/* Stop and destroy the calling thread's eventset. */
static void drop_mine(void) {
    if (me.es != PAPI_NULL) {
        long long tmp[TSR__PAPI_MAX_EVENTS];
        PAPI_stop(me.es, tmp);
        PAPI_cleanup_eventset(me.es);
        PAPI_destroy_eventset(&me.es);
        me.es = PAPI_NULL;
    }
    me.built = 0;
}

/* ---- why there are no counters ---------------------------------------- */

/* A kernel without a CPU PMU (a VM without a virtual one) has no "cpu"
 * device (Intel/AMD; "armv8_pmuv3*" on Arm) under event_source. */
static int kernel_has_cpu_pmu(void) {
    return access("/sys/bus/event_source/devices/cpu", F_OK) == 0 ||
           access("/sys/bus/event_source/devices/cpu_core", F_OK) == 0 ||
           access("/sys/bus/event_source/devices/armv8_pmuv3_0", F_OK) == 0 ||
           access("/sys/bus/event_source/devices/armv8_pmuv3", F_OK) == 0;
}

static int read_paranoid(void) {
    FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
    int v = -100;
    if (f == NULL) return v;
    if (fscanf(f, "%d", &v) != 1) v = -100;
    fclose(f);
    return v;
}

/* Fill P.note with the reason counting failed; `first` is the error of the
 * first default event that could not be added. */
static void explain(const char *first_event, int first_err) {
    int cidx = PAPI_get_component_index("perf_event");
    const PAPI_component_info_t *ci = cidx >= 0 ? PAPI_get_component_info(cidx) : NULL;
    if (ci == NULL) {
        snprintf(P.note, sizeof P.note, "PAPI has no perf_event component");
    } else if (ci->disabled) {
        snprintf(P.note, sizeof P.note, "component perf_event disabled: %.400s",
                 ci->disabled_reason[0] ? ci->disabled_reason : "no reason given");
    } else if (!kernel_has_cpu_pmu()) {
        snprintf(P.note, sizeof P.note,
                 "component perf_event has no hardware events: the kernel has no CPU PMU, "
                 "no /sys/bus/event_source/devices/cpu, as in a VM without a virtual PMU");
    } else {
        int par = read_paranoid();
        char ptxt[64] = "";
        if (par > 2) snprintf(ptxt, sizeof ptxt, "; /proc/sys/kernel/perf_event_paranoid=%d", par);
        snprintf(P.note, sizeof P.note, "%.127s cannot be counted: %.200s%s", first_event,
                 PAPI_strerror(first_err), ptxt);
    }
}

/* ---- the event list ---------------------------------------------------- */

/* Split TSR_PAPI_EVENTS into names (spaces around commas ignored, empty
 * items skipped). Returns the count, or -1 with the error set. */
static int parse_list(const char *s, char names[][NAME_LEN], int max) {
    int n = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (*p == '\0') break;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *end = e;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
        size_t len = (size_t)(end - p);
        if (len >= NAME_LEN)
            return tsr_error(TSR_ERR_INVALID, "TSR_PAPI_EVENTS: event name '%.40s...' is too long",
                             p), -1;
        if (n == max)
            return tsr_error(TSR_ERR_INVALID,
                             "TSR_PAPI_EVENTS='%s' names more than %d events", s, max), -1;
        memcpy(names[n], p, len);
        names[n][len] = '\0';
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], names[n]) == 0)
                return tsr_error(TSR_ERR_INVALID, "TSR_PAPI_EVENTS: %s is named twice", names[n]),
                       -1;
        n++;
        p = e;
    }
    return n;
}

/* Append "name (why)" to a comma-separated list. */
static void append(char *list, const char *s) {
    size_t l = strlen(list), k = strlen(s);
    if (k > LIST_LEN - 1 - l) k = LIST_LEN - 1 - l;
    memcpy(list + l, s, k);
    list[l + k] = '\0';
}

static void list_add(char *list, const char *name, const char *why) {
    if (list[0]) append(list, ", ");
    append(list, name);
    if (why) {
        append(list, " (");
        append(list, why);
        append(list, ")");
    }
}

static void say_once(void) {
    if (P.note[0] == '\0' || P.noted) return;
    P.noted = 1;
    if (tsr_rank() == 0)
        tsr_log(TSR_LOG_WARN, "PAPI: no hardware counters on this machine (%s); tracing without "
                              "counters", P.note);
}

int tsr__papi_init(void) {
    int rc = TSR_OK, probe = PAPI_NULL;
    char names[TSR__PAPI_MAX_EVENTS][NAME_LEN];
    char unknown[LIST_LEN] = "", uncountable[LIST_LEN] = "";
    const char *env = getenv("TSR_PAPI_EVENTS");
    int user = env != NULL && env[strspn(env, " \t,")] != '\0';
    int n;

    pthread_mutex_lock(&setup_lock);
    if (P.on) goto out;
    P.nevents = 0;

    if (user && strcmp(env, "none") == 0) { /* counters off on purpose: no note */
        P.nevents = 0;
        P.note[0] = '\0';
        goto out;
    }
    if (user) {
        n = parse_list(env, names, TSR__PAPI_MAX_EVENTS);
        if (n < 0) {
            rc = TSR_ERR_INVALID;
            goto out;
        }
    } else {
        n = NDEFAULT;
        for (int i = 0; i < n; i++) snprintf(names[i], NAME_LEN, "%s", default_events[i]);
    }

    int v;
    if (P.lib == 0) {
        P.lib = -1;
        v = PAPI_library_init(PAPI_VER_CURRENT);
        if (v != PAPI_VER_CURRENT)
            snprintf(P.note, sizeof P.note, "PAPI_library_init: %s",
                     v < 0 ? PAPI_strerror(v) : "version mismatch");
        else if ((v = PAPI_thread_init(pthread_self)) != PAPI_OK)
            snprintf(P.note, sizeof P.note, "PAPI_thread_init: %s", PAPI_strerror(v));
        else
            P.lib = 1;
    }
    if (P.lib < 0) goto no_counters; /* names cannot be checked without the library */
    /* PAPI runs one eventset per thread at a time: the probe below needs
     * this thread's own one (from an earlier session) out of the way. */
    drop_mine();

    /* Unknown names are the user's mistake whatever the machine. */
    int code[TSR__PAPI_MAX_EVENTS];
    for (int i = 0; i < n; i++)
        if (PAPI_event_name_to_code(names[i], &code[i]) != PAPI_OK) list_add(unknown, names[i], NULL);
    if (unknown[0]) {
        rc = tsr_error(TSR_ERR_INVALID,
                       "TSR_PAPI_EVENTS: unknown PAPI event%s %s (PAPI names such as "
                       "PAPI_TOT_CYC, or native ones such as perf::CYCLES; papi_avail lists them)",
                       strchr(unknown, ',') ? "s" : "", unknown);
        goto fail;
    }

    /* What can be counted together: add in order to one probe eventset. */
    if ((v = PAPI_create_eventset(&probe)) != PAPI_OK) {
        snprintf(P.note, sizeof P.note, "PAPI_create_eventset: %s", PAPI_strerror(v));
        goto no_counters;
    }
    int first_err = PAPI_OK, first_bad = -1, old[TSR__PAPI_MAX_EVENTS], nold = P.nevents;
    memcpy(old, P.code, sizeof old);
    P.nevents = 0;
    for (int i = 0; i < n; i++) {
        v = PAPI_add_event(probe, code[i]);
        if (v == PAPI_OK) {
            P.code[P.nevents] = code[i];
            snprintf(P.name[P.nevents], NAME_LEN, "%s", names[i]);
            P.nevents++;
        } else {
            if (first_bad < 0) first_bad = i, first_err = v;
            list_add(uncountable, names[i], PAPI_strerror(v));
        }
    }
    /* Does the eventset actually start? (A PMU may accept events that
     * cannot be scheduled together.) */
    if (P.nevents > 0) {
        v = PAPI_start(probe);
        if (v == PAPI_OK) {
            long long tmp[TSR__PAPI_MAX_EVENTS];
            PAPI_stop(probe, tmp);
        } else {
            if (user) {
                rc = tsr_error(TSR_ERR_INVALID, "TSR_PAPI_EVENTS='%s': these events cannot be "
                               "counted together: %s", env, PAPI_strerror(v));
                goto fail;
            }
            first_bad = 0, first_err = v;
            P.nevents = 0;
        }
    }
    PAPI_cleanup_eventset(probe);
    PAPI_destroy_eventset(&probe);

    if (P.nevents == 0) { /* the machine counts nothing: not an error */
        explain(names[first_bad < 0 ? 0 : first_bad], first_err);
        goto no_counters;
    }
    if (user && uncountable[0]) { /* it counts, just not what was asked */
        rc = tsr_error(TSR_ERR_INVALID, "TSR_PAPI_EVENTS: not countable on this machine: %s",
                       uncountable);
        goto fail;
    }
    if (nold != P.nevents || memcmp(old, P.code, sizeof(int) * (size_t)P.nevents) != 0) P.list++;
    P.note[0] = '\0';
    P.on = 1;
    atomic_fetch_add_explicit(&gen, 1, memory_order_release); /* now odd: counters on */
    goto out;

no_counters:
    say_once();
fail:
    if (probe != PAPI_NULL) {
        PAPI_cleanup_eventset(probe);
        PAPI_destroy_eventset(&probe);
    }
    P.nevents = 0;
out:
    pthread_mutex_unlock(&setup_lock);
    return rc;
}

int tsr__papi_nevents(void) {
    return (atomic_load_explicit(&gen, memory_order_acquire) & 1u) ? P.nevents : 0;
}

const char *tsr__papi_event_name(int i) {
    return i >= 0 && i < tsr__papi_nevents() ? P.name[i] : NULL;
}

const char *tsr__papi_note(void) { return P.note[0] ? P.note : NULL; }

/* First read of this thread in session g: keep its eventset if it counts
 * the current list, else (re)build and start one. On failure the thread
 * has es = PAPI_NULL (reads give 0s) until the list changes; a warning says
 * which thread and why. */
static void thread_setup(unsigned g) {
    int es = PAPI_NULL, v = PAPI_OK;
    pthread_mutex_lock(&setup_lock);
    if (atomic_load_explicit(&gen, memory_order_relaxed) != g) { /* fini raced */
        pthread_mutex_unlock(&setup_lock);
        return;
    }
    if (me.built && me.list == P.list) { /* same events: keep counting */
        es = me.es;
        goto out;
    }
    drop_mine();
    if (!me.registered) {
        if ((v = PAPI_register_thread()) != PAPI_OK) goto bad;
        me.registered = 1;
    }
    if ((v = PAPI_create_eventset(&es)) != PAPI_OK) goto bad;
    if ((v = PAPI_add_events(es, P.code, P.nevents)) != PAPI_OK) goto bad;
    if ((v = PAPI_start(es)) != PAPI_OK) goto bad;
    goto out;
bad:
    tsr_log(TSR_LOG_WARN, "PAPI: counters not started on thread %d (worker %d): %s",
            (int)gettid(), tsr_worker_id(), PAPI_strerror(v));
    if (es != PAPI_NULL) {
        PAPI_cleanup_eventset(es);
        PAPI_destroy_eventset(&es);
    }
    es = PAPI_NULL;
out:
    me.list = P.list;
    me.built = 1;
    me.es = es;
    me.gen = g;
    pthread_mutex_unlock(&setup_lock);
}

void tsr__papi_read(long long *vals) {
    unsigned g = atomic_load_explicit(&gen, memory_order_acquire);
    if (!(g & 1u)) return;
    int n = P.nevents;
    if (__builtin_expect(me.gen != g, 0)) {
        thread_setup(g);
        memset(vals, 0, (size_t)n * sizeof *vals);
        return;
    }
    if (me.es == PAPI_NULL || PAPI_read(me.es, vals) != PAPI_OK)
        memset(vals, 0, (size_t)n * sizeof *vals);
}

void tsr__papi_fini(void) {
    pthread_mutex_lock(&setup_lock);
    if (atomic_load_explicit(&gen, memory_order_relaxed) & 1u)
        atomic_fetch_add_explicit(&gen, 1, memory_order_release); /* even: off */
    /* Eventsets stay (see `me`): reads stop because gen is even. */
    P.on = 0;
    pthread_mutex_unlock(&setup_lock);
}
