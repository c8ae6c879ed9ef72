#!/usr/bin/python3
"""The five apps as plain numpy functions (apps_numpy.py): the undecorated
function run by numpy and the same function under tessera.jit run by Tessera
at N ranks must agree.

    test_apps.py --tessera BUILD/apps/tessera --np N APP [APP ...] [--planted]

APP: logreg als kmeans jacobi cg (or all). The Tessera side is a second copy
of apps_numpy (same file) whose helpers are replaced by their jitted
versions, so calls between functions go through the transpiler's calls to
other jitted functions. --planted compares with a numpy run whose input is
changed a little (one more iteration, or a perturbed parameter): the test
then passes only if every app's comparison catches it. Exit 0 / 1.
"""
import argparse
import importlib.util
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'python'))

import tessera  # noqa: E402
import apps_numpy as plain  # noqa: E402


class Mismatch(Exception):
    pass


def close(what, got, ref, rtol, atol=0.0):
    got = np.asarray(got, dtype=float)
    ref = np.asarray(ref, dtype=float)
    if got.shape != ref.shape:
        raise Mismatch('%s: shape %s, expected %s' % (what, got.shape, ref.shape))
    err = np.abs(got - ref)
    bound = atol + rtol * np.abs(ref)
    if not np.all(np.isfinite(got)) or np.any(err > bound):
        raise Mismatch('%s: max |diff| %.3g exceeds the tolerance (rtol %g, atol %g)'
                       % (what, float(np.max(err)), rtol, atol))
    print('ok %s: max |diff| %.3g' % (what, float(np.max(err)) if err.size else 0.0))


def jitted_copy(ranks):
    """apps_numpy loaded a second time, every function in it jitted."""
    spec = importlib.util.spec_from_file_location('apps_tessera',
                                                  os.path.join(HERE, 'apps_numpy.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in ('sigmoid', 'logreg', 'ridge', 'loss', 'als', 'kmeans', 'jacobi', 'cg'):
        setattr(mod, name, tessera.jit(ranks=ranks)(getattr(mod, name)))
    return mod


# ---- data and comparisons, one per app ----------------------------------------

def app_logreg(J, planted):
    rng = np.random.default_rng(20240401)
    X = rng.standard_normal((300, 6))
    X[:, 0] = 1.0
    p = 1.0 / (1.0 + np.exp(-(X @ (rng.standard_normal(6) * 1.5))))
    y = (rng.random(300) < p).astype(float)
    iters = 60
    w, acc = J.logreg(X, y, 1.0, iters)
    w_ref, acc_ref = plain.logreg(X, y, 1.0, iters + (1 if planted else 0))
    close('logreg w', w, w_ref, rtol=1e-9, atol=1e-12)
    close('logreg accuracy', acc, acc_ref, rtol=0, atol=1e-12)


def app_als(J, planted):
    rng = np.random.default_rng(5)
    R = rng.standard_normal((40, 3)) @ rng.standard_normal((3, 30)) \
        + 0.1 * rng.standard_normal((40, 30))
    V0 = rng.random((30, 3))
    lam = 0.1
    U, V, L = J.als(R, V0, lam, 5)
    U_ref, V_ref, L_ref = plain.als(R, V0, lam * (1.001 if planted else 1.0), 5)
    close('als U', U, U_ref, rtol=1e-7, atol=1e-9)
    close('als V', V, V_ref, rtol=1e-7, atol=1e-9)
    close('als loss', L, L_ref, rtol=1e-9)


def app_kmeans(J, planted):
    rng = np.random.default_rng(7)
    centres = rng.uniform(-10, 10, (4, 3))
    X = centres[rng.integers(0, 4, 400)] + rng.standard_normal((400, 3)) * 1.5
    C0 = X[rng.choice(400, 4, replace=False)].copy()
    C, inertia = J.kmeans(X, C0, 8)
    # planted: the reference starts from a slightly moved first centre
    C0p = C0.copy()
    if planted:
        C0p[0] += 0.5
    C_ref, inertia_ref = plain.kmeans(X, C0p, 8 if not planted else 1)
    close('kmeans C', C, C_ref, rtol=1e-9, atol=1e-12)
    close('kmeans inertia', inertia, inertia_ref, rtol=1e-9)


def app_jacobi(J, planted):
    rng = np.random.default_rng(11)
    u0 = rng.random((40, 30))
    u0[0, :] = 1.0
    u0[-1, :] = 0.0
    u0[:, 0] = np.linspace(1.0, 0.0, 40)
    u0[:, -1] = -0.5
    steps = 30
    u, change = J.jacobi(u0, steps)
    u_ref, change_ref = plain.jacobi(u0, steps + (1 if planted else 0))
    close('jacobi u', u, u_ref, rtol=1e-12, atol=1e-13)
    close('jacobi change', change, change_ref, rtol=1e-9, atol=1e-14)
    if not planted:
        # and the plain function is Jacobi: the slice-assignment form gives the same u
        close('jacobi (plain) vs slice-assignment Jacobi', u_ref, _jacobi_ref(u0, steps),
              rtol=1e-12, atol=1e-13)


def _jacobi_ref(u0, steps):
    u = u0.copy()
    for _ in range(steps):
        w = u.copy()
        w[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
        u = w
    return u


def app_cg(J, planted):
    rng = np.random.default_rng(3)
    n = 60
    B = rng.standard_normal((n, n))
    A = B @ B.T / n + 0.5 * np.eye(n)
    A = (A + A.T) / 2
    b = rng.standard_normal(n)
    x, k = J.cg(A, b, 1e-10, 200)
    x_ref, k_ref = plain.cg(A, b, 1e-10, 200)
    if planted:
        x_ref = x_ref * (1 + 1e-6)
    close('cg iterations', k, k_ref, rtol=0, atol=0.5)
    close('cg x', x, x_ref, rtol=1e-7, atol=1e-9)
    close('cg residual', np.linalg.norm(A @ x - b) / np.linalg.norm(b), 0.0, rtol=0, atol=1e-9)


APPS = {'logreg': app_logreg, 'als': app_als, 'kmeans': app_kmeans, 'jacobi': app_jacobi,
        'cg': app_cg}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--tessera', required=True)
    ap.add_argument('--np', type=int, default=1)
    ap.add_argument('--planted', action='store_true')
    ap.add_argument('--numpy-only', action='store_true',
                    help='check the harness: the plain functions against themselves')
    ap.add_argument('apps', nargs='+')
    a = ap.parse_args()
    os.environ['TESSERA_EXE'] = os.path.abspath(a.tessera)
    names = list(APPS) if a.apps == ['all'] else a.apps
    J = plain if a.numpy_only else jitted_copy(a.np)
    bad = []
    for name in names:
        print('== %s at %d rank%s%s' % (name, a.np, '' if a.np == 1 else 's',
                                         ' (planted difference)' if a.planted else ''),
              flush=True)
        try:
            APPS[name](J, a.planted)
            caught = False
        except Mismatch as e:
            print('MISMATCH: %s' % e)
            caught = True
        if caught != a.planted:
            bad.append(name)
        if a.planted:
            print('the planted difference was %s' % ('caught' if caught else 'NOT caught'))
    if bad:
        print('FAIL: %s' % ' '.join(bad))
        return 1
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
