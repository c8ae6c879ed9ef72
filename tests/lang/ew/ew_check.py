#!/usr/bin/python3
"""Element-wise builtins and reductions of the array language against numpy.

Runs every tests/lang/ew/*.tsl through `tessera run` (under
scripts/mpirun-tsr at --np ranks, small tiles so arrays span the ranks):

  ew_*.tsl   `(define NAME EXPR) ; => PYTHON` lines inside main: NAME is
             compared with the Python expression, evaluated with numpy on the
             same inputs. An array result is saved with --out NAME=... and
             must have numpy's shape (1-D stays 1-D) and values (rtol 1e-12,
             NaN where numpy has NaN, same infinities). A scalar result (a
             Python/numpy number or bool) must be printed by the program as
             `NAME VALUE`: a bool expects `true`/`false`, a number a number
             (sign of zero included).
  err_*.tsl  first line `; expect-error EXIT: MESSAGE`: `tessera check` and
             `tessera run` both exit EXIT and print MESSAGE (which starts
             with the file name) on stderr, `tessera run` once per rank.

main's parameters are inputs from INPUTS below (arrays as .npy files,
numbers as numbers), chosen by name.

  ew_check.py --tessera EXE [--mpirun W] [--np N] [--tile T] [--only NAME]
              [--mutate FILE:OLD=>NEW --expect-mismatch]

--mutate plants a bug in one program (text OLD replaced by NEW); with
--expect-mismatch the run passes only if the comparison catches it, which
shows that the test can fail.
"""
import argparse
import glob
import math
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))


def make_inputs():
    rng = np.random.default_rng(20240607)
    d = {}
    d['A'] = rng.standard_normal((6, 5))
    d['B'] = rng.standard_normal((6, 5))
    d['C'] = rng.standard_normal((6, 1))
    d['R'] = rng.standard_normal((1, 5))
    d['R4'] = rng.standard_normal((1, 4))
    d['O'] = rng.standard_normal((1, 1))
    d['P'] = rng.uniform(0.5, 2.0, (6, 5))
    z = rng.integers(-1, 2, (6, 5)).astype(float)  # -1, 0, 1
    d['Z'] = z
    d['I'] = rng.integers(0, 4, (6, 5)).astype(float)  # ties for argmin/argmax
    d['vi'] = rng.integers(0, 3, 5).astype(float)
    d['v5'] = rng.standard_normal(5)
    d['w5'] = rng.standard_normal(5)
    d['v6'] = rng.standard_normal(6) + 0.5
    d['u1'] = rng.standard_normal(1)
    d['vn'] = np.array([1.0, np.nan, -2.0, np.nan, 3.0, 0.0])
    an = rng.standard_normal((3, 4))
    an[1, 2] = np.nan
    an[2, 0] = np.nan
    d['An'] = an
    d['G'] = rng.standard_normal((37, 9))  # several tiles each way
    d['k'] = 2.5
    return d


class Mismatch(Exception):
    pass


def main_params(text):
    m = re.search(r'\(define\s+\(main((?:\s+[^\s()]+)*)\s*\)', text)
    return m.group(1).split() if m else []


def cases(text):
    """[(name, python expression, line number)] from `(define NAME ...) ; => PY`."""
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(r'\s*\(define\s+([^\s()]+)\s.*\)\s*;\s*=>\s*(.+?)\s*$', line)
        if m:
            out.append((m.group(1), m.group(2), i))
    return out


def run(cmd, expect_rc=0):
    print('+', ' '.join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=120)
    if p.returncode != expect_rc:
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr)
        raise Mismatch('exit status %d, expected %d' % (p.returncode, expect_rc))
    return p


def parse_printed(text):
    t = text.strip()
    if t == 'true':
        return True
    if t == 'false':
        return False
    try:
        return float(t)
    except ValueError:
        raise Mismatch('printed %r, not a number or boolean' % t)


def compare(what, got, ref):
    if isinstance(ref, (bool, np.bool_)):
        if not isinstance(got, bool) or got != bool(ref):
            raise Mismatch('%s: got %r, expected boolean %s' % (what, got, str(bool(ref)).lower()))
        return
    ref = np.asarray(ref, dtype=float)
    if ref.ndim == 0:
        if isinstance(got, bool):
            raise Mismatch('%s: got boolean %r, expected number %r' % (what, got, float(ref)))
        got = np.asarray(got, dtype=float)
    if got.shape != ref.shape:
        raise Mismatch('%s: shape %s, expected %s' % (what, got.shape, ref.shape))
    nan_ok = np.array_equal(np.isnan(got), np.isnan(ref))
    inf_ok = np.array_equal(np.where(np.isinf(ref), ref, 0), np.where(np.isinf(got), got, 0))
    fin = np.isfinite(ref) & np.isfinite(got)
    close = np.allclose(got[fin], ref[fin], rtol=1e-12, atol=1e-14)
    zero_sign = np.array_equal(np.signbit(got[(ref == 0) & (got == 0)]),
                               np.signbit(ref[(ref == 0) & (got == 0)]))
    if not (nan_ok and inf_ok and close and zero_sign):
        raise Mismatch('%s:\n got      %r\n expected %r' % (what, got, ref))


