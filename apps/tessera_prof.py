#!/usr/bin/python3
"""tessera prof TRACE.json [--top N] [--json] [--png DIR]

Summarises a Tessera Chrome trace (`tessera run --trace FILE`, TSR_TRACE=FILE):
per rank busy/idle per worker, tasks per kind (count, total, mean, max), bytes
and messages per peer, load imbalance, the critical path against wall time,
the IR source lines that took the most time, and counters per kind (array-layer
flops/bytes, PAPI events) when the trace has them. --png DIR draws gantt.png
and utilisation.png (matplotlib). --json prints the same numbers as one JSON
object instead of the text report.

Definitions (all times in microseconds inside, printed in ms):
  wall      first event's start to last event's end over the whole job.
  busy      union of a thread's task and message-handler (recv) intervals, so a
            task nested in another (a worker helping while it waits) counts once;
            idle = wall - busy. Busy matches the runtime's FILE.summary.json (whose
            idle is measured against the rank's open-to-close time instead).
  imbalance max over ranks of a rank's busy time (summed over its workers) divided
            by the mean over ranks; 1.0 is perfect balance.
  critical  the longest chain through the task dependencies (args.deps, same rank),
  path      waits (a task that waited inside itself for task args.for) and message
            flows (the task that sent, counted whole -> the receiving handler), each
            event weighted by its own time (its duration less the events nested in
            it on the same thread). A message's handler ends a chain: the trace does not say which
            tasks consumed what it delivered. Needs task ids (args.id); traces
            without them report the path as unavailable.
  IR lines  task time by args.site ("prog.tsl:L name") and the evaluator's lang
            spans (time on the main thread issuing that line's builtin call).

Exit status: 0 success, 1 plotting failed (matplotlib missing), 2 bad usage or a
trace file that is missing or not a Chrome trace.
"""
import argparse
import json
import math
import os
import sys
from collections import defaultdict

PROG = "tessera prof"
NUMBER = (int, float)
# args keys of task events that are not counters
NOT_COUNTERS = {"id", "deps", "site", "flow", "peer", "for"}


class TraceError(Exception):
    """A trace that cannot be read; the message names the file and why."""


def is_num(v):
    return isinstance(v, NUMBER) and not isinstance(v, bool) and math.isfinite(v)


def lane_key(v):
    """Sort key for pid/tid values that may be numbers or strings."""
    return (0, v, "") if is_num(v) else (1, 0, str(v))


# ---------------------------------------------------------------- loading


def load(path):
    """Return (events, otherData, skipped) or raise TraceError."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise TraceError("cannot read %s: %s" % (path, e.strerror or e))
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text)
    except UnicodeDecodeError as e:
        raise TraceError("%s is not a trace: not UTF-8 text (byte %d)" % (path, e.start))
    except json.JSONDecodeError as e:
        # an error at the very end of a non-empty file: the writer stopped early
        if not text.strip():
            raise TraceError("%s is empty, not a trace" % path)
        cut = e.msg.startswith("Unterminated") or e.pos >= len(text.rstrip()) - 1
        raise TraceError("%s is not valid JSON (%s)%s" %
                         (path, e, "; a truncated trace?" if cut else ""))
    except RecursionError:
        raise TraceError("%s is not a trace: JSON nested too deeply" % path)
    if isinstance(doc, list):  # the JSON Array Format is a Chrome trace too
        events, other = doc, {}
    elif isinstance(doc, dict) and isinstance(doc.get("traceEvents"), list):
        events, other = doc["traceEvents"], doc.get("otherData")
        if not isinstance(other, dict):
            other = {}
    else:
        raise TraceError("%s is not a Chrome trace: no traceEvents list" % path)
    good, skipped = [], 0
    for e in events:
        e = clean_event(e)
        if e is None:
            skipped += 1
        else:
            good.append(e)
    return good, other, skipped


def clean_key(v):
    """A pid, tid, peer or flow id as a hashable number or string; None if it
    is neither (bools, lists, NaN...)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int) or isinstance(v, str):
        return v
    if isinstance(v, float) and math.isfinite(v):
        return int(v) if v == int(v) else v
    return None


