#!/usr/bin/python3
"""apps/als.tsl: the loss curve (printed after every iteration) and the
factors against numpy's same ALS iterations from the same start."""
import sys

import numpy as np

import apprun

M, N, K = 90, 70, 4     # at --tile 32: R is 3 x 3 tiles, partial at the edges
LAMBDA, ITERS = 0.1, 8


def make_data():
    rng = np.random.default_rng(5)
    R = rng.standard_normal((M, K)) @ rng.standard_normal((K, N)) \
        + 0.1 * rng.standard_normal((M, N))
    V0 = rng.random((N, K))
    return R, V0


def ridge(P, F, lam):
    A = F.T @ F + lam * np.eye(F.shape[1])
    return np.linalg.solve(A, P.T).T


def loss(R, U, V, lam):
    E = R - U @ V.T
    return np.sum(E * E) + lam * (np.sum(U * U) + np.sum(V * V))


def numpy_als(R, V0, lam, iters):
    V = V0.copy()
    curve = []
    for _ in range(iters):
        U = ridge(R @ V, V, lam)
        V = ridge(R.T @ U, U, lam)
        curve.append(loss(R, U, V, lam))
    return U, V, np.array(curve)


def check(cx):
    R, V0 = make_data()
    out, got = cx.run({'R': R, 'V0': V0}, {'lambda': LAMBDA, 'iters': ITERS}, ['U', 'V'])
    U_ref, V_ref, curve_ref = numpy_als(R, V0, LAMBDA, ITERS)
    rows = apprun.printed(out, 'loss')
    iters = [r[0] for r in rows]
    if iters != list(range(1, ITERS + 1)):
        raise apprun.Mismatch('printed iterations %s, expected 1..%d' % (iters, ITERS))
    apprun.close('loss curve vs numpy', [r[1] for r in rows], curve_ref, rtol=1e-9)
    apprun.close('U vs numpy', got['U'], U_ref, rtol=1e-8, atol=1e-8 * np.max(np.abs(U_ref)))
    apprun.close('V vs numpy', got['V'], V_ref, rtol=1e-8, atol=1e-8 * np.max(np.abs(V_ref)))


if __name__ == '__main__':
    sys.exit(apprun.main(check, 'als'))