def check_program(args, path, text, inputs, tmp):
    params = main_params(text)
    cs = cases(text)
    if not cs:
        raise Mismatch('%s: no `; =>` cases' % path)
    env = {'np': np, 'math': math}
    for p in params:
        env[p] = inputs[p]
    cmd = [args.mpirun, '-np', str(args.np), args.tessera, 'run', path, '--quiet',
           '--tile', str(args.tile)]
    for p in params:
        v = inputs[p]
        if isinstance(v, np.ndarray):
            f = os.path.join(tmp, 'in_' + p + '.npy')
            np.save(f, v)
            cmd += ['--arg', '%s=%s' % (p, f)]
        else:
            cmd += ['--arg', '%s=%r' % (p, v)]
    refs = {}
    with np.errstate(all='ignore'):
        for name, py, line in cs:
            refs[name] = eval(py, env)
    arrays = [n for n, _, _ in cs if np.ndim(refs[n]) > 0]
    for n in arrays:
        cmd += ['--out', '%s=%s' % (n, os.path.join(tmp, 'out_' + n + '.npy'))]
    p = run(cmd)
    printed = {}
    for line in p.stdout.splitlines():
        f = line.split(None, 1)
        if len(f) == 2:
            printed[f[0]] = f[1]
    bad = []
    for name, py, line in cs:
        what = '%s:%d %s (%s)' % (os.path.basename(path), line, name, py)
        try:
            if name in arrays:
                got = np.load(os.path.join(tmp, 'out_' + name + '.npy'))
            else:
                if name not in printed:
                    raise Mismatch('%s: the program printed no "%s VALUE" line' % (what, name))
                got = parse_printed(printed[name])
            compare(what, got, refs[name])
            print('ok', what)
        except Mismatch as e:
            print('MISMATCH', e)
            bad.append(name)
    if bad:
        raise Mismatch('%s: %d of %d cases differ: %s' % (path, len(bad), len(cs), ' '.join(bad)))


def check_error(args, path, text, inputs, tmp):
    m = re.match(r';\s*expect-error\s+(\d+):\s*(.+?)\s*$', text.splitlines()[0])
    if not m:
        raise Mismatch('%s: first line is not `; expect-error EXIT: MESSAGE`' % path)
    rc, msg = int(m.group(1)), m.group(2)
    # the program is copied so that its name in messages is just the base name
    local = os.path.basename(path)
    with open(os.path.join(tmp, local), 'w') as f:
        f.write(text)
    params = main_params(text)
    argv = []
    for p in params:
        v = inputs[p]
        if isinstance(v, np.ndarray):
            f = os.path.join(tmp, 'in_' + p + '.npy')
            np.save(f, v)
            argv += ['--arg', '%s=%s' % (p, f)]
        else:
            argv += ['--arg', '%s=%r' % (p, v)]
    for mode, cmd, ranks in (
            ('check', [args.tessera, 'check', local] + argv, 1),
            ('run', [args.mpirun, '-np', str(args.np), args.tessera, 'run', local, '--quiet',
                     '--tile', str(args.tile)] + argv, args.np)):
        print('+ (in %s)' % tmp, ' '.join(cmd), flush=True)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp,
                           universal_newlines=True, timeout=120)
        sys.stderr.write(p.stderr)
        lines = [l for l in p.stderr.splitlines() if l.startswith(msg)]
        if p.returncode != rc:
            raise Mismatch('%s %s: exit status %d, expected %d' % (mode, local, p.returncode, rc))
        if len(lines) != ranks:
            raise Mismatch('%s %s: %d stderr lines start with %r, expected %d'
                           % (mode, local, len(lines), msg, ranks))
        print('ok %s %s: exit %d, %r' % (mode, local, rc, msg))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--tessera', required=True)
    ap.add_argument('--mpirun', default=os.path.join(ROOT, 'scripts', 'mpirun-tsr'))
    ap.add_argument('--np', type=int, default=1)
    ap.add_argument('--tile', type=int, default=2)
    ap.add_argument('--only', default='')
    ap.add_argument('--mutate', default='')
    ap.add_argument('--expect-mismatch', action='store_true')
    args = ap.parse_args()
    args.tessera = os.path.abspath(args.tessera)
    args.mpirun = os.path.abspath(args.mpirun)
    inputs = make_inputs()
    files = sorted(glob.glob(os.path.join(HERE, '*.tsl')))
    if args.only:
        files = [f for f in files if os.path.basename(f) in args.only.split(',')]
    mutate = None
    if args.mutate:
        fname, rest = args.mutate.split(':', 1)
        old, new = rest.split('=>', 1)
        mutate = (fname, old, new)
        files = [f for f in files if os.path.basename(f) == fname]
    failed = []
    for path in files:
        with open(path) as f:
            text = f.read()
        if mutate:
            if mutate[1] not in text:
                print('--mutate: %r does not occur in %s' % (mutate[1], path))
                return 1
            text = text.replace(mutate[1], mutate[2], 1)
            print('planted bug: %r -> %r' % (mutate[1], mutate[2]))
        with tempfile.TemporaryDirectory(prefix='tsl-ew-') as tmp:
            try:
                base = os.path.basename(path)
                if base.startswith('err_'):
                    check_error(args, path, text, inputs, tmp)
                else:
                    prog = path
                    if mutate:
                        prog = os.path.join(tmp, base)
                        with open(prog, 'w') as f:
                            f.write(text)
                    check_program(args, prog, text, inputs, tmp)
            except (Mismatch, subprocess.TimeoutExpired) as e:
                print('MISMATCH: %s' % e, flush=True)
                failed.append(os.path.basename(path))
    if args.expect_mismatch:
        if failed:
            print('the planted bug was caught: PASS')
            return 0
        print('FAIL: the planted bug was not caught')
        return 1
    if failed:
        print('FAIL: %s' % ' '.join(failed))
        return 1
    print('PASS (%d programs)' % len(files))
    return 0


if __name__ == '__main__':
    sys.exit(main())
