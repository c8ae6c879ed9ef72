#!/usr/bin/python3
"""Logistic regression by gradient descent, the same iterations three ways:
Tessera (apps/logreg.tsl under mpirun), numpy, and dask array (threaded
scheduler). Prints a table and, as the last line, one JSON object.

Time per iteration of the training loop alone, best of --rounds:
  Tessera: the loop's time from `tessera run --timing` (the loop waits for
           its last iteration's work, so it is the work's time; loading the
           data and start-up are outside it);
  numpy, dask: the loop, after the data is in memory (dask: persisted
           chunks).
Ratios are how many times faster Tessera is (reference time / Tessera time).

Usage: bench_logreg.py --tessera BIN --mpirun WRAPPER [--np 2] [--m 200000]
                       [--n 100] [--iters 20] [--rounds 3] [--dir DIR]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ALPHA = 1.0  # apps/logreg.tsl steps by alpha / m


sys.path.insert(0, os.path.join(ROOT, "apps"))
import logreg_data  # noqa: E402  (the demo's data generator: same data)


def make_data(m, n, d):
    X, y = logreg_data.make(m, n)
    logreg_data.save(d, X, y)
    return X, y


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_per_iter(X, y, iters, rounds):
    best = float("inf")
    for _ in range(rounds):
        w = np.zeros(X.shape[1])
        step = ALPHA / X.shape[0]
        t0 = time.perf_counter()
        for _ in range(iters):
            p = sigmoid(X @ w)
            w = w - step * (X.T @ (p - y))
        best = min(best, (time.perf_counter() - t0) / iters)
    return best, w


def dask_per_iter(X, y, iters, rounds, workers):
    import dask
    import dask.array as da
    from threadpoolctl import threadpool_limits
    # One BLAS thread per dask worker thread, as dask advises (its threads
    # are the parallelism; more would oversubscribe the cores). Chunks: a few per worker thread, whole rows (the reduction over rows is
    # what dask parallelises); the data is persisted before timing.
    chunk = max(1, X.shape[0] // (4 * workers))
    with dask.config.set(scheduler="threads", num_workers=workers), threadpool_limits(1):
        Xd = da.from_array(X, chunks=(chunk, X.shape[1])).persist()
        yd = da.from_array(y, chunks=(chunk,)).persist()
        best = float("inf")
        for _ in range(rounds):
            w = np.zeros(X.shape[1])
            step = ALPHA / X.shape[0]
            t0 = time.perf_counter()
            for _ in range(iters):
                p = 1.0 / (1.0 + da.exp(-(Xd @ w)))
                w = (w - step * (Xd.T @ (p - yd))).compute()
            best = min(best, (time.perf_counter() - t0) / iters)
    return best, w, chunk


def tessera_run(args, d, out):
    """One `tessera run --timing`; its loop's seconds per iteration."""
    cmd = [args.mpirun, "-np", str(args.np), args.tessera, "run",
           os.path.join(ROOT, "apps", "logreg.tsl"), "--quiet", "--timing",
           "--arg", "X=" + os.path.join(d, "X.npy"), "--arg", "y=" + os.path.join(d, "y.npy"),
           "--arg", "alpha=%r" % ALPHA, "--arg", "iters=%d" % args.iters, "--out", "w=" + out]
    env = dict(os.environ, TSR_THREADS="1", OPENBLAS_NUM_THREADS="1")
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit("bench_logreg: tessera run failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
    m = re.search(r"logreg\.tsl:\d+ for: (\d+) iterations in ([0-9.]+) s", r.stderr)
    if not m or int(m.group(1)) != args.iters:
        sys.exit("bench_logreg: no loop timing from tessera run --timing:\n" + r.stderr)
    return float(m.group(2)) / args.iters


def tessera_per_iter(args, d, rounds):
    out = os.path.join(d, "w.npy")
    best = min(tessera_run(args, d, out) for _ in range(rounds))
    return best, np.load(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--m", type=int, default=200000)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--dir", default=None, help="where the data goes (default: a temp dir)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        X, y = make_data(args.m, args.n, d)
        ts, w_ts = tessera_per_iter(args, d, args.rounds)
        nps, _ = numpy_per_iter(X, y, args.iters, args.rounds)
        dks, _, chunk = dask_per_iter(X, y, args.iters, args.rounds, args.workers)
        # Same iterations, same answer: check Tessera's weights against numpy's.
        w_ref = np.zeros(args.n)
        for _ in range(args.iters):
            w_ref = w_ref - (ALPHA / args.m) * (X.T @ (sigmoid(X @ w_ref) - y))
        err = float(np.max(np.abs(w_ts - w_ref)) / max(1e-300, np.max(np.abs(w_ref))))

    import dask
    print("logistic regression, X %d x %d, %d iterations timed, seconds per iteration (best of %d)"
          % (args.m, args.n, args.iters, args.rounds))
    print("  %-44s %.4f" % ("tessera, %d ranks x 1 thread" % args.np, ts))
    print("  %-44s %.4f" % ("numpy %s (BLAS threads: default)" % np.__version__, nps))
    print("  %-44s %.4f" % ("dask %s, threads=%d, chunks of %d rows" % (dask.__version__, args.workers, chunk), dks))
    print("  tessera weights vs numpy: max relative difference %.2e" % err)
    print("  targets: ratio_vs_numpy >= 1.5, ratio_vs_dask >= 3")
    if err > 1e-8:
        sys.exit("bench_logreg: Tessera's weights differ from numpy's (%.3g)" % err)
    print(json.dumps({"bench": "logreg", "tessera_s_per_iter": round(ts, 6),
                      "numpy_s_per_iter": round(nps, 6), "dask_s_per_iter": round(dks, 6),
                      "ratio_vs_numpy": round(nps / ts, 3), "ratio_vs_dask": round(dks / ts, 3),
                      "m": args.m, "n": args.n, "ranks": args.np, "iters": args.iters,
                      "dask_chunk_rows": chunk, "dask_workers": args.workers,
                      "load1_end": float(open("/proc/loadavg").read().split()[0]),
                      "weights_rel_diff_vs_numpy": err}, separators=(",", ":")))


if __name__ == "__main__":
    main()