def clean_event(e):
    """A copy of a trace event with the fields prof reads in the types it
    expects (wrong ones dropped), or None for an event it cannot use."""
    if not isinstance(e, dict) or not isinstance(e.get("ph"), str):
        return None
    ph = e["ph"]
    if ph != "M" and not is_num(e.get("ts")):
        return None
    if ph == "X" and not (is_num(e.get("dur")) and e["dur"] >= 0):
        return None
    out = dict(e)
    out["pid"], out["tid"] = clean_key(e.get("pid", 0)), clean_key(e.get("tid", 0))
    if out["pid"] is None or out["tid"] is None:
        return None
    name = e.get("name")
    out["name"] = name if isinstance(name, str) else "?" if name is None else json.dumps(name)
    if not isinstance(e.get("cat"), str):
        out.pop("cat", None)
    if "id" in e:
        out["id"] = clean_key(e["id"])
        if out["id"] is None:
            out.pop("id")
    args = e.get("args")
    args = dict(args) if isinstance(args, dict) else {}
    for k in ("peer",):
        if k in args and clean_key(args[k]) is None:
            del args[k]
    for k in ("id", "for", "bytes", "flops"):
        if k in args and not is_num(args[k]):
            del args[k]
    if "deps" in args:
        if isinstance(args["deps"], list):
            args["deps"] = [d for d in args["deps"] if is_num(d)]
        else:
            del args["deps"]
    if "site" in args and not isinstance(args["site"], str):
        del args["site"]
    out["args"] = args
    return out


# ---------------------------------------------------------------- analysis


def union_length(intervals):
    """Total length covered by [start, end) intervals."""
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def union_intervals(intervals):
    out = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1][1] = e
        else:
            out.append([s, e])
    return out


def is_task(e):
    return e["ph"] == "X" and e.get("cat") == "task"


def is_handler(e):
    return e["ph"] == "X" and e.get("cat") == "am" and e.get("name") == "recv"


def self_times(events, depth=None):
    """Map id(event) -> its duration less the events directly nested in it on
    the same thread (tasks and handlers only). If depth is a dict, it gets
    id(event) -> nesting depth (0 outermost)."""
    by_thread = defaultdict(list)
    for e in events:
        by_thread[(e.get("pid", 0), e.get("tid", 0))].append(e)
    own = {}
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []
        for e in evs:
            end = e["ts"] + e["dur"]
            # pop what does not contain e: ended before it, or overlaps it only
            # partly (not nested: a sibling)
            while stack and stack[-1]["ts"] + stack[-1]["dur"] < end - 1e-9:
                stack.pop()
            own[id(e)] = float(e["dur"])
            if depth is not None:
                depth[id(e)] = len(stack)
            if stack:
                own[id(stack[-1])] -= e["dur"]
            stack.append(e)
    return {k: max(v, 0.0) for k, v in own.items()}


def enclosing(evs_sorted, starts, ts, dur=0.0):
    """Innermost event of one thread's sorted list that contains [ts, ts+dur]."""
    import bisect
    i = bisect.bisect_right(starts, ts + 1e-9)
    best = None
    # nested events start later, so the innermost container is the latest-starting
    # one that still covers the interval; scan back a bounded distance (events
    # between a container's start and ts are nested in it: helping runs).
    for j in range(i - 1, max(-1, i - 2000), -1):
        e = evs_sorted[j]
        if e["ts"] <= ts + 1e-9 and e["ts"] + e["dur"] >= ts + dur - 1e-9:
            best = e
            break
    return best


