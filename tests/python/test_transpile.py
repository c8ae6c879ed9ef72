"""Transpiler unit tests (python/tessera/transpile.py): the emitted text per
construct, a few programs run through `tessera run` against numpy, and a
corpus of unsupported constructs, each with its error message and line.

    PYTHONPATH=python /usr/bin/python3 tests/python/test_transpile.py
(TESSERA_EXE=path overrides build/apps/tessera; the run tests are skipped
when it is missing.)
"""
import inspect
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'python'))

import numpy as np  # noqa: E402
import tessera.random  # noqa: E402
from tessera.transpile import transpile, TranspileError  # noqa: E402

EXE = os.environ.get('TESSERA_EXE', os.path.join(ROOT, 'build', 'apps', 'tessera'))
CASES = tempfile.mkdtemp(prefix='tsr-transpile-')
_N = [0]


def make(src, extra=None):
    """Define the functions of src in a fresh module file (so inspect finds
    the source); returns the module namespace."""
    _N[0] += 1
    path = os.path.join(CASES, f'case{_N[0]}.py')
    with open(path, 'w') as f:
        f.write('import numpy as np\nimport tessera\nimport tessera.random\n' + textwrap.dedent(src))
    ns = {'__name__': f'case{_N[0]}', '__file__': path}
    ns.update(extra or {})
    with open(path) as f:
        code = f.read()
    exec(compile(code, path, 'exec'), ns)
    return ns, path


class J:
    """Stands for a jitted function: the transpiler only needs .py_func."""

    def __init__(self, f):
        self.py_func = f
        self.__name__ = f.__name__


def tsl(src, name='f', jit=()):
    ns, _ = make(src)
    jitted = {n: J(ns[n]) for n in jit}
    ns.update(jitted)
    return transpile(ns[name], jitted)


def body(src, name='f'):
    """The program text without the comment line."""
    return tsl(src, name).text.split('\n', 1)[1]


