#!/usr/bin/python3
"""Determinism across rank counts, grids, tile sizes and thread counts.

Runs tests/determinism/det.tsl (every result saved with --out) once per
configuration (ranks, grid PxQ, tile T, TSR_THREADS) and compares each with
the reference configuration (1 rank, 1 thread; the first one) and with an
independent numpy reference. The guarantees and the tolerances are those of
docs/determinism.md:

  x_*  bit-identical: the raw bytes of every element are equal (so NaN
       payloads, infinities and the sign of zero are checked too);
  s_*  sums/means: |a - b| <= 2 * E with E = (3 |S| + 46 sum|x|) u per
       result element (u = 2^-53, sum|x| over the reduced elements) between
       two configurations, and |a - S| <= E against the exact sum S (numpy
       in long double);
  n_*  2-norms: relative 2 * (D/2 + 2) u between two configurations and
       (D/2 + 2) u against the exact norm, D the depth of the summation of
       squares for that configuration (bounded below);
  p_*  products C = A B: |a - b| <= 2 gamma_(K+1) (|A||B|) element-wise
       between two configurations and gamma_(K+1) (|A||B|) against the exact
       product (numpy in long double, rounded to double: the +1), K the inner
       dimension, gamma_K = K u / (1 - K u).

With --repeat R the configurations named in REPEAT run R times in all and
every result, sums and products included, must be bit-identical between
the repeats (run-to-run reproducibility for a fixed configuration).

  det_check.py --tessera EXE --mpirun W [--quick | --sanitized] [--repeat R]
               [--mutate OLD=>NEW --expect-mismatch]

--mutate plants a difference: the program text OLD becomes NEW for every
configuration but the reference, standing for a result that changes with
the rank count; with --expect-mismatch the test passes only if the
comparison catches it (the checker can fail).
"""
import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(HERE, 'det.tsl')
U = 2.0 ** -53
SIZES = {'m': 203, 'k': 77, 'n': 130}  # no tile size used divides them

# (ranks, grid, tile, threads). The first is the reference. Tiles 17, 24,
# 32, 50 and 256 (one tile) cut 203 x 77 unevenly; grids spread rows,
# columns or both; threads 1 and 2.
CONFIGS = [
    (1, '1x1', 32, 1),
    (1, '1x1', 32, 2),
    (1, '1x1', 256, 1),
    (2, '2x1', 32, 1),
    (2, '1x2', 24, 2),
    (3, '3x1', 32, 2),
    (3, '1x3', 32, 1),
    (3, '3x1', 50, 1),
    (4, '2x2', 32, 2),
    (4, '4x1', 17, 1),
    (4, '1x4', 32, 2),
    (4, '2x2', 256, 1),  # one tile: ranks 1-3 hold nothing
    (4, '1x4', 64, 2),   # two tile columns: ranks 2 and 3 hold nothing
    (2, '2x1', 7, 2),    # many small tiles
]
QUICK = [(1, '1x1', 32, 1), (2, '1x2', 24, 2)]
# Under ASan (each run ~5x slower): every rank count once, both thread
# counts, rows, columns and both spread, a tile that leaves ranks empty.
SANITIZED = [(1, '1x1', 32, 1), (2, '1x2', 24, 2), (3, '3x1', 50, 1), (4, '2x2', 32, 2),
             (4, '1x4', 64, 1)]
# Run --repeat times in all: every result bit-identical between the runs.
REPEAT = [(4, '2x2', 32, 2), (2, '1x2', 24, 2)]


class Mismatch(Exception):
    pass


def names_in(text):
    return re.findall(r'\(define\s+([xsnp]_[A-Za-z0-9]+)\s', text)


def run_config(args, text, cfg, workdir, tag):
    np_, grid, tile, threads = cfg
    d = os.path.join(workdir, tag)
    os.makedirs(d)
    prog = os.path.join(d, 'det.tsl')
    with open(prog, 'w') as f:
        f.write(text)
    cmd = [args.mpirun, '-np', str(np_), args.tessera, 'run', prog, '--grid', grid,
           '--tile', str(tile), '--quiet']
    for k, v in SIZES.items():
        cmd += ['--arg', '%s=%d' % (k, v)]
    names = names_in(text)
    for n in names:
        cmd += ['--out', '%s=%s' % (n, os.path.join(d, n + '.npy'))]
    env = dict(os.environ, TSR_THREADS=str(threads))
    t0 = time.time()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=args.timeout)
    if p.returncode != 0:
        raise SystemExit('det_check: %s failed (exit %d):\n%s%s' %
                         (tag, p.returncode, p.stdout, p.stderr))
    out = {n: np.load(os.path.join(d, n + '.npy')) for n in names}
    for n in names:  # the files themselves (header and data), for x_ results
        if n.startswith('x_'):
            with open(os.path.join(d, n + '.npy'), 'rb') as f:
                out['file:' + n] = f.read()
    print('  ran %-28s %5.1f s' % (tag, time.time() - t0), flush=True)
    return out


