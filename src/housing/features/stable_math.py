"""Correctly rounded transcendental functions: the same bits on every CPU.

numpy picks its float64 kernels at run time: on a CPU with AVX-512, ``log1p`` and
``arcsin`` run vectorised SVML code that rounds differently from the kernels other CPUs
run. Computing in x87 extended precision (numpy's ``longdouble`` loops call the C
library's ``*l`` functions) and rounding once is not enough either: those functions use
x87 instructions (``fyl2xp1``, ``fpatan``, ``f2xm1``) whose last bits differ between
Intel and AMD, and a result close to a float64 rounding boundary then rounds to a
different float64.

So these functions return the correctly rounded float64, which is one value whatever
the CPU. The extended-precision result decides the rounding except when it lies within
MARGIN extended ulps of a rounding boundary (under 1% of values; MARGIN is well beyond
the routines' error); those few are recomputed with mpmath at 128 bits. A result in
float64's subnormal range is rounded the same way on the subnormal grid (multiples of
2**-1074), vectorised: no value takes a slow path only for being tiny.
"""

from __future__ import annotations

import numpy as np

# Extended-precision ulps around a float64 rounding boundary inside which the x87 result
# cannot decide the rounding: glibc lists at most 3 ulps of error for these long double
# functions on x86-64 (libm-test-ulps), so 8 leaves room.
MARGIN = 8
_LOW, _SHIFT, _WIDTH = np.uint64(0x7FF), np.uint64(2048 - 0x400 + MARGIN), np.uint64(2 * MARGIN)
_TINY = np.finfo(np.float64).tiny  # below it float64 keeps fewer bits: always recompute


def _recompute(x: np.ndarray, out: np.ndarray, near: np.ndarray, mp_name: str) -> np.ndarray:
    """``out`` (flat) with the values near a rounding boundary from mpmath."""
    import mpmath

    fn = getattr(mpmath, mp_name)
    with mpmath.workprec(128):
        for i in np.flatnonzero(near):
            out[i] = float(fn(mpmath.mpf(float(x[i]))))
    return out


def _settle(flat: np.ndarray, wide: np.ndarray, out: np.ndarray, near: np.ndarray,
            small: np.ndarray, mp_name: str) -> np.ndarray:
    """``out`` with the values the wide result does not decide: subnormal results rounded
    on their own grid, and those near a rounding boundary from mpmath."""
    tiny = small & (wide != 0)
    if tiny.any():
        # Subnormal results have fewer bits: in units of 2**-1074 (exact, a power of two)
        # the float64 is the nearest integer, undecided within MARGIN wide ulps of a half.
        units = np.ldexp(wide[tiny], 1074)
        frac = units - np.floor(units)
        near[tiny] = np.abs(frac - 0.5) <= MARGIN * np.spacing(np.abs(units))
        out[tiny] = np.ldexp(np.rint(units).astype(np.float64), -1074)
    if near.any():
        out = _recompute(flat, out, near, mp_name)
    return out


def _correctly_rounded(ufunc: np.ufunc, mp_name: str):
    def apply(x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        flat = x.reshape(-1)
        wide = ufunc(flat.astype(np.longdouble))  # a new contiguous array
        out = wide.astype(np.float64)
        # The x87 format holds a 64-bit significand (the first 8 of its 16 bytes); float64
        # keeps the top 53 bits, so the low 11 say how far the wide result is from the
        # rounding boundary at 0x400: near it when (low - 0x400 + MARGIN) mod 2048 is at
        # most 2 * MARGIN. Zeros, infinities and NaNs have zero low bits.
        near = ((wide.view(np.uint64)[::2] + _SHIFT) & _LOW) <= _WIDTH
        small = np.abs(wide) < _TINY  # subnormal or zero
        if (near | small).any():  # rare: one check for both on the common path
            out = _settle(flat, wide, out, near, small, mp_name)
        out = out.reshape(x.shape)
        return out[()] if out.ndim == 0 else out

    apply.__name__ = ufunc.__name__
    apply.__doc__ = f"``np.{ufunc.__name__}``, correctly rounded: the same bits on every CPU."
    return apply


def joined(function, *arrays) -> list[np.ndarray]:
    """``function`` (one of this module's, elementwise) of each array, from one call on
    all their values: the same bits as a call per array, for one call's fixed cost."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    flat = function(np.concatenate([a.reshape(-1) for a in arrays]))
    parts, start = [], 0
    for a in arrays:
        parts.append(flat[start:start + a.size].reshape(a.shape))
        start += a.size
    return parts


log1p = _correctly_rounded(np.log1p, "log1p")
sin = _correctly_rounded(np.sin, "sin")
cos = _correctly_rounded(np.cos, "cos")
arcsin = _correctly_rounded(np.arcsin, "asin")
exp = _correctly_rounded(np.exp, "exp")
