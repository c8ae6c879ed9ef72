#!/usr/bin/python3
"""check_trace.py MPIRUN PROGRAM NP: run test_trace's scenarios at NP ranks
and check the Chrome trace files they leave (json.load, the schema, then the
contents).
check_trace.py --logreg MPIRUN TESSERA NP: trace apps/logreg.tsl on small
data with `tessera run --trace` at NP ranks and check the schema.

The schema (check_schema): every event has its fields; task events carry
args.id (unique per rank), args.deps (ids of tasks on that rank that ended
before this one started), flops and bytes; every flow start "s" has exactly
one end "f" (at the peer it names) and the reverse; otherData has the clock
offsets and the PAPI fields; FILE.summary.json agrees with the events (per
kind count, total, max, flops, bytes; messages and bytes per peer; busy time
per thread; dropped events).
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


def summary_path(path):
    return path + ".summary.json"


def load_summary(path):
    sp = summary_path(path)
    if not os.path.exists(sp):
        fail("no summary file at " + sp)
    with open(sp) as f:
        try:
            return json.load(f)
        except ValueError as e:
            fail("%s is not valid JSON: %s" % (sp, e))


def num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def busy_union(intervals):
    """Total length of the union of [t0, t1) intervals."""
    total, end = 0.0, None
    for t0, t1 in sorted(intervals):
        if end is None or t0 >= end:
            total += t1 - t0
            end = t1
        elif t1 > end:
            total += t1 - end
            end = t1
    return total


def close(a, b, tol):
    return abs(a - b) <= tol


def check_schema(t, s, np):
    """The trace t and its summary s (see the module doc)."""
    ev = t["traceEvents"]
    od = t["otherData"]
    for k in ("clock_offsets_us", "clock_rtt_us", "papi_events", "papi_note", "summary",
              "dropped_events", "dropped_by_rank"):
        if k not in od:
            fail("otherData has no %s: %r" % (k, od))
    offs = od["clock_offsets_us"]
    if len(offs) != np or not all(num(x) for x in offs) or offs[0] != 0:
        fail("clock_offsets_us %r: want %d numbers, rank 0's 0" % (offs, np))
    if not isinstance(od["papi_events"], list):
        fail("papi_events is not a list: %r" % od["papi_events"])
    if od["papi_events"] == [] and not isinstance(od["papi_note"], str):
        fail("no PAPI events and no papi_note saying why: %r" % od)
    dropped = od["dropped_events"]
    ids = {}
    flows_s, flows_f = {}, {}
    for e in ev:
        ph = e["ph"]
        if ph in ("X", "i", "s", "f") and not num(e.get("ts")):
            fail("event without a numeric ts: %r" % e)
        if ph in ("s", "f"):
            if e.get("cat") != "msg" or not isinstance(e.get("id"), int):
                fail("flow event without cat msg and an integer id: %r" % e)
            if ph == "f" and e.get("bp") != "e":
                fail("flow end without bp e (bind to the handler's slice): %r" % e)
            d = flows_s if ph == "s" else flows_f
            if e["id"] in d:
                fail("two flow %s events with id %d: %r, %r" % (ph, e["id"], d[e["id"]], e))
            d[e["id"]] = e
        if e.get("cat") == "task":
            a = e.get("args")
            if ph != "X" or not isinstance(a, dict):
                fail("task event is not a complete event with args: %r" % e)
            for k in ("id", "deps", "flops", "bytes"):
                if k not in a:
                    fail("task event without args.%s: %r" % (k, e))
            if not isinstance(a["id"], int) or a["id"] <= 0:
                fail("task id not a positive integer: %r" % e)
            if not isinstance(a["deps"], list) or not all(isinstance(x, int) for x in a["deps"]):
                fail("task deps not a list of ids: %r" % e)
            if not (isinstance(a["flops"], int) and isinstance(a["bytes"], int)):
                fail("task flops/bytes not integers: %r" % e)
            for c in od["papi_events"]:
                if c not in a:
                    fail("task event without counter %s: %r" % (c, e))
            key = (e["pid"], a["id"])
            if key in ids:
                fail("task id %d twice on rank %d: %r, %r" % (a["id"], e["pid"], ids[key], e))
            ids[key] = e
        if e.get("cat") == "wait" and (ph != "X" or e["name"] != "wait"):
            fail("wait event is not a complete event named wait: %r" % e)
        if e.get("cat") == "am" and e["name"] in ("send", "recv"):
            a = e.get("args", {})
            if not (isinstance(a.get("peer"), int) and isinstance(a.get("bytes"), int)):
                fail("message event without peer and bytes: %r" % e)
    for (pid, _), e in ids.items():
        for d in e["args"]["deps"]:
            if (pid, d) not in ids and dropped > 0:
                continue  # the dependency's event may be among the dropped
            if (pid, d) not in ids:
                fail("rank %d: task %d depends on %d, which is no task of that rank" %
                     (pid, e["args"]["id"], d))
            p = ids[(pid, d)]
            # A producer sets its output future inside its body and its end
            # is stamped after it returns, so a dependent task may start on
            # another worker a moment before that end; it can never start
            # before the producer did.
            if p["ts"] > e["ts"] + 0.01:
                fail("rank %d: task %d starts at %.3f before its dependency %d started (it ends at %.3f)" %
                     (pid, e["args"]["id"], e["ts"], d, p["ts"] + p["dur"]))
    if dropped == 0:
        if set(flows_s) != set(flows_f):
            fail("flows do not pair up: starts without an end %s, ends without a start %s" %
                 (sorted(set(flows_s) - set(flows_f))[:5], sorted(set(flows_f) - set(flows_s))[:5]))
        for i, a in flows_s.items():
            b = flows_f[i]
            if a["args"]["peer"] != b["pid"] or b["args"]["peer"] != a["pid"]:
                fail("flow %d: from rank %d to peer %d, but ends on rank %d from peer %d" %
                     (i, a["pid"], a["args"]["peer"], b["pid"], b["args"]["peer"]))
            if a["args"]["bytes"] != b["args"]["bytes"]:
                fail("flow %d: %d bytes sent, %d received" %
                     (i, a["args"]["bytes"], b["args"]["bytes"]))
    sends = [e for e in ev if e.get("cat") == "am" and e["name"] == "send"]
    if dropped == 0 and len(sends) != len(flows_s):
        fail("%d send events but %d flow starts" % (len(sends), len(flows_s)))

    # The summary against the events.
    if s.get("ranks") != np or len(s.get("per_rank", [])) != np:
        fail("summary does not describe %d ranks: %r" % (np, str(s)[:300]))
    if s["dropped_events"] != dropped or s["papi_events"] != od["papi_events"]:
        fail("summary's dropped_events/papi_events differ from the trace's")
    for r, rs in enumerate(s["per_rank"]):
        if rs["rank"] != r:
            fail("summary's per_rank[%d] is rank %r" % (r, rs["rank"]))
        if rs["dropped_events"] != od["dropped_by_rank"][r]:
            fail("rank %d: summary dropped %d, trace %d" %
                 (r, rs["dropped_events"], od["dropped_by_rank"][r]))
        if not close(rs["clock_offset_us"], offs[r], 0.002):
            fail("rank %d: summary's clock offset %r, trace's %r" % (r, rs["clock_offset_us"],
                                                                    offs[r]))
        mine = [e for e in ev if e["pid"] == r and e["ph"] in ("X", "i")]
        tasks = [e for e in mine if e.get("cat") == "task"]
        kinds = {}
        for e in tasks:
            k = kinds.setdefault(e["name"], {"count": 0, "total": 0.0, "max": 0.0, "flops": 0,
                                             "bytes": 0})
            k["count"] += 1
            k["total"] += e["dur"]
            k["max"] = max(k["max"], e["dur"])
            k["flops"] += e["args"]["flops"]
            k["bytes"] += e["args"]["bytes"]
        if set(kinds) != set(rs["kinds"]):
            fail("rank %d: summary kinds %s, trace kinds %s" %
                 (r, sorted(rs["kinds"]), sorted(kinds)))
        for name, k in kinds.items():
            sk = rs["kinds"][name]
            if sk["count"] != k["count"] or sk["flops"] != k["flops"] or \
               sk["bytes"] != k["bytes"]:
                fail("rank %d kind %s: summary %r, trace %r" % (r, name, sk, k))
            if not close(sk["total_us"], k["total"], 0.002 * k["count"] + 0.01) or \
               not close(sk["max_us"], k["max"], 0.002) or \
               not close(sk["mean_us"], k["total"] / k["count"], 0.01):
                fail("rank %d kind %s: summary times %r, trace %r" % (r, name, sk, k))
            if set(sk["counters"]) != set(od["papi_events"]):
                fail("rank %d kind %s: counters %r, papi_events %r" %
                     (r, name, sk["counters"], od["papi_events"]))
        peers = {}
        for e in mine:
            if e.get("cat") == "am" and e["name"] in ("send", "recv"):
                p = peers.setdefault(str(e["args"]["peer"]), {"msgs_sent": 0, "bytes_sent": 0,
                                                             "msgs_recv": 0, "bytes_recv": 0})
                w = "sent" if e["name"] == "send" else "recv"
                p["msgs_" + w] += 1
                p["bytes_" + w] += e["args"]["bytes"]
        if peers != rs["peers"]:
            fail("rank %d: summary peers %r, trace %r" % (r, rs["peers"], peers))
        waits = [e for e in mine if e.get("cat") == "wait"]
        if rs["waits"]["count"] != len(waits):
            fail("rank %d: summary %d waits, trace %d" % (r, rs["waits"]["count"], len(waits)))
        named = {e["tid"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name" and
                 e["pid"] == r}
        if {th["tid"] for th in rs["threads"]} != named:
            fail("rank %d: summary threads %r, named threads %r" %
                 (r, [th["tid"] for th in rs["threads"]], sorted(named)))
        for th in rs["threads"]:
            iv = [(e["ts"], e["ts"] + e["dur"]) for e in mine if e["tid"] == th["tid"] and
                  e["ph"] == "X" and (e.get("cat") == "task" or e["name"] == "recv")]
            b = busy_union(iv)
            if not close(th["busy_us"], b, 0.002 * len(iv) + 0.01):
                fail("rank %d thread %d: summary busy %.3f us, trace %.3f" %
                     (r, th["tid"], th["busy_us"], b))
            if th["busy_us"] > rs["wall_us"] + 0.01 or \
               not close(th["busy_us"] + th["idle_us"], rs["wall_us"], 0.01):
                fail("rank %d thread %d: busy %r + idle %r is not wall %r" %
                     (r, th["tid"], th["busy_us"], th["idle_us"], rs["wall_us"]))
            if th["tasks"] != sum(1 for e in tasks if e["tid"] == th["tid"]):
                fail("rank %d thread %d: summary %d tasks" % (r, th["tid"], th["tasks"]))


def check_chain(t, np):
    """test_trace's chain a -> b -> when_all(a, b) on every rank."""
    ev = t["traceEvents"]
    for r in range(np):
        got = {}
        for name in ("chain-a", "chain-b", "chain-c"):
            es = [e for e in ev if e["pid"] == r and e.get("cat") == "task" and e["name"] == name]
            if len(es) != 1:
                fail("rank %d: %d %s tasks, expected 1" % (r, len(es), name))
            got[name] = es[0]["args"]
        a, b, c = got["chain-a"], got["chain-b"], got["chain-c"]
        if a["deps"] != [] or b["deps"] != [a["id"]] or sorted(c["deps"]) != sorted([a["id"],
                                                                                       b["id"]]):
            fail("rank %d: chain deps a %r, b %r (want [a]), c %r (want [a, b])" %
                 (r, a, b, c))
        if (a["flops"], a["bytes"], b["flops"], b["bytes"], c["flops"]) != (1000, 64, 7, 0, 0):
            fail("rank %d: tsr_trace_count totals a %r, b %r, c %r" % (r, a, b, c))
        waits = [e for e in ev if e["pid"] == r and e.get("cat") == "wait" and
                 e.get("args", {}).get("for") == c["id"]]
        if len(waits) != 1:
            fail("rank %d: %d waits for the chain's last task %d, expected 1" %
                 (r, len(waits), c["id"]))


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
        if len(plain) != n or any("site" in e["args"] for e in plain):
            fail("rank %d: %d unlabelled async events (expected %d, no site)" % (r, len(plain), n))
        chain = [e for e in tasks if e["name"].startswith("chain-")]
        if len(tasks) != len(labelled) + len(plain) + len(chain):
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


