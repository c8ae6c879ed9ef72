#!/usr/bin/python3
"""Flat memory over a long run: 1,000 iterations of logistic regression
(tests/load/logreg_rss.tsl: apps/logreg.tsl's step on seeded 20000 x 50 data)
through `tessera run` at --np ranks. Every 100 iterations the program prints
a line; on each one this driver reads VmRSS of every rank (the `tessera`
processes under mpirun, from /proc/PID/status). It fails when

  * the run does not finish (exit 0) within --timeout seconds;
  * for any rank, a sample after warm-up (iteration --warmup, default 200)
    exceeds that rank's sample at the warm-up iteration by more than
    --bound-mib (default 8 MiB): a per-iteration leak of even 10 KiB shows
    as 8 MiB over the 800 iterations after warm-up;
  * the final weights differ from numpy's same 1,000 iterations by more
    than 1e-9 relative (max |w - w_np| / max |w_np|).

  run_logreg_rss.py --tessera BUILD/apps/tessera --mpirun scripts/mpirun-tsr --np 2
Prints the samples (MiB per rank per iteration) and one JSON line."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def descendants(pid):
    """PIDs of pid's descendants (from /proc/*/stat's ppid field)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for k in kids.get(p, []):
            out.append(k)
            todo.append(k)
    return out


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rank_rss_mib(mpirun_pid, nranks):
    """{rank: VmRSS MiB} of the tessera processes under mpirun. The rank is
    read from OMPI_COMM_WORLD_RANK in the process's environment."""
    out = {}
    for p in descendants(mpirun_pid):
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() != "tessera":
                    continue
            with open(f"/proc/{p}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        except OSError:
            continue
        rank = int(env.get(b"OMPI_COMM_WORLD_RANK", b"-1"))
        kb = status_kb(p, "VmRSS")
        if 0 <= rank < nranks and kb is not None:
            out[rank] = kb / 1024.0
    return out


def numpy_logreg(X, y, alpha, iters):
    m = X.shape[0]
    w = np.zeros(X.shape[1])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(X @ w)))
        w = w - (alpha / m) * (X.T @ (p - y))
    return w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--m", type=int, default=20000)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--iters", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--bound-mib", type=float, default=8.0)
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--leak-mib-per-sample", type=float, default=0,
                    help="a test of the test: pretend each sample is this much larger than the last")
    ap.add_argument("--expect-growth-failure", action="store_true",
                    help="pass only if the RSS check (and nothing else) fails")
    a = ap.parse_args()
    a.tessera, a.mpirun = os.path.abspath(a.tessera), os.path.abspath(a.mpirun)  # we run elsewhere
    if a.iters % 100:
        sys.exit("--iters must be a multiple of 100")

    rng = np.random.default_rng(8)
    X = rng.standard_normal((a.m, a.n))
    w_true = rng.standard_normal(a.n)
    y = (X @ w_true + 0.5 * rng.standard_normal(a.m) > 0).astype(np.float64)
    alpha = 1.0
    why = []
    with tempfile.TemporaryDirectory(prefix="tsr-logreg-rss-") as d:
        np.save(os.path.join(d, "X.npy"), X)
        np.save(os.path.join(d, "y.npy"), y)
        cmd = [a.mpirun, "-np", str(a.np), a.tessera, "run", os.path.join(HERE, "logreg_rss.tsl"),
               "--quiet", "--arg", "X=X.npy", "--arg", "y=y.npy", "--arg", f"alpha={alpha}",
               "--arg", f"outer={a.iters // 100}", "--out", "w=w.npy"]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        err_chunks = []
        t_err = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)
        t_err.start()
        timer = threading.Timer(a.timeout, lambda: os.killpg(proc.pid, 9))
        timer.start()
        samples = {}  # iteration -> {rank: MiB}
        for line in proc.stdout:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "sample":
                it = int(parts[1])
                rss = rank_rss_mib(proc.pid, a.np)
                if a.leak_mib_per_sample:
                    rss = {r: v + a.leak_mib_per_sample * it / 100 for r, v in rss.items()}
                samples[it] = rss
                print(f"iteration {it:5d}: " + "  ".join(f"rank {r} {v:7.1f} MiB"
                                                         for r, v in sorted(rss.items())), flush=True)
        rc = proc.wait()
        timer.cancel()
        t_err.join(5)
        elapsed = time.monotonic() - t0
        err = "".join(err_chunks)
        if rc != 0:
            why.append(f"tessera run exited {rc} after {elapsed:.1f} s (timeout {a.timeout:.0f} s)"
                       f"\n--- stderr\n{err}")
        want_its = list(range(100, a.iters + 1, 100))
        if sorted(samples) != want_its:
            why.append(f"samples at iterations {sorted(samples)}, expected {want_its}")
        base = samples.get(a.warmup, {})
        if len(base) != a.np:
            why.append(f"RSS of {len(base)} ranks at iteration {a.warmup}, expected {a.np}")
        growth = {}
        for it in want_its:
            if it <= a.warmup or it not in samples:
                continue
            for r, v in samples[it].items():
                if r in base:
                    growth[r] = max(growth.get(r, 0.0), v - base[r])
                    if v > base[r] + a.bound_mib:
                        why.append(f"rank {r}: RSS {v:.1f} MiB at iteration {it}, more than "
                                   f"{base[r]:.1f} MiB at iteration {a.warmup} + {a.bound_mib} MiB")
        rel = None
        if rc == 0:
            w = np.load(os.path.join(d, "w.npy")).reshape(-1)
            w_np = numpy_logreg(X, y, alpha, a.iters)
            rel = float(np.max(np.abs(w - w_np)) / np.max(np.abs(w_np)))
            if not rel <= 1e-9:
                why.append(f"weights differ from numpy's: max |w - w_np| / max |w_np| = {rel:.3g}")
    print(json.dumps({"test": "logreg_rss", "np": a.np, "iters": a.iters, "m": a.m, "n": a.n,
                      "seconds": round(elapsed, 2), "warmup": a.warmup, "bound_mib": a.bound_mib,
                      "max_growth_after_warmup_mib": {str(r): round(g, 2) for r, g in growth.items()},
                      "final_rss_mib": {str(r): round(v, 1) for r, v in
                                        samples.get(a.iters, {}).items()},
                      "weights_rel_err": rel, "ok": not why}))
    if a.expect_growth_failure:
        other = [w for w in why if "more than" not in w or "RSS" not in w]
        if other or not why:
            print("FAIL: expected only the RSS check to fail; got: " + ("\n".join(why) or "a pass"),
                  file=sys.stderr)
            return 1
        print("the RSS check failed as expected: " + why[0])
        return 0
    if why:
        print("FAIL: " + "\n".join(why), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