def critical_path(tasks, handlers, events, flows_s, flows_f, waits):
    with_id = [e for e in tasks if is_num(e["args"].get("id"))]
    if not tasks:
        return {"available": False, "reason": "no task events in the trace"}
    if not with_id:
        return {"available": False,
                "reason": "the trace's task events carry no ids/deps (args.id, args.deps): "
                          "written by a Tessera without dependency tracing"}
    nodes = with_id + handlers
    own = self_times(tasks + handlers)
    index = {id(e): i for i, e in enumerate(nodes)}
    by_tid = {}
    for e in with_id:
        by_tid[(e.get("pid", 0), e["args"]["id"])] = index[id(e)]
    succ = defaultdict(set)
    n_dep = n_flow = n_wait = 0
    for e in with_id:
        deps = e["args"].get("deps")
        if not isinstance(deps, list):
            continue
        v = index[id(e)]
        for d in deps:
            u = by_tid.get((e.get("pid", 0), d)) if is_num(d) else None
            if u is not None and u != v:
                succ[u].add(v)
                n_dep += 1
    # per-thread sorted lists for binding flow ends and waits to events
    thread_evs = defaultdict(list)
    for e in nodes:
        thread_evs[(e.get("pid", 0), e.get("tid", 0))].append(e)
    thread_starts = {}
    for k, evs in thread_evs.items():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        thread_starts[k] = [e["ts"] for e in evs]

    def bind(e, dur=0.0):
        k = (e.get("pid", 0), e.get("tid", 0))
        if k not in thread_evs:
            return None
        c = enclosing(thread_evs[k], thread_starts[k], e["ts"], dur)
        return None if c is None else index[id(c)]

    for fid, s in flows_s.items():
        f = flows_f.get(fid)
        if f is None:
            continue
        u, v = bind(s), bind(f)
        if u is not None and v is not None and u != v:
            succ[u].add(v)
            n_flow += 1
    for w in waits:
        target = w["args"].get("for")
        u = by_tid.get((w.get("pid", 0), target)) if is_num(target) else None
        v = bind(w, w["dur"])
        if u is not None and v is not None and u != v:
            succ[u].add(v)
            n_wait += 1
    if n_dep + n_flow + n_wait == 0 and not any(
            isinstance(e["args"].get("deps"), list) for e in with_id):
        return {"available": False,
                "reason": "the trace's task events carry ids but no dependency lists "
                          "(args.deps)"}
    # longest path by Kahn's algorithm (the graph is causal, hence acyclic; a
    # malformed trace with a cycle leaves those events out and says so)
    n = len(nodes)
    indeg = [0] * n
    for u, vs in succ.items():
        for v in vs:
            indeg[v] += 1
    dist = [own[id(e)] for e in nodes]
    pred = [-1] * n
    ready = [i for i in range(n) if indeg[i] == 0]
    done = [False] * n
    while ready:
        u = ready.pop()
        done[u] = True
        for v in succ.get(u, ()):
            cand = dist[u] + own[id(nodes[v])]
            if cand > dist[v]:
                dist[v], pred[v] = cand, u
            indeg[v] -= 1
            if indeg[v] == 0:
                ready.append(v)
    cyclic = n - sum(done)
    if cyclic == n:
        return {"available": False,
                "reason": "every task lies on a dependency cycle (a malformed trace)"}
    end = max((i for i in range(n) if done[i]), key=lambda i: dist[i])
    path = []
    i = end
    while i != -1:
        path.append(nodes[i])
        i = pred[i]
    path.reverse()
    by_kind = defaultdict(float)
    crossings = 0
    for a, b in zip(path, path[1:]):
        if a.get("pid", 0) != b.get("pid", 0):
            crossings += 1
    for e in path:
        by_kind[e.get("name", "?")] += own[id(e)]
    steps = [{"rank": e.get("pid", 0), "tid": e.get("tid", 0), "kind": e.get("name", "?"),
              "id": e["args"].get("id"), "ts_us": e["ts"], "dur_us": e["dur"],
              "self_us": own[id(e)]} for e in path]
    out = {"available": True, "length_us": dist[end], "events": len(path),
           "rank_crossings": crossings,
           "by_kind_us": dict(sorted(by_kind.items(), key=lambda kv: -kv[1])),
           "edges": {"deps": n_dep, "flows": n_flow, "waits": n_wait}, "path": steps}
    if cyclic:
        out["cycle_events_ignored"] = cyclic
    return out


