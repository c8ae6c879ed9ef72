#!/usr/bin/python3
"""apps/logreg.tsl against numpy (the same gradient-descent iterations) and
scikit-learn (LogisticRegression, unregularised, same data)."""
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

import apprun

M, N = 1000, 8          # 1000 rows: 32 row tiles of 32 at --tile 32
ALPHA, ITERS = 1.0, 150


def make_data():
    rng = np.random.default_rng(20240401)
    X = rng.standard_normal((M, N))
    X[:, 0] = 1.0                                   # intercept column
    w_true = rng.standard_normal(N) * 1.5
    p = 1.0 / (1.0 + np.exp(-(X @ w_true)))
    y = (rng.random(M) < p).astype(np.float64)
    return X, y


def numpy_logreg(X, y, alpha, iters):
    m = X.shape[0]
    w = np.zeros(X.shape[1])
    for _ in range(iters):
        r = 1.0 / (1.0 + np.exp(-(X @ w))) - y
        w = w - (alpha / m) * (X.T @ r)
    return w


def accuracy(X, y, w):
    return float(np.mean(((1.0 / (1.0 + np.exp(-(X @ w)))) > 0.5) == y))


def check(cx):
    X, y = make_data()
    out, got = cx.run({'X': X, 'y': y}, {'alpha': ALPHA, 'iters': ITERS}, ['w'])
    w = got['w']
    w_ref = numpy_logreg(X, y, ALPHA, ITERS)
    scale = np.max(np.abs(w_ref))
    apprun.close('weights vs numpy', w, w_ref, rtol=1e-10, atol=1e-10 * scale)

    acc = apprun.printed(out, 'accuracy')[-1][0]
    acc_ref = accuracy(X, y, w_ref)
    apprun.close('accuracy vs numpy', acc, acc_ref, atol=1.0 / M + 1e-12)
    sk = LogisticRegression(C=1e12, fit_intercept=False, tol=1e-10, max_iter=10000).fit(X, y)
    acc_sk = float(sk.score(X, y))
    apprun.close('accuracy vs scikit-learn', acc, acc_sk, atol=0.01)


if __name__ == '__main__':
    sys.exit(apprun.main(check, 'logreg'))
