#!/usr/bin/python3
"""numpy side of perf/run elementwise and perf/run reduce.

    ref_numpy.py elementwise [--n N] [--reps R]
    ref_numpy.py reduce      [--n N] [--reps R]

Times the same expressions the Tessera benchmarks time, on arrays of the same
size and value ranges (x uniform in [-1, 1), y uniform in [0, 1)), each the
best and the median of R repetitions after one warm-up. Every result is a new
array, as numpy makes it; it is dropped before the next repetition so that
each one allocates afresh (numpy asks for transparent huge pages on large
arrays). Prints a short table, then one JSON line (last).

Run with /usr/bin/python3 (Debian's python3-numpy), the interpreter the
benchmark reports against.
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np

A = 2.5  # the scalar of a*x + y, the same in bench_elementwise.c


def timed(fn, reps):
    """Best and median seconds of reps calls of fn, after one warm-up."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        r = fn()
        times.append(time.perf_counter() - t0)
        del r
    return min(times), statistics.median(times)


def elementwise(n, reps):
    rng = np.random.default_rng(1)
    x = rng.random(n) * 2.0 - 1.0
    y = rng.random(n)
    out = {}
    exprs = {
        "axpy": lambda: A * x + y,
        "fused": lambda: np.exp(-(x * x)) * y + 0.5 * x,
    }
    for name, fn in exprs.items():
        best, med = timed(fn, reps)
        out[name + "_s"] = best
        out[name + "_median_s"] = med
        print("  numpy %-6s best %.4f s  median %.4f s" % (name, best, med))
    return out


def reduce(n, reps):
    rng = np.random.default_rng(1)
    x = rng.random(n) * 2.0 - 1.0
    out = {}
    ops = {"sum": lambda: np.sum(x), "norm2": lambda: np.linalg.norm(x)}
    for name, fn in ops.items():
        best, med = timed(fn, reps)
        out[name + "_s"] = best
        out[name + "_median_s"] = med
        out[name + "_value"] = float(fn())
        print("  numpy %-6s best %.4f s  median %.4f s" % (name, best, med))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench", choices=["elementwise", "reduce"])
    p.add_argument("--n", type=int, default=0, help="elements (default 2e7 / 1e8)")
    p.add_argument("--reps", type=int, default=7)
    args = p.parse_args()
    if args.reps < 1 or args.n < 0:
        p.error("--reps must be positive and --n not negative")
    n = args.n or (20_000_000 if args.bench == "elementwise" else 100_000_000)
    print("== numpy %s (%s), n = %d, best/median of %d" % (np.__version__, sys.executable, n,
                                                          args.reps))
    res = elementwise(n, args.reps) if args.bench == "elementwise" else reduce(n, args.reps)
    res = {"bench": "numpy_" + args.bench, "n": n, "numpy": np.__version__, "reps": args.reps,
           **{k: round(v, 6) if k.endswith("_s") else v for k, v in res.items()}}
    print(json.dumps(res, separators=(",", ":")))


if __name__ == "__main__":
    main()
