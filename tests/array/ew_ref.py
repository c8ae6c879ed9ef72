#!/usr/bin/python3
"""Recompute Tessera element-wise expressions and reductions with numpy.

Usage: ew_ref.py CASEFILE

CASEFILE is written by tests/array/test_elementwise.c and test_reduce.c, one
directive per line (files are raw little-endian float64, row-major):

  tessera-ew-ref 1                     header
  array NAME M N FILE                  load an M x N array as NAME
  ew GOT RTOL SEXPR                    numpy value of SEXPR must match array GOT
  reduce GOT OP AXIS NAME RTOL         numpy reduction of NAME must match GOT
                                       (AXIS -1: whole array, GOT is 1 x 1)

SEXPR is a prefix expression: a name, a number, or (op arg ...) with op one of
add sub mul div pow maximum minimum lt le gt ge eq ne neg abs sqrt exp log
tanh sigmoid where. Values match when both are NaN, equal, or within RTOL
relative. Exit status: 0 all match, 1 a mismatch, 77 numpy is missing.
"""
import sys

try:
    import numpy as np
except ImportError:
    print("ew_ref.py: numpy is not installed", file=sys.stderr)
    sys.exit(77)


def sigmoid(x):
    # The same stable form as Tessera: e^-|x| never overflows.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "pow": np.power, "maximum": np.maximum, "minimum": np.minimum,
    "lt": lambda a, b: (a < b).astype(np.float64),
    "le": lambda a, b: (a <= b).astype(np.float64),
    "gt": lambda a, b: (a > b).astype(np.float64),
    "ge": lambda a, b: (a >= b).astype(np.float64),
    "eq": lambda a, b: (a == b).astype(np.float64),
    "ne": lambda a, b: (a != b).astype(np.float64),
}
UNARY = {
    "neg": np.negative, "abs": np.abs, "sqrt": np.sqrt, "exp": np.exp,
    "log": np.log, "tanh": np.tanh, "sigmoid": sigmoid,
}


def tokenize(text):
    return text.replace("(", " ( ").replace(")", " ) ").split()


def parse(tokens, pos, arrays):
    tok = tokens[pos]
    if tok != "(":
        if tok in arrays:
            return arrays[tok], pos + 1
        return np.float64(float(tok)), pos + 1
    op = tokens[pos + 1]
    pos += 2
    args = []
    while tokens[pos] != ")":
        value, pos = parse(tokens, pos, arrays)
        args.append(value)
    pos += 1
    if op in BINARY:
        return BINARY[op](args[0], args[1]), pos
    if op in UNARY:
        return UNARY[op](args[0]), pos
    if op == "where":
        return np.where(args[0] != 0, args[1], args[2]), pos
    raise ValueError("unknown operator " + op)


def reduce(op, axis, x):
    ax = None if axis < 0 else axis
    fn = {"sum": np.sum, "mean": np.mean, "min": np.min, "max": np.max,
          "argmin": np.argmin, "argmax": np.argmax}
    if op == "norm2":
        # np.linalg.norm squares unscaled (1e300 overflows): scale by the
        # largest magnitude first, as Tessera does.
        if x.size == 0:
            r = np.sum(x, axis=ax)
        else:
            s = np.max(np.abs(x), axis=ax, keepdims=True)
            safe = np.where((s > 0) & np.isfinite(s), s, 1.0)
            r = safe * np.sqrt(np.sum((x / safe) ** 2, axis=ax, keepdims=True))
            r = np.where(np.isfinite(s), r, s)
    elif op.startswith("arg") and ax is not None:
        r = fn[op](x, axis=ax).astype(np.float64)
    else:
        r = np.float64(fn[op](x, axis=ax))
    r = np.asarray(r, dtype=np.float64)
    if ax == 0:
        return r.reshape(1, -1)
    if ax == 1:
        return r.reshape(-1, 1)
    return r.reshape(1, 1)


def compare(what, got, want, rtol):
    want = np.broadcast_to(np.asarray(want, dtype=np.float64), got.shape)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(got - want) <= rtol * np.maximum(np.abs(got), np.abs(want))
    bad = ~(same | close)
    if bad.any():
        idx = np.argwhere(bad)
        print("ew_ref.py: %s: %d of %d elements differ, e.g." % (what, len(idx), got.size))
        for i, j in idx[:5]:
            print("  [%d, %d] tessera %.17g numpy %.17g" % (i, j, got[i, j], want[i, j]))
        return False
    return True


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    arrays = {}
    ok = True
    checks = 0
    with open(sys.argv[1]) as f:
        lines = [line.split(None, 3) if line.startswith("ew ") else line.split() for line in f]
    if not lines or lines[0] != ["tessera-ew-ref", "1"]:
        print("ew_ref.py: %s is not a case file" % sys.argv[1])
        return 2
    with np.errstate(all="ignore"):
        for words in lines[1:]:
            if not words:
                continue
            if words[0] == "array":
                name, m, n, path = words[1], int(words[2]), int(words[3]), words[4]
                arrays[name] = np.fromfile(path, dtype="<f8").reshape(m, n)
            elif words[0] == "ew":
                got, rtol, text = words[1], float(words[2]), words[3]
                tokens = tokenize(text)
                want, _ = parse(tokens, 0, arrays)
                ok = compare("ew %s = %s" % (got, text.strip()), arrays[got], want, rtol) and ok
                checks += 1
            elif words[0] == "reduce":
                got, op, axis, name, rtol = words[1], words[2], int(words[3]), words[4], float(words[5])
                want = reduce(op, axis, arrays[name])
                ok = compare("%s axis %d of %s" % (op, axis, name), arrays[got], want, rtol) and ok
                checks += 1
            else:
                print("ew_ref.py: unknown directive " + words[0])
                return 2
    print("ew_ref.py: %d checks against numpy %s: %s" % (checks, np.__version__,
                                                        "ok" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