def analyse(events, other, skipped, path, top):
    timed = [e for e in events if e["ph"] in ("X", "i", "B", "E", "s", "f", "t")]
    thread_names, proc_names = {}, {}
    for e in events:
        if e["ph"] == "M" and isinstance(e.get("args"), dict):
            key = (e.get("pid", 0), e.get("tid", 0))
            if e.get("name") == "thread_name":
                thread_names[key] = str(e["args"].get("name", ""))
            elif e.get("name") == "process_name":
                proc_names[e.get("pid", 0)] = str(e["args"].get("name", ""))
    spans = [e for e in timed if e["ph"] in ("X", "i")]
    if spans:
        t0 = min(e["ts"] for e in spans)
        t1 = max(e["ts"] + (e.get("dur", 0) if e["ph"] == "X" else 0) for e in spans)
    else:
        t0 = t1 = 0.0
    wall = t1 - t0
    tasks = [e for e in events if is_task(e)]
    handlers = [e for e in events if is_handler(e)]
    waits = [e for e in events if e["ph"] == "X" and e.get("cat") == "wait"]
    lang = [e for e in events if e["ph"] == "X" and e.get("cat") == "lang"]

    ranks = set(proc_names) | {e.get("pid", 0) for e in spans}
    # threads: workers named in the metadata, plus any thread that ran tasks/handlers
    work_by_thread = defaultdict(list)
    ntasks = defaultdict(int)
    for e in tasks + handlers:
        k = (e.get("pid", 0), e.get("tid", 0))
        work_by_thread[k].append((e["ts"], e["ts"] + e["dur"]))
        if is_task(e):
            ntasks[k] += 1
    threads = set(work_by_thread)
    for k, name in thread_names.items():
        if name.startswith("worker"):
            threads.add(k)
    per_rank = []
    rank_busy = {}
    for r in sorted(ranks, key=lane_key):
        rows = []
        for k in sorted((k for k in threads if k[0] == r), key=lambda k: lane_key(k[1])):
            busy = union_length(work_by_thread.get(k, []))
            name = thread_names.get(k, "thread %s" % (k[1],))
            rows.append({"tid": k[1], "name": name, "worker": name.startswith("worker"),
                         "busy_us": busy, "idle_us": max(wall - busy, 0.0),
                         "busy_frac": busy / wall if wall > 0 else 0.0, "tasks": ntasks[k]})
        rw = [w for w in waits if w.get("pid", 0) == r]
        busy_sum = sum(x["busy_us"] for x in rows)
        rank_busy[r] = busy_sum
        per_rank.append({"rank": r, "name": proc_names.get(r, "rank %s" % (r,)),
                         "busy_us": busy_sum, "threads": rows,
                         "tasks": sum(x["tasks"] for x in rows),
                         "waits": {"count": len(rw), "total_us": sum(w["dur"] for w in rw)}})

    kinds = {}
    counter_names = []
    for e in tasks:
        k = kinds.setdefault(e.get("name", "?"), {"kind": e.get("name", "?"), "count": 0,
                                                   "total_us": 0.0, "max_us": 0.0,
                                                   "counters": {}})
        k["count"] += 1
        k["total_us"] += e["dur"]
        k["max_us"] = max(k["max_us"], e["dur"])
        for name, v in e["args"].items():
            if name in NOT_COUNTERS or not is_num(v):
                continue
            k["counters"][name] = k["counters"].get(name, 0) + v
            if name not in counter_names:
                counter_names.append(name)
    kind_list = sorted(kinds.values(), key=lambda k: (-k["total_us"], k["kind"]))
    for k in kind_list:
        k["mean_us"] = k["total_us"] / k["count"]
        c = k["counters"]
        if k["total_us"] > 0:
            if "flops" in c:
                k["gflops_per_s"] = c["flops"] / k["total_us"] / 1e3
            if "bytes" in c:
                k["gbytes_per_s"] = c["bytes"] / k["total_us"] / 1e3
        if c.get("PAPI_TOT_CYC"):
            if "PAPI_TOT_INS" in c:
                k["ipc"] = c["PAPI_TOT_INS"] / c["PAPI_TOT_CYC"]

    # messages: the am send/recv events (one per message); flow starts when a
    # trace has flows but no send events
    msgs = defaultdict(lambda: {"msgs": 0, "bytes": 0})
    recv_side = defaultdict(lambda: {"msgs": 0, "bytes": 0})
    sends = [e for e in events if e.get("cat") == "am" and e.get("name") == "send"]
    flows_s = {}
    flows_f = {}
    for e in events:
        if e.get("ph") in ("s", "f") and "id" in e:
            fid = e["id"]
            (flows_s if e["ph"] == "s" else flows_f)[fid] = e
    src_events = sends if sends else list(flows_s.values())
    for e in src_events:
        peer = e["args"].get("peer")
        if peer is None:
            continue
        m = msgs[(e.get("pid", 0), peer)]
        m["msgs"] += 1
        b = e["args"].get("bytes", 0)
        m["bytes"] += b if is_num(b) else 0
    for e in events:
        if e.get("cat") == "am" and e.get("name") == "recv" and e["args"].get("peer") is not None:
            m = recv_side[(e["args"]["peer"], e.get("pid", 0))]
            m["msgs"] += 1
            b = e["args"].get("bytes", 0)
            m["bytes"] += b if is_num(b) else 0
    messages = [{"src": s, "dst": d, "msgs": m["msgs"], "bytes": m["bytes"],
                 "recv_msgs": recv_side[(s, d)]["msgs"] if (s, d) in recv_side else 0,
                 "recv_bytes": recv_side[(s, d)]["bytes"] if (s, d) in recv_side else 0}
                for (s, d), m in sorted(msgs.items(), key=lambda kv: (lane_key(kv[0][0]),
                                                                        lane_key(kv[0][1])))]
    # receives with no matching send recorded (e.g. sends dropped)
    for (s, d), m in sorted(recv_side.items(), key=lambda kv: (lane_key(kv[0][0]),
                                                               lane_key(kv[0][1]))):
        if (s, d) not in msgs:
            messages.append({"src": s, "dst": d, "msgs": 0, "bytes": 0,
                             "recv_msgs": m["msgs"], "recv_bytes": m["bytes"]})

    busy_vals = [rank_busy[r] for r in rank_busy]
    imbalance = {"ranks": len(busy_vals)}
    if busy_vals and sum(busy_vals) > 0:
        mean = sum(busy_vals) / len(busy_vals)
        rmax = max(rank_busy, key=lambda r: rank_busy[r])
        imbalance.update({"max_busy_us": rank_busy[rmax], "mean_busy_us": mean,
                          "min_busy_us": min(busy_vals), "max_rank": rmax,
                          "ratio": rank_busy[rmax] / mean})
    else:
        imbalance["ratio"] = None

    flow_pairs = [(s, flows_f[k]) for k, s in flows_s.items() if k in flows_f]
    cp = critical_path(tasks, handlers, events, flows_s, flows_f, waits)
    if cp["available"]:
        cp["wall_us"] = wall
        cp["fraction_of_wall"] = cp["length_us"] / wall if wall > 0 else None
        total_work = sum(rank_busy.values())
        cp["parallelism"] = total_work / cp["length_us"] if cp["length_us"] > 0 else None

    sites = defaultdict(lambda: {"task_us": 0.0, "tasks": 0, "lang_us": 0.0, "calls": 0})
    for e in tasks:
        s = e["args"].get("site")
        if isinstance(s, str):
            sites[s]["task_us"] += e["dur"]
            sites[s]["tasks"] += 1
    for e in lang:
        s = sites[str(e.get("name", "?"))]
        s["lang_us"] += e["dur"]
        s["calls"] += 1
    site_list = [dict(site=k, **v) for k, v in sites.items()]
    site_list.sort(key=lambda s: (-s["task_us"], -s["lang_us"], s["site"]))

    return {
        "trace": path,
        "wall_us": wall, "begin_us": t0, "end_us": t1,
        "ranks": len(per_rank),
        "events": len(events), "malformed_events_skipped": skipped,
        "dropped_events": other.get("dropped_events") if is_num(
            other.get("dropped_events")) else None,
        "clock_offsets_us": other.get("clock_offsets_us") if isinstance(
            other.get("clock_offsets_us"), list) else None,
        "papi_events": other.get("papi_events") if isinstance(
            other.get("papi_events"), list) else None,
        "papi_note": other.get("papi_note") if isinstance(other.get("papi_note"), str) else None,
        "tasks": len(tasks),
        "per_rank": per_rank,
        "kinds": kind_list,
        "counter_names": counter_names,
        "messages": messages,
        "imbalance": imbalance,
        "critical_path": cp,
        "sites": site_list,
        "top": top,
        "_flows": flow_pairs,  # for the plots; not printed
    }


