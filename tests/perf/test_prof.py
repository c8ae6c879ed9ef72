#!/usr/bin/python3
"""test_prof.py TESSERA: `tessera prof` on hand-written traces with known
numbers (busy/idle, kinds, counters, messages, imbalance, critical path, IR
lines), traces without ids/deps, the JSON array form, its errors (exit 2, no
traceback) and --png (valid PNG files). Exit 0 if all pass, 1 otherwise."""
import json
import os
import struct
import subprocess
import sys
import tempfile

TESSERA = None
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg, file=sys.stderr)


def close(a, b, msg, tol=1e-6):
    check(a is not None and abs(a - b) <= tol * max(1.0, abs(b)), "%s: got %r, expected %r" %
          (msg, a, b))


def prof(*args):
    return subprocess.run([TESSERA, "prof"] + list(args), capture_output=True, text=True,
                          timeout=60)


def prof_json(path, *extra):
    p = prof(path, "--json", *extra)
    if p.returncode != 0:
        check(False, "prof --json %s exited %d: %s" % (path, p.returncode, p.stderr))
        return None
    return json.loads(p.stdout)


# ---------------------------------------------------------------- the trace
#
# rank 0  worker 0: a [0,100] load      c [150,350] compute (deps a)
#         worker 1: b [10,60] compute   d [360,400] reduce (deps c, b), sends
#                                       1000 B to rank 1 at 390 (flow 7)
#         main (tid 1000): lang span "prog.tsl:3 dot" [0,5]
# rank 1  worker 0: recv [420,520] (flow 7)   e [530,830] compute
#         worker 1: g [0,30] compute    f [750,850] finish (deps e) with
#                   h [770,800] compute nested in it, a wait for g at
#                   [810,830] inside f, and a send of 24 B to rank 0 at 840
#                   whose receive is not in the trace (flow 8)
# Critical path: a 100 + c 200 + d 40 + recv 100 = 440 (e + f's own 70 = 370).


def task(pid, tid, name, ts, dur, tid_=None, deps=None, site=None, **counters):
    args = {}
    if tid_ is not None:
        args["id"] = tid_
    if deps is not None:
        args["deps"] = deps
    if site:
        args["site"] = site
    args.update(counters)
    return {"name": name, "cat": "task", "ph": "X", "pid": pid, "tid": tid, "ts": ts, "dur": dur,
            "args": args}


def make_trace(ids=True):
    def T(pid, tid, name, ts, dur, i, deps=(), **kw):
        if ids:
            return task(pid, tid, name, ts, dur, i, list(deps), **kw)
        return task(pid, tid, name, ts, dur, **kw)

    ev = [
        {"name": "process_name", "ph": "M", "pid": 0, "tid": 0, "args": {"name": "rank 0"}},
        {"name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": "rank 1"}},
    ]
    for r in (0, 1):
        for w in (0, 1):
            ev.append({"name": "thread_name", "ph": "M", "pid": r, "tid": w,
                       "args": {"name": "worker %d" % w}})
    ev.append({"name": "thread_name", "ph": "M", "pid": 0, "tid": 1000,
               "args": {"name": "main"}})
    ev += [
        T(0, 0, "load", 0, 100, 1, site="prog.tsl:2 load"),
        T(0, 0, "compute", 150, 200, 3, [1], site="prog.tsl:3 dot", flops=4000, bytes=800,
          PAPI_TOT_CYC=1000, PAPI_TOT_INS=2000),
        T(0, 1, "compute", 10, 50, 2, site="prog.tsl:3 dot", flops=1000),
        T(0, 1, "reduce", 360, 40, 4, [3, 2]),
        {"name": "send", "cat": "am", "ph": "i", "s": "t", "pid": 0, "tid": 1, "ts": 390,
         "args": {"peer": 1, "bytes": 1000, "flow": 7}},
        {"name": "msg", "cat": "msg", "ph": "s", "id": 7, "pid": 0, "tid": 1, "ts": 390,
         "args": {"peer": 1, "bytes": 1000}},
        {"name": "prog.tsl:3 dot", "cat": "lang", "ph": "X", "pid": 0, "tid": 1000, "ts": 0,
         "dur": 5},
        {"name": "recv", "cat": "am", "ph": "X", "pid": 1, "tid": 0, "ts": 420, "dur": 100,
         "args": {"peer": 0, "bytes": 1000, "flow": 7}},
        {"name": "msg", "cat": "msg", "ph": "f", "bp": "e", "id": 7, "pid": 1, "tid": 0,
         "ts": 420, "args": {"peer": 0, "bytes": 1000}},
        T(1, 0, "compute", 530, 300, 1),
        T(1, 1, "compute", 0, 30, 3),
        T(1, 1, "finish", 750, 100, 2, [1]),
        T(1, 1, "compute", 770, 30, 4),
        {"name": "wait", "cat": "wait", "ph": "X", "pid": 1, "tid": 1, "ts": 810, "dur": 20,
         "args": {"for": 3} if ids else {}},
        {"name": "send", "cat": "am", "ph": "i", "s": "t", "pid": 1, "tid": 1, "ts": 840,
         "args": {"peer": 0, "bytes": 24, "flow": 8}},
        {"name": "msg", "cat": "msg", "ph": "s", "id": 8, "pid": 1, "tid": 1, "ts": 840,
         "args": {"peer": 0, "bytes": 24}},
    ]
    return {"traceEvents": ev, "displayTimeUnit": "ms",
            "otherData": {"ranks": 2, "dropped_events": 0, "clock_offsets_us": [0, 1.5],
                          "papi_events": ["PAPI_TOT_CYC", "PAPI_TOT_INS"]}}


