#!/usr/bin/python3
"""check_prof_job.py MPIRUN SYNTHETIC_JOB TESSERA NP: trace synthetic_job
(tasks that are busy for known times in a known DAG, see synthetic_job.c) at
NP ranks, then check `tessera prof --json` on the trace:

- exact: task counts per kind, counted flops/bytes per kind, IR lines, messages
  per peer (MSG_BYTES to the next rank), and prof's per-kind totals and
  per-thread busy time equal to the runtime's own FILE.summary.json;
- exact: the critical path equals the longest chain of this DAG computed
  directly from the trace's events (a -> max(b, c) -> d [-> the message's
  handler on the next rank], or e);
- against the known durations: each kind's total and the critical path are at
  least the programmed times (busy loops never end early). No upper bound: on a
  shared machine a descheduled busy loop ends arbitrarily late, and pass/fail
  must not depend on timing (which chain is critical is checked against the
  durations the trace itself recorded, not the programmed ones).
Exit 0 if all pass, 1 otherwise."""
import json
import os
import subprocess
import sys
import tempfile

MS = {"syn_a": 20, "syn_b": 30, "syn_c": 10, "syn_d": 15, "syn_e": 25}
SITE = {"syn_a": 1, "syn_b": 2, "syn_c": 3, "syn_d": 4, "syn_e": 5}
MSG_BYTES = 1000
SCALE = 2.0        # durations x2: 40..60 ms tasks, so scheduling noise is small beside them

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg, file=sys.stderr)


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 1
    mpirun, job, tessera = (os.path.abspath(x) for x in sys.argv[1:4])
    np = int(sys.argv[4])
    with tempfile.TemporaryDirectory(prefix="tsr-profjob-") as d:
        trace = os.path.join(d, "syn.json")
        env = dict(os.environ)
        env.update({"TSR_TRACE": trace, "OPENBLAS_NUM_THREADS": "1"})
        env.setdefault("TSR_THREADS", "2")
        p = subprocess.run([mpirun, "-np", str(np), job, str(SCALE)], env=env, cwd=d,
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            print("FAIL: synthetic_job exited %d:\n%s%s" % (p.returncode, p.stdout, p.stderr),
                  file=sys.stderr)
            return 1
        p = subprocess.run([tessera, "prof", trace, "--json"], capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            print("FAIL: tessera prof exited %d:\n%s" % (p.returncode, p.stderr), file=sys.stderr)
            return 1
        a = json.loads(p.stdout)
        with open(trace) as f:
            t = json.load(f)
        summary = None
        if os.path.exists(trace + ".summary.json"):
            with open(trace + ".summary.json") as f:
                summary = json.load(f)

    kinds = {k["kind"]: k for k in a["kinds"]}
    check(sorted(kinds) == sorted(MS), "kinds %r" % sorted(kinds))
    for name, ms in MS.items():
        k = kinds.get(name)
        if not k:
            continue
        want = np * ms * SCALE * 1000.0
        check(k["count"] == np, "%s: %d tasks, expected %d" % (name, k["count"], np))
        check(want - 1.0 <= k["total_us"],
              "%s: total %.0f us, programmed %.0f us" % (name, k["total_us"], want))
        check(k["max_us"] >= ms * SCALE * 1000.0 - 1.0, "%s: max %.0f us" % (name, k["max_us"]))
        check(k["counters"].get("flops") == np * ms * 1000 and
              k["counters"].get("bytes") == np * ms * 10,
              "%s: counters %r, expected flops %d bytes %d" % (name, k["counters"],
                                                               np * ms * 1000, np * ms * 10))
    sites = {s["site"]: s for s in a["sites"]}
    for name, line in SITE.items():
        s = sites.get("synthetic_job.c:%d %s" % (line, name))
        check(s is not None and s["tasks"] == np, "IR line of %s: %r" % (name, s))
    msgs = sorted((m["src"], m["dst"], m["msgs"], m["bytes"], m["recv_msgs"], m["recv_bytes"])
                  for m in a["messages"])
    want_msgs = sorted((r, (r + 1) % np, 1, MSG_BYTES, 1, MSG_BYTES) for r in range(np)) \
        if np > 1 else []
    check(msgs == want_msgs, "messages %r, expected %r" % (msgs, want_msgs))
    check(a["ranks"] == np, "ranks %r" % a["ranks"])
    check(a["imbalance"]["ratio"] is not None and a["imbalance"]["ratio"] >= 1.0,
          "imbalance %r" % a["imbalance"])

    # prof against the runtime's own summary (same definitions): exact
    if summary is not None:
        for r in summary["per_rank"]:
            pr = [x for x in a["per_rank"] if x["rank"] == r["rank"]]
            if not pr:
                check(False, "rank %d missing from prof" % r["rank"])
                continue
            busy = {x["tid"]: x["busy_us"] for x in pr[0]["threads"]}
            for th in r["threads"]:
                if th.get("worker"):
                    check(abs(busy.get(th["tid"], 0.0) - th["busy_us"]) < 0.01,
                          "rank %d thread %d busy: prof %r, summary %r" %
                          (r["rank"], th["tid"], busy.get(th["tid"]), th["busy_us"]))
        for name in MS:
            tot = sum(r["kinds"].get(name, {}).get("total_us", 0.0) for r in summary["per_rank"])
            if name in kinds:
                check(abs(kinds[name]["total_us"] - tot) < 0.01,
                      "%s total: prof %r, summary %r" % (name, kinds[name]["total_us"], tot))
    else:
        print("note: no %s.summary.json beside the trace; summary cross-check skipped" % trace)

    # critical path: the DAG's longest chain, straight from the events
    ev = t["traceEvents"]
    tasks = [e for e in ev if e.get("cat") == "task" and e["ph"] == "X"]
    cp = a["critical_path"]
    if not any("id" in e.get("args", {}) for e in tasks):
        check(not cp["available"], "critical path claimed without task ids: %r" % cp)
        print("note: the trace has no task ids (tracing without dependencies): "
              "critical path not checked")
    else:
        check(cp["available"], "critical path unavailable: %r" % cp)
        by = {(e["pid"], e["name"]): e for e in tasks}
        sends = {e["id"]: e for e in ev if e["ph"] == "s"}
        recvs = {e["args"]["flow"]: e for e in ev
                 if e.get("cat") == "am" and e["name"] == "recv" and e["ph"] == "X"}
        best, best_is_chain = 0.0, True
        for r in range(np):
            d = by[(r, "syn_d")]
            chain = by[(r, "syn_a")]["dur"] + max(by[(r, "syn_b")]["dur"],
                                                  by[(r, "syn_c")]["dur"]) + d["dur"]
            # the message sent at the end of d, handled on the next rank
            handler = 0.0
            for fid, s in sends.items():
                if s["pid"] == r and d["ts"] <= s["ts"] <= d["ts"] + d["dur"] and fid in recvs:
                    handler = recvs[fid]["dur"]
            for length, is_chain in ((chain + handler, True), (by[(r, "syn_e")]["dur"], False)):
                if length > best:
                    best, best_is_chain = length, is_chain
        if cp["available"]:
            check(abs(cp["length_us"] - best) < 0.01,
                  "critical path %.3f us, the DAG's longest chain in the trace is %.3f us" %
                  (cp["length_us"], best))
            want = (MS["syn_a"] + MS["syn_b"] + MS["syn_d"]) * SCALE * 1000.0
            check(want - 1.0 <= cp["length_us"],
                  "critical path %.0f us, programmed %.0f us" % (cp["length_us"], want))
            kinds_on = [s["kind"] for s in cp["path"] if s["kind"] != "recv"]
            if best_is_chain:
                check(len(kinds_on) == 3 and kinds_on[0] == "syn_a" and
                      kinds_on[1] in ("syn_b", "syn_c") and kinds_on[2] == "syn_d",
                      "critical path kinds %r, expected syn_a, syn_b or syn_c, syn_d" % kinds_on)
            else:  # a heavily descheduled syn_e outlasted the chain
                check(kinds_on == ["syn_e"], "critical path kinds %r, expected syn_e" % kinds_on)
            check(cp["length_us"] <= a["wall_us"] + 1.0, "critical path longer than wall")
    if failures:
        print("%d checks failed" % len(failures), file=sys.stderr)
        return 1
    print("tessera prof matches the synthetic job at %d ranks (critical path %s ms, wall %.1f "
          "ms)" % (np, "%.1f" % (cp["length_us"] / 1000) if cp.get("available") else "n/a",
                   a["wall_us"] / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