# ---------------------------------------------------------------- text report


def ms(us):
    return "%.3f" % (us / 1000.0)


def human(n):
    n = float(n)
    for unit in ("", "K", "M", "G", "T", "P"):
        if abs(n) < 1000 or unit == "P":
            return ("%d" % n if unit == "" and n == int(n) else "%.3g" % n) + unit
        n /= 1000.0


def table(rows, header, out, left=1):
    """Append an aligned table: the first `left` columns left-aligned, numbers right."""
    cols = [header] + rows
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(header))]
    for r in cols:
        cells = []
        for i, c in enumerate(r):
            cells.append(str(c).ljust(widths[i]) if i < left else str(c).rjust(widths[i]))
        out.append("  " + "  ".join(cells).rstrip())


def report(a):
    out = []
    top = a["top"]
    out.append("trace %s: %d ranks, %d task events, wall %s ms" %
               (a["trace"], a["ranks"], a["tasks"], ms(a["wall_us"])))
    notes = []
    if a.get("dropped_events"):
        notes.append("%d events dropped (buffers full): numbers undercount" % a["dropped_events"])
    if a["malformed_events_skipped"]:
        notes.append("%d malformed events skipped" % a["malformed_events_skipped"])
    if a.get("papi_note"):
        notes.append("PAPI: %s" % a["papi_note"])
    for n in notes:
        out.append("note: " + n)

    out.append("")
    out.append("busy/idle per worker (busy = union of task and handler time; wall %s ms)" %
               ms(a["wall_us"]))
    rows = []
    for r in a["per_rank"]:
        for t in r["threads"]:
            rows.append([str(r["rank"]), t["name"], t["tasks"], ms(t["busy_us"]),
                         ms(t["idle_us"]), "%.1f%%" % (100 * t["busy_frac"])])
    if rows:
        table(rows, ["rank", "thread", "tasks", "busy ms", "idle ms", "busy"], out, left=2)
    else:
        out.append("  (no workers in the trace)")
    for r in a["per_rank"]:
        if r["waits"]["count"]:
            out.append("  rank %s waited %s ms in %d waits (tsr_wait; workers help meanwhile)" %
                       (r["rank"], ms(r["waits"]["total_us"]), r["waits"]["count"]))

    out.append("")
    im = a["imbalance"]
    if im["ratio"] is not None:
        out.append("load imbalance: %.3f (max/mean busy over ranks: rank %s %s ms, mean %s ms, "
                   "min %s ms)" % (im["ratio"], im["max_rank"], ms(im["max_busy_us"]),
                                   ms(im["mean_busy_us"]), ms(im["min_busy_us"])))
    else:
        out.append("load imbalance: n/a (no busy time)")
    cp = a["critical_path"]
    if cp["available"]:
        frac = cp["fraction_of_wall"]
        out.append("critical path: %s ms over %d events (%s%% of wall %s ms; %d rank crossings; "
                   "parallelism (busy / path) %s)" %
                   (ms(cp["length_us"]), cp["events"],
                    "%.1f" % (100 * frac) if frac is not None else "-", ms(cp["wall_us"]),
                    cp["rank_crossings"],
                    "%.2f" % cp["parallelism"] if cp["parallelism"] else "-"))
        parts = ", ".join("%s %s ms" % (k, ms(v)) for k, v in list(cp["by_kind_us"].items())[:6])
        out.append("  time on the path by kind: " + parts)
        steps = ["%s@%s" % (st["kind"], st["rank"]) for st in cp["path"]]
        if len(steps) > 12:
            steps = steps[:6] + ["... %d more" % (len(steps) - 11)] + steps[-5:]
        out.append("  path (kind@rank): " + " -> ".join(steps))
        out.append("  edges: %d deps, %d message flows, %d waits" %
                   (cp["edges"]["deps"], cp["edges"]["flows"], cp["edges"]["waits"]))
        if frac is not None and frac < 0.5:
            out.append("  note: most of the wall time is outside recorded dependency chains: "
                       "time the main thread spent issuing or waiting, and inputs delivered by "
                       "messages (a handler ends a chain: the trace does not say which tasks "
                       "used what it delivered)")
        if cp.get("cycle_events_ignored"):
            out.append("  note: %d events in dependency cycles ignored (malformed trace)" %
                       cp["cycle_events_ignored"])
    else:
        out.append("critical path: not available: " + cp["reason"])

    out.append("")
    out.append("tasks per kind (top %d by total time)" % top)
    rows = [[k["kind"], k["count"], ms(k["total_us"]), ms(k["mean_us"]), ms(k["max_us"])]
            for k in a["kinds"][:top]]
    if rows:
        table(rows, ["kind", "count", "total ms", "mean ms", "max ms"], out)
        if len(a["kinds"]) > top:
            out.append("  ... %d more kinds" % (len(a["kinds"]) - top))
    else:
        out.append("  (no task events)")

    if a["counter_names"]:
        out.append("")
        out.append("counters per kind (totals)")
        names = a["counter_names"]
        extra = []
        if any("gflops_per_s" in k for k in a["kinds"]):
            extra.append(("GFLOP/s", "gflops_per_s", "%.3g"))
        if any("gbytes_per_s" in k for k in a["kinds"]):
            extra.append(("GB/s", "gbytes_per_s", "%.3g"))
        if any("ipc" in k for k in a["kinds"]):
            extra.append(("IPC", "ipc", "%.2f"))
        rows = []
        for k in a["kinds"][:top]:
            if not k["counters"]:
                continue
            row = [k["kind"]] + [human(k["counters"][n]) if n in k["counters"] else "-"
                                 for n in names]
            row += [fmt % k[key] if key in k else "-" for _, key, fmt in extra]
            rows.append(row)
        table(rows, ["kind"] + names + [h for h, _, _ in extra], out)

    out.append("")
    out.append("messages per peer (sent; as received)")
    if a["messages"]:
        rows = [["%s -> %s" % (m["src"], m["dst"]), m["msgs"], m["bytes"],
                 m["recv_msgs"], m["recv_bytes"]] for m in a["messages"]]
        table(rows, ["ranks", "msgs", "bytes", "recv msgs", "recv bytes"], out)
    else:
        out.append("  (no messages)")

    out.append("")
    out.append("top IR lines by time (task time attributed to the line; evaluator time "
               "issuing it)")
    has_lang = any(s["calls"] for s in a["sites"])
    rows = [[s["site"], s["tasks"], ms(s["task_us"])] +
            ([s["calls"], ms(s["lang_us"])] if has_lang else []) for s in a["sites"][:top]]
    if rows:
        table(rows, ["line", "tasks", "task ms"] + (["calls", "eval ms"] if has_lang else []),
              out)
        if len(a["sites"]) > top:
            out.append("  ... %d more lines" % (len(a["sites"]) - top))
    else:
        out.append("  (no IR sites: the trace has no args.site or lang spans)")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- plots


