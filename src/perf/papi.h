/* Hardware counters through PAPI for the trace (internal to the perf layer).
 *
 * Events come from TSR_PAPI_EVENTS (comma-separated PAPI names, e.g.
 * "PAPI_TOT_CYC,PAPI_L1_DCM"); unset or empty: PAPI_TOT_CYC, PAPI_TOT_INS,
 * PAPI_L2_TCM, PAPI_L3_TCM, whichever this machine can count. Each thread
 * that reads counters gets its own eventset, created and started on its
 * first tsr__papi_read, so workers that never run a traced task cost
 * nothing.
 *
 * A machine without counters (most VMs: PAPI's perf_event component
 * disabled, or perf_event_paranoid too high) is not an error: init returns
 * TSR_OK with nevents 0, rank 0 prints one line saying why, once per job,
 * and the trace is recorded without counters. Only names the user asked for
 * that PAPI does not know are an error (the message names them), and so
 * are known ones that a machine WITH counters cannot count.
 * TSR_PAPI_EVENTS=none turns counters off without a note. If PAPI itself
 * cannot start (PAPI_library_init fails), names cannot be checked: that is
 * the no-counters case, with the reason in the note.
 *
 * Call order (the trace's open/close, main thread):
 *   tsr__papi_init -> any threads: tsr__papi_read -> tsr__papi_fini.
 * init/fini may be repeated (one trace session after another). */
#ifndef TSR_PERF_PAPI_H
#define TSR_PERF_PAPI_H

#define TSR__PAPI_MAX_EVENTS 8

/* Parse TSR_PAPI_EVENTS and check the events against PAPI. Main thread, at
 * trace open, after tsr_init (the once-per-job note goes through rank 0).
 * Returns TSR_OK when counters are unavailable (nevents 0; the reason is in
 * tsr__papi_note()); TSR_ERR_INVALID when TSR_PAPI_EVENTS names an event
 * PAPI does not know or has more than TSR__PAPI_MAX_EVENTS names (message
 * names the offenders). Every rank parses the same environment, so every
 * rank fails alike. Calling it again while initialised returns TSR_OK. */
int tsr__papi_init(void);

/* Number of events each tsr__papi_read fills; 0 when counters are off. */
int tsr__papi_nevents(void);

/* Name of event i (0 <= i < nevents), e.g. "PAPI_TOT_CYC"; NULL otherwise.
 * Valid until tsr__papi_fini. */
const char *tsr__papi_event_name(int i);

/* Why there are no counters ("component perf_event disabled: ..."), or NULL
 * when there are. For the trace's otherData.papi_note. */
const char *tsr__papi_note(void);

/* The calling thread's running counts since its eventset started, one per
 * event, into vals[0 .. nevents-1]. The first call on a thread registers it
 * with PAPI and starts its eventset (vals are then 0s). If this thread's
 * eventset cannot start (e.g. too many threads for the hardware), vals are
 * set to 0 and the thread is not retried. Does nothing when nevents is 0.
 * Any thread; lock-free after the thread's first call. */
void tsr__papi_read(long long *vals);

/* End the session: reads do nothing and nevents becomes 0. Threads' eventsets
 * are kept (PAPI stays initialised for the process: re-initialising it
 * after PAPI_shutdown crashes PAPI 7), and reused by the next session when
 * its event list is the same, else rebuilt by their thread. Main thread, at
 * trace close, when no task is running. */
void tsr__papi_fini(void);

#endif