def tag_of(cfg, rep=0):
    s = 'np%d-grid%s-tile%d-threads%d' % cfg
    return s + ('-run%d' % rep if rep else '')


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def first_diff(a, b):
    a, b = np.atleast_1d(a), np.atleast_1d(b)
    if a.shape != b.shape:
        return 'shape %s vs %s' % (a.shape, b.shape)
    ia, ib = a.view(np.uint64), b.view(np.uint64)
    bad = np.argwhere(ia != ib)
    i = tuple(bad[0])
    return '%d elements differ, first at %s: %r vs %r' % (len(bad), i, a[i], b[i])


# ---- independent references ----

def philox4x32(counter, seed):
    """Philox4x32-10 of uint64 counters (numpy arrays), as src/array/philox.h."""
    M = np.uint64(0xFFFFFFFF)
    c0 = counter & M
    c1 = counter >> np.uint64(32)
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0 = np.uint64(seed & 0xFFFFFFFF)
    k1 = np.uint64(seed >> 32)
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        n0 = (p1 >> np.uint64(32)) ^ c1 ^ k0
        n2 = (p0 >> np.uint64(32)) ^ c3 ^ k1
        c1 = p1 & M
        c3 = p0 & M
        c0, c2 = n0, n2
        k0 = (k0 + np.uint64(0x9E3779B9)) & M
        k1 = (k1 + np.uint64(0xBB67AE85)) & M
    return c0, c1, c2, c3


def u01(hi, lo):
    bits = ((hi << np.uint64(21)) ^ (lo >> np.uint64(11))) & np.uint64((1 << 53) - 1)
    return bits.astype(np.float64) * 2.0 ** -53


def ref_uniform(shape, seed):
    g = np.arange(int(np.prod(shape)), dtype=np.uint64)
    r = philox4x32(g, seed)
    return u01(r[0], r[1]).reshape(shape)


def ref_normal(shape, seed):
    g = np.arange(int(np.prod(shape)), dtype=np.uint64)
    r = philox4x32(g, seed)
    u1 = 1.0 - u01(r[0], r[1])
    u2 = u01(r[2], r[3])
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)).reshape(shape)


def shift_ref(x, di, dj, fill=0.0):
    m, n = x.shape
    out = np.full_like(x, fill)
    for i in range(m):
        si = i + di
        if 0 <= si < m:
            lo, hi = max(0, -dj), min(n, n - dj)
            if lo < hi:
                out[i, lo:hi] = x[si, lo + dj:hi + dj]
    return out


