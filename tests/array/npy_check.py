#!/usr/bin/python3
"""numpy side of the .npy and solver tests (run with /usr/bin/python3).

  npy_check.py make DIR SPEC...      write DIR/<name>.npy for each SPEC
  npy_check.py check (PATH M N)...   PATH is float64, C order, (M, N), values(M*N)
  npy_check.py solve A B X           X matches numpy.linalg.solve(A, B)
  npy_check.py cholesky A L          L matches numpy.linalg.cholesky(A)

SPEC is DTYPE:ORDER:VERSION:SHAPE, e.g. f8:F:1:7x5, i8:C:2:11 (1-D) or
f4:C:1:- (0-D); the file is named with ':' replaced by '_'. Values are
k * 0.5 - 7 for the flat C-order index k (k - 7 for int64), the same formula
the C tests use. Exit status 0 when all is well, 1 with a message otherwise.
"""
import sys

import numpy as np


def values(shape, dtype):
    k = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
    if np.dtype(dtype).kind == "i":
        return (k - 7).astype(dtype)
    return (k * 0.5 - 7).astype(dtype)


def make(directory, specs):
    for spec in specs:
        dtype, order, version, shape = spec.split(":")
        shape = () if shape == "-" else tuple(int(s) for s in shape.split("x"))
        a = values(shape, {"f8": "<f8", "i8": "<i8", "f4": "<f4"}[dtype])
        if order == "F":
            a = np.asfortranarray(a)
        name = "%s/%s.npy" % (directory, spec.replace(":", "_"))
        with open(name, "wb") as f:
            np.lib.format.write_array(f, a, version=(int(version), 0))
        # np.save marks only arrays that are not also C-contiguous as Fortran.
        with open(name, "rb") as f:
            np.lib.format.read_magic(f)
            _, fortran, _ = np.lib.format._read_array_header(f, (int(version), 0))
        want_fortran = order == "F" and a.ndim == 2 and min(a.shape) > 1
        if fortran != want_fortran:
            sys.exit("%s: fortran_order is %s, wanted %s" % (name, fortran, want_fortran))


def check(path, m, n):
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = np.lib.format._read_array_header(f, version)
    if dtype != np.dtype("<f8") or fortran or shape != (m, n):
        sys.exit("%s: header says %s %s fortran=%s, wanted (%d, %d) float64 C order"
                 % (path, shape, dtype, fortran, m, n))
    a = np.load(path)
    want = values((m, n), "<f8")
    if not np.array_equal(a, want):
        bad = np.argwhere(a != want)[0]
        sys.exit("%s: element %s is %r, want %r" % (path, tuple(bad), a[tuple(bad)], want[tuple(bad)]))


def solve(pa, pb, px):
    a, b, x = np.load(pa), np.load(pb), np.load(px)
    want = np.linalg.solve(a, b)
    err = np.abs(x - want).max() / max(1.0, np.abs(want).max())
    if not err < 1e-10:
        sys.exit("solve: x differs from numpy.linalg.solve by %g (relative)" % err)


def cholesky(pa, pl):
    a, l = np.load(pa), np.load(pl)
    want = np.linalg.cholesky(a)
    err = np.abs(l - want).max() / max(1.0, np.abs(want).max())
    if not err < 1e-10:
        sys.exit("cholesky: l differs from numpy.linalg.cholesky by %g (relative)" % err)


def main(argv):
    if len(argv) >= 3 and argv[1] == "make":
        make(argv[2], argv[3:])
    elif len(argv) >= 5 and (len(argv) - 2) % 3 == 0 and argv[1] == "check":
        for k in range(2, len(argv), 3):
            check(argv[k], int(argv[k + 1]), int(argv[k + 2]))
    elif len(argv) == 5 and argv[1] == "solve":
        solve(argv[2], argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "cholesky":
        cholesky(argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
