#!/usr/bin/python3
"""apps/kmeans.tsl against numpy (the same Lloyd iterations from the same
start) and scikit-learn's KMeans (init = the same start, n_init=1)."""
import sys

import numpy as np
from sklearn.cluster import KMeans

import apprun

M, D, K = 1200, 3, 5    # 1200 rows: 38 row tiles at --tile 32
ITERS = 15


def make_data():
    rng = np.random.default_rng(7)
    centres = rng.uniform(-10, 10, (K, D))
    X = centres[rng.integers(0, K, M)] + rng.standard_normal((M, D)) * 1.5
    C0 = X[rng.choice(M, K, replace=False)].copy()   # k distinct points as the start
    return X, C0


def sq_distances(X, C):
    # the app's formula, in its order: |x|^2 + (|c|^2 - 2 x.c)
    xx = np.sum(X * X, axis=1).reshape(-1, 1)
    return xx + (np.sum(C * C, axis=1) - 2 * (X @ C.T))


def numpy_kmeans(X, C0, iters):
    C = C0.copy()
    k = C.shape[0]
    for _ in range(iters):
        labels = np.argmin(sq_distances(X, C), axis=1)
        Mh = (labels.reshape(-1, 1) == np.arange(k)).astype(float)
        counts = Mh.sum(axis=0).reshape(k, 1)
        sums = Mh.T @ X
        C = np.where(counts > 0, sums / np.maximum(counts, 1), C)
    return C


def check(cx):
    X, C0 = make_data()
    out, got = cx.run({'X': X, 'C0': C0}, {'iters': ITERS}, ['C'])
    C = got['C']
    C_ref = numpy_kmeans(X, C0, ITERS)
    apprun.close('centroids vs numpy', C, C_ref, rtol=1e-10, atol=1e-10 * np.max(np.abs(C_ref)))

    inertia = apprun.printed(out, 'inertia')[-1][0]
    inertia_ref = float(np.sum(np.min(sq_distances(X, C_ref), axis=1)))
    apprun.close('inertia vs numpy', inertia, inertia_ref, rtol=1e-9)
    km = KMeans(n_clusters=K, init=C0, n_init=1, max_iter=ITERS, tol=0.0,
                algorithm='lloyd').fit(X)
    apprun.close('centroids vs scikit-learn', C, km.cluster_centers_, rtol=1e-6, atol=1e-6)
    apprun.close('inertia vs scikit-learn', inertia, km.inertia_, rtol=1e-6)


if __name__ == '__main__':
    sys.exit(apprun.main(check, 'kmeans'))