def check_common(a, label):
    close(a["wall_us"], 850, label + " wall")
    check(a["ranks"] == 2 and a["tasks"] == 8, "%s: ranks %r tasks %r" % (label, a["ranks"],
                                                                      a["tasks"]))
    busy = {(r["rank"], t["tid"]): t for r in a["per_rank"] for t in r["threads"]}
    check(sorted(busy) == [(0, 0), (0, 1), (1, 0), (1, 1)],
          "%s: threads %r (main thread has no tasks: not a lane)" % (label, sorted(busy)))
    for k, b, n in (((0, 0), 300, 2), ((0, 1), 90, 2), ((1, 0), 400, 1), ((1, 1), 130, 3)):
        if k in busy:
            close(busy[k]["busy_us"], b, "%s busy %r" % (label, k))
            close(busy[k]["idle_us"], 850 - b, "%s idle %r" % (label, k))
            check(busy[k]["tasks"] == n, "%s tasks on %r: %r" % (label, k, busy[k]["tasks"]))
    rb = {r["rank"]: r["busy_us"] for r in a["per_rank"]}
    close(rb.get(0), 390, label + " rank 0 busy")
    close(rb.get(1), 530, label + " rank 1 busy")
    w = {r["rank"]: r["waits"] for r in a["per_rank"]}
    check(w[1] == {"count": 1, "total_us": 20} and w[0]["count"] == 0, "%s waits %r" % (label, w))
    im = a["imbalance"]
    close(im["ratio"], 530 / 460, label + " imbalance")
    check(im["max_rank"] == 1, "%s imbalance max rank %r" % (label, im["max_rank"]))
    kinds = {k["kind"]: k for k in a["kinds"]}
    check([k["kind"] for k in a["kinds"]] == ["compute", "finish", "load", "reduce"],
          "%s: kinds by total %r" % (label, [k["kind"] for k in a["kinds"]]))
    for name, cnt, tot, mx in (("load", 1, 100, 100), ("compute", 5, 610, 300),
                               ("reduce", 1, 40, 40), ("finish", 1, 100, 100)):
        k = kinds.get(name)
        check(k is not None, "%s: no kind %s" % (label, name))
        if k:
            check(k["count"] == cnt, "%s %s count %r" % (label, name, k["count"]))
            close(k["total_us"], tot, "%s %s total" % (label, name))
            close(k["mean_us"], tot / cnt, "%s %s mean" % (label, name))
            close(k["max_us"], mx, "%s %s max" % (label, name))
    c = kinds["compute"]
    check(c["counters"] == {"flops": 5000, "bytes": 800, "PAPI_TOT_CYC": 1000,
                            "PAPI_TOT_INS": 2000}, "%s compute counters %r" % (label,
                                                                            c["counters"]))
    close(c.get("gflops_per_s"), 5000 / 610 / 1e3, label + " GFLOP/s")
    close(c.get("ipc"), 2.0, label + " IPC")
    check(kinds["load"]["counters"] == {}, "%s load counters %r" % (label,
                                                                   kinds["load"]["counters"]))
    msgs = [(m["src"], m["dst"], m["msgs"], m["bytes"], m["recv_msgs"], m["recv_bytes"])
            for m in a["messages"]]
    check(msgs == [(0, 1, 1, 1000, 1, 1000), (1, 0, 1, 24, 0, 0)],
          "%s messages %r" % (label, msgs))
    sites = [(s["site"], s["tasks"], s["task_us"], s["calls"], s["lang_us"]) for s in a["sites"]]
    check(sites == [("prog.tsl:3 dot", 2, 250, 1, 5), ("prog.tsl:2 load", 1, 100, 0, 0)],
          "%s sites %r" % (label, sites))


