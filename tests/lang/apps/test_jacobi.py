#!/usr/bin/python3
"""apps/jacobi.tsl against numpy's Jacobi iteration after 100 steps."""
import sys

import numpy as np

import apprun

ROWS, COLS = 100, 72    # at --tile 32: 4 x 3 tiles, the last row and column partial
STEPS = 100


def make_data():
    rng = np.random.default_rng(11)
    u0 = rng.random((ROWS, COLS))
    u0[0, :] = 1.0                         # a hot top edge
    u0[-1, :] = 0.0
    u0[:, 0] = np.linspace(1.0, 0.0, ROWS)  # the left edge warm at the top
    u0[:, -1] = -0.5
    return u0


def numpy_jacobi(u0, steps):
    u = u0.copy()
    change = 0.0
    for _ in range(steps):
        nxt = u.copy()
        nxt[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
        change = float(np.max(np.abs(nxt - u)))
        u = nxt
    return u, change


def check(cx):
    u0 = make_data()
    out, got = cx.run({'u0': u0}, {'steps': STEPS}, ['u'])
    u_ref, change_ref = numpy_jacobi(u0, STEPS)
    apprun.close('u vs numpy', got['u'], u_ref, rtol=1e-12, atol=1e-13)
    change = apprun.printed(out, 'change')[-1][0]
    apprun.close('last-step change vs numpy', change, change_ref, rtol=1e-9, atol=1e-14)


if __name__ == '__main__':
    sys.exit(apprun.main(check, 'jacobi'))
