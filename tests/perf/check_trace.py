#!/usr/bin/python3
"""check_trace.py MPIRUN PROGRAM NP: run test_trace's scenarios at NP ranks
and check the Chrome trace files they leave (json.load, then the contents).
Exit 0 if all pass, 1 with a message otherwise."""
import json
import os
import subprocess
import sys
import tempfile


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(mpirun, prog, np, args, env_extra, cwd, expect_rc=0):
    env = dict(os.environ)
    env.pop("TSR_TRACE", None)
    env.pop("TSR_TRACE_EVENTS", None)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.update(env_extra)
    cmd = [mpirun, "-np", str(np), prog] + args
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    bad = p.returncode == 0 if expect_rc is None else p.returncode != expect_rc
    if bad:
        fail("%s (env %s) exited %d:\n%s%s" % (" ".join(cmd), env_extra, p.returncode, p.stdout,
                                               p.stderr))
    return p


def load(path):
    if not os.path.exists(path):
        fail("no trace file at " + path)
    with open(path) as f:
        try:
            t = json.load(f)
        except ValueError as e:
            fail("%s is not valid JSON: %s" % (path, e))
    if not isinstance(t, dict) or not isinstance(t.get("traceEvents"), list):
        fail("%s has no traceEvents list" % path)
    for e in t["traceEvents"]:
        for k in ("name", "ph", "pid", "tid"):
            if k not in e:
                fail("event without %s: %r" % (k, e))
        if e["ph"] == "X" and (not isinstance(e.get("dur"), (int, float)) or e["dur"] < 0):
            fail("complete event with a bad dur: %r" % e)
        if e["ph"] in ("X", "i") and not isinstance(e.get("ts"), (int, float)):
            fail("event without ts: %r" % e)
    return t


def no_leftovers(d, keep):
    extra = sorted(set(os.listdir(d)) - set(keep))
    if extra:
        fail("files left behind in %s: %s" % (d, extra))


def check_meta(t, np):
    ev = t["traceEvents"]
    procs = {e["pid"] for e in ev if e["ph"] == "M" and e["name"] == "process_name"}
    if procs != set(range(np)):
        fail("process_name metadata for ranks %s, expected 0..%d" % (sorted(procs), np - 1))
    for r in range(np):
        names = [e for e in ev if e["ph"] == "M" and e["name"] == "thread_name" and e["pid"] == r]
        tids = {e["tid"] for e in ev if e["ph"] in ("X", "i") and e["pid"] == r}
        named = {e["tid"] for e in names}
        if not tids <= named:
            fail("rank %d: threads %s have events but no thread_name" % (r, sorted(tids - named)))
    od = t.get("otherData", {})
    if od.get("ranks") != np or len(od.get("dropped_by_rank", [])) != np:
        fail("otherData does not describe %d ranks: %r" % (np, od))


