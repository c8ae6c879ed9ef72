#!/usr/bin/python3
"""apps/cg.tsl on an SPD system: residual below 1e-8 and the solution
agrees with numpy.linalg.solve."""
import sys

import numpy as np

import apprun

N = 150                 # 5 row tiles of 32 at --tile 32, the last partial
TOL, MAXITER = 1e-11, 500


def make_data():
    rng = np.random.default_rng(3)
    B = rng.standard_normal((N, N))
    A = B @ B.T / N + 0.5 * np.eye(N)      # SPD, condition number ~10
    A = (A + A.T) / 2                      # exactly symmetric
    b = rng.standard_normal(N)
    return A, b


def check(cx):
    A, b = make_data()
    out, got = cx.run({'A': A, 'b': b}, {'tol': TOL, 'maxiter': MAXITER}, ['x'])
    x = got['x']
    res = float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))
    print('relative residual |b - A x| / |b| = %.3g' % res)
    if not res < 1e-8:
        raise apprun.Mismatch('residual %.3g is not below 1e-8' % res)
    iters = apprun.printed(out, 'iterations')[-1][0]
    if not 0 < iters < MAXITER:
        raise apprun.Mismatch('%g iterations: CG did not converge' % iters)
    res_app = apprun.printed(out, 'residual')[-1][0]
    # both are rounding-level numbers: they need only agree that small
    apprun.close('printed residual vs numpy', res_app, res, atol=1e-10)
    x_ref = np.linalg.solve(A, b)
    cond = np.linalg.cond(A)
    apprun.close('x vs numpy.linalg.solve', x, x_ref, atol=cond * 1e-9 * np.max(np.abs(x_ref)))


if __name__ == '__main__':
    sys.exit(apprun.main(check, 'cg'))