def group_bars(bars):
    """{(depth, kind, lane): segs} -> {(depth, kind): {lane: segs}}."""
    out = defaultdict(dict)
    for (dp, k, lane), segs in bars.items():
        out[(dp, k)][lane] = segs
    return out


def merge_segments(segs, gap):
    """(start, width) segments -> (x0, x1) spans, joining those less than gap apart."""
    out = []
    for x, w in sorted(segs):
        if out and x - out[-1][1] < gap:
            if x + w > out[-1][1]:
                out[-1][1] = x + w
        else:
            out.append([x, x + w])
    return out


def plots(events, a, outdir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.collections import PolyCollection
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
    except ImportError as e:
        print("%s: --png needs matplotlib for /usr/bin/python3 (%s); install it with: "
              "apt-get install -y python3-matplotlib" % (PROG, e), file=sys.stderr)
        return 1
    import warnings
    warnings.filterwarnings("ignore")  # layout advice about long names is not for the user
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as e:
        print("%s: cannot create %s: %s" % (PROG, outdir, e.strerror or e), file=sys.stderr)
        return 2
    t0 = a["begin_us"]
    work = [e for e in events if is_task(e) or is_handler(e)]
    lanes = []
    for r in a["per_rank"]:
        for t in r["threads"]:
            lanes.append((r["rank"], t["tid"], ("rank %s %s" % (r["rank"], t["name"]))[:40]))
    lane_of = {(r, t): i for i, (r, t, _) in enumerate(lanes)}
    # colours: the kinds with the most time first, the rest as "other"
    kinds = [k["kind"] for k in a["kinds"]]
    named = kinds[:11]
    cmap = plt.get_cmap("tab20" if len(named) > 10 else "tab10")
    colour = {k: cmap(i % cmap.N) for i, k in enumerate(named)}
    colour["recv"] = (0.55, 0.55, 0.55, 1.0)
    other_col = (0.8, 0.8, 0.8, 1.0)
    # nested events (run by a worker helping inside another) are drawn on top,
    # thinner; events on the critical path get a black outline
    depth = {}
    self_times(work, depth)
    on_path = set()
    cp = a["critical_path"]
    if cp.get("available"):
        on_path = {(s["rank"], s["tid"], s["ts_us"], s["dur_us"]) for s in cp["path"]}
    bars = defaultdict(list)  # (depth, kind, lane) -> segments
    path_bars = defaultdict(list)
    for e in work:
        lane = lane_of.get((e.get("pid", 0), e.get("tid", 0)))
        if lane is None:
            continue
        k = e.get("name", "?") if is_task(e) else "recv"
        if k not in colour:
            k = "other"
        seg = ((e["ts"] - t0) / 1000.0, max(e["dur"] / 1000.0, 1e-6))
        dp = min(depth.get(id(e), 0), 3)
        bars[(dp, k, lane)].append(seg)
        if (e.get("pid", 0), e.get("tid", 0), e["ts"], e["dur"]) in on_path:
            path_bars[(dp, lane)].append(seg)
    h = max(2.5, 0.45 * len(lanes) + 1.5)
    fig, ax = plt.subplots(figsize=(12, h))
    # one PolyCollection per depth and kind; segments of a kind closer than
    # a pixel are merged first (a long trace has far more tasks than pixels)
    px = max(a["wall_us"] / 1000.0, 1e-3) / 1500.0
    for (dp, k), by_lane in sorted(group_bars(bars).items(), key=lambda kv: kv[0][0]):
        half = 0.4 * (0.6 ** dp)
        verts = []
        for lane, segs in by_lane.items():
            for x0, x1 in merge_segments(segs, px):
                verts.append([(x0, lane - half), (x1, lane - half), (x1, lane + half),
                              (x0, lane + half)])
        ax.add_collection(PolyCollection(verts, facecolors=[colour.get(k, other_col)],
                                         edgecolors="none", zorder=2 + dp))
    for (dp, lane), segs in path_bars.items():
        half = 0.4 * (0.6 ** dp)
        ax.broken_barh(segs, (lane - half, 2 * half), facecolors="none", edgecolors="black",
                       linewidth=1.2, zorder=10)
    # message flows as thin arrows, when there are few enough to read
    lane_y = {(r, t): i for i, (r, t, _) in enumerate(lanes)}
    flows = a.get("_flows", [])
    if 0 < len(flows) <= 400:
        for s_ev, f_ev in flows:
            ys = lane_y.get((s_ev.get("pid", 0), s_ev.get("tid", 0)))
            yf = lane_y.get((f_ev.get("pid", 0), f_ev.get("tid", 0)))
            if ys is None or yf is None:
                continue
            ax.annotate("", xy=((f_ev["ts"] - t0) / 1000.0, yf),
                        xytext=((s_ev["ts"] - t0) / 1000.0, ys),
                        arrowprops=dict(arrowstyle="->", color="black", alpha=0.5, lw=0.7),
                        zorder=11)
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([name for _, _, name in lanes])
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.set_xlim(0, max(a["wall_us"] / 1000.0, 1e-3))
    ax.set_xlabel("time (ms)")
    ax.set_title("tasks per worker: %s" % os.path.basename(a["trace"]))
    kinds_drawn = {k for _, k, _ in bars}
    handles = [Patch(color=colour[k], label=k[:40]) for k in named if k in kinds_drawn]
    if "recv" in kinds_drawn:
        handles.append(Patch(color=colour["recv"], label="recv (message handler)"))
    if "other" in kinds_drawn:
        handles.append(Patch(color=other_col, label="other kinds"))
    if path_bars:
        handles.append(Patch(facecolor="none", edgecolor="black", label="critical path"))
    if 0 < len(flows) <= 400:
        handles.append(Line2D([], [], color="black", alpha=0.5, lw=0.7,
                              label="message (send -> handler)"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                  frameon=False)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "gantt.png"), dpi=110)
    plt.close(fig)

    # utilisation: busy workers per rank, averaged over bins of the wall time
    work_iv = defaultdict(list)
    for e in work:
        work_iv[(e.get("pid", 0), e.get("tid", 0))].append((e["ts"] - t0,
                                                             e["ts"] + e["dur"] - t0))
    nbins = 400
    wall = max(a["wall_us"], 1e-9)
    width = wall / nbins
    fig, ax = plt.subplots(figsize=(12, 4))
    maxw = 1
    for r in a["per_rank"]:
        util = [0.0] * nbins
        for t in r["threads"]:
            for s, e in union_intervals(work_iv.get((r["rank"], t["tid"]), [])):
                b0 = min(int(s / width), nbins - 1)
                b1 = min(int(e / width), nbins - 1)
                for b in range(b0, b1 + 1):
                    lo, hi = max(s, b * width), min(e, (b + 1) * width)
                    if hi > lo:
                        util[b] += (hi - lo) / width
        maxw = max(maxw, len(r["threads"]))
        xs = [(i + 0.5) * width / 1000.0 for i in range(nbins)]
        ax.plot(xs, util, drawstyle="steps-mid", linewidth=1.0,
                label="rank %s (%d workers)" % (r["rank"], len(r["threads"])))
    ax.set_xlim(0, wall / 1000.0)
    ax.set_ylim(0, maxw + 0.2)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("busy workers")
    ax.set_title("utilisation over time (mean over %.3g ms bins)" % (width / 1000.0))
    if a["per_rank"]:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "utilisation.png"), dpi=110)
    plt.close(fig)
    return 0


