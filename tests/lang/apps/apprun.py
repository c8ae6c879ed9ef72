"""Shared driver for the app tests (tests/lang/apps/test_*.py).

Each test makes its data with a seeded numpy generator, checks one of
apps/*.tsl with `tessera check` (it must pass), runs it with `tessera run`
under scripts/mpirun-tsr at the given rank count, loads what the app saved
(--out) and printed, and compares with a numpy (and scikit-learn) reference
computed here. Any disagreement raises
Mismatch: the test prints "MISMATCH: ..." and exits 1.

Command line (every test):
  --tessera EXE --mpirun WRAPPER --np N [--tile T] [--grid PxQ] [--app FILE]
  [--mutate OLD=>NEW --expect-mismatch]

--mutate plants a bug: the app's text with OLD replaced by NEW (OLD must
occur) is run instead, and with --expect-mismatch the test passes only if
the comparison catches it. That keeps every test honest: it can fail.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))


class Mismatch(Exception):
    pass


class Ctx:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.np = args.np

    def path(self, name):
        return os.path.join(self.tmp, name)

    def save(self, name, a):
        """Save array a as TMP/name.npy and return the path."""
        p = self.path(name + '.npy')
        np.save(p, a)
        return p

    def run(self, arrays, numbers, outs):
        """Run the app with --arg name=file for arrays (dict name -> array,
        saved here) and name=number for numbers, --out name for each of
        outs; returns (stdout, {name: loaded array})."""
        binds = []
        for name, a in arrays.items():
            binds += ['--arg', '%s=%s' % (name, self.save(name, a))]
        for name, x in numbers.items():
            binds += ['--arg', '%s=%r' % (name, x)]
        for name in outs:
            binds += ['--out', '%s=%s' % (name, self.path('out_' + name + '.npy'))]
        # First the static check alone (no MPI): the app must pass it.
        cmd = [self.args.tessera, 'check', self.args.app_file] + binds
        print('+', ' '.join(cmd), flush=True)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=60)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            raise RuntimeError('tessera check failed with exit status %d' % proc.returncode)
        cmd = [self.args.mpirun, '-np', str(self.args.np), self.args.tessera, 'run',
               self.args.app_file, '--quiet']
        if self.args.tile:
            cmd += ['--tile', str(self.args.tile)]
        if self.args.grid:
            cmd += ['--grid', self.args.grid]
        cmd += binds
        print('+', ' '.join(cmd), flush=True)
        t0 = time.time()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=240)
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        print('(tessera run: %.2f s, exit %d)' % (time.time() - t0, proc.returncode), flush=True)
        if proc.returncode != 0:
            raise RuntimeError('tessera run failed with exit status %d' % proc.returncode)
        got = {name: np.load(self.path('out_' + name + '.npy')) for name in outs}
        return proc.stdout, got


def printed(stdout, label):
    """The numbers after `label` on the app's printed lines starting with
    it, as a list of lists of floats (one per line)."""
    rows = []
    for line in stdout.splitlines():
        f = line.split()
        if f and f[0] == label:
            rows.append([float(t) for t in f[1:]])
    if not rows:
        raise Mismatch('the app printed no "%s" line' % label)
    return rows


def close(what, got, ref, rtol=0.0, atol=0.0):
    """got and ref agree elementwise within atol + rtol * |ref|, same shape."""
    got = np.asarray(got, dtype=float)
    ref = np.asarray(ref, dtype=float)
    if got.shape != ref.shape:
        raise Mismatch('%s: shape %s, expected %s' % (what, got.shape, ref.shape))
    err = np.abs(got - ref)
    bound = atol + rtol * np.abs(ref)
    if not np.all(np.isfinite(got)) or np.any(err > bound):
        i = np.unravel_index(np.argmax(err - bound), err.shape) if err.ndim else ()
        raise Mismatch('%s: element %s is %r, expected %r (|diff| %.3g > %.3g; max |diff| %.3g)'
                       % (what, tuple(int(j) for j in i), float(got[i]), float(ref[i]),
                          float(err[i]), float(bound[i]), float(np.max(err))))
    print('ok %s: max |diff| %.3g (max |ref| %.3g)'
          % (what, float(np.max(err)) if err.size else 0.0,
             float(np.max(np.abs(ref))) if ref.size else 0.0))


def main(check, app):
    """Parse the command line, run check(ctx) with the app apps/APP.tsl
    (or --app, possibly mutated), report."""
    ap = argparse.ArgumentParser()
    ap.add_argument('--tessera', required=True)
    ap.add_argument('--mpirun', default=os.path.join(ROOT, 'scripts', 'mpirun-tsr'))
    ap.add_argument('--np', type=int, default=1)
    ap.add_argument('--tile', type=int, default=32)
    ap.add_argument('--grid', default='')
    ap.add_argument('--app', default=os.path.join(ROOT, 'apps', app + '.tsl'))
    ap.add_argument('--mutate', default='')
    ap.add_argument('--expect-mismatch', action='store_true')
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix='tsl-app-' + app + '-') as tmp:
        args.app_file = args.app
        if args.mutate:
            old, new = args.mutate.split('=>', 1)
            with open(args.app) as f:
                text = f.read()
            if old not in text:
                print('--mutate: %r does not occur in %s' % (old, args.app))
                return 1
            args.app_file = os.path.join(tmp, os.path.basename(args.app))
            with open(args.app_file, 'w') as f:
                f.write(text.replace(old, new, 1))
            print('planted bug: %r -> %r' % (old, new))
        try:
            check(Ctx(args, tmp))
        except Mismatch as e:
            print('MISMATCH: %s' % e)
            if args.expect_mismatch:
                print('the planted bug was caught: PASS')
                return 0
            return 1
        if args.expect_mismatch:
            print('FAIL: the planted bug was not caught')
            return 1
        print('PASS')
        return 0