class Emit(unittest.TestCase):
    def test_arith_and_return(self):
        self.assertEqual(body('''
            def f(a, b):
                return a * b + 2.5 - a / b ** 2
        '''), '(define (main a b)\n  (- (+ (* a b) 2.5) (/ a (pow b 2))))\n')

    def test_matmul_dot_transpose(self):
        p = body('''
            def f(X, w):
                return np.dot(X.T, X @ w) + X.dot(w).sum()
        ''')
        self.assertIn('(+ (dot (transpose X) (dot X w)) (sum (dot X w)))', p)

    def test_shape_and_reductions(self):
        p = body('''
            def f(X):
                m = X.shape[0]
                s = np.sum(X, axis=1) + X.mean(axis=0)[0] + np.max(X) + np.argmax(X, 1)[0]
                return s / m
        ''')
        self.assertIn('(define m (shape X 0))', p)
        self.assertIn('(sum X 1)', p)
        self.assertIn('(mean X 0)', p)
        self.assertIn('(max X)', p)
        self.assertIn('(argmax X 1)', p)

    def test_define_then_set_and_augassign(self):
        p = body('''
            def f(n):
                t = 0
                t += n
                t *= 2
                t = t - 1
                return t
        ''')
        self.assertEqual(p, '(define (main n)\n  (define t 0)\n  (set! t (+ t n))\n'
                            '  (set! t (* t 2))\n  (set! t (- t 1))\n  t)\n')

    def test_for_range_and_hoist(self):
        p = body('''
            def f(n):
                s = 0
                for i in range(1, n, 2):
                    v = i * 2
                    s = s + v
                return s + v
        ''')
        self.assertIn('(define v 0)', p)            # first assigned in the loop: hoisted
        self.assertIn('(for (i 1 n 2)', p)          # i only used in the loop: the loop's own
        self.assertIn('(set! v (* i 2))', p)

    def test_loop_variable_used_after_loop(self):
        p = body('''
            def f(n):
                for i in range(n):
                    pass
                return i
        ''')
        self.assertIn('(define i 0)', p)
        self.assertIn('(for (i-1 n)', p)
        self.assertIn('(set! i i-1)', p)

    def test_while_if_else(self):
        p = body('''
            def f(x):
                k = 0
                while x > 1 and k < 100:
                    if x > 10:
                        x = x / 2
                    elif x > 5:
                        x = x - 1
                    else:
                        x = x - 0.5
                    k += 1
                return k
        ''')
        self.assertIn('(while (and (> x 1) (< k 100))', p)
        self.assertIn('(if (> x 10)', p)
        self.assertIn('(if (> x 5)', p)
        self.assertIn('(set! x (- x 0.5))', p)

    def test_tail_if_and_guard_return(self):
        p = body('''
            def f(x):
                if x > 3:
                    return 1
                y = x * 2
                if y > 2:
                    return y
                else:
                    return -y
        ''')
        self.assertIn('(if (> x 3)', p)
        self.assertIn('(neg y)', p)

    def test_tuple_return_main_and_helper(self):
        prog = tsl('''
            def g(x):
                return x + 1, x * 2
            def f(x):
                a, b = g(x)
                return a, b, x
        ''', jit=['g'])
        self.assertEqual(prog.outputs, ['r0', 'r1', 'r2'])
        self.assertIn('(define (g x)\n  (list (+ x 1) (* x 2)))', prog.text)
        self.assertIn('(define a (nth tmp-1 0))', prog.text)
        self.assertIn('(set! r2 x)', prog.text)

    def test_single_return_output(self):
        self.assertEqual(tsl('def f(x):\n    return x\n').outputs, ['result'])
        self.assertEqual(tsl('def f(x):\n    print(x)\n').outputs, [])

    def test_slices(self):
        p = body('''
            def f(x, v):
                a = x[1:3, :]
                b = x[:, 2:]
                c = x[1:-1, 0:2]
                d = v[2:5]
                e = x[1, 2] + v[-1]
                g = x[:, 0]
                h = v[:, None]
                return a
        ''')
        self.assertIn('(slice x 1 3 0 (shape x 1))', p)
        self.assertIn('(slice x 0 (shape x 0) 2 (shape x 1))', p)
        self.assertIn('(slice x 1 -1 0 2)', p)
        self.assertIn('(slice v 2 5)', p)
        self.assertIn('(at x 1 2)', p)
        self.assertIn('(at v (+ (shape v 0) -1))', p)
        self.assertIn('(reshape (slice x 0 (shape x 0) 0 1) (size (slice x 0 (shape x 0) 0 1)))', p)
        self.assertIn('(reshape v (size v) 1)', p)

    def test_creation(self):
        p = body('''
            def f(n, X):
                a = np.zeros((n, 3)) + np.ones(n) + np.full((2, 2), 0.5)
                b = np.arange(0, n, 2) + np.linspace(0, 1, 5) + np.eye(n)
                c = np.zeros(X.shape) + np.zeros_like(X) + np.full(X.shape, 3)
                d = tessera.random.uniform((n, 2), 7) + tessera.random.normal(n, 3)
                return a
        ''')
        for s in ['(zeros n 3)', '(ones n)', '(full 2 2 0.5)', '(arange 0 n 2)', '(linspace 0 1 5)',
                  '(identity n)', '(zeros (shape X))', '(+ (zeros (shape X)) 3)', '(random n 2 7)',
                  '(randn n 3)']:
            self.assertIn(s, p)

    def test_elementwise_functions(self):
        p = body('''
            def f(x, y):
                return np.where(x > 0, np.exp(x), np.log(y)) + np.maximum(np.sqrt(x), np.tanh(y)) \\
                    + np.abs(x) + abs(y) + np.minimum(x, 1) + max(x, y) + np.clip(x, 0, 1)
        ''')
        for s in ['(where (> x 0) (exp x) (log y))', '(maximum (sqrt x) (tanh y))', '(abs x)',
                  '(abs y)', '(minimum x 1)', '(maximum x y)', '(minimum (maximum x 0) 1)']:
            self.assertIn(s, p)

    def test_linalg(self):
        p = body('''
            def f(A, b):
                return np.linalg.solve(A, b) / np.linalg.norm(b) + np.linalg.cholesky(A)[0, 0]
        ''')
        self.assertIn('(/ (solve A b) (norm b))', p)
        self.assertIn('(at (cholesky A) 0 0)', p)

    def test_reshape_and_constants(self):
        ALPHA = 0.25  # noqa: F841 (a closure-free global: see make)
        p = body('''
            K = 3
            def f(v, m):
                return v.reshape(m, 1) * K + np.reshape(v, (1, -1)) + np.pi + True
        ''')
        self.assertIn('(reshape v m 1)', p)
        self.assertIn('(* (reshape v m 1) 3)', p)
        self.assertIn('(reshape v 1 (/ (size v) 1))', p)
        self.assertIn('3.141592653589793', p)

    def test_builtin_names_renamed(self):
        prog = tsl('''
            def f(sum, r0):
                max = sum + r0
                return max
        ''')
        self.assertEqual(prog.params, ['sum-py', 'r0-py'])
        self.assertIn('(define max-py (+ sum-py r0-py))', prog.text)

    def test_print_and_strings(self):
        p = body('''
            def f(x):
                "docstring: dropped"
                print("x is", x, 'a "q"')
                return x
        ''')
        self.assertIn('(print "x is" x "a \\"q\\"")', p)
        self.assertNotIn('docstring', p)

    def test_linemap(self):
        ns, path = make('''
            def f(x):
                y = x + 1

                z = y * 2
                return z
        ''')
        prog = transpile(ns['f'])
        first = inspect.getsourcelines(ns['f'])[1]
        lines = prog.text.split('\n')
        row = {lines[k - 1].strip(): v for k, v in prog.linemap.items()}
        self.assertEqual(row['(define y (+ x 1))'], first + 1)
        self.assertEqual(row['(define z (* y 2))'], first + 3)
        self.assertEqual(prog.pyfile, path)
        self.assertEqual(prog.name, 'f')


