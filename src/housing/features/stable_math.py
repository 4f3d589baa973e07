"""Transcendental functions whose bits do not depend on the CPU.

numpy picks its float64 kernels at run time: on a CPU with AVX-512, ``log1p`` and
``arcsin`` run vectorised SVML code that rounds differently from the kernels other CPUs
run, so the same features came out with other last bits on another machine (measured:
every ``log_*`` and ``km*`` column, and so every hash downstream). These wrappers compute
in x87 extended precision (numpy's ``longdouble`` loops call the C library's ``*l``
functions, which have no SIMD variants) and round once to float64: the same bits on every
x86-64 CPU, and the correctly rounded result for all but a tiny share of inputs.
"""

from __future__ import annotations

import numpy as np


def _stable(ufunc: np.ufunc):
    def apply(x) -> np.ndarray:
        return ufunc(np.asarray(x, dtype=np.longdouble)).astype(np.float64)

    apply.__name__ = ufunc.__name__
    apply.__doc__ = f"``np.{ufunc.__name__}`` with the same bits on every x86-64 CPU."
    return apply


log1p = _stable(np.log1p)
sin = _stable(np.sin)
cos = _stable(np.cos)
arcsin = _stable(np.arcsin)
exp = _stable(np.exp)