def x_refs(r):
    """numpy for the bit-identical group: (value, ulps); ulps 0 = same bytes
    (NaN positions only for NaN: numpy's NaN sign may differ)."""
    A, Uu, B, v, c, t = r['x_A'], r['x_U'], r['x_B'], r['x_v'], r['x_c'], r['x_t']
    m, k = A.shape
    col = c.reshape(m, 1)
    with np.errstate(all='ignore'):
        sq = np.sqrt(A)
        lg = np.log(Uu - 0.25)
        refs = {
            'x_A': (ref_normal(A.shape, 11), 4), 'x_U': (ref_uniform(Uu.shape, 12), 0),
            'x_B': (ref_normal(B.shape, 13), 4), 'x_v': (ref_uniform(v.shape, 14), 0),
            'x_c': (ref_normal(c.shape, 15), 4),
            'x_bigseed': (ref_uniform((7, 5), 9007199254740991), 0),
            'x_lin': (A * 2.5 - Uu / 3 - 0.125, 0),
            'x_exp': (np.exp(A), 2),
            'x_sig': (1.0 / (1.0 + np.exp(-(4 * A))), 4),
            'x_tanh': (np.tanh(A), 4),  # glibc's and numpy's tanh: 2-3 ulps apart
            'x_log': (lg, 2),
            'x_sqrt': (sq, 0),
            'x_pow': (Uu ** 1.7, 2),
            'x_div': (A / (Uu - 0.5), 0),
            'x_inf': (A / (Uu * 0), 0),
            'x_negzero': (A * 0, 0),
            'x_nan0': ((A * 0) / 0, 0),
            'x_max': (np.maximum(A, sq), 0),
            'x_min': (np.minimum(A, 0), 0),
            'x_where': (np.where(A > 0, A, 0.1 * A), 0),
            'x_cmp': ((A < Uu) + 2.0 * ((A > 0) == (Uu < 0.5)) + 4.0 * (A != A), 0),
            'x_abs': (np.abs(-A), 0),
            'x_not': (np.logical_not(A > 0.5).astype(float), 0),
            'x_fused': (np.exp(-(A * A)) * Uu + 0.5 * A + np.sqrt(np.abs(A)), 4),
            'x_row': (A + v, 0),
            'x_col': (A * col, 0),
            'x_outer': (col - v.reshape(1, k), 0),
            'x_scal': (np.where(Uu > 0.5, 1.0, 0 - Uu), 0),
            'x_T': (A.T, 0), 'x_Tplus': (A.T + 1, 0), 'x_TT': (Uu, 0),
            'x_sl1': (A[17:m - 20, 5:k - 7], 0), 'x_sl2': (A[-60:-3], 0),
            'x_sl3': (c[7:m - 13], 0), 'x_sl4': (Uu[31:33, 0:k], 0),
            'x_cat0': (np.concatenate([A, Uu[0:45]], 0), 0),
            'x_cat1': (np.concatenate([A, Uu, A[0:m, 3:5]], 1), 0),
            'x_cat1d': (np.concatenate([c, v, c]), 0),
            'x_rscol': (v.reshape(k, 1), 0), 'x_rsrow': (c.reshape(1, m), 0),
            'x_rsback': (c, 0),
            'x_sh1': (shift_ref(A, 3, -2), 0), 'x_sh2': (shift_ref(A, -35, 40, 7.5), 0),
            'x_stencil': (shift_ref(Uu, 1, 0) + shift_ref(Uu, -1, 0) + shift_ref(Uu, 0, 1)
                          + shift_ref(Uu, 0, -1), 0),
            'x_at': (np.float64(A[m - 53, k - 17]), 0),
            'x_shout': (np.full_like(A, -1.0), 0),
            'x_t': (ref_normal((2, 5), 16), 4), 'x_one': (ref_uniform((1,), 17), 0),
            'x_tT': (t.T, 0), 'x_tcat': (np.concatenate([t, A[0:3, 0:5], t], 0), 0),
            'x_tsh': (shift_ref(t, 1, -2), 0),
            'x_tbc': (t + c[0:2].reshape(2, 1) + r['x_one'], 0),
            'x_targ': (np.argmax(t, 0).astype(float), 0),
            'x_minall': (np.float64(A.min()), 0), 'x_maxall': (np.float64(Uu.max()), 0),
            'x_min0': (A.min(0), 0), 'x_max1': (A.max(1), 0),
            'x_nanmax': (np.float64(np.max(sq)), 0), 'x_nanmin1': (np.min(sq, 1), 0),
            'x_argmin': (np.float64(np.argmin(A)), 0), 'x_argmax': (np.float64(np.argmax(Uu)), 0),
            'x_argmin0': (np.argmin(A, 0).astype(float), 0),
            'x_argmax1': (np.argmax(A, 1).astype(float), 0),
            'x_argties': (np.argmax((A > 1).astype(float), 1).astype(float), 0),
            'x_argnan': (np.argmax(lg, 0).astype(float), 0),
        }
    return refs


def ulp_close(got, want, ulps):
    got, want = np.asarray(got, float), np.asarray(want, float)
    if got.shape != want.shape:
        return 'shape %s, numpy %s' % (got.shape, want.shape)
    gn, wn = np.isnan(got), np.isnan(want)
    if not np.array_equal(gn, wn):
        return 'NaN at different places than numpy'
    g, w = got[~gn], want[~wn]
    if ulps == 0:
        if g.tobytes() != w.tobytes():
            i = np.argmax(g.view(np.uint64) != w.view(np.uint64))
            return 'not equal to numpy: %r vs %r' % (g.flat[i], w.flat[i])
        return None
    inf = np.isinf(w)
    if not np.array_equal(g[inf], w[inf]):
        return 'infinities differ from numpy'
    fin = ~inf
    err = np.abs(g[fin] - w[fin])
    lim = ulps * np.spacing(np.abs(w[fin]))
    if np.any(err > lim):
        i = np.argmax(err - lim)
        return '%r vs numpy %r: more than %d ulps apart' % (g[fin][i], w[fin][i], ulps)
    return None


