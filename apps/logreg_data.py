#!/usr/bin/python3
"""Make a logistic-regression data set as .npy files: X (m x n, standard
normal) and y (m, labels 0/1 from a hidden linear model plus noise), seeded,
so every run makes the same data. Used by scripts/demo and perf/run logreg.

Usage: logreg_data.py [--m 200000] [--n 100] [--seed 7] --out DIR
"""
import argparse
import os

import numpy as np


def make(m, n, seed=7):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    w_true = rng.standard_normal(n)
    y = (X @ w_true + 0.5 * rng.standard_normal(m) > 0).astype(np.float64)
    return X, y


def save(d, X, y):
    """Write X.npy and y.npy into d, each through a temporary file."""
    os.makedirs(d, exist_ok=True)
    for name, a in (("X", X), ("y", y)):
        tmp = os.path.join(d, ".%s.tmp.%d.npy" % (name, os.getpid()))
        np.save(tmp, a)
        os.replace(tmp, os.path.join(d, name + ".npy"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--m", type=int, default=200000)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.m < 1 or a.n < 1:
        ap.error("--m and --n must be positive")
    X, y = make(a.m, a.n, a.seed)
    save(a.out, X, y)
    print("logreg_data: X %d x %d, y %d (%.0f%% ones) in %s" % (a.m, a.n, a.m, 100 * y.mean(), a.out))


if __name__ == "__main__":
    main()
