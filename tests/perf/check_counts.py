#!/usr/bin/python3
"""check_counts.py MPIRUN PROGRAM NP: run test_counts at NP ranks with
TSR_TRACE set and check the array layer's counts in the trace summary
(FILE.summary.json): per task kind, flops summed over ranks equal what the
program computed (2mnk per matmul, exactly; instructions x elements for
eval; one per element for reductions), bytes are counted (> 0), and the
task events' args.flops add up to the same totals."""
import json
import os
import subprocess
import sys
import tempfile


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    mpirun, prog, np = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.json")
        env = dict(os.environ, TSR_TRACE=path, TSR_THREADS="2", OPENBLAS_NUM_THREADS="1")
        env.pop("TSR_PAPI_EVENTS", None)
        p = subprocess.run([mpirun, "-np", str(np), prog], env=env, capture_output=True,
                           text=True, timeout=120)
        if p.returncode != 0:
            fail("test_counts exited %d:\n%s%s" % (p.returncode, p.stdout, p.stderr))
        want = json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])
        notes = [l for l in p.stderr.splitlines() if "PAPI:" in l]
        # PAPI through the trace: with no counters, one note for the job
        # (rank 0) and the reason in otherData; an unknown event in
        # TSR_PAPI_EVENTS fails the trace's open (here tsr_init) on every rank.
        bad = subprocess.run([mpirun, "-np", str(np), prog],
                             env=dict(env, TSR_PAPI_EVENTS="PAPI_TOT_CYC,NOT_AN_EVENT",
                                      TSR_TRACE=os.path.join(d, "bad.json")),
                             capture_output=True, text=True, timeout=120)
        named = [l for l in bad.stderr.splitlines() if "unknown PAPI event NOT_AN_EVENT" in l]
        if bad.returncode == 0 or len(named) != np:
            fail("TSR_PAPI_EVENTS=PAPI_TOT_CYC,NOT_AN_EVENT: expected a failure naming "
                 "NOT_AN_EVENT on each of %d ranks, got rc %d:\n%s" % (np, bad.returncode, bad.stderr))
        print("ok: unknown PAPI event rejected at trace open: " + named[0])
        with open(path + ".summary.json") as f:
            summ = json.load(f)
        with open(path) as f:
            trace = json.load(f)
    od = trace["otherData"]
    if od.get("papi_events"):
        if notes:
            fail("counters on but a note was printed: %s" % notes)
    else:
        if len(notes) != 1 or "[rank 0]" not in notes[0] or not od.get("papi_note"):
            fail("no counters: expected one note from rank 0 and otherData.papi_note, got %s, %r"
                 % (notes, od.get("papi_note")))
        print("ok: one PAPI note for the job; papi_note: " + od["papi_note"])
    got = {}
    for r in summ["per_rank"]:
        for kind, k in r["kinds"].items():
            g = got.setdefault(kind, {"flops": 0, "bytes": 0})
            g["flops"] += k.get("flops", 0)
            g["bytes"] += k.get("bytes", 0)
    ev = {}
    for e in trace["traceEvents"]:
        if e.get("cat") == "task":
            ev[e["name"]] = ev.get(e["name"], 0) + e.get("args", {}).get("flops", 0)
    # matmul_tn on a grid with Q > 1 and operands wider than a tile falls
    # back to transpose + tsr_matmul, whose tasks are labelled "matmul": so
    # the two kinds are checked together, and each alone on a P x 1 grid.
    both = want["matmul"] + want["matmul_tn"]
    got_both = sum(got.get(k, {"flops": 0})["flops"] for k in ("matmul", "matmul_tn"))
    ev_both = ev.get("matmul", 0) + ev.get("matmul_tn", 0)
    if got_both != both or ev_both != both:
        fail("matmul + matmul_tn flops: summary %d, events %d, expected 2mnk total %d"
             % (got_both, ev_both, both))
    print("ok: matmul + matmul_tn flops %d = sum of 2mnk (exact)" % both)
    if np > 1:
        for k in ("matmul", "matmul_tn"):
            want.pop(k)
    for kind, flops in want.items():
        g = got.get(kind)
        if g is None:
            fail("no task kind %r in the summary (kinds: %s)" % (kind, sorted(got)))
        if g["flops"] != flops:
            fail("%s: summary flops %d, expected %d" % (kind, g["flops"], flops))
        if ev.get(kind, 0) != flops:
            fail("%s: task events' args.flops add to %d, expected %d" % (kind, ev.get(kind, 0), flops))
        if g["bytes"] <= 0:
            fail("%s: no bytes counted" % kind)
        print("ok: %s flops %d (exact), bytes %d" % (kind, flops, g["bytes"]))


main()
