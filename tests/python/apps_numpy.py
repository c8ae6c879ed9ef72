"""The five apps of the array language (apps/*.tsl) as plain numpy functions,
written once in the subset that tessera.jit transpiles. test_apps.py runs
each undecorated (numpy) and decorated (Tessera) and compares.

Helpers (ridge, loss, sigmoid) are called by name: in the Tessera copy of this
module test_apps.py replaces them with their jitted versions, so the same
source runs on both engines.
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def logreg(X, y, alpha, iters):
    """Batch gradient descent on the mean log-loss; returns (w, accuracy)."""
    m = X.shape[0]
    w = np.zeros(X.shape[1])
    for i in range(iters):
        r = sigmoid(X @ w) - y
        w = w - (alpha / m) * (X.T @ r)
    acc = np.mean((sigmoid(X @ w) > 0.5) == y)
    return w, acc


def ridge(P, F, lam):
    A = F.T @ F + lam * np.eye(F.shape[1])
    return np.linalg.solve(A, P.T).T


def loss(R, U, V, lam):
    E = R - U @ V.T
    return np.sum(E * E) + lam * (np.sum(U * U) + np.sum(V * V))


def als(R, V0, lam, iters):
    """Alternating least squares R ~ U V^T; returns (U, V, final loss)."""
    V = V0
    U = np.zeros((R.shape[0], V0.shape[1]))
    L = 0.0
    for it in range(iters):
        U = ridge(R @ V, V, lam)
        V = ridge(R.T @ U, U, lam)
        L = loss(R, U, V, lam)
    return U, V, L


def kmeans(X, C0, iters):
    """Lloyd's k-means from the centres C0 (k x d); returns (C, inertia).
    The nearest centre as a one-hot row: the distance equal to the row's
    minimum (|x|^2 is the same for every centre of a row and is left out)."""
    C = C0
    for it in range(iters):
        D = np.sum(C * C, axis=1) - 2.0 * (X @ C.T)           # m x k
        M = (D.T == np.min(D, axis=1)).T * 1.0                  # m x k one-hot
        counts = np.sum(M, axis=0)                              # k
        sums = M.T @ X                                          # k x d
        C = np.where(counts > 0, sums.T / np.maximum(counts, 1.0), C.T).T
    D = np.sum(C * C, axis=1) - 2.0 * (X @ C.T)
    inertia = np.sum(np.min(D, axis=1)) + np.sum(X * X)
    return C, inertia


def jacobi(u0, steps):
    """Jacobi sweeps of Laplace's equation with fixed boundary values;
    returns (u, the largest change of the last sweep). The interior update
    u[1:m-1, 1:n-1] is put back into an m x n array by products with
    columns of the identity (Er: m x (m-2), Ec: n x (n-2))."""
    m = u0.shape[0]
    n = u0.shape[1]
    Er = np.eye(m)[:, 1:m - 1]
    Ec = np.eye(n)[:, 1:n - 1]
    inside = Er @ np.ones((m - 2, n - 2)) @ Ec.T
    u = u0
    change = 0.0
    for s in range(steps):
        mid = 0.25 * (u[0:m - 2, 1:n - 1] + u[2:m, 1:n - 1] + u[1:m - 1, 0:n - 2] + u[1:m - 1, 2:n])
        nxt = u * (1.0 - inside) + Er @ mid @ Ec.T
        change = np.max(np.abs(nxt - u))
        u = nxt
    return u, change


def cg(A, b, tol, maxiter):
    """Conjugate gradients for A x = b (A symmetric positive definite);
    returns (x, iterations)."""
    x = np.zeros(b.shape[0])
    r = b
    p = r
    rs = np.dot(r, r)
    stop = tol * np.linalg.norm(b)
    k = 0
    while k < maxiter and np.sqrt(rs) > stop:
        Ap = A @ p
        alpha = rs / np.dot(p, Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rs_new = np.dot(r, r)
        p = r + (rs_new / rs) * p
        rs = rs_new
        k = k + 1
    return x, k
