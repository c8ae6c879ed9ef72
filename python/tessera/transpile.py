"""Python/numpy subset -> Tessera array language (.tsl) transpiler.

Interface (shared with the runtime, python/tessera/jit.py):
    TranspileError, Program, transpile(fn, jitted=None) -> Program
"""
from __future__ import annotations


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


def transpile(fn, jitted=None) -> Program:
    """Transpile the Python function fn. jitted maps names of other jitted
    functions (as seen from fn's globals) to their objects (or their Python
    functions); calls to them become top-level defines."""
    raise NotImplementedError("transpiler in progress")
