#!/usr/bin/python3
"""What every example in docs/language.md prints, computed independently of
Tessera: with numpy (or plain Python for control flow) and formatted by the
print rules of the language (docs/language.md, "The print format").

Each ```tsl example in the doc starts with a line `; example: NAME`; REF[NAME]
returns the lines its `print` calls show (one string per print call; a 2-D
array spans several lines). run_examples.py checks that the doc's ```output
blocks equal these, then that Tessera prints exactly the same.

  numpy_ref.py --fill docs/language.md   rewrite the doc's output blocks from REF
  numpy_ref.py NAME                      show one example's expected output
"""
import math
import sys

import numpy as np

np.set_printoptions(linewidth=10**9, threshold=1000, edgeitems=3)
np.seterr(all="ignore")  # 1/0, log(0): the IEEE results are the point


def num(x):
    """A number as Tessera prints it: the shortest text that round-trips
    (Python's repr), integral values below 1e16 without a decimal point, -0,
    nan (any NaN, whatever its sign bit), inf, -inf."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    if x == math.floor(x) and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def arr(a):
    """numpy's bracket layout (threshold 1000, 3 edge items), one space
    between elements, no padding."""
    a = np.asarray(a, dtype=np.float64)
    assert a.ndim in (1, 2), a.shape
    return np.array2string(a, formatter={"float_kind": num}, separator=" ")


def fmt(v):
    if v is None:
        return "nil"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, np.ndarray):
        return arr(v) if v.ndim else num(v)
    if isinstance(v, tuple):
        return "(" + " ".join(fmt(x) for x in v) + ")"
    return num(v)


def P(*vals):
    """One (print v ...) call: its arguments separated by one space."""
    return " ".join(fmt(v) for v in vals)


f64 = lambda *a: np.array(a, dtype=np.float64)
M23 = np.array([[0, 1, 2], [10, 11, 12]], dtype=np.float64)  # the doc's m


def _random_props():
    # Tessera's Philox stream is its own: the doc shows only what numpy's
    # np.random.random would share with it (shape, range, determinism).
    return [P((2, 3)), P(True), P(True)]


def _fib(n):
    return n if n < 2 else _fib(n - 1) + _fib(n - 2)


REF = {
    # ---- values and printing
    "numbers": lambda: [P(3, 0.1, 2.5, 1e-10, -0.0, 1 / 3, 0.1 + 0.2),
                        P(123456789, 1e16, 2.0**60, 1.5e-7),
                        P(np.float64(1) / np.float64(0), np.float64(-1) / np.float64(0),
                          np.log(np.float64(-1)))],
    "values": lambda: [P(True, False, "text", (2, 3), None),
                       P("tab\there", 'quote " and \\ backslash'),
                       P(np.arange(4.0) + 0.5),
                       P(np.array([[1.0, 2], [3, 4]]))],
    "summary": lambda: [P(np.arange(2000.0)),
                        P(50 * np.arange(40.0).reshape(40, 1) + np.arange(50.0))],
    "broadcast": lambda: [P(np.ones((2, 3)) + np.arange(3.0)),
                          P(np.arange(2.0).reshape(2, 1) * 10 + np.arange(3.0).reshape(1, 3)),
                          P(np.arange(3.0) + True)],
    # ---- special forms
    "define": lambda: [P(_fib(10), 2 * 3 + 1)],
    "mutual": lambda: [P(True, False)],
    "set": lambda: [P(10), P(np.array([4.0, 4, 4]))],
    "let": lambda: [P(9), P(3)],
    "block": lambda: [P(2), P(None)],
    "if": lambda: [P("big", None), P("max is 3")],
    "while": lambda: [P(10, 1000 / 2**10), P(np.full(4, 32.0))],
    "for": lambda: [P(sum(range(10))), *[P(i) for i in range(2, 10, 3)],
            P(sum(range(5, -1, -1))), P(np.full(2, 12.0))],
    "andor": lambda: [P(True, False, True, False), P(False)],
    "main": lambda: [P(42)],
    # ---- create
    "zeros": lambda: [P(np.zeros(3)), P(np.zeros((2, 3))), P(np.zeros((1, 2)))],
    "ones": lambda: [P(np.ones(2)), P(np.ones((2, 2))), P(np.ones(M23.shape))],
    "full": lambda: [P(np.full(3, 7.0)), P(np.full((2, 2), 0.5))],
    "arange": lambda: [P(np.arange(5.0)), P(np.arange(2.0, 5.0)),
                       P(np.arange(0.0, 1.0, 0.25)), P(np.arange(5.0, 0.0, -2.0))],
    "linspace": lambda: [P(np.linspace(0, 1, 5)), P(np.linspace(10, 0, 3))],
    "identity": lambda: [P(np.identity(3))],
    "random": _random_props,
    "randn": lambda: [P((4,)), P(True), P(True)],
    # ---- element-wise
    "add": lambda: [P(1 + 2 + 3), P(np.arange(3.0) + 10),
                    P(np.arange(3.0) + np.arange(3.0) + 0.5)],
    "sub": lambda: [P(10 - 1 - 2), P(-5), P(np.arange(3.0) - 1), P(-np.arange(3.0))],
    "mul": lambda: [P(2 * 3 * 4), P(np.arange(3.0) * np.arange(3.0)), P(M23 * 2)],
    "div": lambda: [P(1 / 4), P(np.arange(3.0) / 2),
                    P(np.float64(1) / np.float64(0))],
    "neg": lambda: [P(-3.0), P(np.negative(np.arange(3.0)))],
    "abs": lambda: [P(abs(-2.5)), P(np.abs(np.arange(4.0) - 2))],
    "sqrt": lambda: [P(np.sqrt(2.0)), P(np.sqrt(np.arange(5.0)))],
    # Tessera's exp is within 1 ulp of the C library's, not always equal
    # (exp(1) is 1 ulp high), so the example shows one that agrees and a
    # tolerance check for e.
    "exp": lambda: [P(np.exp(0.0), np.exp(2.0)), P(np.exp(np.linspace(-2.0, 2.0, 3))),
                    P(abs(np.exp(1.0) - 2.718281828459045) < 1e-15)],
    "log": lambda: [P(np.log(1.0)), P(np.log(np.arange(3.0)))],
    "tanh": lambda: [P(np.tanh(0.0)), P(np.tanh(np.arange(3.0)))],
    "sigmoid": lambda: [P(1 / (1 + np.exp(-0.0))),
                        P(abs(1 / (1 + np.exp(-2.0)) - 0.8807970779778823) < 1e-15),
                        P(1 / (1 + np.exp(-np.zeros(3))))],
    "pow": lambda: [P(2.0**10), P(np.power(2.0, 0.5)), P(np.power(np.arange(4.0), 2)),
                    P(np.power(2.0, np.arange(4.0)))],
    "maximum": lambda: [P(max(3, 5)), P(np.maximum(np.arange(4.0), 2))],
    "minimum": lambda: [P(np.minimum(np.arange(4.0), 2)),
                        P(np.minimum(np.arange(3.0).reshape(3, 1), np.arange(3.0)))],
    "compare": lambda: [P(1 < 2, 2 <= 1, 3 > 2, 3 >= 3, 1 == 1, 1 != 1),
                        P((np.arange(4.0) < 2).astype(float)),
                        P((np.arange(4.0) <= 2).astype(float)),
                        P((np.arange(4.0) > 2).astype(float)),
                        P((np.arange(4.0) >= 2).astype(float)),
                        P((np.arange(4.0) == 2).astype(float)),
                        P((np.arange(4.0) != 2).astype(float))],
    "not": lambda: [P(not True, not 0), P(np.logical_not(np.arange(3.0)).astype(float))],
    "where": lambda: [P(np.where(np.arange(5.0) > 2, 1.0, -1.0)),
                      P(np.where(np.arange(4.0) >= 2, np.arange(4.0), 0 - np.arange(4.0))),
                      P(np.where(True, 1, 2))],
    # ---- reductions
    "sum": lambda: [P(np.arange(5.0).sum()), P(M23.sum(axis=0)), P(M23.sum(axis=1)),
                    P(np.arange(5.0).sum(axis=0))],
    "mean": lambda: [P(np.arange(5.0).mean()), P(M23.mean(axis=0)), P(M23.mean(axis=1))],
    "min": lambda: [P(M23.min()), P(M23.min(axis=0)), P(M23.min(axis=1))],
    "max": lambda: [P(M23.max()), P(M23.max(axis=0)), P(M23.max(axis=1))],
    "norm": lambda: [P(np.linalg.norm(np.arange(2.0) + 3)), P(np.linalg.norm(np.ones((3, 3))))],
    "argmin": lambda: [P(np.argmin(np.abs(np.arange(5.0) - 2))), P(np.argmin(M23)),
                       P(np.argmin(M23, axis=0)), P(np.argmin(M23, axis=1))],
    "argmax": lambda: [P(np.argmax(np.abs(np.arange(5.0) - 2))), P(np.argmax(M23)), P(np.argmax(M23, axis=0)), P(np.argmax(M23, axis=1))],
    # ---- linalg
    "dot": lambda: [P(np.dot(M23, M23.T)), P(np.dot(M23, np.ones(3))),
                    P(np.dot(np.ones(2), M23)), P(np.dot(np.arange(3.0), np.arange(3.0)))],
    "transpose": lambda: [P(M23.T), P(np.arange(3.0).T), P(np.dot(M23.T, M23))],
    "solve": lambda: [P(np.linalg.solve(np.identity(2) + 1, np.arange(1.0, 3.0))),
                      P(np.linalg.solve(np.identity(2) + 1, np.identity(2) + 1))],
    "cholesky": lambda: [P(np.linalg.cholesky(2 * np.ones((2, 2)) + 2 * np.identity(2)))],
    # ---- shape
    "shape": lambda: [P(M23.shape), P(M23.shape[1]), P(np.arange(4.0).shape)],
    "size": lambda: [P(M23.size), P(np.arange(4.0).size)],
    "list": lambda: [P((1, "a", True)), P("a", 3), P(M23.shape[1])],
    "slice": lambda: [P(np.arange(10.0)[2:5]), P(np.arange(10.0)[-3:-1]),
                      P(M23[1:2]), P(M23[0:2, 1:3]), P(M23[:, -1:])],
    "concat": lambda: [P(np.concatenate([np.arange(2.0), np.arange(3.0)])),
                       P(np.concatenate([M23, M23], axis=1)),
                       P(np.concatenate([M23, np.ones((1, 3))], axis=0))],
    "reshape": lambda: [P(np.arange(3.0).reshape(3, 1)), P(np.arange(3.0).reshape(1, 3)),
                        P(np.ones((1, 3)).reshape(3))],
    "shift": lambda: [P(_shift(M23, 0, 1, 0.0)), P(_shift(M23, -1, 0, -1.0))],
    "at": lambda: [P(M23[1, 2]), P(np.arange(5.0)[3])],
    # ---- io
    "saveload": lambda: [P(np.arange(4.0)), P(M23), P((2, 3))],
    "print": lambda: [P("x =", 3, True, (1, 2), np.arange(2.0)), P(), P(None)],
}


def _shift(x, di, dj, fill):
    """out[i, j] = x[i + di, j + dj], fill outside (scipy.ndimage.shift with
    mode='constant' by -di, -dj)."""
    m, n = x.shape
    out = np.full_like(x, fill)
    for i in range(m):
        for j in range(n):
            if 0 <= i + di < m and 0 <= j + dj < n:
                out[i, j] = x[i + di, j + dj]
    return out


def expected(name):
    return "".join(line + "\n" for line in REF[name]())


def fill(path):
    """Rewrite every ```output block after a named ```tsl block."""
    import docexamples
    text = open(path).read()
    out, pos = [], 0
    for ex in docexamples.extract(text):
        if ex.name not in REF:
            sys.exit(f"{path}:{ex.line}: example '{ex.name}' has no entry in numpy_ref.REF")
        out.append(text[pos:ex.out_start])
        out.append(expected(ex.name))
        pos = ex.out_end
    out.append(text[pos:])
    open(path, "w").write("".join(out))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--fill":
        fill(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] in REF:
        sys.stdout.write(expected(sys.argv[1]))
    else:
        sys.exit(__doc__)
