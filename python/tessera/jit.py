"""`@tessera.jit`: a Python/numpy function that runs as a Tessera program.

    @tessera.jit                  # or @tessera.jit(ranks=4, threads=2)
    def fit(X, y, lr, iters): ...

    w = fit(X, y, 0.1, 100)       # mpirun -np N tessera run, numpy arrays back
    fit.source                    # the generated .tsl program
    fit.py_func(X, y, 0.1, 100)   # the plain numpy function
    w, trace, summary = fit(X, y, 0.1, 100, trace=True)
    job = fit.submit(X, y, 0.1, 100, nodes=1, ntasks_per_node=4, time='00:10:00')
    job.status(); job.result(timeout=600); job.cancel()

The function is transpiled (python/tessera/transpile.py) when first needed:
at its first call or at `.source`; a construct outside the subset raises
tessera.TranspileError there. The number of ranks is, first found: the
call's ranks=, the decorator's ranks=, tessera.config(ranks=), the
environment's TESSERA_RANKS, 1. The same for threads (TESSERA_THREADS; none:
tessera's default, TSR_THREADS).
"""
from __future__ import annotations

import functools
import inspect
import os

from . import run as _run

_CONFIG = {'ranks': None, 'threads': None}


def config(ranks=None, threads=None):
    """Set the defaults for every jitted function (ranks, threads: worker
    threads per rank); None leaves a setting as it is. Returns the settings."""
    if ranks is not None:
        if int(ranks) < 1:
            raise ValueError('ranks must be >= 1, got %r' % (ranks,))
        _CONFIG['ranks'] = int(ranks)
    if threads is not None:
        if int(threads) < 1:
            raise ValueError('threads must be >= 1, got %r' % (threads,))
        _CONFIG['threads'] = int(threads)
    return dict(_CONFIG)


def _setting(name, *given):
    for v in given:
        if v is not None:
            return int(v)
    if _CONFIG[name] is not None:
        return _CONFIG[name]
    env = os.environ.get('TESSERA_' + name.upper())
    if env:
        return int(env)
    return 1 if name == 'ranks' else None


class JitFunction:
    """A jitted function. Call it like the Python function (plus trace=,
    ranks=, threads=); .source, .program, .py_func, .submit(...)."""

    def __init__(self, fn, ranks=None, threads=None):
        if not inspect.isfunction(fn):
            raise TypeError('tessera.jit needs a plain Python function, got %r' % (fn,))
        self.py_func = fn
        self.ranks = ranks
        self.threads = threads
        self._program = None
        self._sig = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def __repr__(self):
        return '<tessera.jit %s>' % self.py_func.__qualname__

    def _jitted(self):
        """The other jitted functions fn can call: those in its globals and
        closure, by the names fn uses."""
        fn = self.py_func
        seen = {}
        names = dict(fn.__globals__)
        if fn.__closure__:
            for n, cell in zip(fn.__code__.co_freevars, fn.__closure__):
                try:
                    names[n] = cell.cell_contents
                except ValueError:
                    pass
        for n, v in names.items():
            if isinstance(v, JitFunction) and v is not self:
                seen[n] = v
        return seen

    @property
    def program(self):
        """The transpiled program (transpile.Program); transpiles on first use."""
        if self._program is None:
            from .transpile import transpile
            self._program = transpile(self.py_func, self._jitted())
        return self._program

    @property
    def source(self):
        """The generated array-language program text."""
        return self.program.text

    def _values(self, args, kwargs):
        try:
            bound = self._sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError('%s(): %s' % (self.py_func.__name__, e)) from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def __call__(self, *args, trace=False, ranks=None, threads=None, **kwargs):
        prog = self.program
        values = self._values(args, kwargs)
        return _run.run_local(prog, values,
                              ranks=_setting('ranks', ranks, self.ranks),
                              threads=_setting('threads', threads, self.threads),
                              trace=trace)

    def submit(self, *args, nodes=1, ntasks_per_node=None, time=None, threads=None,
               jobs_dir=None, host=None, **kwargs):
        """Submit the call to Slurm through `tessera submit`; returns a
        tessera.Job (.status(), .result(timeout=), .cancel()). Keyword
        arguments that are not parameters of the function and are among
        partition, account, job_name, launcher, tessera go to tessera submit."""
        extra = {}
        for k in ('partition', 'account', 'job_name', 'launcher', 'tessera'):
            if k in kwargs and k not in self._sig.parameters:
                extra[k] = kwargs.pop(k)
        prog = self.program
        values = self._values(args, kwargs)
        if ntasks_per_node is None:
            ntasks_per_node = _setting('ranks', None, self.ranks)
        jobs_dir = jobs_dir or os.environ.get('TESSERA_JOBS_DIR')
        return _run.submit(prog, values, nodes=nodes, ntasks_per_node=ntasks_per_node,
                           time=time, threads=_setting('threads', threads, self.threads),
                           jobs_dir=jobs_dir, host=host, **extra)


def jit(fn=None, *, ranks=None, threads=None):
    """Decorator: @tessera.jit or @tessera.jit(ranks=4, threads=2)."""
    if fn is None:
        return lambda f: JitFunction(f, ranks=ranks, threads=threads)
    if isinstance(fn, int) and not callable(fn):
        raise TypeError('write tessera.jit(ranks=%d), with the keyword' % fn)
    return JitFunction(fn, ranks=ranks, threads=threads)


def trace(f, path=True):
    """tessera.trace(f)(args...) -> (result, trace path, summary dict):
    f called with trace on (path: where the trace goes; True: a new file
    under TMPDIR/tessera-traces)."""
    if not isinstance(f, JitFunction):
        f = JitFunction(f)

    @functools.wraps(f.py_func)
    def traced(*args, **kwargs):
        return f(*args, trace=path, **kwargs)
    return traced