# ---------------------------------------------------------------- main


def positive(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError("needs a positive integer, got '%s'" % s)
    if v < 1:
        raise argparse.ArgumentTypeError("needs a positive integer, got '%s'" % s)
    return v


def main(argv):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[2:]))
    p.add_argument("trace", metavar="TRACE.json", help="Chrome trace written by tessera")
    p.add_argument("--top", type=positive, default=10, metavar="N",
                   help="rows in the per-kind and IR-line tables (default 10)")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--png", metavar="DIR", help="write DIR/gantt.png and DIR/utilisation.png")
    args = p.parse_args(argv)
    try:
        events, other, skipped = load(args.trace)
    except TraceError as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 2
    a = analyse(events, other, skipped, args.trace, args.top)
    if args.json:
        json.dump({k: v for k, v in a.items() if not k.startswith("_")}, sys.stdout, indent=1,
                  default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report(a))
    rc = 0
    if args.png:
        rc = plots(events, a, args.png)
        if rc == 0 and not args.json:
            print("\nwrote %s and %s" % (os.path.join(args.png, "gantt.png"),
                                         os.path.join(args.png, "utilisation.png")))
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except MemoryError:
        print("%s: out of memory reading the trace" % PROG, file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # a bug in prof, or a trace it did not foresee: one line, not a traceback
        if os.environ.get("TSR_PROF_DEBUG"):
            raise
        print("%s: internal error: %s: %s (TSR_PROF_DEBUG=1 shows where)" %
              (PROG, type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