def test_numbers(d):
    path = os.path.join(d, "t.json")
    with open(path, "w") as f:
        json.dump(make_trace(), f)
    a = prof_json(path)
    if a is None:
        return
    check_common(a, "ids")
    cp = a["critical_path"]
    check(cp["available"], "critical path unavailable: %r" % cp)
    if cp["available"]:
        close(cp["length_us"], 440, "critical path")
        close(cp["fraction_of_wall"], 440 / 850, "critical path / wall")
        close(cp["parallelism"], 920 / 440, "parallelism")
        steps = [(s["rank"], s["kind"], s["id"]) for s in cp["path"]]
        check(steps == [(0, "load", 1), (0, "compute", 3), (0, "reduce", 4), (1, "recv", None)],
              "critical path steps %r" % steps)
        check(cp["rank_crossings"] == 1, "rank crossings %r" % cp["rank_crossings"])
        check(cp["edges"] == {"deps": 4, "flows": 1, "waits": 1}, "edges %r" % cp["edges"])
        close(cp["by_kind_us"].get("compute"), 200, "path compute time")

    # the text report says the same numbers
    p = prof(path)
    check(p.returncode == 0, "text report exited %d: %s" % (p.returncode, p.stderr))
    for want in ("wall 0.850 ms", "load imbalance: 1.152", "critical path: 0.440 ms over 4 events",
                 "51.8% of wall", "0 -> 1", "prog.tsl:3 dot", "IPC", "PAPI_TOT_CYC"):
        check(want in p.stdout, "text report lacks %r:\n%s" % (want, p.stdout))
    # --top 1 keeps one row of kinds and lines
    p = prof(path, "--top", "1")
    check("... 3 more kinds" in p.stdout and "... 1 more lines" in p.stdout,
          "--top 1 did not cut the tables:\n" + p.stdout)

    # Without ids/deps: the same numbers, and the critical path says why not.
    path2 = os.path.join(d, "noids.json")
    with open(path2, "w") as f:
        json.dump(make_trace(ids=False), f)
    a = prof_json(path2)
    if a is not None:
        check_common(a, "no ids")
        cp = a["critical_path"]
        check(not cp["available"] and "ids" in cp["reason"], "no-ids critical path %r" % cp)
        p = prof(path2)
        check("critical path: not available" in p.stdout, "text without ids:\n" + p.stdout)

    # The JSON Array Format (a bare list of events) is a trace too.
    path3 = os.path.join(d, "array.json")
    with open(path3, "w") as f:
        json.dump(make_trace()["traceEvents"], f)
    a = prof_json(path3)
    if a is not None:
        check_common(a, "array form")
        close(a["critical_path"].get("length_us"), 440, "array form critical path")

    # A dependency cycle (malformed): the rest of the graph still counts.
    path5 = os.path.join(d, "cycle.json")
    with open(path5, "w") as f:
        json.dump({"traceEvents": [task(0, 0, "x", 0, 10, 1, [2]), task(0, 0, "y", 10, 10, 2, [1]),
                                   task(0, 1, "z", 0, 5, 3, []), task(0, 1, "w", 5, 7, 4, [3])]},
                  f)
    a = prof_json(path5)
    if a is not None:
        cp = a["critical_path"]
        check(cp.get("available") and cp.get("cycle_events_ignored") == 2 and
              abs(cp.get("length_us", 0) - 12) < 1e-9, "cycle trace critical path %r" % cp)

    # No tasks at all, and malformed events: a report, not a crash.
    path4 = os.path.join(d, "odd.json")
    with open(path4, "w") as f:
        json.dump({"traceEvents": [{"ph": "X", "name": "x", "pid": 0, "tid": 0, "ts": "soon",
                                    "dur": 1}, 5, {"ph": "i", "name": "m", "pid": 0, "tid": 0,
                                                   "ts": 3}]}, f)
    a = prof_json(path4)
    if a is not None:
        check(a["malformed_events_skipped"] == 2 and a["tasks"] == 0,
              "odd trace: skipped %r tasks %r" % (a["malformed_events_skipped"], a["tasks"]))
        check(not a["critical_path"]["available"], "critical path with no tasks")
    p = prof(path4)
    check(p.returncode == 0 and "2 malformed events skipped" in p.stdout,
          "odd trace text (%d):\n%s%s" % (p.returncode, p.stdout, p.stderr))


