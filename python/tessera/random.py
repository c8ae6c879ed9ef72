"""Seeded random arrays that @tessera.jit maps to the language's generator.

Plain Python (the undecorated function) gets numpy's generator; the jitted
function gets Tessera's counter-based one ((random ...) / (randn ...)). The two
give different numbers for the same seed: only the distribution is the same.
"""
import numpy as _np


def _shape(shape):
    if isinstance(shape, (tuple, list)):
        return tuple(int(s) for s in shape)
    return (int(shape),)


def uniform(shape, seed):
    """Uniform in [0, 1), shape n or (m, n) -> (random m n seed)."""
    return _np.random.default_rng(int(seed)).random(_shape(shape))


def normal(shape, seed):
    """Standard normal, shape n or (m, n) -> (randn m n seed)."""
    return _np.random.default_rng(int(seed)).standard_normal(_shape(shape))
