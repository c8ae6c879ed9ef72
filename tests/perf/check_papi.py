#!/usr/bin/python3
"""check_papi.py MPIRUN PROGRAM NP: run test_papi's modes at NP ranks with 2
worker threads and check what they print: on a machine without counters,
exactly one "PAPI:" note for the whole job (rank 0, not per rank, thread or
session) naming the reason; with counters, none and nevents > 0; unknown
event names rejected with a message naming them. Exit 0 if all pass."""
import os
import subprocess
import sys


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(mpirun, prog, np, mode, env_extra):
    env = dict(os.environ)
    env.pop("TSR_PAPI_EVENTS", None)
    env.pop("TSR_TRACE", None)
    env["TSR_THREADS"] = "2"
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.update(env_extra)
    cmd = [mpirun, "-np", str(np), prog, mode]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        fail("%s (env %s) exited %d:\n%s%s" % (" ".join(cmd), env_extra, p.returncode, p.stdout,
                                               p.stderr))
    return p


def fields(out):
    d = {}
    for line in out.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            d.setdefault(k, []).append(v)
    return d


def main():
    mpirun, prog, np = sys.argv[1], sys.argv[2], int(sys.argv[3])

    # perf::TASK-CLOCK is a kernel software event: it counts even in a VM
    # without a PMU (unless perf_event itself is off), so the counting path
    # (per-thread eventsets, reads, sessions) runs here too.
    for extra in ({}, {"TSR_PAPI_EVENTS": "PAPI_TOT_CYC"},
                  {"TSR_PAPI_EVENTS": "perf::TASK-CLOCK,perf::CONTEXT-SWITCHES"}):
        p = run(mpirun, prog, np, "basic", extra)
        f = fields(p.stdout)
        n = int(f["nevents"][0])
        notes = [l for l in p.stderr.splitlines() if "PAPI:" in l and "no hardware counters" in l]
        if n == 0:
            if len(notes) != 1:
                fail("expected one PAPI note for the job (np %d, 2 threads, 2 sessions), got %d:\n%s"
                     % (np, len(notes), p.stderr))
            if "[rank 0]" not in notes[0] or "tracing without counters" not in notes[0]:
                fail("note not from rank 0 or not the expected text: " + notes[0])
            if not f["note"][0] or f["note"][0] not in notes[0]:
                fail("note %r not in the printed line %r" % (f["note"][0], notes[0]))
        else:
            if notes:
                fail("counters on (%d) but a no-counters note was printed: %s" % (n, notes))
            asked = extra["TSR_PAPI_EVENTS"].split(",") if extra else None
            if asked and f["event"] != asked:
                fail("asked for %s, got %s" % (asked, f["event"]))
            if int(f["delta0"][0]) <= 0 or int(f["delta0"][1]) <= 0:
                fail("%s counted nothing over the busy loops: %s" % (f["event"][0], f["delta0"]))
        print("ok: basic %s np=%d nevents=%d %s" % (extra, np, n, (notes or [""])[0]))

    p = run(mpirun, prog, np, "bad", {})
    errs = fields(p.stdout).get("error", [])
    if len(errs) != 4:
        fail("expected 4 error lines from rank 0, got %s" % errs)
    print("ok: bad lists rejected, e.g. " + errs[0])
    p = run(mpirun, prog, np, "basic", {"TSR_PAPI_EVENTS": "none"})
    if "PAPI:" in p.stderr:
        fail("TSR_PAPI_EVENTS=none printed a note:\n" + p.stderr)
    print("ok: none")


main()
