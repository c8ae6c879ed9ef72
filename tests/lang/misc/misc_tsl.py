#!/usr/bin/python3
"""Runs misc_ops.tsl with `tessera run` at one rank count and compares with
numpy: every o_*.npy it saves (shape exactly: 1-D results as (n,)), the
printed lines (numbers, arrays, summaries) and the printed result.

  misc_tsl.py --tessera EXE --mpirun WRAPPER --np N [--tile T]
              [--mutate OLD=>NEW --expect-mismatch]

--mutate runs the program with OLD replaced by NEW (a planted bug); with
--expect-mismatch the test passes only if the comparison catches it.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def shift(x, di, dj=0, fill=0.0):
    out = np.full(x.shape, float(fill))
    x2 = x.reshape(x.shape[0], -1)
    o2 = out.reshape(x2.shape)
    m, n = x2.shape
    for i in range(m):
        for j in range(n):
            if 0 <= i + di < m and 0 <= j + dj < n:
                o2[i, j] = x2[i + di, j + dj]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--tessera', required=True)
    ap.add_argument('--mpirun', required=True)
    ap.add_argument('--np', type=int, default=1)
    ap.add_argument('--tile', type=int, default=4)
    ap.add_argument('--mutate')
    ap.add_argument('--expect-mismatch', action='store_true')
    args = ap.parse_args()
    args.tessera = os.path.abspath(args.tessera)
    args.mpirun = os.path.abspath(args.mpirun)
    rng = np.random.default_rng(7)
    A = rng.standard_normal((7, 5))
    B = rng.standard_normal((5, 6))
    C = rng.standard_normal((7, 6))
    w = rng.standard_normal(7)
    v = rng.standard_normal(5)
    M = rng.standard_normal((6, 6))
    S = M @ M.T + 6 * np.eye(6)
    inputs = dict(A=A, B=B, C=C, w=w, v=v, S=S)
    want = {
        'zeros': np.zeros(3), 'ones': np.ones((2, 3)), 'full': np.full((2, 4), -1.5),
        'fullp': np.full(3, np.dot(v, v)), 'arange': np.arange(5, -1, -1.5),
        'linspace': np.linspace(-1, 2, 7), 'identity': np.identity(4),
        'dAB': A @ B, 'dAv': A @ v, 'dwA': w @ A, 'dAtC': A.T @ C, 'dAtw': A.T @ w,
        'dvAt': v @ A.T, 'dBtAt': B.T @ A.T, 'At': A.T, 'Att': A,
        'solve1': np.linalg.solve(S, w[:6]), 'solve2': np.linalg.solve(S, C[:6, :2]),
        'chol': np.linalg.cholesky(S),
        'sl1': A[1:-2], 'sl2': A[-3:7, 1:4], 'sl3': w[-4:-1], 'sl4': A.T[0:2, 1:-1],
        'cc1': np.concatenate([A, C], 1), 'cc2': np.concatenate([A, A]),
        'cc3': np.concatenate([w, v, w]), 'rs1': w.reshape(7, 1), 'rs2': w.reshape(1, 7),
        'rs3': w, 'sh1': shift(A, 1, 0), 'sh2': shift(A, -2, 1, 9.5), 'sh3': shift(w, 2),
        'load': A @ B,
    }
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(HERE, 'misc_ops.tsl')) as fh:
            text = fh.read()
        if args.mutate:
            old, new = args.mutate.split('=>', 1)
            if old not in text:
                print('FAIL: --mutate: %r is not in misc_ops.tsl' % old)
                sys.exit(1)
            text = text.replace(old, new)
        with open(os.path.join(tmp, 'misc_ops.tsl'), 'w') as fh:
            fh.write(text)
        cmd = [args.mpirun, '-np', str(args.np), args.tessera, 'run', 'misc_ops.tsl', '--quiet',
               '--tile', str(args.tile)]
        for k, a in inputs.items():
            np.save(os.path.join(tmp, k + '.npy'), a)
            cmd += ['--arg', '%s=%s.npy' % (k, k)]
        p = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            print(p.stdout, p.stderr)
            print('FAIL: exit %d' % p.returncode)
            sys.exit(1)
        for k, ref in want.items():
            got = np.load(os.path.join(tmp, 'o_%s.npy' % k))
            if got.shape != ref.shape:
                bad.append('%s: shape %s, numpy %s' % (k, got.shape, ref.shape))
            elif not np.allclose(got, ref, rtol=1e-11, atol=1e-12):
                bad.append('%s: max |diff| %g' % (k, np.max(np.abs(got - ref))))
        lines = p.stdout.split('\n')

    def num(x):
        return float(x)

    # line 0: (dot w w) (at A 2 3) (at At -1 -1) (at w -2)
    f = [num(x) for x in lines[0].split()]
    for got, ref, what in zip(f, [w @ w, A[2, 3], A.T[-1, -1], w[-2]],
                              ['dot w w', 'at A 2 3', 'at At -1 -1', 'at w -2']):
        if not np.isclose(got, ref, rtol=1e-13, atol=0):
            bad.append('%s: %r, numpy %r' % (what, got, ref))
    exact = [
        (1, '(7 5) (7) 35 3 5'),
        (2, '3 0.1 2.5 1e-10 -0 nan inf -inf 1e+16 123456789 str true nil'),
        (3, '[1 2.25 3.5] [[0 1 2 3]]'),
        (4, '[0 1 2 ... 1998 1999 2000]'),
        (5, '(1 (2 3))'),
    ]
    for i, ref in exact:
        if lines[i] != ref:
            bad.append('printed line %d: %r, expected %r' % (i + 1, lines[i], ref))
    # the numbers print so that they read back exactly
    if num(lines[0].split()[1]) != A[2, 3]:
        bad.append('at A 2 3 does not round-trip: %s vs %r' % (lines[0].split()[1], A[2, 3]))
    if len(lines) < 7 or num(lines[6]) != num(lines[0].split()[0]):
        bad.append('result line: %r' % lines[6:])
    for b in bad:
        print('MISMATCH', b)
    print('misc_tsl: %d checks, %d bad' % (len(want) + 10, len(bad)))
    if args.expect_mismatch:
        print('planted bug %s' % ('caught' if bad else 'NOT caught'))
        sys.exit(0 if bad else 1)
    sys.exit(1 if bad else 0)


main()