def tol_refs(r, cfg):
    """(exact value in long double as float, per-element bound E vs exact) for
    the s_/n_/p_ results of configuration cfg."""
    A, Uu, B, v, c, ex = r['x_A'], r['x_U'], r['x_B'], r['x_v'], r['x_c'], r['x_exp']
    m, k = A.shape
    L = np.longdouble

    def ssum(x, axis=None, mean=False):
        x = np.asarray(x)
        S = np.sum(x.astype(L), axis=axis)
        absx = np.sum(np.abs(x).astype(L), axis=axis)
        cnt = x.size if axis is None else x.shape[axis]
        S = S / cnt if mean else S
        absx = absx / cnt if mean else absx
        # reduce_part.c: blocks of <= 256 in 8 lanes (<= 41 roundings deep),
        # compensated across blocks, tiles and ranks (2u|S|), final v + w
        # (u|S|); the mean's division adds u|S| (in the 3); +5 covers the
        # long double reference and second-order terms.
        E = (3 * np.abs(S) + 46 * absx) * L(U)
        return S.astype(float), E.astype(float)

    def nrm(x):
        x = np.asarray(x)
        nrm_ = np.sqrt(np.sum(x.astype(L) ** 2))
        D = norm_depth(x.shape if x.ndim == 2 else (x.shape[0], 1), cfg)
        return np.float64(nrm_), np.float64(nrm_ * L((D / 2 + 2) * U))

    def prod(a, b):
        # gamma_K for the product, one more u for rounding the exact
        # reference to a double: gamma_(K+1).
        K = (a.shape[-1] if a.ndim == 2 else a.shape[0]) + 1
        gam = K * U / (1 - K * U)
        C = np.dot(a.astype(L), b.astype(L))
        E = np.dot(np.abs(a).astype(L), np.abs(b).astype(L)) * L(gam)
        return np.asarray(C, float), np.asarray(E, float)

    return {
        's_sum': ssum(A), 's_sumU': ssum(Uu), 's_sum0': ssum(A, 0), 's_sum1': ssum(A, 1),
        's_mean': ssum(ex, mean=True), 's_mean0': ssum(Uu, 0, True),
        's_mean1': ssum(A, 1, True), 's_sumv': ssum(c), 's_tsum1': ssum(r['x_t'], 1),
        'n_A': nrm(A), 'n_c': nrm(c), 'n_B': nrm(B),
        'p_AB': prod(A, B), 'p_Av': prod(A, v), 'p_cA': prod(c, A),
        'p_AtU': prod(A.T, Uu), 'p_AAt': prod(A, A.T), 'p_Atc': prod(A.T, c),
        'p_BtBt': prod(B.T, A.T), 'p_inner': prod(c, c),
        'p_ttT': prod(r['x_t'], r['x_t'].T), 'p_tTt': prod(r['x_t'].T, r['x_t']),
    }


def norm_depth(shape, cfg):
    """Rounding depth of Tessera's sum of squares (reduce_part.c): per tile
    8 lanes over at most T*T/8 values each (a contiguous tile is one
    segment), 3 pairwise adds, up to 7 tail adds, the square itself, then
    one add per tile and per child rank when partials combine. Never more
    than the element count (no summation of N terms is deeper)."""
    m, n = shape
    tile, nranks = cfg[2], cfg[0]
    ntiles = math.ceil(m / tile) * math.ceil(n / tile)
    seg = min(m, tile) * min(n, tile)
    return min(m * n + 1, math.ceil(seg / 8) + 11 + ntiles + nranks)


def compare(ref, refcfg, got, cfg, tag, failures, spread):
    rv = tol_refs(ref, refcfg)
    gv = tol_refs(ref, cfg)
    for name, want in ref.items():
        have = got[name]
        if name.startswith('file:'):
            if want != have:
                failures.append('%s: the file saved for %s is not byte-identical to the '
                                'reference\'s' % (tag, name[5:]))
            continue
        if name.startswith('x_'):
            if not same_bits(want, have):
                failures.append('%s: %s is not bit-identical to the reference: %s' %
                                (tag, name, first_diff(want, have)))
            continue
        a, b = np.asarray(want, float), np.asarray(have, float)
        if a.shape != b.shape:
            failures.append('%s: %s has shape %s, the reference %s' % (tag, name, b.shape, a.shape))
            continue
        E = rv[name][1] + gv[name][1]
        d = np.abs(a - b)
        sp = spread.setdefault(name, [0, 0, 0.0])
        sp[0] += 1
        sp[1] += same_bits(want, have)
        if np.all(d <= E):
            sp[2] = max(sp[2], float(np.max(d / np.where(E > 0, E, 1))))
        if np.any(~(d <= E)):
            i = np.unravel_index(np.argmax(d - E), d.shape) if d.ndim else ()
            failures.append('%s: %s differs from the reference by %.3g (bound %.3g) at %s: '
                            '%r vs %r' % (tag, name, d[i], E[i], i, b[i], a[i]))