def test_errors(d):
    empty = os.path.join(d, "empty.json")
    open(empty, "w").close()
    notjson = os.path.join(d, "notjson.json")
    with open(notjson, "w") as f:
        f.write("hello\n")
    trunc = os.path.join(d, "trunc.json")
    with open(trunc, "w") as f:
        f.write(json.dumps(make_trace())[:300])
    nolist = os.path.join(d, "nolist.json")
    with open(nolist, "w") as f:
        json.dump({"events": []}, f)
    binary = os.path.join(d, "binary.json")
    with open(binary, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n\xff\xfe")
    cases = [([os.path.join(d, "missing.json")], "cannot read"), ([d], "cannot read"),
             ([empty], "empty"), ([notjson], "not valid JSON"), ([trunc], "truncated"),
             ([nolist], "no traceEvents"), ([binary], "not UTF-8"), ([], "required"),
             ([notjson, "--top", "0"], "positive integer"), (["--bogus", notjson], "unrecognized")]
    for args, want in cases:
        p = prof(*args)
        check(p.returncode == 2, "prof %s exited %d, expected 2" % (args, p.returncode))
        check(want in p.stderr and "Traceback" not in p.stderr,
              "prof %s: stderr lacks %r or has a traceback:\n%s" % (args, want, p.stderr))
    p = prof("--help")
    check(p.returncode == 0 and "critical" in p.stdout, "prof --help: %d\n%s" % (p.returncode,
                                                                                p.stdout))


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def test_png(d):
    path = os.path.join(d, "t.json")
    out = os.path.join(d, "png", "sub")  # made if missing
    p = prof(path, "--png", out)
    if p.returncode == 1 and "matplotlib" in p.stderr:
        print("SKIP --png: " + p.stderr.strip())
        return "skip"
    check(p.returncode == 0, "--png exited %d: %s" % (p.returncode, p.stderr))
    for name in ("gantt.png", "utilisation.png"):
        f = os.path.join(out, name)
        if not os.path.exists(f):
            check(False, "--png wrote no " + name)
            continue
        wh = png_size(f)
        check(wh is not None and wh[0] >= 300 and wh[1] >= 150,
              "%s is not a PNG of a plot (size %r)" % (name, wh))
        check(os.path.getsize(f) > 5000, "%s has only %d bytes" % (name, os.path.getsize(f)))
    # --png with --json: the JSON on stdout is still clean
    p = prof(path, "--json", "--png", out)
    try:
        json.loads(p.stdout)
    except ValueError:
        check(False, "--json --png stdout is not JSON:\n" + p.stdout[:500])
    # a --png target that is a file: a clear error
    p = prof(path, "--png", path)
    check(p.returncode == 2 and "cannot create" in p.stderr and "Traceback" not in p.stderr,
          "--png onto a file: %d %s" % (p.returncode, p.stderr))
    return "ok"


def test_fuzz(d):
    """Mutated traces (wrong types, NaN, missing fields in random places): prof
    reports or refuses, never raises. In-process, so it is quick."""
    import contextlib
    import copy
    import importlib.util
    import io
    import random
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "apps",
                          "tessera_prof.py")
    spec = importlib.util.spec_from_file_location("tessera_prof", script)
    tp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tp)
    rnd = random.Random(5)
    vals = [None, "x", -1, 0, 1e300, float("nan"), [], {}, True, 3.5, [1, "a"], {"a": 1}, "X",
            "s", "f", "M", "task", "am", "recv"]
    base = make_trace()
    path = os.path.join(d, "fuzz.json")
    for it in range(200):
        t = copy.deepcopy(base)
        for _ in range(rnd.randint(1, 6)):
            e = rnd.choice(t["traceEvents"])
            if rnd.random() < 0.3 and isinstance(e.get("args"), dict) and e["args"]:
                e["args"][rnd.choice(list(e["args"]) + ["deps", "id", "for", "peer"])] = \
                    copy.deepcopy(rnd.choice(vals))
            else:
                e[rnd.choice(list(e) + ["pid", "tid", "ts", "dur", "id", "ph", "cat"])] = \
                    copy.deepcopy(rnd.choice(vals))
        if rnd.random() < 0.2:
            t["otherData"] = copy.deepcopy(rnd.choice(vals))
        with open(path, "w") as f:
            json.dump(t, f)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                tp.main([path, "--json"])
                tp.main([path])
        except SystemExit:
            pass
        except Exception as e:  # what the test is for
            check(False, "mutated trace %d made prof raise %s: %s\n%s" %
                  (it, type(e).__name__, e, json.dumps(t)[:2000]))
            return


def main():
    global TESSERA
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 1
    TESSERA = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="tsr-prof-") as d:
        test_numbers(d)
        test_errors(d)
        test_fuzz(d)
        png = test_png(d)
    if failures:
        print("%d checks failed" % len(failures), file=sys.stderr)
        return 1
    print("tessera prof checks passed%s" % (" (PNG skipped: no matplotlib)" if png == "skip"
                                            else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