# ---- unsupported constructs: (source, function, python line within src, message part)
CORPUS = [
    ('def f(x):\n    return [v for v in x]\n', 2, 'list comprehensions are not supported'),
    ('def f(x):\n    y = x\n    y[0] = 1\n    return y\n', 3, 'item assignment is not supported'),
    ('def f(x):\n    return x // 2\n', 2, "operator '//' is not supported"),
    ('def f(x):\n    y = x * 2.0\n    return y[y > 1.0]\n', 3, 'boolean (mask) indexing'),
    ('def f(x):\n    return x[(x > 0) and (x < 1), 0]\n', 2, 'boolean (mask) indexing'),
    ('def f(x):\n    return x % 2\n', 2, "operator '%' is not supported"),
    ('def f(x):\n    for v in x:\n        pass\n    return x\n', 2, "only 'for NAME in range(...)'"),
    ('def f(x):\n    while x > 0:\n        break\n    return x\n', 3, "'break' is not supported"),
    ('def f(x):\n    for i in range(3):\n        return x\n    return x\n', 3, "'return' is only supported"),
    ('def f(x):\n    try:\n        y = x\n    except Exception:\n        y = 0\n    return y\n', 2,
     "'try' is not supported"),
    ('def f(x):\n    g = lambda t: t\n    return g(x)\n', 2, 'lambda is not supported'),
    ('def f(x):\n    return np.random.rand(3)\n', 2, 'np.random is not supported'),
    ('def f(x):\n    return np.sin(x)\n', 2, "'np.sin' is not supported"),
    ('def f(x):\n    return x.cumsum()\n', 2, "method '.cumsum()' is not supported"),
    ('def f(x):\n    return {"a": x}\n', 2, 'dicts are not supported'),
    ('def f(x):\n    return f"{x}"\n', 2, 'f-strings are not supported'),
    ('def f(x):\n    return 0 < x < 1\n', 2, 'chained comparisons'),
    ('def f(x):\n    with open("a") as h:\n        pass\n    return x\n', 2, "'with' is not supported"),
    ('def f(x):\n    return x[::2]\n', 2, 'slices with a step'),
    ('def f(x):\n    return np.sum(x, axis=-1)\n', 2, 'negative axes are not supported'),
    ('def f(x):\n    if x > 0:\n        return x\n', 2, 'can end without a return'),
    ('def f(*xs):\n    return 1\n', 1, '*args'),
    ('def f(x):\n    return np.zeros(3, dtype=int)\n', 2, 'only float64'),
    ('def f(x):\n    return helper(x)\n', 2, "only other @tessera.jit functions can be called"),
    ('def f(x):\n    return x & x\n', 2, "operator '&' is not supported"),
    ('def f(x):\n    return x is None\n', 2, "operator 'is' is not supported"),
    ('def f(x):\n    return np.linalg.norm(x, axis=1)\n', 2, 'no axis='),
    ('def f(x):\n    return DATA + x\n', 2, "global array 'DATA'"),
    ('def f(x):\n    def g(y):\n        return y\n    return g(x)\n', 2, 'nested function definitions'),
    ('def f(x):\n    global G\n    return x\n', 2, "'global' is not supported"),
    ('def f(x):\n    a = b = x\n    return a\n', 2, 'chained assignments'),
    ('def f(x):\n    return unknown_name\n', 2, "name 'unknown_name' is not defined"),
]


def helper(x):
    return x


