#!/usr/bin/python3
"""A jitted function whose job fails raises tessera.TesseraError with
tessera's message and the Python file and line it came from.

    test_jit_errors.py --tessera BUILD/apps/tessera [--np N]

  singular   np.linalg.solve of a singular matrix fails on every rank while
             running (exit 1): the error names 'singular' and the line of
             the solve in this file
  shape      a product of mismatched shapes, found before running (exit 3):
             the error names the line of the product
  ok         the same functions with good data return numpy's answer (the
             error path is not taken for nothing)
  no files   the job directories are gone afterwards
Exit 0 when all pass, 1 otherwise.
"""
import argparse
import glob
import inspect
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'python'))

import tessera  # noqa: E402


def solve_shifted(A, b):
    z = b + 1.0
    x = np.linalg.solve(A, z)          # LINE-SOLVE
    return x * 2.0


def project(X, w):
    s = np.sum(w)
    y = X @ w                          # LINE-DOT
    return y + s


def line_of(tag):
    src, first = inspect.findsource(solve_shifted)
    for i, text in enumerate(src):
        if tag in text:
            return i + 1
    raise AssertionError(tag)


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
    tmp = tempfile.mkdtemp(prefix='tessera-pyerr-')
    tempfile.tempdir = tmp
    me = os.path.abspath(__file__)

    f = tessera.jit(ranks=a.np)(solve_shifted)
    g = tessera.jit(ranks=a.np)(project)
    print(f.source)

    try:
        f(np.zeros((4, 4)), np.ones(4))
        check(False, 'singular solve raises TesseraError')
    except tessera.TesseraError as e:
        print('  ', e)
        check('singular' in str(e), 'singular: the message says singular')
        check(e.pyline == line_of('LINE-SOLVE') and os.path.abspath(e.pyfile or '') == me,
              'singular: at %s:%d (got %s:%s)' % (me, line_of('LINE-SOLVE'), e.pyfile, e.pyline))

    try:
        g(np.ones((5, 3)), np.ones(4))
        check(False, 'shape mismatch raises TesseraError')
    except tessera.TesseraError as e:
        print('  ', e)
        check('dot' in str(e) and 'shape' in str(e), 'shape: the message names dot and shapes')
        check(e.pyline == line_of('LINE-DOT'),
              'shape: at line %d (got %s)' % (line_of('LINE-DOT'), e.pyline))

    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 4)) + 4 * np.eye(4)
    b = rng.standard_normal(4)
    check(np.allclose(f(A, b), solve_shifted(A, b), rtol=1e-10), 'ok: solve matches numpy')
    X = rng.standard_normal((5, 3))
    w = rng.standard_normal(3)
    check(np.allclose(g(X, w), project(X, w), rtol=1e-12), 'ok: product matches numpy')

    left = [p for p in glob.glob(os.path.join(tmp, '*')) if 'tessera-traces' not in p]
    check(not left, 'no job directory left (%s)' % left)
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    if FAILS:
        print('%d FAILED' % len(FAILS))
        return 1
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
