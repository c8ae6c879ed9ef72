#!/usr/bin/python3
"""The runtime half of the Python package (python/tessera/run.py, jit.py),
independent of the transpiler: hand-written transpile.Program objects are
run through tessera.run.run_local at --np N ranks.

    test_runtime.py --tessera BUILD/apps/tessera [--np N]

Checks: array, number and tuple results against numpy; array and number
arguments; a runtime error (singular matrix) and a check error (shape)
become TesseraError with tessera's message and the Python line from the
line map; the temporary job directory is gone after success and after
errors; trace=True gives a trace file and a summary for N ranks; bad
arguments (3-D array, a string, nan) raise before anything runs;
JitFunction binds arguments by name and default, with a stubbed program.
Exit 0 when all pass, 1 with FAIL lines otherwise.
"""
import argparse
import glob
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'python'))

FAILS = []


def check(cond, what):
    print(('ok   ' if cond else 'FAIL ') + what, flush=True)
    if not cond:
        FAILS.append(what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--tessera', required=True)
    ap.add_argument('--np', type=int, default=2)
    a = ap.parse_args()
    os.environ['TESSERA_EXE'] = os.path.abspath(a.tessera)
    # A private TMPDIR: every job directory must be gone afterwards.
    tmp = tempfile.mkdtemp(prefix='tessera-pytest-')
    os.environ['TMPDIR'] = tmp
    tempfile.tempdir = tmp

    import tessera
    from tessera import run as R
    from tessera.transpile import Program

    N = a.np
    rng = np.random.default_rng(7)
    X = rng.standard_normal((50, 4))
    w = rng.standard_normal(4)

    def leftovers():
        return [p for p in glob.glob(os.path.join(tmp, 'tessera-*'))
                if not p.endswith('tessera-traces')]

    # 1. one array result, array + number arguments
    p = Program('(define (main X w lr)\n  (- w (* lr (dot (transpose X) (dot X w)))))\n',
                ['X', 'w', 'lr'], ['result'], {1: 10, 2: 11}, 'step', '/src/fit.py')
    got = R.run_local(p, {'X': X, 'w': w, 'lr': 0.01}, ranks=N)
    ref = w - 0.01 * (X.T @ (X @ w))
    check(isinstance(got, np.ndarray) and got.shape == (4,) and np.allclose(got, ref, rtol=1e-12),
          'array result matches numpy (np=%d)' % N)
    check(not leftovers(), 'job directory removed after success')

    # 2. a number result (tessera also prints it: not echoed twice, returned as float)
    p = Program('(define (main X)\n  (sum (* X X)))\n', ['X'], ['result'], {1: 3, 2: 4},
                'sq', '/src/sq.py')
    got = R.run_local(p, {'X': X}, ranks=N)
    check(isinstance(got, float) and abs(got - float(np.sum(X * X))) < 1e-9 * np.sum(X * X),
          'number result is a float equal to numpy')

    # 3. a tuple result r0, r1 (+ integer and bool arguments)
    p = Program('(define (main X k flag)\n  (define r0 (* X k))\n  (define r1 (+ (sum X 0) flag))\n'
                '  (list r0 r1))\n', ['X', 'k', 'flag'], ['r0', 'r1'], {1: 1, 2: 2, 3: 3}, 't',
                '/src/t.py')
    got = R.run_local(p, {'X': X, 'k': 3, 'flag': True}, ranks=N)
    check(isinstance(got, tuple) and len(got) == 2 and np.allclose(got[0], 3 * X)
          and np.allclose(got[1], X.sum(axis=0) + 1), 'tuple result (r0, r1) matches numpy')

    # 4. runtime error: singular matrix -> TesseraError at the mapped Python line
    p = Program('(define (main A b)\n  (define z (+ b 1))\n  (solve A z))\n', ['A', 'b'],
                ['result'], {1: 20, 2: 21, 3: 22}, 'bad', '/src/bad.py')
    try:
        R.run_local(p, {'A': np.zeros((3, 3)), 'b': np.ones(3)}, ranks=N)
        check(False, 'singular solve raises')
    except tessera.TesseraError as e:
        print('  error:', e)
        check('singular' in str(e) and e.pyline == 22 and e.pyfile == '/src/bad.py'
              and str(e).startswith('/src/bad.py:22: ') and e.returncode != 0,
              'runtime error -> TesseraError "/src/bad.py:22: ... singular ..."')
    check(not leftovers(), 'job directory removed after a runtime error')

    # 5. error found before running (shape), on a line with no entry: nearest above
    p = Program('(define (main X w)\n  (define q 1)\n\n  (dot X (+ w (ones 7))))\n', ['X', 'w'],
                ['result'], {1: 5, 2: 6}, 'shp', '/src/shp.py')
    try:
        R.run_local(p, {'X': X, 'w': w}, ranks=N)
        check(False, 'shape error raises')
    except tessera.TesseraError as e:
        print('  error:', e)
        check('do not broadcast' in str(e) and e.pyline == 6 and e.tsl_line == 4,
              'shape error -> TesseraError at the nearest mapped line (6)')

    # 6. trace
    p = Program('(define (main X)\n  (dot (transpose X) X))\n', ['X'], ['result'], {}, 'tr',
                '/src/tr.py')
    tpath = os.path.join(tmp, 'my trace.json')
    got, path, summary = R.run_local(p, {'X': X}, ranks=N, trace=tpath)
    check(np.allclose(got, X.T @ X) and path == tpath and os.path.isfile(path)
          and summary.get('ranks') == N and summary.get('tasks', 0) > 0,
          'trace=PATH: result, trace file, summary for %d ranks' % N)

    # 7. bad arguments, before anything runs
    for bad, what in ((np.zeros((2, 2, 2)), '3-D array'), ('abc', 'a string'),
                      (float('nan'), 'nan')):
        try:
            R.run_local(p, {'X': bad}, ranks=N)
            check(False, '%s argument refused' % what)
        except (TypeError, tessera.TesseraError) as e:
            check(True, '%s argument refused: %s' % (what, e))
    check(not leftovers(), 'job directories removed after refused arguments')

    # 8. JitFunction with a stubbed program: binding by keyword and default, ranks=
    def fit(X, w, lr=0.01):
        return w - lr * (X.T @ (X @ w))
    f = tessera.jit(ranks=N)(fit)
    f._program = Program('(define (main X w lr)\n  (- w (* lr (dot (transpose X) (dot X w)))))\n',
                         ['X', 'w', 'lr'], ['result'], {}, 'fit', __file__)
    got = f(X, w=w)
    check(np.allclose(got, fit(X, w)), 'jit: keyword and default arguments bound')
    check(f.source.startswith('(define (main X w lr)') and f.__name__ == 'fit'
          and f.py_func is fit, 'jit: .source, __name__, .py_func')
    got, path, summary = tessera.trace(f)(X, w, 0.02)
    check(np.allclose(got, fit(X, w, 0.02)) and os.path.isfile(path) and summary['ranks'] == N,
          'tessera.trace(f)(...) -> (result, path, summary)')
    try:
        f(X)
        check(False, 'missing argument raises TypeError')
    except TypeError as e:
        check('w' in str(e), 'missing argument raises TypeError: %s' % e)
    old = tessera.config()
    cfg = tessera.config(ranks=3, threads=2)
    check(cfg == {'ranks': 3, 'threads': 2}, 'config(ranks=3, threads=2)')
    g = tessera.jit(fit)
    check(tessera.jit.__module__ and R is not None and
          __import__('tessera.jit', fromlist=['_setting'])._setting('ranks', None, g.ranks) == 3,
          'config ranks is the default of a jit without ranks=')
    tessera.config(ranks=old['ranks'] or 1, threads=old['threads'] or 1)

    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    if FAILS:
        print('%d FAILED: %s' % (len(FAILS), '; '.join(FAILS)))
        return 1
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