class Unsupported(unittest.TestCase):
    def test_corpus(self):
        self.assertGreaterEqual(len(CORPUS), 15)
        for src, line, msg in CORPUS:
            with self.subTest(src=src):
                ns, path = make(src, {'helper': helper, 'DATA': np.ones(3)})
                ns['helper'] = helper
                ns['DATA'] = np.ones(3)
                first = inspect.getsourcelines(ns['f'])[1]
                with self.assertRaises(TranspileError) as cm:
                    transpile(ns['f'])
                e = cm.exception
                self.assertEqual(e.file, path)
                self.assertEqual(e.line, first + line - 1, str(e))
                self.assertIn(msg, e.message)
                self.assertTrue(str(e).startswith(f'{path}:{e.line}: '), str(e))
                self.assertTrue(e.construct)


# ---- programs run through `tessera run` against numpy
def run_tessera(prog, args):
    d = tempfile.mkdtemp(prefix='tsr-run-', dir=CASES)
    path = os.path.join(d, 'prog.tsl')
    with open(path, 'w') as f:
        f.write(prog.text)
    cmd = [EXE, 'run', path, '--quiet']
    for name, v in zip(prog.params, args):
        if isinstance(v, np.ndarray):
            fn = os.path.join(d, name + '.npy')
            np.save(fn, v.astype(np.float64))
            cmd += ['--arg', f'{name}={fn}']
        else:
            cmd += ['--arg', f'{name}={v!r}']
    outs = []
    for o in prog.outputs:
        fn = os.path.join(d, o + '.out.npy')
        outs.append(fn)
        cmd += ['--out', f'{o}={fn}']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f'tessera run failed ({r.returncode}): {r.stderr}\n{prog.text}')
    vals = [np.load(fn) for fn in outs]
    return vals[0] if len(vals) == 1 else tuple(vals)


@unittest.skipUnless(os.access(EXE, os.X_OK), f'no tessera executable at {EXE}')
class Run(unittest.TestCase):
    def check(self, src, args, name='f', jit=(), rtol=1e-10):
        ns, _ = make(src)
        want = ns[name](*args)
        jitted = {n: J(ns[n]) for n in jit}
        got = run_tessera(transpile(ns[name], jitted), args)
        if not isinstance(want, tuple):
            want, got = (want,), (got,)
        self.assertEqual(len(want), len(got))
        for w, g in zip(want, got):
            np.testing.assert_allclose(g, np.asarray(w, dtype=float), rtol=rtol, atol=1e-12)

    def test_loops_slices_reductions(self):
        rng = np.random.default_rng(1)
        X = rng.standard_normal((7, 5))
        v = rng.standard_normal(5)
        self.check('''
            def f(X, v, n):
                acc = np.zeros(X.shape[1])
                for i in range(n):
                    acc += X[i, :] * v
                    if i % 1 == 0 if False else i > 2:
                        acc = acc - 0.5
                t = 0
                while t < 3:
                    t = t + 1
                blk = X[1:4, 2:] @ v[2:]
                return acc, np.sum(X, axis=0) - np.mean(X, axis=1)[0], blk, t, X[:, -1], X[-1]
        '''.replace('if i % 1 == 0 if False else i > 2', 'if i > 2'), [X, v, 5])

    def test_helpers_and_guard_return(self):
        A = np.array([[4.0, 1.0], [1.0, 3.0]])
        b = np.array([1.0, 2.0])
        self.check('''
            def sq(x):
                return x * x
            def pick(a, s):
                if s > 0:
                    return a
                return -a
            def f(A, b, s):
                x = np.linalg.solve(A, b)
                y = pick(sq(x), s)
                return y + np.linalg.norm(A) + np.where(b > 1.5, np.exp(b), np.log(b)), pick(b, -s)
        ''', [A, b, 1.0], jit=['sq', 'pick'])

    def test_logreg_like(self):
        rng = np.random.default_rng(2)
        X = rng.standard_normal((40, 3))
        y = (X @ np.array([1.0, -2.0, 0.5]) > 0) * 1.0
        self.check('''
            def f(X, y, alpha, iters):
                m, d = X.shape
                w = np.zeros(d)
                for _ in range(iters):
                    p = 1.0 / (1.0 + np.exp(-(X @ w)))
                    w = w - (alpha / m) * (X.T @ (p - y))
                return w
        ''', [X, y, 0.5, 30], rtol=1e-9)

    def test_random_shape(self):
        ns, _ = make('''
            def f(n):
                r = tessera.random.uniform((n, 3), 5)
                z = tessera.random.normal(n, 1)
                return np.min(r) >= 0, np.max(r) < 1, z.shape[0] + 0
        ''')
        got = run_tessera(transpile(ns['f']), [50])
        self.assertEqual([float(g) for g in got], [1.0, 1.0, 50.0])


if __name__ == '__main__':
    unittest.main(verbosity=1)
