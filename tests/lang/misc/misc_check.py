#!/usr/bin/python3
"""numpy reference for the MISC builtins' tests.

Usage: misc_check.py DIR
DIR holds .npy files saved by the test (through the `save` builtin) and a
manifest DIR/checks.txt of lines `OUT = EXPR`: OUT.npy must equal the numpy
expression EXPR, evaluated with every DIR/NAME.npy bound to NAME, np, and
shift(x, di, dj, fill) (the stencil shift). Shapes must match exactly (a
1-D result saved as (n,), not (n, 1)); values to 1e-12 relative. Prints
one line per mismatch and exits 1 if there was any."""
import os
import sys

import numpy as np


def shift(x, di, dj=0, fill=0.0):
    out = np.full(x.shape, float(fill))
    m = x.shape[0]
    n = x.shape[1] if x.ndim == 2 else 1
    x2 = x.reshape(m, n)
    o2 = out.reshape(m, n)
    for i in range(m):
        for j in range(n):
            si, sj = i + di, j + dj
            if 0 <= si < m and 0 <= sj < n:
                o2[i, j] = x2[si, sj]
    return out


def main():
    d = sys.argv[1]
    env = {'np': np, 'shift': shift}
    for f in os.listdir(d):
        if f.endswith('.npy'):
            env[f[:-4]] = np.load(os.path.join(d, f))
    bad = 0
    n = 0
    with open(os.path.join(d, 'checks.txt')) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            out, expr = [s.strip() for s in line.split('=', 1)]
            n += 1
            if out not in env:
                print('MISSING %s.npy (for %s)' % (out, expr))
                bad += 1
                continue
            got = env[out]
            want = np.asarray(eval(expr, env), dtype=np.float64)
            if got.shape != want.shape:
                print('SHAPE %s: got %s, numpy %s = %s' % (out, got.shape, expr, want.shape))
                bad += 1
            elif not np.allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True):
                print('VALUES %s != %s: max |diff| %g\n got %s\n want %s' %
                      (out, expr, np.max(np.abs(got - want)), got, want))
                bad += 1
    print('misc_check: %d checks, %d bad' % (n, bad))
    sys.exit(1 if bad or n == 0 else 0)


main()
