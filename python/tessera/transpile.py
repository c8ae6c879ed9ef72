"""Python/numpy subset -> Tessera array language (.tsl) transpiler.

Interface (shared with the runtime, python/tessera/jit.py):
    TranspileError, Program, transpile(fn, jitted=None) -> Program

Scoping: Python has one scope per function, the language one per body. A
variable first assigned by a statement of the function's own body becomes a
`(define x e)` there; one first assigned inside a loop or a branch is declared
`(define x 0)` at the top of the function; every later assignment is `set!`.
Names the generator makes contain '-' and so never meet a Python name; Python
names that are builtins or special forms of the language get a '-py' suffix.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import math
import textwrap

try:
    import numpy as np
except ImportError:  # pragma: no cover
    np = None


class TranspileError(Exception):
    """str(e) == "FILE:LINE: message"; attributes file, line, construct."""

    def __init__(self, file, line, message, construct=None):
        self.file = file
        self.line = line
        self.message = message
        self.construct = construct
        super().__init__(f"{file}:{line}: {message}")


class Program:
    """A transpiled function.

    text:    the .tsl program (top-level (define (main p1 ...) ...) + helpers)
    params:  main's parameters, in the Python function's order
    outputs: names to --out: ["result"] for a single return, ["r0", "r1", ...] for a tuple
    linemap: .tsl line -> Python source line
    name:    the Python function's name
    pyfile:  the Python source file
    """

    def __init__(self, text, params, outputs, linemap, name, pyfile):
        self.text = text
        self.params = list(params)
        self.outputs = list(outputs)
        self.linemap = dict(linemap)
        self.name = name
        self.pyfile = pyfile

    def __repr__(self):
        return f"Program({self.name!r}, params={self.params}, outputs={self.outputs})"


RESERVED = set("""zeros ones full arange linspace identity random randn neg abs sqrt exp log
tanh sigmoid pow maximum minimum not where load save print dot transpose solve cholesky sum mean
min max norm argmin argmax shape size list nth len slice concat reshape shift at define set let
block if while for and or true false nil main result inf nan""".split())

# Python constructs with no counterpart, by AST class: the message of their error.
UNSUPPORTED = {
    'ListComp': 'list comprehensions are not supported',
    'SetComp': 'set comprehensions are not supported',
    'DictComp': 'dict comprehensions are not supported',
    'GeneratorExp': 'generator expressions are not supported',
    'Lambda': 'lambda is not supported',
    'Dict': 'dicts are not supported', 'Set': 'sets are not supported',
    'List': 'lists are not supported here (arrays come from numpy functions)',
    'JoinedStr': 'f-strings are not supported', 'Await': 'await is not supported',
    'Yield': 'yield is not supported', 'YieldFrom': 'yield is not supported',
    'Starred': 'starred expressions are not supported',
    'NamedExpr': 'assignment expressions (:=) are not supported',
    'With': "'with' is not supported", 'AsyncWith': "'with' is not supported",
    'Try': "'try' is not supported", 'TryStar': "'try' is not supported",
    'Raise': "'raise' is not supported", 'Assert': "'assert' is not supported",
    'Import': "'import' inside a jitted function is not supported",
    'ImportFrom': "'import' inside a jitted function is not supported",
    'Global': "'global' is not supported", 'Nonlocal': "'nonlocal' is not supported",
    'FunctionDef': 'nested function definitions are not supported',
    'AsyncFunctionDef': 'nested function definitions are not supported',
    'ClassDef': 'class definitions are not supported',
    'Delete': "'del' is not supported", 'Break': "'break' is not supported",
    'Continue': "'continue' is not supported", 'Match': "'match' is not supported",
    'AsyncFor': "'async for' is not supported",
}

BINOPS = {'Add': '+', 'Sub': '-', 'Mult': '*', 'Div': '/', 'Pow': 'pow', 'MatMult': 'dot'}
CMPOPS = {'Lt': '<', 'LtE': '<=', 'Gt': '>', 'GtE': '>=', 'Eq': '==', 'NotEq': '!='}


def _numpy_table():
    """numpy/math object id -> (kind, tsl name)."""
    t = {}
    if np is not None:
        for n, k in [('exp', 'exp'), ('log', 'log'), ('sqrt', 'sqrt'), ('tanh', 'tanh'),
                     ('abs', 'abs'), ('absolute', 'abs'), ('negative', 'neg')]:
            t[id(getattr(np, n))] = ('unary', k)
        for n, k in [('maximum', 'maximum'), ('minimum', 'minimum'), ('power', 'pow'),
                     ('dot', 'dot'), ('matmul', 'dot'), ('add', '+'), ('subtract', '-'),
                     ('multiply', '*'), ('divide', '/'), ('true_divide', '/')]:
            t[id(getattr(np, n))] = ('binary', k)
        for n, k in [('sum', 'sum'), ('mean', 'mean'), ('min', 'min'), ('amin', 'min'),
                     ('max', 'max'), ('amax', 'max'), ('argmin', 'argmin'), ('argmax', 'argmax')]:
            t[id(getattr(np, n))] = ('reduce', k)
        for n in ['where', 'zeros', 'ones', 'full', 'zeros_like', 'ones_like', 'full_like',
                  'arange', 'linspace', 'eye', 'identity', 'transpose', 'reshape', 'concatenate',
                  'clip', 'shape', 'size', 'float64', 'outer']:
            t[id(getattr(np, n))] = (n, n)
        t[id(np.linalg.norm)] = ('norm', 'norm')
        t[id(np.linalg.solve)] = ('binary', 'solve')
        t[id(np.linalg.cholesky)] = ('unary', 'cholesky')
    for n in ['exp', 'log', 'sqrt', 'tanh', 'fabs']:
        t[id(getattr(math, n))] = ('unary', 'abs' if n == 'fabs' else n)
    t[id(builtins.abs)] = ('unary', 'abs')
    t[id(builtins.min)] = ('pymin', 'min')
    t[id(builtins.max)] = ('pymax', 'max')
    t[id(builtins.len)] = ('len', 'len')
    t[id(builtins.print)] = ('print', 'print')
    t[id(builtins.float)] = ('float', 'float')
    t[id(builtins.sum)] = ('pysum', 'sum')
    return t


_TABLE = _numpy_table()


def _num(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return str(v)
    v = float(v)
    if math.isnan(v):
        return '(- (/ 1 0) (/ 1 0))'
    if math.isinf(v):
        return '(/ 1 0)' if v > 0 else '(/ -1 0)'
    r = repr(v)
    return r[:-2] if r.endswith('.0') else r


def _str(s, err):
    out = []
    for c in s:
        if c in '"\\':
            out.append('\\' + c)
        elif c == '\n':
            out.append('\\n')
        elif c == '\t':
            out.append('\\t')
        elif ord(c) < 32:
            raise err('control characters in strings are not supported')
        else:
            out.append(c)
    return '"' + ''.join(out) + '"'


class _Func:
    """Transpiles one Python function into one (define (NAME params) ...)."""

    def __init__(self, ctx, fn, tslname, is_main):
        self.ctx, self.fn, self.tslname, self.is_main = ctx, fn, tslname, is_main
        try:
            lines, start = inspect.getsourcelines(fn)
            self.file = inspect.getsourcefile(fn) or inspect.getfile(fn)
        except (OSError, TypeError) as e:
            raise TranspileError(getattr(getattr(fn, '__code__', None), 'co_filename', '<unknown>'),
                                 getattr(getattr(fn, '__code__', None), 'co_firstlineno', 0),
                                 f"cannot read the source of '{getattr(fn, '__name__', fn)}': {e}",
                                 'source')
        self.offset = start - 1
        tree = ast.parse(textwrap.dedent(''.join(lines)))
        self.node = tree.body[0]
        if not isinstance(self.node, ast.FunctionDef):
            raise self.err(tree.body[0], 'only plain def functions can be jitted', 'def')
        self.globals = getattr(fn, '__globals__', {})
        self.closure = {}
        if getattr(fn, '__closure__', None):
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
                try:
                    self.closure[name] = cell.cell_contents
                except ValueError:
                    pass
        self.tmp = 0
        self.lines = []   # [indent, text, pyline]

    # ---- errors and output
    def err(self, node, msg, construct=None):
        line = getattr(node, 'lineno', 1) + self.offset
        return TranspileError(self.file, line, msg, construct or type(node).__name__)

    def line(self, node):
        return getattr(node, 'lineno', 1) + self.offset

    def emit(self, depth, text, node):
        self.lines.append([depth, text, self.line(node)])

    def close(self, n=1):
        self.lines[-1][1] += ')' * n

    def fresh(self, base):
        self.tmp += 1
        return f'{base}-{self.tmp}'

    # ---- analysis
    def analyse(self):
        a = self.node.args
        if a.vararg or a.kwarg or a.kwonlyargs or getattr(a, 'posonlyargs', []):
            raise self.err(self.node, '*args, **kwargs and keyword-only parameters are not supported',
                           'arguments')
        self.params = [x.arg for x in a.args]
        self.names = set(self.params)
        for n in ast.walk(self.node):
            if isinstance(n, ast.Name):
                self.names.add(n.id)
        self.local = set(self.params)
        for n in ast.walk(self.node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                self.local.add(n.id)
        self.mangled = {}
        for n in self.local:
            m = n
            if n in RESERVED or (self.is_main and (n in ('result',) or
                                                   (n[:1] == 'r' and n[1:].isdigit()))):
                m = n + '-py'
            self.mangled[n] = m
        # first assignments at the function's body level become defines there
        self.defined_at = {}   # id(stmt) -> names it defines
        seen = set(self.params)
        hoist = []
        for st in self.node.body:
            here = []
            for n in self._stores(st, top=True):
                if n not in seen:
                    seen.add(n)
                    here.append(n)
            self.defined_at[id(st)] = here
            for sub in ast.walk(st):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store) and sub.id not in seen:
                    seen.add(sub.id)
                    hoist.append(sub.id)
        # for-loop targets used only inside their loops keep the loop's own variable
        self.loopvar = {}
        owned = set()
        for n in ast.walk(self.node):
            if isinstance(n, ast.For) and isinstance(n.target, ast.Name):
                owned.add(n.target.id)
        outside = set()

        def visit(node, inloop):
            if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
                inner = inloop | {node.target.id}
                for c in node.body:
                    visit(c, inner)
                for c in [node.iter] + node.orelse:
                    visit(c, inloop)
                return
            if isinstance(node, ast.Name) and node.id not in inloop:
                outside.add(node.id)
            for c in ast.iter_child_nodes(node):
                visit(c, inloop)
        for st in self.node.body:
            visit(st, frozenset())
        self.loop_only = {n for n in owned if n not in outside and n not in self.params}
        self.hoist = [n for n in hoist if n not in self.loop_only]

    def _stores(self, st, top):
        """Names a body-level statement assigns directly (not inside nested blocks)."""
        if isinstance(st, (ast.Assign, ast.AnnAssign)):
            targets = st.targets if isinstance(st, ast.Assign) else [st.target]
            out = []
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        out.append(n.id)
            return out
        return []

    def var(self, name):
        return self.mangled.get(name, name)

    # ---- function
    def run(self):
        self.analyse()
        body = self.node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], 'value', None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        self.nret = self._count_returns(self.node)
        params = [self.var(p) for p in self.params]
        self.emit(0, f"(define ({' '.join([self.tslname] + params)})", self.node)
        if self.is_main and self.nret > 1:
            for i in range(self.nret):
                self.emit(1, f'(define r{i} 0)', self.node)
        for n in self.hoist:
            self.emit(1, f'(define {self.var(n)} 0)', self.node)
        nlines = len(self.lines)
        self.block(body, 1, tail=self.nret > 0)
        if len(self.lines) == nlines:
            self.emit(1, '(block)', self.node)
        self.close()
        return self.lines

    def _count_returns(self, fnode):
        counts = set()
        for n in ast.walk(fnode):
            if isinstance(n, ast.Return):
                if n.value is None:
                    raise self.err(n, "'return' without a value is not supported", 'return')
                counts.add(len(n.value.elts) if isinstance(n.value, ast.Tuple) else 1)
        if len(counts) > 1:
            raise self.err(fnode, 'all returns must give the same number of values', 'return')
        return counts.pop() if counts else 0

    @staticmethod
    def _returns(stmts):
        """True when this statement list ends by returning on every path."""
        if not stmts:
            return False
        last = stmts[-1]
        if isinstance(last, ast.Return):
            return True
        if isinstance(last, ast.If):
            return _Func._returns(last.body) and _Func._returns(last.orelse)
        return False

    # ---- statements
    def block(self, stmts, d, tail=False, owner=None):
        stmts = list(stmts)
        i = 0
        while i < len(stmts):
            st = stmts[i]
            last = i == len(stmts) - 1
            if tail and isinstance(st, ast.If) and not last and self._returns(st.body):
                # guard: if c: return a / rest  ->  (if c a (block rest))
                st = ast.If(test=st.test, body=st.body, orelse=st.orelse + stmts[i + 1:],
                            lineno=st.lineno, col_offset=st.col_offset)
                last = True
                i = len(stmts)
            if tail and last:
                self.tail_stmt(st, d)
            else:
                self.stmt(st, d)
            i += 1
        if tail and not self._returns(stmts):
            node = stmts[-1] if stmts else (owner or self.node)
            raise self.err(node, 'the function can end without a return (every path must return a value)',
                           'return')

    def tail_stmt(self, st, d):
        if isinstance(st, ast.Return):
            if self.is_main and self.nret > 1:
                # user names never are r0, r1, ... (renamed): set them in order
                for k, e in enumerate(st.value.elts):
                    self.emit(d, f'(set! r{k} {self.expr(e)})', st)
            elif isinstance(st.value, ast.Tuple):
                self.emit(d, f"(list {' '.join(self.expr(e) for e in st.value.elts)})", st)
            else:
                self.emit(d, self.expr(st.value), st)
        elif isinstance(st, ast.If):
            self.emit(d, f'(if {self.cond(st.test)}', st)
            self.emit(d + 1, '(block', st)
            self.block(st.body, d + 2, tail=True)
            self.close()
            self.emit(d + 1, '(block', st)
            self.block(st.orelse, d + 2, tail=True, owner=st)
            self.close(2)
        else:
            self.stmt(st, d)

    def stmt(self, st, d):
        k = type(st).__name__
        if k in UNSUPPORTED:
            raise self.err(st, UNSUPPORTED[k])
        if isinstance(st, ast.Return):
            raise self.err(st, "'return' is only supported at the end of the function "
                               "(not inside a loop, nor before other statements)", 'return')
        if isinstance(st, ast.Pass):
            return
        if isinstance(st, ast.Expr):
            if isinstance(st.value, ast.Constant) and isinstance(st.value.value, str):
                return  # a string statement (comment)
            self.emit(d, self.expr(st.value), st)
            return
        if isinstance(st, (ast.Assign, ast.AnnAssign)):
            if isinstance(st, ast.AnnAssign):
                if st.value is None:
                    return
                targets = [st.target]
            else:
                targets = st.targets
            if len(targets) != 1:
                raise self.err(st, 'chained assignments (a = b = ...) are not supported', 'assign')
            self.assign(targets[0], st.value, st, d)
            return
        if isinstance(st, ast.AugAssign):
            op = BINOPS.get(type(st.op).__name__)
            if op is None:
                raise self.err(st, f"the operator '{_opname(st.op)}=' is not supported", 'augassign')
            if not isinstance(st.target, ast.Name):
                raise self.err(st, 'item assignment is not supported (arrays are immutable: '
                                   'build a new array)', 'subscript-assign')
            v = self.var(st.target.id)
            self.emit(d, f'(set! {v} ({op} {v} {self.expr(st.value)}))', st)
            return
        if isinstance(st, ast.For):
            self.for_(st, d)
            return
        if isinstance(st, ast.While):
            if st.orelse:
                raise self.err(st, "'while ... else' is not supported", 'while-else')
            self.emit(d, f'(while {self.cond(st.test)}', st)
            self.block(st.body, d + 1)
            self.close()
            return
        if isinstance(st, ast.If):
            self.emit(d, f'(if {self.cond(st.test)}', st)
            self.emit(d + 1, '(block', st)
            self.block(st.body, d + 2)
            self.close()
            if st.orelse:
                self.emit(d + 1, '(block', st)
                self.block(st.orelse, d + 2)
                self.close()
            self.close()
            return
        raise self.err(st, f"the statement '{k}' is not supported")

    def assign(self, target, value, st, d):
        defs = self.defined_at.get(id(st), [])
        if isinstance(target, ast.Name):
            self.emit(d, self._set(target.id, self.expr(value), defs), st)
            return
        if isinstance(target, ast.Tuple):
            names = []
            for t in target.elts:
                if not isinstance(t, ast.Name):
                    raise self.err(st, 'only names can be unpacked into', 'unpack')
                names.append(t.id)
            if isinstance(value, ast.Tuple):
                if len(value.elts) != len(names):
                    raise self.err(st, f'cannot unpack {len(value.elts)} values into {len(names)}', 'unpack')
                tmps = []
                for e in value.elts:
                    t = self.fresh('tmp')
                    tmps.append(t)
                    self.emit(d, f'(define {t} {self.expr(e)})', st)
                for n, t in zip(names, tmps):
                    self.emit(d, self._set(n, t, defs), st)
                return
            if isinstance(value, ast.Attribute) and value.attr == 'shape':
                base = self.expr(value.value)
                for k, n in enumerate(names):
                    self.emit(d, self._set(n, f'(shape {base} {k})', defs), st)
                return
            t = self.fresh('tmp')
            self.emit(d, f'(define {t} {self.expr(value)})', st)
            for k, n in enumerate(names):
                self.emit(d, self._set(n, f'(nth {t} {k})', defs), st)
            return
        if isinstance(target, ast.Subscript):
            raise self.err(st, 'item assignment is not supported (arrays are immutable: build a new '
                               'array, e.g. with np.where)', 'subscript-assign')
        if isinstance(target, ast.Attribute):
            raise self.err(st, 'attribute assignment is not supported', 'attribute-assign')
        raise self.err(st, 'this assignment target is not supported', 'assign')

    def _set(self, name, val, defs):
        if name in defs:
            defs.remove(name)
            return f'(define {self.var(name)} {val})'
        return f'(set! {self.var(name)} {val})'

    def for_(self, st, d):
        if st.orelse:
            raise self.err(st, "'for ... else' is not supported", 'for-else')
        it = st.iter
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == 'range'
                and it.func.id not in self.local and self.lookup('range') is builtins.range):
            raise self.err(st, "only 'for NAME in range(...)' loops are supported", 'for')
        if it.keywords or not 1 <= len(it.args) <= 3:
            raise self.err(st, 'range takes 1 to 3 positional arguments', 'range')
        if not isinstance(st.target, ast.Name):
            raise self.err(st, "only 'for NAME in range(...)' loops are supported", 'for')
        name = st.target.id
        args = ' '.join(self.expr(a) for a in it.args)
        if name in self.loop_only:
            self.emit(d, f'(for ({self.var(name)} {args})', st)
            self.block(st.body, d + 1)
        else:
            lv = self.fresh('i')
            self.emit(d, f'(for ({lv} {args})', st)
            self.emit(d + 1, f'(set! {self.var(name)} {lv})', st)
            self.block(st.body, d + 1)
        if not st.body or all(isinstance(s, ast.Pass) for s in st.body):
            self.emit(d + 1, '(block)', st)
        self.close()

    # ---- expressions
    def cond(self, node):
        return self.expr(node)

    def lookup(self, name):
        if name in self.closure:
            return self.closure[name]
        if name in self.globals:
            return self.globals[name]
        return getattr(builtins, name, _MISSING)

    def resolve(self, node):
        """The Python object a global name / attribute chain stands for, or _MISSING."""
        if isinstance(node, ast.Name):
            if node.id in self.local:
                return _MISSING
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            if base is _MISSING or not inspect.ismodule(base) and not _is_tessera_random(base):
                return _MISSING
            return getattr(base, node.attr, _MISSING)
        return _MISSING

    def expr(self, n):
        k = type(n).__name__
        if k in UNSUPPORTED:
            raise self.err(n, UNSUPPORTED[k])
        if isinstance(n, ast.Constant):
            v = n.value
            if isinstance(v, (bool, int, float)):
                return _num(v)
            if isinstance(v, str):
                return _str(v, lambda m: self.err(n, m, 'string'))
            raise self.err(n, f'the constant {v!r} is not supported', 'constant')
        if isinstance(n, ast.Name):
            if n.id in self.local:
                return self.var(n.id)
            obj = self.lookup(n.id)
            return self.constant(obj, n, n.id)
        if isinstance(n, ast.BinOp):
            op = BINOPS.get(type(n.op).__name__)
            if op is None:
                raise self.err(n, f"the operator '{_opname(n.op)}' is not supported", 'binop')
            return f'({op} {self.expr(n.left)} {self.expr(n.right)})'
        if isinstance(n, ast.UnaryOp):
            if isinstance(n.op, ast.USub):
                if isinstance(n.operand, ast.Constant) and type(n.operand.value) in (int, float):
                    return _num(-n.operand.value)
                return f'(neg {self.expr(n.operand)})'
            if isinstance(n.op, ast.UAdd):
                return self.expr(n.operand)
            if isinstance(n.op, ast.Not):
                return f'(not {self.expr(n.operand)})'
            raise self.err(n, f"the operator '{_opname(n.op)}' is not supported", 'unaryop')
        if isinstance(n, ast.Compare):
            if len(n.ops) != 1:
                raise self.err(n, 'chained comparisons (a < b < c) are not supported', 'compare')
            op = CMPOPS.get(type(n.ops[0]).__name__)
            if op is None:
                raise self.err(n, f"the operator '{_opname(n.ops[0])}' is not supported", 'compare')
            return f'({op} {self.expr(n.left)} {self.expr(n.comparators[0])})'
        if isinstance(n, ast.BoolOp):
            op = 'and' if isinstance(n.op, ast.And) else 'or'
            return f"({op} {' '.join(self.expr(v) for v in n.values)})"
        if isinstance(n, ast.IfExp):
            return f'(if {self.cond(n.test)} {self.expr(n.body)} {self.expr(n.orelse)})'
        if isinstance(n, ast.Attribute):
            obj = self.resolve(n)
            if obj is not _MISSING:
                return self.constant(obj, n, ast.unparse(n))
            base = self.expr(n.value)
            if n.attr == 'T':
                return f'(transpose {base})'
            if n.attr == 'shape':
                return f'(shape {base})'
            if n.attr == 'size':
                return f'(size {base})'
            if n.attr == 'ndim':
                return f'(len (shape {base}))'
            raise self.err(n, f"the attribute '.{n.attr}' is not supported", 'attribute')
        if isinstance(n, ast.Subscript):
            return self.subscript(n)
        if isinstance(n, ast.Call):
            return self.call(n)
        if isinstance(n, ast.Tuple):
            return f"(list {' '.join(self.expr(e) for e in n.elts)})"
        raise self.err(n, f"the expression '{k}' is not supported")

    def constant(self, obj, n, name):
        if isinstance(obj, (bool, int, float)) and not isinstance(obj, complex):
            return _num(obj)
        if np is not None and isinstance(obj, (np.floating, np.integer)):
            return _num(float(obj))
        if obj is _MISSING:
            raise self.err(n, f"name '{name}' is not defined", 'name')
        if np is not None and isinstance(obj, np.ndarray):
            raise self.err(n, f"the global array '{name}' cannot be used: pass it as an argument",
                           'global-array')
        raise self.err(n, f"'{name}' ({type(obj).__name__}) cannot be used as a value here", 'name')

    def subscript(self, n):
        v = n.value
        idx = n.slice
        if isinstance(v, ast.Attribute) and v.attr == 'shape' and self.resolve(v) is _MISSING:
            if isinstance(idx, ast.Slice) or isinstance(idx, ast.Tuple):
                raise self.err(n, 'only x.shape[i] is supported', 'shape-slice')
            return f'(shape {self.expr(v.value)} {self.expr(idx)})'
        x = self.expr(v)
        items = idx.elts if isinstance(idx, ast.Tuple) else [idx]
        if len(items) > 2:
            raise self.err(n, 'arrays have at most 2 dimensions', 'subscript')
        for it in items:
            if isinstance(it, ast.Slice) and it.step is not None:
                raise self.err(n, 'slices with a step (a:b:c) are not supported', 'slice-step')
            if isinstance(it, ast.Constant) and it.value is Ellipsis:
                raise self.err(n, '... in an index is not supported', 'ellipsis')
        # x[:, None] / x[None, :]: a 1-D array as a column / row
        if len(items) == 2 and any(_is_none(i) for i in items):
            a, b = items
            if _is_none(b) and _full(a):
                return f'(reshape {x} (size {x}) 1)'
            if _is_none(a) and _full(b):
                return f'(reshape {x} 1 (size {x}))'
            raise self.err(n, 'only v[:, None] and v[None, :] are supported with None', 'newaxis')
        if any(_is_none(i) for i in items):
            raise self.err(n, 'indexing with None (np.newaxis) is only supported as v[:, None] or v[None, :]',
                           'newaxis')
        if len(items) == 1:
            it = items[0]
            if isinstance(it, ast.Slice):
                if _full(it):
                    return x
                lo, hi = self.bounds(it, x, 0)
                return f'(slice {x} {lo} {hi})'
            i = self.expr(it)
            return (f'(if (== (len (shape {x})) 1) (at {x} {self.index(it, x, 0)}) '
                    f'(reshape (slice {x} {i} {self.next(it, x, 0)}) (shape {x} 1)))')
        a, b = items
        sa, sb = isinstance(a, ast.Slice), isinstance(b, ast.Slice)
        if not sa and not sb:
            return f'(at {x} {self.index(a, x, 0)} {self.index(b, x, 1)})'
        if sa and sb:
            if _full(a) and _full(b):
                return x
            r0, r1 = self.bounds(a, x, 0)
            c0, c1 = self.bounds(b, x, 1)
            return f'(slice {x} {r0} {r1} {c0} {c1})'
        if sb:   # x[i, c0:c1]: part of row i, 1-D
            i = self.expr(a)
            c0, c1 = self.bounds(b, x, 1)
            blk = f'(slice {x} {i} {self.next(a, x, 0)} {c0} {c1})'
            return f'(reshape {blk} (size {blk}))'
        r0, r1 = self.bounds(a, x, 0)     # x[r0:r1, j]: part of column j, 1-D
        j = self.expr(b)
        blk = f'(slice {x} {r0} {r1} {j} {self.next(b, x, 1)})'
        return f'(reshape {blk} (size {blk}))'

    def bounds(self, s, x, axis):
        lo = self.expr(s.lower) if s.lower is not None else '0'
        hi = self.expr(s.upper) if s.upper is not None else f'(shape {x} {axis})'
        return lo, hi

    def index(self, it, x, axis):
        # A comparison or a logical expression as an index is a mask: numpy
        # would select elements (boolean indexing), which the language has not.
        if isinstance(it, (ast.Compare, ast.BoolOp)) or (
                isinstance(it, ast.UnaryOp) and isinstance(it.op, ast.Not)):
            raise self.err(it, 'boolean (mask) indexing is not supported; use np.where',
                           'boolean indexing')
        c = _const_int(it)
        if c is not None and c < 0:
            return f'(+ (shape {x} {axis}) {c})'
        return self.expr(it)

    def next(self, it, x, axis):
        """The end of the one-element range starting at index it."""
        c = _const_int(it)
        if c is not None:
            return f'(shape {x} {axis})' if c == -1 else str(c + 1)
        i = self.expr(it)
        return f'(if (== {i} -1) (shape {x} {axis}) (+ {i} 1))'

    def shape_args(self, node):
        """Arguments for zeros/ones from a numpy shape (n, (m, n), x.shape)."""
        if isinstance(node, (ast.Tuple, ast.List)):
            if not 1 <= len(node.elts) <= 2:
                raise self.err(node, 'arrays have 1 or 2 dimensions', 'shape')
            return [self.expr(e) for e in node.elts]
        return [self.expr(node)]

    def call(self, n):
        f = n.func
        kws = {}
        for kw in n.keywords:
            if kw.arg is None:
                raise self.err(n, '**kwargs in calls are not supported', 'call')
            kws[kw.arg] = kw.value
        if any(isinstance(a, ast.Starred) for a in n.args):
            raise self.err(n, '*args in calls are not supported', 'call')
        args = list(n.args)
        # calls of jitted functions
        if isinstance(f, ast.Name) and f.id not in self.local:
            target = self.ctx.jitted_target(f.id, self.lookup(f.id), self.fn)
            if target is not None:
                return self.user_call(n, target, args, kws)
        obj = self.resolve(f)
        if obj is not _MISSING:
            if _is_tessera_random(obj, fn=True):
                return self.random(n, obj.__name__, args, kws)
            if isinstance(f, ast.Attribute) and inspect.ismodule(self.resolve(f.value)) and \
                    self.resolve(f.value).__name__.startswith('numpy.random'):
                raise self.err(n, 'np.random is not supported: use tessera.random.uniform(shape, seed) '
                                  'or tessera.random.normal(shape, seed)', 'np.random')
            spec = _TABLE.get(id(obj))
            if spec is None:
                nm = ast.unparse(f)
                if inspect.isfunction(obj):
                    raise self.err(n, f"call of '{nm}': only other @tessera.jit functions can be called",
                                   'call')
                raise self.err(n, f"'{nm}' is not supported", 'call')
            return self.np_call(n, spec, args, kws, ast.unparse(f))
        if isinstance(f, ast.Attribute):
            return self.method(n, f, args, kws)
        raise self.err(n, f"calling '{ast.unparse(f)}' is not supported", 'call')

    def take(self, n, name, args, kws, names, required, ignore=()):
        """Bind args/kws to names (like Python) -> dict name -> node."""
        out = {}
        if len(args) > len(names):
            raise self.err(n, f'{name}: too many arguments', 'call')
        for nm, a in zip(names, args):
            out[nm] = a
        for k, v in kws.items():
            if k in ignore:
                continue
            if k not in names or k in out:
                raise self.err(n, f"{name}: the argument '{k}=' is not supported", 'keyword')
            out[k] = v
        for r in names[:required]:
            if r not in out:
                raise self.err(n, f"{name}: missing the argument '{r}'", 'call')
        return out

    def axis(self, n, node):
        if node is None or (isinstance(node, ast.Constant) and node.value is None):
            return ''
        c = _const_int(node)
        if c is not None and c < 0:
            raise self.err(n, 'negative axes are not supported: use axis=0 or axis=1', 'axis')
        return ' ' + self.expr(node)

    def check_dtype(self, n, node):
        if node is None:
            return
        obj = self.resolve(node)
        if obj is builtins.float or (np is not None and obj is np.float64):
            return
        raise self.err(n, 'only float64 arrays are supported (dtype=float)', 'dtype')

    def np_call(self, n, spec, args, kws, name):
        kind, t = spec
        E = self.expr
        if kind == 'unary':
            a = self.take(n, name, args, kws, ['x'], 1)
            return f"({t} {E(a['x'])})"
        if kind == 'binary':
            a = self.take(n, name, args, kws, ['a', 'b'], 2)
            return f"({t} {E(a['a'])} {E(a['b'])})"
        if kind == 'reduce':
            a = self.take(n, name, args, kws, ['x', 'axis'], 1)
            return f"({t} {E(a['x'])}{self.axis(n, a.get('axis'))})"
        if kind in ('pymin', 'pymax'):
            if kws:
                raise self.err(n, f'{name}: keyword arguments are not supported', 'keyword')
            if len(args) == 1:
                return f'({t} {E(args[0])})'
            if len(args) == 2:
                return f"({'minimum' if kind == 'pymin' else 'maximum'} {E(args[0])} {E(args[1])})"
            raise self.err(n, f'{name} takes 1 or 2 arguments here', 'call')
        if kind == 'pysum':
            a = self.take(n, name, args, kws, ['x'], 1)
            return f"(sum {E(a['x'])} 0)"
        if kind == 'len':
            a = self.take(n, name, args, kws, ['x'], 1)
            return f"(shape {E(a['x'])} 0)"
        if kind in ('float', 'float64'):
            a = self.take(n, name, args, kws, ['x'], 1)
            return E(a['x'])
        if kind == 'print':
            if kws:
                raise self.err(n, 'print: keyword arguments (sep=, end=, file=) are not supported', 'keyword')
            return f"(print{''.join(' ' + E(x) for x in args)})"
        if kind == 'where':
            a = self.take(n, name, args, kws, ['c', 'a', 'b'], 3)
            return f"(where {E(a['c'])} {E(a['a'])} {E(a['b'])})"
        if kind in ('zeros', 'ones'):
            a = self.take(n, name, args, kws, ['shape', 'dtype'], 1)
            self.check_dtype(n, a.get('dtype'))
            return f"({kind} {' '.join(self.shape_args(a['shape']))})"
        if kind in ('zeros_like', 'ones_like'):
            a = self.take(n, name, args, kws, ['a', 'dtype'], 1)
            self.check_dtype(n, a.get('dtype'))
            return f"({kind[:-5]} (shape {E(a['a'])}))"
        if kind == 'full':
            a = self.take(n, name, args, kws, ['shape', 'fill_value', 'dtype'], 2)
            self.check_dtype(n, a.get('dtype'))
            if isinstance(a['shape'], (ast.Tuple, ast.List)) or _scalar_literal(a['shape']):
                return f"(full {' '.join(self.shape_args(a['shape']))} {E(a['fill_value'])})"
            return f"(+ (zeros {E(a['shape'])}) {E(a['fill_value'])})"
        if kind == 'full_like':
            a = self.take(n, name, args, kws, ['a', 'fill_value', 'dtype'], 2)
            self.check_dtype(n, a.get('dtype'))
            return f"(+ (zeros (shape {E(a['a'])})) {E(a['fill_value'])})"
        if kind == 'arange':
            a = self.take(n, name, args, kws, ['start', 'stop', 'step', 'dtype'], 1)
            self.check_dtype(n, a.get('dtype'))
            return f"(arange {' '.join(E(a[k]) for k in ('start', 'stop', 'step') if k in a)})"
        if kind == 'linspace':
            a = self.take(n, name, args, kws, ['start', 'stop', 'num'], 2)
            num = E(a['num']) if 'num' in a else '50'
            return f"(linspace {E(a['start'])} {E(a['stop'])} {num})"
        if kind in ('eye', 'identity'):
            a = self.take(n, name, args, kws, ['N', 'dtype'], 1)
            self.check_dtype(n, a.get('dtype'))
            return f"(identity {E(a['N'])})"
        if kind == 'transpose':
            a = self.take(n, name, args, kws, ['a'], 1)
            return f"(transpose {E(a['a'])})"
        if kind == 'reshape':
            a = self.take(n, name, args, kws, ['a', 'newshape'], 2)
            x = E(a['a'])
            return self.reshape(n, x, self.shape_nodes(a['newshape']))
        if kind == 'concatenate':
            a = self.take(n, name, args, kws, ['arrays', 'axis'], 1)
            seq = a['arrays']
            if not isinstance(seq, (ast.Tuple, ast.List)):
                raise self.err(n, 'np.concatenate needs a literal list or tuple of arrays', 'concatenate')
            return f"(concat {' '.join(E(e) for e in seq.elts)}{self.axis(n, a.get('axis'))})"
        if kind == 'clip':
            a = self.take(n, name, args, kws, ['a', 'a_min', 'a_max'], 3)
            return f"(minimum (maximum {E(a['a'])} {E(a['a_min'])}) {E(a['a_max'])})"
        if kind == 'shape':
            a = self.take(n, name, args, kws, ['a'], 1)
            return f"(shape {E(a['a'])})"
        if kind == 'size':
            a = self.take(n, name, args, kws, ['a'], 1)
            return f"(size {E(a['a'])})"
        if kind == 'outer':
            a = self.take(n, name, args, kws, ['a', 'b'], 2)
            x, y = E(a['a']), E(a['b'])
            return f'(dot (reshape {x} (size {x}) 1) (reshape {y} 1 (size {y})))'
        if kind == 'norm':
            a = self.take(n, name, args, kws, ['x', 'ord', 'axis'], 1)
            if a.get('ord') is not None and not _is_none(a['ord']) or \
                    a.get('axis') is not None and not _is_none(a['axis']):
                raise self.err(n, 'np.linalg.norm: only the 2-norm / Frobenius norm of the whole array '
                                  '(no ord=, no axis=)', 'norm')
            return f"(norm {E(a['x'])})"
        raise self.err(n, f"'{name}' is not supported", 'call')

    def shape_nodes(self, node):
        if isinstance(node, (ast.Tuple, ast.List)):
            return list(node.elts)
        return [node]

    def reshape(self, n, x, dims):
        if not 1 <= len(dims) <= 2:
            raise self.err(n, 'reshape: 1 or 2 dimensions', 'reshape')
        out = []
        for k, d in enumerate(dims):
            if _const_int(d) == -1:
                other = [e for j, e in enumerate(dims) if j != k]
                out.append(f'(size {x})' if not other else f'(/ (size {x}) {self.expr(other[0])})')
            else:
                out.append(self.expr(d))
        return f"(reshape {x} {' '.join(out)})"

    def method(self, n, f, args, kws):
        x = self.expr(f.value)
        m = f.attr
        name = '.' + m
        if m in ('sum', 'mean', 'min', 'max', 'argmin', 'argmax'):
            a = self.take(n, name, args, kws, ['axis'], 0)
            return f"({m} {x}{self.axis(n, a.get('axis'))})"
        if m == 'dot':
            a = self.take(n, name, args, kws, ['b'], 1)
            return f"(dot {x} {self.expr(a['b'])})"
        if m == 'transpose' and not args and not kws:
            return f'(transpose {x})'
        if m == 'reshape':
            if kws:
                raise self.err(n, '.reshape: keyword arguments are not supported', 'keyword')
            dims = self.shape_nodes(args[0]) if len(args) == 1 else args
            return self.reshape(n, x, dims)
        if m in ('ravel', 'flatten') and not args and not kws:
            return f'(reshape {x} (size {x}))'
        if m == 'copy' and not args and not kws:
            return x     # arrays are immutable: a copy is the array
        if m == 'astype':
            a = self.take(n, name, args, kws, ['dtype'], 1)
            self.check_dtype(n, a['dtype'])
            return x
        raise self.err(n, f"the method '.{m}()' is not supported", 'method')

    def random(self, n, which, args, kws):
        a = self.take(n, 'tessera.random.' + which, args, kws, ['shape', 'seed'], 2)
        t = 'random' if which == 'uniform' else 'randn'
        seed = self.expr(a['seed'])
        s = a['shape']
        if not (isinstance(s, ast.Attribute) and s.attr == 'shape'):
            return f"({t} {' '.join(self.shape_args(s))} {seed})"
        sv = self.expr(s)
        return (f'(if (== (len {sv}) 1) ({t} (nth {sv} 0) {seed}) '
                f'({t} (nth {sv} 0) (nth {sv} 1) {seed}))')

    def user_call(self, n, target, args, kws):
        pyfn, tslname = target
        params = list(inspect.signature(pyfn).parameters)
        a = self.take(n, tslname, args, kws, params, 0)
        defaults = pyfn.__defaults__ or ()
        first_default = len(params) - len(defaults)
        vals = []
        for k, p in enumerate(params):
            if p in a:
                vals.append(self.expr(a[p]))
            elif k >= first_default and isinstance(defaults[k - first_default], (int, float, bool)):
                vals.append(_num(defaults[k - first_default]))
            else:
                raise self.err(n, f"call of '{pyfn.__name__}': missing the argument '{p}'", 'call')
        return f"({' '.join([tslname] + vals)})"


class _Missing:
    def __repr__(self):
        return '<missing>'


_MISSING = _Missing()


def _is_tessera_random(obj, fn=False):
    mod = getattr(obj, '__name__', '') if not fn else getattr(obj, '__module__', '')
    if fn:
        return mod == 'tessera.random' and getattr(obj, '__name__', '') in ('uniform', 'normal')
    return inspect.ismodule(obj) and mod in ('tessera', 'tessera.random')


def _is_none(node):
    return isinstance(node, ast.Constant) and node.value is None


def _full(node):
    return isinstance(node, ast.Slice) and node.lower is None and node.upper is None and node.step is None


def _const_int(node):
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and \
            isinstance(node.operand, ast.Constant) and type(node.operand.value) is int:
        return -node.operand.value
    return None


def _scalar_literal(node):
    return _const_int(node) is not None or isinstance(node, ast.Name) and False


def _opname(op):
    return {'FloorDiv': '//', 'Mod': '%', 'LShift': '<<', 'RShift': '>>', 'BitOr': '|',
            'BitXor': '^', 'BitAnd': '&', 'Invert': '~', 'Is': 'is', 'IsNot': 'is not',
            'In': 'in', 'NotIn': 'not in', 'MatMult': '@'}.get(type(op).__name__, type(op).__name__)


class _Context:
    """One transpilation: the main function and the jitted functions it reaches."""

    def __init__(self, jitted):
        self.jitted = dict(jitted or {})
        self.helpers = {}      # id(pyfn) -> tsl name
        self.pending = []      # (pyfn, tslname)
        self.used = set()

    def jitted_target(self, name, obj, caller):
        """(python function, tsl name) when name is a jitted function, else None."""
        cand = self.jitted.get(name, obj)
        if cand is _MISSING or cand is None:
            return None
        py = getattr(cand, 'py_func', None)
        if py is None or not inspect.isfunction(py):
            return None
        if id(py) not in self.helpers:
            base = py.__name__
            if base in RESERVED or base in ('main',):
                base = base + '-py'
            t, k = base, 1
            while t in self.used:
                k += 1
                t = f'{base}-{k}'
            self.used.add(t)
            self.helpers[id(py)] = t
            self.pending.append((py, t))
        return py, self.helpers[id(py)]


def transpile(fn, jitted=None) -> Program:
    """Transpile the Python function fn to a program whose main is fn.

    jitted maps names of other jitted functions (as fn's globals see them) to
    their objects (anything with a .py_func attribute: the plain function);
    calls to them become top-level defines. Globals holding such objects are
    found without it too."""
    py = getattr(fn, 'py_func', fn)
    ctx = _Context(jitted)
    mainf = _Func(ctx, py, 'main', True)
    main_lines = mainf.run()
    chunks = []
    done = set()
    while ctx.pending:
        hf, name = ctx.pending.pop(0)
        if id(hf) in done:
            continue
        done.add(id(hf))
        h = _Func(ctx, hf, name, False)
        chunks.append(h.run())
    header = f'; generated by tessera.jit from {mainf.file}:{mainf.line(mainf.node)} ({py.__name__})'
    out, linemap = [header], {1: mainf.line(mainf.node)}
    for lines in chunks + [main_lines]:
        for depth, text, pyline in lines:
            out.append('  ' * depth + text)
            linemap[len(out)] = pyline
    if mainf.nret == 0:
        outputs = []
    elif mainf.nret == 1:
        outputs = ['result']
    else:
        outputs = [f'r{i}' for i in range(mainf.nret)]
    return Program('\n'.join(out) + '\n', [mainf.var(p) for p in mainf.params], outputs,
                   linemap, py.__name__, mainf.file)
