#!/usr/bin/python3
"""The headline demo: make a logistic-regression data set, train it with
apps/logreg.tsl on 2 ranks (`tessera run`), and report the accuracy, the
time per iteration, where the trace went, and a check of the weights against
numpy's same iterations (OK, or MISMATCH and a non-zero exit).

Usage: logreg_demo.py --tessera BIN --mpirun WRAPPER [--np 2] [--m 200000]
                      [--n 100] [--iters 100] [--out DIR]
"""
import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import logreg_data  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--m", type=int, default=200000)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--out", default="demo-out", help="data, weights and trace go here")
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    X, y = logreg_data.make(a.m, a.n)
    logreg_data.save(a.out, X, y)
    mb = X.nbytes / 2**20
    print("demo: logistic regression, X %d x %d (%.0f MiB) and labels y in %s/" % (a.m, a.n, mb, a.out))

    trace = os.path.join(a.out, "trace.json")
    w_path = os.path.join(a.out, "w.npy")
    cmd = [a.mpirun, "-np", str(a.np), a.tessera, "run", os.path.join(HERE, "logreg.tsl"),
           "--arg", "X=%s/X.npy" % a.out, "--arg", "y=%s/y.npy" % a.out,
           "--arg", "alpha=%r" % a.alpha, "--arg", "iters=%d" % a.iters,
           "--out", "w=" + w_path, "--trace", trace, "--timing", "--quiet"]
    print("demo: " + " ".join(os.path.relpath(c) if os.path.exists(c) else c for c in cmd))
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        sys.exit("demo: tessera run failed with status %d" % r.returncode)
    acc = re.search(r"accuracy ([0-9.eE+-]+)", r.stdout)
    loop = re.search(r"for: (\d+) iterations in ([0-9.]+) s, ([0-9.]+) ms per iteration", r.stderr)
    if not acc or not loop:
        sys.stderr.write(r.stdout + r.stderr)
        sys.exit("demo: tessera run did not print the accuracy and the loop timing")

    # The same iterations in numpy: Tessera's weights must agree to rounding.
    w_ref = np.zeros(a.n)
    step = a.alpha / a.m
    t1 = time.perf_counter()
    for _ in range(a.iters):
        w_ref = w_ref - step * (X.T @ (1.0 / (1.0 + np.exp(-(X @ w_ref))) - y))
    np_s = (time.perf_counter() - t1) / a.iters
    w = np.load(w_path)
    err = float(np.max(np.abs(w - w_ref)) / np.max(np.abs(w_ref)))
    acc_ref = float(np.mean(((X @ w_ref) > 0) == (y > 0.5)))

    print("demo: %d ranks, %s iterations: %.2f ms per iteration (numpy, same machine: %.2f ms);"
          " whole run %.1f s with start-up and loading"
          % (a.np, loop.group(1), float(loop.group(3)), 1e3 * np_s, wall))
    print("demo: training accuracy %s (numpy's same iterations: %.6g)" % (acc.group(1), acc_ref))
    if os.path.exists(trace):
        print("demo: trace of every task on every rank: %s (%.1f MiB; open it in ui.perfetto.dev)"
              % (trace, os.path.getsize(trace) / 2**20))
    else:
        print("demo: MISMATCH: no trace file at %s" % trace)
        sys.exit(1)
    if err <= 1e-10 and abs(float(acc.group(1)) - acc_ref) < 1e-9:
        print("OK: weights agree with numpy's to %.1e (relative), accuracy identical" % err)
    else:
        print("MISMATCH: weights differ from numpy's by %.3g (relative), accuracy %s vs %.6g"
              % (err, acc.group(1), acc_ref))
        sys.exit(1)


if __name__ == "__main__":
    main()
