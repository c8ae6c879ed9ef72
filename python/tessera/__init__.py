"""Tessera from Python: `@tessera.jit` runs a numpy function as a distributed
Tessera array-language program (see README, "From Python").

    import tessera
    tessera.config(ranks=4)

    @tessera.jit
    def step(X, w, lr):
        return w - lr * (X.T @ (X @ w))

    w = step(X, w, 0.1)           # numpy array back
    print(step.source)            # the .tsl program

Exceptions: tessera.TranspileError (outside the supported subset; raised at
the first call or .source), tessera.TesseraError (the job failed; the
message names the Python line).
"""
from .transpile import TranspileError, Program, transpile
from .run import TesseraError, Job, find_tessera, find_mpirun, trace_summary
from .jit import JitFunction, config, jit, trace
from . import random  # tessera.random.uniform/normal: seeded arrays, also inside @jit

__all__ = ['jit', 'config', 'trace', 'TranspileError', 'TesseraError', 'Job', 'JitFunction',
           'Program', 'transpile', 'find_tessera', 'find_mpirun', 'trace_summary', 'random']