def main_logreg(mpirun, tessera, np):
    """A 2-rank (NP-rank) logreg run on small data, traced by tessera run."""
    here = os.path.dirname(os.path.abspath(__file__))
    apps = os.path.join(os.path.dirname(os.path.dirname(here)), "apps")
    with tempfile.TemporaryDirectory(prefix="tsr-trace-logreg-") as d:
        p = subprocess.run(["/usr/bin/python3", os.path.join(apps, "logreg_data.py"), "--m",
                            "4000", "--n", "20", "--out", d], capture_output=True, text=True)
        if p.returncode != 0:
            fail("logreg_data.py failed:\n" + p.stdout + p.stderr)
        path = os.path.join(d, "logreg.json")
        run(mpirun, tessera, np,
            ["run", os.path.join(apps, "logreg.tsl"), "--arg", "X=" + os.path.join(d, "X.npy"),
             "--arg", "y=" + os.path.join(d, "y.npy"), "--arg", "alpha=1", "--arg", "iters=10",
             "--trace", path], {"TSR_THREADS": "2"}, d)
        t = load(path)
        check_meta(t, np)
        s = load_summary(path)
        check_schema(t, s, np)
        ev = t["traceEvents"]
        tasks = [e for e in ev if e.get("cat") == "task"]
        names = {e["name"] for e in tasks}
        for k in ("matmul", "matmul_tn", "eval"):
            if k not in names:
                fail("no %s task in the logreg trace (kinds %s)" % (k, sorted(names)))
        if not any("logreg.tsl:" in e["args"].get("site", "") for e in tasks):
            fail("no task carries a logreg.tsl site")
        if np > 1 and not [e for e in ev if e["ph"] == "s"]:
            fail("no message flows in a %d-rank logreg run" % np)
        if not any(e["args"]["deps"] for e in tasks):
            fail("no task in the logreg trace lists a dependency")
        if t["otherData"]["dropped_events"] != 0:
            fail("events dropped in a small logreg run")
    print("logreg trace schema checks passed at %d ranks" % np)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--logreg":
        main_logreg(os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3]), int(sys.argv[4]))
        return
    if len(sys.argv) != 4:
        fail(__doc__)
    mpirun, prog = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    np = int(sys.argv[3])
    n = 200
    with tempfile.TemporaryDirectory(prefix="tsr-trace-") as d:
        # Traced by TSR_TRACE, two workers per rank.
        path = os.path.join(d, "work.json")
        run(mpirun, prog, np, ["work", str(n)], {"TSR_TRACE": path, "TSR_THREADS": "2"}, d)
        t = load(path)
        check_work(t, np, n)
        check_schema(t, load_summary(path), np)
        check_chain(t, np)
        no_leftovers(d, ["work.json", "work.json.summary.json"])
        os.unlink(path)
        os.unlink(summary_path(path))

        # Tracing off: the same work writes nothing at all.
        run(mpirun, prog, np, ["off", str(n)], {"TSR_THREADS": "2"}, d)
        no_leftovers(d, [])

        # No tasks: still one valid file, with the ranks' metadata.
        path = os.path.join(d, "empty.json")
        run(mpirun, prog, np, ["empty"], {"TSR_TRACE": path}, d)
        t = load(path)
        check_meta(t, np)
        check_schema(t, load_summary(path), np)
        if [e for e in t["traceEvents"] if e.get("cat") == "task"]:
            fail("task events in a program without tasks")
        os.unlink(path)
        os.unlink(summary_path(path))

        # tsr_trace_open / tsr_trace_close (what `tessera run --trace` does).
        path = os.path.join(d, "open.json")
        run(mpirun, prog, np, ["open", path, str(n)], {"TSR_THREADS": "1"}, d)
        t = load(path)
        check_work(t, np, n)
        check_schema(t, load_summary(path), np)
        check_chain(t, np)
        no_leftovers(d, ["open.json", "open.json.summary.json"])
        os.unlink(path)
        os.unlink(summary_path(path))

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
        check_schema(t, load_summary(path), np)
        os.unlink(path)
        os.unlink(summary_path(path))

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