def check_numpy(res, cfg, tag, failures, worst):
    xr = x_refs(res)
    for name, (want, ulps) in xr.items():  # every x_ result has a reference
        assert name in res, name
        err = ulp_close(res[name], want, ulps)
        if err:
            failures.append('%s: %s: %s' % (tag, name, err))
    for name, (S, E) in tol_refs(res, cfg).items():
        d = np.abs(np.asarray(res[name], float) - S)
        if np.any(~(d <= E)):
            i = np.unravel_index(np.argmax(d - E), d.shape) if d.ndim else ()
            failures.append('%s: %s is %.3g from the exact value (bound %.3g) at %s' %
                            (tag, name, d[i], E[i], i))
        else:
            ratio = float(np.max(d / np.where(E > 0, E, 1)))
            worst[name] = max(worst.get(name, 0.0), ratio)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--tessera', required=True)
    ap.add_argument('--mpirun', required=True)
    ap.add_argument('--quick', action='store_true', help='two configurations only')
    ap.add_argument('--sanitized', action='store_true',
                    help='fewer configurations (an ASan build)')
    ap.add_argument('--repeat', type=int, default=1)
    ap.add_argument('--timeout', type=int, default=240)
    ap.add_argument('--mutate', default=None)
    ap.add_argument('--expect-mismatch', action='store_true')
    ap.add_argument('--keep', default=None, help='keep the outputs under this directory')
    ap.add_argument('--sizes', default=None, help='m,k,n instead of 203,77,130')
    ap.add_argument('--configs', default=None,
                    help='RANKS:GRID:TILE:THREADS,... instead of the built-in list '
                         '(the first is the reference)')
    args = ap.parse_args()
    base = open(PROGRAM).read()
    text = base
    if args.mutate:
        old, new = args.mutate.split('=>', 1)
        if old not in base:
            raise SystemExit('det_check: --mutate: %r is not in det.tsl' % old)
        text = base.replace(old, new)
    configs = QUICK if args.quick else SANITIZED if args.sanitized else CONFIGS
    if args.configs:
        configs = [tuple(int(f) if i != 1 else f for i, f in enumerate(c.split(':')))
                   for c in args.configs.split(',')]
    if args.sizes:
        SIZES.update(zip('mkn', (int(x) for x in args.sizes.split(','))))
    workdir = args.keep or tempfile.mkdtemp(prefix='tsr-det-')
    os.makedirs(workdir, exist_ok=True)
    failures, worst, spread = [], {}, {}
    try:
        refcfg = configs[0]
        ref = run_config(args, base, refcfg, workdir, tag_of(refcfg))
        check_numpy(ref, refcfg, tag_of(refcfg), failures, worst)
        for cfg in configs[1:]:
            tag = tag_of(cfg)
            got = run_config(args, text, cfg, workdir, tag)
            compare(ref, refcfg, got, cfg, tag, failures, spread)
            check_numpy(got, cfg, tag, failures, worst)
            if args.repeat > 1 and cfg in REPEAT:
                for rep in range(1, args.repeat):
                    again = run_config(args, text, cfg, workdir, tag_of(cfg, rep))
                    for name in ref:
                        if name.startswith('file:'):
                            continue
                        if not same_bits(got[name], again[name]):
                            failures.append('%s: %s changed between two runs of the same '
                                            'configuration: %s' %
                                            (tag_of(cfg, rep), name,
                                             first_diff(got[name], again[name])))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if worst:
        print('largest error against the exact value, as a fraction of its bound:')
        for name in sorted(worst):
            print('  %-8s %.3g' % (name, worst[name]))
    if spread:
        print('against the reference configuration: bit-identical in how many, and the '
              'largest difference as a fraction of its bound:')
        for name in sorted(spread):
            n, same, frac = spread[name]
            print('  %-8s %2d of %2d  %.3g' % (name, same, n, frac))
    if args.expect_mismatch:
        if failures:
            print('det_check: the planted difference was caught:\n  ' + '\n  '.join(failures[:5]))
            return 0
        print('det_check: FAILED: the planted difference (%s) was not caught' % args.mutate)
        return 1
    if failures:
        print('det_check: FAILED (%d):\n  %s' % (len(failures), '\n  '.join(failures)))
        return 1
    print('det_check: OK: %d configurations, %d results each' %
          (len(configs), sum(not n.startswith('file:') for n in ref)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