def check_work(t, np, n):
    check_meta(t, np)
    ev = t["traceEvents"]
    od = t["otherData"]
    if od["dropped_events"] != 0:
        fail("events dropped in a small run: %r" % od)
    for r in range(np):
        mine = [e for e in ev if e["pid"] == r and e["ph"] in ("X", "i")]
        tasks = [e for e in mine if e.get("cat") == "task"]
        labelled = [e for e in tasks if e["name"] == "test-label"]
        # n jobs made in the scope + n/2 children they made (inherited)
        if len(labelled) != n + n // 2:
            fail("rank %d: %d task events labelled test-label, expected %d" %
                 (r, len(labelled), n + n // 2))
        if any(e.get("args", {}).get("site") != "test_trace.c:1 work" for e in labelled):
            fail("rank %d: a labelled task without its site: %r" % (r, labelled[:2]))
        plain = [e for e in tasks if e["name"] == "async"]
        if len(plain) != n or any("args" in e for e in plain):
            fail("rank %d: %d unlabelled async events (expected %d, no site)" % (r, len(plain), n))
        if len(tasks) != len(labelled) + len(plain):
            fail("rank %d: unexpected task events: %r" %
                 (r, [e for e in tasks if e["name"] not in ("async", "test-label")][:3]))
        spans = [e for e in mine if e["name"] == "test:setup" and e.get("cat") == "span"]
        if len(spans) != 1:
            fail("rank %d: %d test:setup spans, expected 1" % (r, len(spans)))
        if not [e for e in mine if e["name"] == "test:waited" and e["ph"] == "X"]:
            fail("rank %d: no test:waited event" % r)
        if not [e for e in mine if e["name"] == "test:mark" and e["ph"] == "i"]:
            fail("rank %d: no test:mark instant" % r)
        sends = [e for e in mine if e["name"] == "send" and e.get("cat") == "am"]
        recvs = [e for e in mine if e["name"] == "recv" and e.get("cat") == "am"]
        nxt, prv = (r + 1) % np, (r - 1) % np
        if not any(e["args"]["peer"] == nxt and e["args"]["bytes"] == 100 for e in sends):
            fail("rank %d: no send of 100 bytes to rank %d: %r" % (r, nxt, sends))
        if not any(e["args"]["peer"] == prv and e["args"]["bytes"] == 100 for e in recvs):
            fail("rank %d: no recv of 100 bytes from rank %d: %r" % (r, prv, recvs))
        if min(e["ts"] for e in mine) < 0:
            fail("rank %d: an event before the trace was opened" % r)


def main():
    if len(sys.argv) != 4:
        fail(__doc__)
    mpirun, prog = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    np = int(sys.argv[3])
    n = 200
    with tempfile.TemporaryDirectory(prefix="tsr-trace-") as d:
        # Traced by TSR_TRACE, two workers per rank.
        path = os.path.join(d, "work.json")
        run(mpirun, prog, np, ["work", str(n)], {"TSR_TRACE": path, "TSR_THREADS": "2"}, d)
        check_work(load(path), np, n)
        no_leftovers(d, ["work.json"])
        os.unlink(path)

        # Tracing off: the same work writes nothing at all.
        run(mpirun, prog, np, ["off", str(n)], {"TSR_THREADS": "2"}, d)
        no_leftovers(d, [])

        # No tasks: still one valid file, with the ranks' metadata.
        path = os.path.join(d, "empty.json")
        run(mpirun, prog, np, ["empty"], {"TSR_TRACE": path}, d)
        t = load(path)
        check_meta(t, np)
        if [e for e in t["traceEvents"] if e.get("cat") == "task"]:
            fail("task events in a program without tasks")
        os.unlink(path)

        # tsr_trace_open / tsr_trace_close (what `tessera run --trace` does).
        path = os.path.join(d, "open.json")
        run(mpirun, prog, np, ["open", path, str(n)], {"TSR_THREADS": "1"}, d)
        check_work(load(path), np, n)
        no_leftovers(d, ["open.json"])
        os.unlink(path)

        # A full buffer: drops are counted, events stay at the cap.
        path = os.path.join(d, "full.json")
        cap = 50
        run(mpirun, prog, np, ["work", str(n)],
            {"TSR_TRACE": path, "TSR_TRACE_EVENTS": str(cap), "TSR_THREADS": "1"}, d)
        t = load(path)
        check_meta(t, np)
        od = t["otherData"]
        if od["events_per_thread_cap"] != cap:
            fail("cap %r, expected %d" % (od["events_per_thread_cap"], cap))
        if od["dropped_events"] <= 0 or any(x <= 0 for x in od["dropped_by_rank"]):
            fail("a full buffer dropped nothing: %r" % od)
        ev = t["traceEvents"]
        for e in ev:
            if e["ph"] == "M" and e["name"] == "thread_name":
                if e["args"]["events"] > cap:
                    fail("a thread kept %d events, cap %d" % (e["args"]["events"], cap))
        counts = {}
        for e in ev:
            if e["ph"] in ("X", "i"):
                counts[(e["pid"], e["tid"])] = counts.get((e["pid"], e["tid"]), 0) + 1
        if max(counts.values()) > cap:
            fail("%d events on one thread, cap %d" % (max(counts.values()), cap))
        total_kept = sum(counts.values())
        if total_kept + od["dropped_events"] < np * (n + n // 2 + n):
            fail("kept %d + dropped %d is less than the tasks run" % (total_kept,
                                                                       od["dropped_events"]))
        os.unlink(path)

        # An unwritable path fails at open, on every rank alike.
        run(mpirun, prog, np, ["badpath"], {}, d)
        # ... and so does TSR_TRACE pointing there (tsr_init fails).
        p = run(mpirun, prog, np, ["empty"], {"TSR_TRACE": "/nonexistent-tessera-dir/t.json"},
                d, expect_rc=None)
        if "nonexistent-tessera-dir" not in p.stderr:
            fail("tsr_init with a bad TSR_TRACE did not name the path:\n" + p.stderr)
        # A malformed cap is an error naming the variable.
        p = run(mpirun, prog, np, ["empty"],
                {"TSR_TRACE": os.path.join(d, "x.json"), "TSR_TRACE_EVENTS": "lots"}, d,
                expect_rc=None)
        if "TSR_TRACE_EVENTS" not in p.stderr:
            fail("a bad TSR_TRACE_EVENTS was not named:\n" + p.stderr)
        no_leftovers(d, [])
    print("trace checks passed at %d ranks" % np)


if __name__ == "__main__":
    main()
