#!/usr/bin/python3
"""Overhead of tracing (perf/run trace). Three figures, each a ratio of best
times over alternating rounds (the machine is shared: interference only adds
time, so the best reproduces and alternating puts both sides under the same
load):

  compiled_out_ratio  ns per task of bench_trace built with -Dtrace=false
                      over the normal build with tracing off (>= 0.98: the
                      compiled-in branch costs under 2%); for empty
                      tsr_async jobs (where the branch is) and for the bare
                      tsr_spawn tasks of perf/run tasks (no branch there);
  on_vs_off           ns per task with tracing on over off, same process:
                      jobs of --work ns (default 5 us: target <= 1.05) and
                      empty jobs (reported; the fixed cost per traced task);
  logreg_on_vs_off    apps/logreg.tsl at 2 ranks, `tessera run --timing`
                      loop time per iteration, --trace FILE vs none
                      (target <= 1.01).

Prints a table, then one JSON line (last).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def last_json(out, what):
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    sys.exit("bench_trace: no JSON line from %s:\n%s" % (what, out))


def run(cmd, env=None, timeout=600):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        sys.exit("bench_trace: %s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                                        p.stderr))
    return p


def loop_ms(stderr):
    """ms per iteration of the first loop in tessera run --timing's report."""
    m = re.search(r"for: \d+ iterations in [0-9.]+ s, ([0-9.]+) ms per iteration", stderr)
    if not m:
        sys.exit("bench_trace: no loop timing from tessera run --timing:\n" + stderr)
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="bench_trace of the normal build")
    ap.add_argument("--bench-out", required=True, help="bench_trace built with -Dtrace=false")
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tasks", type=int, default=200000)
    ap.add_argument("--work", type=int, default=5000)
    ap.add_argument("--m", type=int, default=100000)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--logreg-rounds", type=int, default=9)
    a = ap.parse_args()

    env = {"TSR_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    best = {}
    samples = {}

    def keep(key, v):
        best[key] = min(best.get(key, float("inf")), v)
        samples.setdefault(key, []).append(v)

    def median(key):
        v = sorted(samples[key])
        return v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tsr-bench-trace-") as d:
        common = ["--tasks", str(a.tasks), "--work-tasks", str(max(1, a.tasks // 10)), "--work",
                  str(a.work), "--reps", str(a.reps)]
        for r in range(a.rounds):
            print("== round %d of %d: tasks, tracing compiled out" % (r + 1, a.rounds), flush=True)
            j = last_json(run([a.bench_out] + common, env).stdout, "bench_trace (compiled out)")
            for k in ("spawn", "async", "work"):
                keep("out_" + k, j[k + "_off_ns"])
            print("== round %d of %d: tasks, tracing compiled in: off, then on" % (r + 1, a.rounds),
                  flush=True)
            j = last_json(run([a.bench] + common + ["--trace", os.path.join(d, "tasks.json")],
                              env).stdout, "bench_trace")
            for k in ("spawn", "async", "work"):
                keep("off_" + k, j[k + "_off_ns"])
                keep("on_" + k, j[k + "_on_ns"])

        run(["/usr/bin/python3", os.path.join(ROOT, "apps", "logreg_data.py"), "--m", str(a.m),
             "--n", str(a.n), "--out", d])
        base = [a.mpirun, "-np", "2", a.tessera, "run", os.path.join(ROOT, "apps", "logreg.tsl"),
                "--quiet", "--timing", "--arg", "X=" + os.path.join(d, "X.npy"), "--arg",
                "y=" + os.path.join(d, "y.npy"), "--arg", "alpha=1", "--arg",
                "iters=%d" % a.iters]
        lenv = {"TSR_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        for r in range(a.logreg_rounds):
            print("== round %d of %d: logreg at 2 ranks, off then on" % (r + 1, a.logreg_rounds),
                  flush=True)
            keep("logreg_off_ms", loop_ms(run(base, lenv).stderr))
            keep("logreg_on_ms",
                 loop_ms(run(base + ["--trace", os.path.join(d, "logreg.json")], lenv).stderr))
        with open(os.path.join(d, "logreg.json")) as f:
            events = len(json.load(f)["traceEvents"])

    ratio = {
        "compiled_out_ratio_async": best["out_async"] / best["off_async"],
        "compiled_out_ratio_spawn": best["out_spawn"] / best["off_spawn"],
        "compiled_out_ratio_work": best["out_work"] / best["off_work"],
        "on_vs_off_work": best["on_work"] / best["off_work"],
        "on_vs_off_async": best["on_async"] / best["off_async"],
        "logreg_on_vs_off": best["logreg_on_ms"] / best["logreg_off_ms"],
        "logreg_on_vs_off_median": median("logreg_on_ms") / median("logreg_off_ms"),
    }
    print()
    print("CPU ns per task (main thread = the one worker), best of %d rounds x %d reps, 1 rank; "
          "load average %.2f at the start (other jobs share the cores)" % (a.rounds, a.reps, load0))
    print("  %-36s %12s %12s %12s" % ("", "compiled out", "trace off", "trace on"))
    rows = (("tsr_spawn, empty (perf/run tasks)", "spawn"), ("tsr_async job, empty", "async"),
            ("tsr_async job, %d ns body" % a.work, "work"))
    for label, k in rows:
        print("  %-36s %12.1f %12.1f %12.1f" % (label, best["out_" + k], best["off_" + k],
                                                 best["on_" + k]))
    print("  traced cost per task: %.0f ns (empty jobs, on - off)" %
          (best["on_async"] - best["off_async"]))
    print("logreg, 2 ranks x 1 thread, X %d x %d, %d iterations: ms per iteration, best of %d" %
          (a.m, a.n, a.iters, a.logreg_rounds))
    print("  off %.3f, on %.3f (medians %.3f, %.3f; %d events in the trace)" %
          (best["logreg_off_ms"], best["logreg_on_ms"], median("logreg_off_ms"),
           median("logreg_on_ms"), events))
    print("ratios (targets: compiled_out >= 0.98, on_vs_off_work <= 1.05, logreg <= 1.01):")
    for k, v in ratio.items():
        print("  %-28s %.3f" % (k, v))
    out = {"bench": "trace", "threads": 1, "rounds": a.rounds, "reps": a.reps,
           "work_ns": a.work, "load1_start": load0, "load1_end": os.getloadavg()[0],
           "logreg_m": a.m, "logreg_n": a.n, "logreg_iters": a.iters, "logreg_events": events}
    out.update({k: round(v, 4) for k, v in ratio.items()})
    out.update({k + ("" if k.endswith("_ms") else "_ns"): round(v, 3) for k, v in best.items()})
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
